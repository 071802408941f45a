"""Occurrences: every loss of separation that actually happened in the live picture, kept.

A conflict that ends in a loss of separation used to leave nothing but "the conflict cleared". Now
each detection cycle finds the pairs inside the standard's loss volume now (`core.alerting.losses`,
vtol rule included); a pair entering it starts an occurrence (stored, audited, told to both parties
and the cell), its closest approach is kept up to date while it lasts, and it ends when the pair has
been out of it for `JOIN` s, separated again or with a track lost (stored with the time it was last
seen inside, audited, told). Shown state follows committed state:
`_open` changes only once a transaction commits. After a restart or a change of leader, stored open
occurrences are taken over and wait, like conflicts, for their tracks (`resume`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from deconflict.service import need_to_know as ntk
from deconflict.service.auth import Principal
from deconflict.service.picture import TRACK_SEPARATOR
from deconflict.service.unit_of_work import SERVICE_ACTOR, UnitOfWork
from deconflict.store.schema import Occurrence

LISTED = 500  # occurrences in one answer, newest first
JOIN = 30.0  # s: a pair back inside the loss volume within this is the same occurrence (as `scan --join`)
CSV_FIELDS = ("id", "a", "b", "party_a", "party_b", "standard", "conflict", "started", "ended", "end_reason",
              "duration_s", "closest_horizontal_m", "closest_vertical_m", "closest_at")


@dataclass(frozen=True)
class Loss:
    """One pair inside the loss volume at this cycle: track ids, addresses, parties, distances now (m)."""

    pair: tuple[str, str]
    a: str
    b: str
    party_a: str
    party_b: str
    horizontal: float
    vertical: float


class Occurrences:
    def __init__(self, work: UnitOfWork, standard_name: str, max_age: float) -> None:
        self.work = work
        self.standard_name = standard_name
        self.max_age = max_age
        self._open: dict[tuple[str, str], dict[str, Any]] = {}  # stored open occurrences by (track, track)
        self._resumed_until = float("-inf")
        self._last_inside: dict[tuple[str, str], float] = {}  # service time each open pair was last seen inside

    def resume(self) -> None:
        """Take over the occurrences stored as open; each waits ``max_age`` for its tracks."""
        with self.work.Session() as session:
            for row in session.scalars(select(Occurrence).where(Occurrence.ended.is_(None))):
                pair = tuple(sorted((f"{row.party_a}{TRACK_SEPARATOR}{row.a}", f"{row.party_b}{TRACK_SEPARATOR}{row.b}")))
                self._open[pair] = _record(row)
                self._last_inside[pair] = max(row.closest_at, row.started)
        self._resumed_until = self.work.clock.now() + self.max_age

    def observe(self, now: float, losses: list[Loss], present: set[str], conflicts: dict[tuple[str, str], str]) -> None:
        """One detection cycle's losses: start, update and end occurrences in one transaction.
        ``present``: track ids with a recent position (an occurrence whose track has none ends as
        ``tracks lost``); ``conflicts``: open tactical conflict id by pair."""
        current = {loss.pair: loss for loss in losses}
        for pair in current:
            self._last_inside[pair] = now
        started = [loss for pair, loss in current.items() if pair not in self._open]
        closer = [loss for pair, loss in current.items()
                  if pair in self._open and loss.horizontal < self._open[pair]["closest_horizontal_m"]]
        ended = [pair for pair in self._open if pair not in current
                 and now - self._last_inside.get(pair, now) >= JOIN  # out long enough: one encounter, one occurrence
                 and not (now < self._resumed_until and not set(pair) <= present)]  # taken over: wait for the tracks
        if not (started or closer or ended):
            return
        with self.work.write() as session:
            for loss in started:
                row = Occurrence(id=self.work.next_id(session, Occurrence), a=loss.a, b=loss.b, party_a=loss.party_a,
                                 party_b=loss.party_b, standard=self.standard_name, conflict=conflicts.get(loss.pair),
                                 started=now, ended=None, end_reason=None, closest_horizontal=loss.horizontal,
                                 closest_vertical=loss.vertical, closest_at=now)
                session.add(row)
                record = _record(row)
                self.work.record(session, "occurrence.started", SERVICE_ACTOR, (loss.party_a, loss.party_b),
                                 {k: record[k] for k in ("id", "a", "b", "conflict", "started",
                                                         "closest_horizontal_m", "closest_vertical_m")})
                self._emit(session, "occurrence.started", record)
                self.work.after_commit(session, lambda pair=loss.pair, record=record: self._open.__setitem__(pair, record))
            for loss in closer:
                row = session.get(Occurrence, _row_id(self._open[loss.pair]))
                row.closest_horizontal, row.closest_vertical, row.closest_at = loss.horizontal, loss.vertical, now
                record = _record(row)
                self.work.after_commit(session, lambda pair=loss.pair, record=record: self._open.__setitem__(pair, record))
            for pair in ended:
                row = session.get(Occurrence, _row_id(self._open[pair]))
                row.ended = max(self._last_inside.get(pair, row.started), row.started)  # when last seen inside
                row.end_reason = "separated" if set(pair) <= present else "tracks lost"
                record = _record(row)
                self.work.record(session, "occurrence.ended", SERVICE_ACTOR, (row.party_a, row.party_b),
                                 {k: record[k] for k in ("id", "a", "b", "conflict", "started", "ended",
                                                         "end_reason", "duration_s", "closest_horizontal_m",
                                                         "closest_vertical_m", "closest_at")})
                self._emit(session, "occurrence.ended", record)
                self.work.after_commit(session, lambda pair=pair: (self._open.pop(pair, None),
                                                                   self._last_inside.pop(pair, None)))

    def _emit(self, session, type: str, record: dict[str, Any]) -> None:  # noqa: ANN001
        self.work.emit(session, type, {v: record for v in ntk.audiences((record["party_a"], record["party_b"]))})

    def any_open(self) -> bool:
        return bool(self._open)

    def list(self, who: Principal, limit: int = LISTED) -> list[dict[str, Any]]:
        """The occurrences the caller may see (its party's, or all for the cell), newest first."""
        query = select(Occurrence).order_by(Occurrence.started.desc(), Occurrence.id.desc()).limit(limit)
        if not who.is_cell:
            query = query.where((Occurrence.party_a == who.party) | (Occurrence.party_b == who.party))
        with self.work.Session() as session:
            return [_record(row) for row in session.scalars(query)]

    def csv(self, who: Principal) -> str:
        """`list` as CSV (ISO times, metres, seconds): the export of an investigation."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for record in self.list(who, limit=100_000):
            writer.writerow(record)
        return out.getvalue()


def _record(row: Occurrence) -> dict[str, Any]:
    """An occurrence as both its parties and the cell see it (times ISO 8601 UTC, distances m)."""
    return {"id": f"occurrence:{row.id}", "a": row.a, "b": row.b, "party_a": row.party_a,
            "party_b": row.party_b, "standard": row.standard, "conflict": row.conflict,
            "started": ntk.iso(row.started), "ended": ntk.iso(row.ended) if row.ended is not None else None,
            "end_reason": row.end_reason,
            "duration_s": round(row.ended - row.started, 3) if row.ended is not None else None,
            "closest_horizontal_m": round(row.closest_horizontal, 1), "closest_vertical_m": round(row.closest_vertical, 1),
            "closest_at": ntk.iso(row.closest_at)}


def _row_id(record: dict[str, Any]) -> int:
    return int(record["id"].split(":")[1])
