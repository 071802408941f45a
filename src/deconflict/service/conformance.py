"""Conformance monitoring: every live track held to its party's plans that name it (issue 15).

A plan may name the aircraft that fly it (``aircraft``: icao24 addresses). Each detection cycle,
each airborne track of a party whose plans name it is assessed at its latest real report
(`core.conformance.assess`, with the service's `Tolerance`). Outside every volume of those plans
for ``confirm`` s of reports (at least two) starts a *nonconformance*: the plans in force become
Nonconforming (their ``state`` in every answer), the owner is told at once (event and audit entry
``nonconformance.started``), and from then on every cycle looks for the other parties the aircraft
could now reach: their tracks and their plan volumes within its reach over the look-ahead
(``speed x look-ahead + the standard's horizontal minimum`` around it in any direction, as a
turning aircraft could; its vertical rate's band over the look-ahead +- the vertical minimum). Each
such party is told once (``nonconformance.told``: the aircraft's state and which of its own
aircraft and plans it could reach; never the owner's plans), and sees the aircraft in its tracks
while it lasts. Back inside for ``confirm`` s ends it (``back inside``); so does the plan's
deletion (``plan withdrawn``) or the end of its monitored span (``plan ended``). A track that goes
silent does not end it: hiding is no way back to conformance.

Shown follows committed: `_open` changes once the transaction commits; open nonconformances are
taken over after a restart or a change of leader (`resume`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import select

from deconflict.core.bounds import M_MIN
from deconflict.core.conformance import Streak, Tolerance, assess, monitored_span
from deconflict.core.geodesy import geodesic_distance
from deconflict.core.plans import Plan, PlanIndex
from deconflict.core.standards import Standard
from deconflict.core.states import States
from deconflict.core.volumes import Circle, Volume4D
from deconflict.service import need_to_know as ntk
from deconflict.service.auth import Principal
from deconflict.service.unit_of_work import SERVICE_ACTOR, UnitOfWork
from deconflict.store.schema import Nonconformance, plan_id_of

LISTED = 500
MAX_REACH_PER_CYCLE = 32  # nonconforming aircraft whose reach one detection cycle looks at (oldest first)
REACH_ALTITUDE_LIMITS = (-1000.0, 30_000.0)  # m: the reach query's band is clipped to what a volume may hold


class Conformance:
    def __init__(self, work: UnitOfWork, index: PlanIndex, standard: Standard, tolerance: Tolerance) -> None:
        self.work = work
        self.index = index
        self.standard = standard
        self.tolerance = tolerance
        self._open: dict[tuple[str, str], dict[str, Any]] = {}  # (party, icao24) -> stored open record
        self._outside: dict[tuple[str, str], Streak] = {}
        self._inside: dict[tuple[str, str], Streak] = {}
        self._assessed: dict[tuple[str, str], float] = {}  # time of the last report assessed, per track
        self._reached_at: dict[tuple[str, str], float] = {}  # when each open one's reach was last looked at

    def resume(self) -> None:
        """Take over the nonconformances stored as open (a restart, or a standby taking the lead)."""
        with self.work.Session() as session:
            for row in session.scalars(select(Nonconformance).where(Nonconformance.ended.is_(None))):
                self._open[(row.party, row.icao24)] = _record(row)

    # -- each detection cycle -----------------------------------------------------------------

    def observe(self, now: float, latest: States | None, snapshot: States) -> None:
        """Assess the latest report of each monitored track; start, tell and end nonconformances."""
        named = self.index.named_aircraft()
        if not named and not self._open:
            return
        if latest is not None and len(self._assessed) > 2 * len(latest) + 1000:  # forget tracks gone
            alive = set(zip(latest.party.tolist(), latest.icao24.tolist()))
            self._assessed = {k: v for k, v in self._assessed.items() if k in alive}
        starts: list = []
        ends: dict[tuple[str, str], tuple[str, float]] = {}  # key -> (reason, time): the first reason found
        seen: set[tuple[str, str]] = set()
        if latest is not None and len(latest):
            keys = list(zip(latest.party.tolist(), latest.icao24.tolist()))
            for row, key in enumerate(keys):
                if (key not in named and key not in self._open) or latest.onground[row]:
                    continue
                seen.add(key)
                time = float(latest.time[row])
                if self._assessed.get(key) == time:  # no new report since the last cycle: nothing new to judge
                    continue
                self._assessed[key] = time
                verdict = assess(self.index.flown_by(*key), float(latest.lat[row]), float(latest.lon[row]),
                                 float(latest.altitude[row]), time, self.tolerance)
                if not verdict.monitored:
                    self._outside.pop(key, None)
                    self._inside.pop(key, None)
                    continue
                if verdict.conforming:
                    self._outside.pop(key, None)
                    if key in self._open and self._confirmed(self._inside, key, time):
                        ends[key] = ("back inside", time)
                    continue
                self._inside.pop(key, None)
                if key not in self._open and self._confirmed(self._outside, key, time):
                    streak = self._outside[key]
                    starts.append((key, verdict, latest.take(np.array([row])), streak.since))
        for key, record in self._open.items():  # plans withdrawn or over, with the track or without it
            plans = [p for k in record["plan_keys"] if (p := self.index.get(k)) is not None and key[1] in p.aircraft]
            if not plans:  # deleted, or edited to no longer name the aircraft
                ends.setdefault(key, ("plan withdrawn", now))
            elif not any(monitored_span(p, now, self.tolerance) for p in plans):
                ends.setdefault(key, ("plan ended", now))
        tells = self._reach(now, snapshot, starts)
        if starts or ends or tells:
            self._store(now, starts, ends, tells)

    def _confirmed(self, streaks: dict[tuple[str, str], Streak], key: tuple[str, str], time: float) -> bool:
        """Count one more report on this side; True once they span ``confirm`` s (two reports at least)."""
        streak = streaks.setdefault(key, Streak(time))
        streak.add(time)
        return streak.confirmed(self.tolerance)

    def _reach(self, now: float, snapshot: States, starts: list) -> dict[tuple[str, str], dict[str, dict]]:
        """Parties newly within reach of each open (or starting) nonconforming aircraft: party ->
        {"aircraft": [their icao24], "plans": [their plan ids]}."""
        found: dict[tuple[str, str], dict[str, dict]] = {}
        # bounded work per cycle (a party flying hundreds of aircraft off their plans must not slow detection):
        # the starting ones first, then the open ones whose reach was looked at longest ago
        starting = [key for key, *_ in starts]
        waiting = sorted((key for key in self._open if key not in starting), key=lambda k: self._reached_at.get(k, 0.0))
        candidates = (starting + waiting)[:MAX_REACH_PER_CYCLE]
        if not candidates or not len(snapshot):
            return found
        fastest = float(snapshot.velocity.max())
        keys = list(zip(snapshot.party.tolist(), snapshot.icao24.tolist()))
        rows = {key: k for k, key in enumerate(keys)}
        told = {key: {t["party"] for t in record["told"]} for key, record in self._open.items()}
        horizon, hsep, vsep = self.standard.lookahead, self.standard.loss.hsep, self.standard.loss.vsep
        other_low = np.minimum(snapshot.altitude, snapshot.altitude + snapshot.vertrate * horizon)
        other_high = np.maximum(snapshot.altitude, snapshot.altitude + snapshot.vertrate * horizon)
        for key in candidates:
            self._reached_at[key] = now
            row = rows.get(key)
            if row is None:  # silent or stale: its reach is unknown; those told stay told
                continue
            lat, lon, alt = float(snapshot.lat[row]), float(snapshot.lon[row]), float(snapshot.altitude[row])
            speed, climb = float(snapshot.velocity[row]), float(snapshot.vertrate[row])
            low, high = min(alt, alt + climb * horizon) - vsep, max(alt, alt + climb * horizon) + vsep
            # geodesics only where they can matter: no two points closer than their latitude difference
            # along the flattest meridian allows (`bounds.M_MIN`)
            limit = (speed + fastest) * horizon + hsep
            maybe = np.flatnonzero((snapshot.party != key[0]) & (other_high >= low) & (other_low <= high)
                                   & (np.abs(snapshot.lat - lat) <= np.degrees(limit / M_MIN) + 1e-9))
            near = np.zeros(len(snapshot), dtype=bool)
            if maybe.size:
                distance = geodesic_distance(np.full(maybe.size, lat), np.full(maybe.size, lon),
                                             snapshot.lat[maybe], snapshot.lon[maybe])
                near[maybe] = distance <= (speed + snapshot.velocity[maybe]) * horizon + hsep
            reached: dict[str, dict[str, set]] = {}
            for k in np.flatnonzero(near).tolist():
                reached.setdefault(str(snapshot.party[k]), {"aircraft": set(), "plans": set()})["aircraft"].add(
                    str(snapshot.icao24[k]))
            reach = Volume4D(Circle(lat, lon, max(speed * horizon + hsep, 1.0)),
                             max(low, REACH_ALTITUDE_LIMITS[0]), min(max(high, low + 1.0), REACH_ALTITUDE_LIMITS[1]),
                             now, now + horizon)
            for conflict in self.index.check(Plan(f"{key[0]}/reach of {key[1]}", key[0], (reach,))).conflicts:
                if conflict.other_party != key[0]:
                    reached.setdefault(conflict.other_party, {"aircraft": set(), "plans": set()})["plans"].add(
                        plan_id_of(conflict.other))
            for party, what in reached.items():
                if party not in told.get(key, set()):
                    found.setdefault(key, {})[party] = {"aircraft": sorted(what["aircraft"]),
                                                        "plans": sorted(what["plans"]),
                                                        "state": ntk.aircraft_state(snapshot, row)}
        return found

    def _store(self, now: float, starts: list, ends: dict, tells: dict) -> None:
        with self.work.write() as session:
            opened: dict[tuple[str, str], Nonconformance] = {}
            for key, verdict, report, since in starts:
                nearest = verdict.nearest
                detail = {"first_outside": ntk.iso(since), "report": ntk.aircraft_state(report, 0),
                          "outside_by": {"lateral_m": round(nearest.lateral, 1), "vertical_m": round(nearest.vertical, 1),
                                         "time_s": round(nearest.time, 1)} if nearest is not None else None}
                row = Nonconformance(id=self.work.next_id(session, Nonconformance), party=key[0], icao24=key[1],
                                     plans=list(verdict.responsible), started=since, ended=None, end_reason=None,
                                     detail=detail, told=[])
                session.add(row)
                opened[key] = row
                record = _record(row)
                self.work.record(session, "nonconformance.started", SERVICE_ACTOR, (key[0],),
                                 {k: record[k] for k in ("id", "icao24", "plans", "started", "detail")})
                self.work.emit(session, "nonconformance.started", {None: _view(record, None), key[0]: _view(record, key[0])})
            for key, reached in tells.items():
                row = opened.get(key) or session.get(Nonconformance, _row_id(self._open[key]))
                told = list(row.told)
                for party, what in sorted(reached.items()):
                    told.append({"party": party, "at": ntk.iso(now), "aircraft": what["aircraft"],
                                 "plans": what["plans"]})
                    self.work.record(session, "nonconformance.told", SERVICE_ACTOR, (row.party, party),
                                     {"id": f"nonconformance:{row.id}", "icao24": row.icao24, "owner": row.party,
                                      "told": party, "aircraft": len(what["aircraft"]), "plans": len(what["plans"])})
                    view = {"id": f"nonconformance:{row.id}", "icao24": row.icao24, "party": row.party,
                            "started": ntk.iso(row.started), "state": what["state"], "your_aircraft": what["aircraft"],
                            "your_plans": what["plans"]}
                    self.work.emit(session, "nonconformance.told", {party: view, None: {**view, "told": party}})
                row.told = told
                record = _record(row)
                self.work.after_commit(session, lambda key=key, record=record: self._open.__setitem__(key, record))
            for key, (reason, time) in ends.items():
                if key not in self._open and key not in opened:
                    continue
                row = opened.get(key) or session.get(Nonconformance, _row_id(self._open[key]))
                row.ended, row.end_reason = max(time, row.started), reason
                record = _record(row)
                parties = (row.party, *sorted({t["party"] for t in row.told}))
                self.work.record(session, "nonconformance.ended", SERVICE_ACTOR, parties,
                                 {k: record[k] for k in ("id", "icao24", "plans", "started", "ended", "end_reason")})
                self.work.emit(session, "nonconformance.ended", {v: _view(record, v) for v in ntk.audiences(parties)})
                self.work.after_commit(session, lambda key=key: (self._open.pop(key, None), self._inside.pop(key, None),
                                                                 self._reached_at.pop(key, None)))
            for key, row in opened.items():
                if row.ended is None:
                    self.work.after_commit(session, lambda key=key, record=_record(row): self._open.__setitem__(key, record))

    # -- what the API shows -------------------------------------------------------------------

    def nonconforming_plans(self) -> set[str]:
        """Keys of the plans that are Nonconforming now."""
        return {key for record in self._open.values() for key in record["plan_keys"]}

    def visible_aircraft(self, viewer: ntk.Viewer) -> set[tuple[str, str]]:
        """(party, icao24) of the nonconforming aircraft ``viewer`` sees: its own, those it was told
        of (the cell: all)."""
        return {key for key, record in self._open.items()
                if viewer is None or key[0] == viewer or viewer in {t["party"] for t in record["told"]}}

    def list(self, who: Principal, limit: int = LISTED) -> list[dict[str, Any]]:
        """The nonconformances the caller may see, newest first: its own aircraft's in full, those it was
        told of as told (without the owner's plans), all for the cell."""
        query = select(Nonconformance).order_by(Nonconformance.started.desc(), Nonconformance.id.desc())
        out = []
        with self.work.Session() as session:
            for row in session.scalars(query):
                view = _view(_record(row), None if who.is_cell else who.party)
                if view is not None:
                    out.append(view)
                    if len(out) >= limit:
                        break
        return out


def _record(row: Nonconformance) -> dict[str, Any]:
    return {"id": f"nonconformance:{row.id}", "party": row.party, "icao24": row.icao24,
            "plans": [plan_id_of(k) for k in row.plans], "plan_keys": list(row.plans),
            "started": ntk.iso(row.started), "ended": ntk.iso(row.ended) if row.ended is not None else None,
            "end_reason": row.end_reason, "detail": row.detail, "told": list(row.told)}


def _view(record: dict[str, Any], viewer: ntk.Viewer) -> dict[str, Any] | None:
    """A nonconformance as ``viewer`` sees it: the owner and the cell all of it (but the internal plan
    keys); a told party the aircraft, its times and what of its own it could reach."""
    public = {k: v for k, v in record.items() if k != "plan_keys"}
    if viewer is None:
        return public
    if viewer == record["party"]:  # who was told, not what of theirs it could reach
        return {**public, "told": [{"party": t["party"], "at": t["at"]} for t in record["told"]]}
    mine = [t for t in record["told"] if t["party"] == viewer]
    if not mine:
        return None
    return {"id": record["id"], "party": record["party"], "icao24": record["icao24"], "started": record["started"],
            "ended": record["ended"], "end_reason": record["end_reason"], "told": mine}


def _row_id(record: dict[str, Any]) -> int:
    return int(record["id"].split(":")[1])
