"""Live tracks and tactical detection: track batches into the picture, detection cycles that raise,
change and clear conflicts, the picture each party may see, and suggested resolutions.

Displayed conflicts follow committed state. `_open` holds what is stored as open, changed only
once a transaction commits; at the start of each cycle the alert filter is reset to it
(`AlertFilter.restore`), so a raise whose transaction failed is raised again by the next good
cycle, and a clear that failed is tried again. A batch enters the picture only once its audit
entry is committed: a failed batch is not half-applied.

The same address reported by two parties is two tracks. When the two agree in position (one
aircraft seen by both) the pair is not a conflict; the clash is reported to the cell (event
``track.clash``, an audit entry for the cell only, ``GET /v1/tracks/clashes``).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from deconflict.core.alerting import AlertFilter, alerts, losses
from deconflict.core.bands import BandsError, Kinematics, bands as conflict_bands, flown_level
from deconflict.core.geodesy import geodesic_distance
from deconflict.core.quality import SURFACE_ALTITUDE, SURFACE_SPEED
from deconflict.core.standards import Standard
from deconflict.core.states import States
from deconflict.core.units import FOOT, KNOT, NAUTICAL_MILE
from deconflict.io.plans_file import parse_time
from deconflict.io.states_file import StatesFileError, validate_table
from deconflict.service import need_to_know as ntk
from deconflict.service.auth import Principal, Role
from deconflict.service.errors import BadRequest, Forbidden, NotFound
from deconflict.service.hotline import Hotline
from deconflict.service.limits import PARTY_ID_PATTERN
from deconflict.service.conformance import Conformance
from deconflict.service.occurrences import Loss, Occurrences
from deconflict.service.parties import Parties
from deconflict.service.picture import TRACK_SEPARATOR, Picture, track_ids
from deconflict.service.quotas import Quota
from deconflict.service.settings import ServiceSettings
from deconflict.service.unit_of_work import LOG, SERVICE_ACTOR, UnitOfWork
from deconflict.store.schema import Occurrence, PictureCopy, TacticalConflict, Thread

CHANGES_PER_TRANSACTION = 50  # short transactions (about 60 ms at most): writers and ingest interleave
UPDATES_EVERY = 1.0  # s (real time) between two conflicts.updated events
UPDATE_FIELDS = ("id", "a", "b", "level", "t_in", "t_out", "t_cpa", "d_cpa", "dz_cpa")
FUTURE_TOLERANCE = 5.0  # s: live rows stamped later than this after the service clock are bad rows
SAME_AIRCRAFT_HORIZONTAL = NAUTICAL_MILE  # m: two parties' tracks of one address this close are one aircraft
SAME_AIRCRAFT_VERTICAL = 300 * FOOT  # m
OCCURRENCE_EVIDENCE = 20.0  # s: an occurrence needs both positions reported within this (not predicted further)
DETECTION_THREADS = 1  # the grid scan on one core: the others answer requests (a cycle of 20,000 aircraft
                       # takes about 0.3 s either way on 2 cores; requests waited behind the parallel one)


class IngestResult:
    def __init__(self, accepted: int, rejected: int, reasons: dict[str, int], examples: list[str]) -> None:
        self.accepted, self.rejected, self.reasons, self.examples = accepted, rejected, reasons, examples


class Tactical:
    def __init__(self, work: UnitOfWork, hotline: Hotline, parties: Parties, settings: ServiceSettings,
                 standard: Standard) -> None:
        self.work = work
        self.hotline = hotline
        self.parties = parties
        self.settings = settings
        self.standard = standard
        self.picture = Picture()
        self.state_vectors = Quota("state vectors pushed", settings.state_vectors)
        self._filter = AlertFilter(settings.alert_m, settings.alert_n, settings.alert_hysteresis,
                                   immediate=settings.alert_immediate)
        self._open: dict[tuple[str, str], dict[str, Any]] = {}  # stored open conflicts by (track, track)
        self._clashes: dict[str, dict[str, Any]] = {}  # icao24 -> parties reporting it, since when
        self._updates_published = float("-inf")
        self._resumed_until = float("-inf")  # service time until which stored conflicts wait for their tracks
        self._picture_copied = float("-inf")  # service time of the leader's picture copy last loaded
        self.occurrences = Occurrences(work, standard.name, settings.max_age)
        self.conformance: Conformance | None = None  # set by `Deconfliction` (it needs the plan index)
        self.detections = 0

    def resume(self) -> None:
        """Take over the conflicts stored as open (a restart, or a standby taking the lead): they stay
        open, neither cleared nor raised again, until both aircraft are reported again and detection
        decides, or until ``max_age`` has passed without them (then they clear as stale tracks do)."""
        with self.work.Session() as session:
            rows = session.scalars(select(TacticalConflict).where(TacticalConflict.cleared.is_(None))).all()
            threads = dict(session.execute(select(Thread.conflict, Thread.id).where(
                Thread.conflict.in_([f"tactical:{row.id}" for row in rows]))).all()) if rows else {}
        for row in rows:
            conflict = {"id": f"tactical:{row.id}", "kind": "tactical", "a": row.a, "b": row.b,
                        "party_a": row.party_a, "party_b": row.party_b, "level": row.level,
                        "raised": ntk.iso(row.raised), **row.geometry}
            if conflict["id"] in threads:
                conflict["thread"] = threads[conflict["id"]]
            pair = tuple(sorted((f"{row.party_a}{TRACK_SEPARATOR}{row.a}", f"{row.party_b}{TRACK_SEPARATOR}{row.b}")))
            self._open[pair] = conflict
        self._resumed_until = self.work.clock.now() + self.settings.max_age
        self.occurrences.resume()
        if self.conformance is not None:
            self.conformance.resume()

    # -- the picture, for hot standbys ------------------------------------------------------------

    def copy_picture(self) -> None:
        """Write the live picture for the standbys (fenced like every write: a deposed leader cannot)."""
        data = self.picture.to_bytes()
        if data is None:
            return
        now = self.work.clock.now()
        with self.work.write() as session:
            row = session.get(PictureCopy, 1)
            if row is None:
                session.add(PictureCopy(id=1, time=now, data=data))
            else:
                row.time, row.data = now, data

    def follow_picture(self) -> bool:
        """On a standby: load the leader's newest copy of the picture, if newer than the one held."""
        with self.work.Session() as session:
            row = session.execute(select(PictureCopy.time, PictureCopy.data).where(
                PictureCopy.id == 1, PictureCopy.time > self._picture_copied)).first()
        if row is None:
            return False
        try:
            self.picture.load_bytes(row.data)
        except (ValueError, KeyError, TypeError, OSError) as error:
            LOG.warning("picture copy not used (%s)", str(error).splitlines()[0])
            return False
        self._picture_copied = row.time
        return True

    # -- tracks in ------------------------------------------------------------------------------

    def ingest(self, who: Principal, columns: dict[str, Any], source: bytes) -> IngestResult:
        """A batch of state vectors (SPEC §2 columns). Operators' rows are stamped with their party;
        the cell (a station feed) may give a ``party`` column naming registered parties. Bad rows
        (rows from the future among them) are counted, named and skipped."""
        if who.role is Role.OBSERVER:
            raise Forbidden("observers cannot push tracks")
        now = self.work.clock.now()
        self.state_vectors.take(who.party, max((len(v) for v in columns.values() if isinstance(v, list)), default=0))
        table = _table(columns)
        if who.party is not None:
            party = pa.array(np.full(table.num_rows, who.party))
            table = (table.set_column(table.column_names.index("party"), "party", party) if "party" in table.column_names
                     else table.append_column("party", party))
        try:
            states, rejected = validate_table(table, "tracks", lambda row: f"row {row + 1}",
                                              not_after=now + FUTURE_TOLERANCE,
                                              party_pattern=PARTY_ID_PATTERN)
        except StatesFileError as error:
            raise BadRequest(str(error)) from None
        per_party = dict(zip(*np.unique(states.party, return_counts=True))) if len(states) else {}
        with self.work.write() as session:
            # a cell feed's entry is the cell's alone: a party's receipts say nothing of the others' rows
            concerned = (who.party,) if who.party else ()
            payload = {"rows": len(states), "rejected": rejected.count, "sha256": hashlib.sha256(source).hexdigest(),
                       "time_first": float(states.time.min()) if len(states) else None,
                       "time_last": float(states.time.max()) if len(states) else None}
            if who.party is None:
                payload["rows_per_party"] = {str(k): int(v) for k, v in per_party.items()}
            self.work.record(session, "tracks.received", who.actor(), concerned, payload)
            self.work.after_commit(session, lambda: self.picture.add(states))
        return IngestResult(len(states), rejected.count, dict(rejected.reasons),
                            [f"{where}: {why}" for where, why in rejected.examples])

    # -- detection ------------------------------------------------------------------------------

    def detect_now(self) -> None:
        """One detection cycle on the merged picture: alert levels, filtered, raised/updated/cleared."""
        now = self.work.clock.now()
        self.picture.forget_older_than(now - self.settings.max_age)
        snapshot = self.picture.snapshot(now, self.settings.max_age)
        found = alerts(snapshot, self.standard, vtol=self.settings.vtol, threads=DETECTION_THREADS)
        ids = track_ids(snapshot)
        self._note_clashes(snapshot)
        keep = _one_pair_per_aircraft(snapshot, found.index_a, found.index_b, found.level, found.t_in)
        ia, ib = found.index_a[keep], found.index_b[keep]
        self._filter.restore({pair: c["level"] for pair, c in self._open.items()})  # shown = committed
        changes = self._filter.update(now, ids[ia], ids[ib], found.level[keep])
        rows_of = {tuple(sorted(pair)): row for pair, row in zip(zip(ids[ia].tolist(), ids[ib].tolist()),
                                                                  np.flatnonzero(keep).tolist())}
        wanted = set(self._open) | {(a, b) for a, b, before in zip(changes.a.tolist(), changes.b.tolist(),
                                                                   changes.previous.tolist()) if before == 0}
        geometry = {pair: _geometry(found, snapshot, rows_of[pair]) for pair in wanted if pair in rows_of}
        self.detections += 1
        rows = list(zip(changes.a.tolist(), changes.b.tolist(), changes.previous.tolist(), changes.current.tolist()))
        if now < self._resumed_until:  # taken over: a stored conflict waits for both its tracks to come back
            present = set(ids.tolist())
            rows = [r for r in rows if not (r[3] < r[2] and not (r[0] in present and r[1] in present))]
        for first in range(0, len(rows), CHANGES_PER_TRANSACTION):
            with self.work.write() as session:
                suspended = Parties.suspended(session)
                for a, b, before, after in rows[first:first + CHANGES_PER_TRANSACTION]:
                    self._apply(session, (a, b), before, after, geometry, now, suspended)
        self._observe_losses(now, snapshot, ids, found, keep)
        if self.conformance is not None:
            self.conformance.observe(now, self.picture.latest(), snapshot)
        for pair, conflict in self._open.items():
            if pair in geometry:
                conflict.update(geometry[pair])
        if self._open:
            self._publish_updates(now)

    def _observe_losses(self, now: float, snapshot: States, ids: np.ndarray, found: Any, keep: np.ndarray) -> None:
        """Occurrences: the pairs inside the loss volume now whose two positions were both reported
        within `OCCURRENCE_EVIDENCE` s (what happened, not what a stale track predicts). Under ATC
        minima (no tau: en-route, terminal) a pair with surface traffic (under 50 kt below 1500 ft,
        as `scan`: a departure passing an aircraft parked at the gate) is no occurrence; under DO-365
        it is, since drones fly there. Alerts are not filtered so: they stay conservative."""
        inside, horizontal, vertical = losses(found, self.standard, self.settings.vtol)
        if self.standard.loss.tau == 0.0:  # ATC minima: surface traffic is no occurrence (DO-365's drones fly there)
            surface = (snapshot.velocity < SURFACE_SPEED) & (snapshot.altitude < SURFACE_ALTITUDE)
            inside &= ~(surface[found.index_a] | surface[found.index_b])
        rows = np.flatnonzero(keep & inside)
        if not rows.size and not self.occurrences.any_open():
            return
        latest = self.picture.latest()
        fresh = set() if latest is None else set(track_ids(latest.take(np.flatnonzero(
            latest.time >= now - OCCURRENCE_EVIDENCE))).tolist())
        fresh &= set(ids.tolist())  # in the picture (airborne, not stale)
        observed = []
        for r in rows.tolist():
            a, b = str(ids[found.index_a[r]]), str(ids[found.index_b[r]])
            if a in fresh and b in fresh:
                observed.append(Loss(tuple(sorted((a, b))), str(snapshot.icao24[found.index_a[r]]),
                                     str(snapshot.icao24[found.index_b[r]]), str(snapshot.party[found.index_a[r]]),
                                     str(snapshot.party[found.index_b[r]]), float(horizontal[r]), float(vertical[r])))
        self.occurrences.observe(now, observed, fresh, {pair: c["id"] for pair, c in self._open.items()})

    def _apply(self, session: Session, pair: tuple[str, str], before: int, after: int,
               geometry: dict[tuple[str, str], dict[str, Any]], now: float, suspended: set[str]) -> None:
        """Store one change of a pair's displayed level; `_open` and the events follow the commit."""
        views = lambda c: {v: ntk.tactical_view(c, v) for v in ntk.audiences((c["party_a"], c["party_b"]))}  # noqa: E731
        if before == 0:  # raised: the filter counts this update's raw level, so the pair is in `geometry`
            conflict = self._raise(session, pair, after, geometry[pair], now, suspended)
            self.work.after_commit(session, lambda: self._open.__setitem__(pair, conflict))
            self.work.emit(session, "conflict.raised", views(conflict))
            return
        conflict = self._open.get(pair)
        if conflict is None:
            return
        row = session.get(TacticalConflict, int(conflict["id"].split(":")[1]))
        if after == 0:
            row.cleared, row.updated = now, now
            happened = [f"occurrence:{k}" for k in session.scalars(
                select(Occurrence.id).where(Occurrence.conflict == conflict["id"]).order_by(Occurrence.id))]
            self.work.record(session, "conflict.cleared", SERVICE_ACTOR, (row.party_a, row.party_b),
                             {"conflict": conflict["id"], "level_before": before,
                              **({"occurrences": happened} if happened else {})})
            self.hotline.close_thread(session, conflict["id"], "the conflict cleared" + (
                f" after a loss of separation ({', '.join(happened)})" if happened else ""))
            self.work.after_commit(session, lambda: self._open.pop(pair, None))
            self.work.emit(session, "conflict.cleared", views(conflict))
        else:
            row.level, row.updated = after, now
            self.work.record(session, "conflict.level", SERVICE_ACTOR, (row.party_a, row.party_b),
                             {"conflict": conflict["id"], "level": after, "level_before": before})
            changed = {**conflict, "level": after}
            self.work.after_commit(session, lambda: self._open.__setitem__(pair, changed))
            self.work.emit(session, "conflict.level", views(changed))

    def _raise(self, session: Session, pair: tuple[str, str], level: int, g: dict[str, Any], now: float,
               suspended: set[str]) -> dict[str, Any]:
        """Store a newly displayed conflict, open its hotline thread between two known parties."""
        a, b = g["state_a"]["icao24"], g["state_b"]["icao24"]
        party_a, party_b = g["state_a"]["party"], g["state_b"]["party"]
        row = TacticalConflict(id=self.work.next_id(session, TacticalConflict), a=a, b=b, party_a=party_a,
                               party_b=party_b, level=level, raised=now, updated=now, cleared=None, geometry=g)
        session.add(row)
        conflict = {"id": f"tactical:{row.id}", "kind": "tactical", "a": a, "b": b, "party_a": party_a,
                    "party_b": party_b, "level": level, "raised": ntk.iso(now), **g}
        self.work.record(session, "conflict.raised", SERVICE_ACTOR, (party_a, party_b),
                         {"conflict": conflict["id"], "a": a, "b": b, "level": level, "t_cpa": g["t_cpa"],
                          "d_cpa": g["d_cpa"], "dz_cpa": g["dz_cpa"]})
        if party_a and party_b and party_a != party_b:
            thread = self.hotline.open_thread(session, conflict["id"], (party_a, party_b),
                                              f"Conflict {a} ({party_a}) / {b} ({party_b})",
                                              immediate=bool(suspended & {party_a, party_b}))
            conflict["thread"] = thread.id
        return conflict

    def _note_clashes(self, s: States) -> None:
        """Addresses reported by more than one party: the cell is told when a clash appears."""
        clashes: dict[str, set[str]] = {}
        if len(s):
            ids, first, counts = np.unique(s.icao24, return_index=True, return_counts=True)
            for icao24 in ids[counts > 1].tolist():
                clashes[icao24] = set(s.party[s.icao24 == icao24].tolist())
        now = self.work.clock.now()
        new = {k: v for k, v in clashes.items() if self._clashes.get(k, {}).get("parties") != sorted(v)}
        current = {k: self._clashes[k] for k in clashes if k not in new}
        if new:
            with self.work.write() as session:
                for icao24, parties in sorted(new.items()):
                    clash = {"icao24": icao24, "parties": sorted(parties), "since": ntk.iso(now)}
                    self.work.record(session, "track.clash", SERVICE_ACTOR, (), clash)  # the cell's alone
                    self.work.emit(session, "track.clash", {None: clash})
                    current[icao24] = clash
        self._clashes = current

    def clashes(self, who: Principal) -> list[dict[str, Any]]:
        """Addresses now reported by more than one party (the cell only: who tracks what is not a
        party's business)."""
        if not who.is_cell:
            raise Forbidden("only the cell sees address clashes between parties")
        return [self._clashes[k] for k in sorted(self._clashes)]

    def _publish_updates(self, now: float) -> None:
        """At most once a second: each open conflict's current timing and distances (not the states:
        those come with /v1/tracks), per audience."""
        if now - self._updates_published < UPDATES_EVERY * self.work.clock.speed:
            return
        self._updates_published = now
        per: dict[str | None, list[dict[str, Any]]] = {None: []}
        for conflict in self._open.values():
            brief = {k: conflict[k] for k in UPDATE_FIELDS}
            for viewer in ntk.audiences((conflict["party_a"], conflict["party_b"])):
                per.setdefault(viewer, []).append(brief)
        self.work.publish("conflicts.updated", {v: {"conflicts": items} for v, items in per.items()})

    # -- what each party sees -------------------------------------------------------------------

    def conflicts(self, who: Principal) -> list[dict[str, Any]]:
        viewer = None if who.is_cell else who.party
        shown = [ntk.tactical_view(c, viewer) for c in list(self._open.values())]
        return sorted((c for c in shown if c is not None), key=lambda c: (c["t_in"], -c["level"]))

    def tracks(self, who: Principal, columns: bool = False) -> list[dict[str, Any]] | dict[str, list]:
        """What the caller may see of the live picture now: one object per aircraft, or columns."""
        snapshot = self.picture.snapshot(self.work.clock.now(), self.settings.max_age)
        view = ntk.tracks_columns if columns else ntk.tracks_view
        viewer = None if who.is_cell else who.party
        flagged = self.conformance.visible_aircraft(viewer) if self.conformance is not None else set()
        return view(snapshot, list(self._open.values()), viewer, flagged)

    def resolutions(self, who: Principal, conflict_id: str) -> list[dict[str, Any]]:
        """For each of the caller's aircraft in a tactical conflict (the cell: both), the smallest change
        of heading, altitude and speed that clears every conflict of that aircraft (from its conflict
        bands against the whole picture), as ready-to-send manoeuvre proposals. Only the caller's own
        aircraft's manoeuvres are given: nothing is said of the aircraft it would avoid."""
        viewer = None if who.is_cell else who.party
        conflict = next((c for c in list(self._open.values()) if c["id"] == conflict_id), None)
        if conflict is None or ntk.tactical_view(conflict, viewer) is None:
            raise NotFound(f"no open conflict {conflict_id[:64]!r} that you may see")
        snapshot = self.picture.snapshot(self.work.clock.now(), self.settings.max_age)
        answer = []
        for side in ("a", "b"):
            aircraft, party = conflict[side], conflict[f"party_{side}"]
            if viewer is not None and party != viewer:
                continue
            # other parties' tracks of the same address are this aircraft seen twice, not traffic to avoid
            others = snapshot.take(np.flatnonzero((snapshot.icao24 != aircraft) | (snapshot.party == party)))
            try:
                found = conflict_bands(others, aircraft, self.standard, kinematics=SUGGESTION_KINEMATICS)
            except BandsError:
                continue  # no longer in the picture (stale)
            answer.append({"aircraft": aircraft, "party": party, "recovery": found.recovery,
                           "proposals": manoeuvres(aircraft, found, others, self.standard)})
        return answer


def _geometry(found: Any, snapshot: States, row: int) -> dict[str, Any]:
    """A pair's timing, distances and both predicted states, as stored and shown (only for the pairs
    that are raised or open: building it for every alert pair cost a tenth of a cycle)."""
    i, j = int(found.index_a[row]), int(found.index_b[row])
    return {"t_in": float(found.t_in[row]), "t_out": float(found.t_out[row]), "t_cpa": float(found.t_cpa[row]),
            "d_cpa": round(float(found.d_cpa[row]), 1), "dz_cpa": round(float(found.dz_cpa[row]), 1),
            "raw_level": int(found.level[row]), "state_a": ntk.aircraft_state(snapshot, i),
            "state_b": ntk.aircraft_state(snapshot, j)}


def _same_aircraft(s: States, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Pairs that are one aircraft reported by two parties: same address, same place now."""
    same = (s.icao24[i] == s.icao24[j]) & (s.party[i] != s.party[j])
    if same.any():
        k = np.flatnonzero(same)
        close = (geodesic_distance(s.lat[i[k]], s.lon[i[k]], s.lat[j[k]], s.lon[j[k]]) < SAME_AIRCRAFT_HORIZONTAL) \
            & (np.abs(s.altitude[i[k]] - s.altitude[j[k]]) < SAME_AIRCRAFT_VERTICAL)
        same[k] = close
    return same


def _one_pair_per_aircraft(s: States, i: np.ndarray, j: np.ndarray, level: np.ndarray, t_in: np.ndarray) -> np.ndarray:
    """Which alert pairs to keep: not the pairs of one aircraft with itself (two parties' tracks of
    it), and of the pairs that differ only by which party's track of an aircraft they use, the one
    most severe (then between two parties, then soonest). A station feeding every aircraft beside
    the parties' own tracks would otherwise double every conflict. Nothing is lost: the tracks of
    one aircraft agree in position, so their conflicts with a third aircraft agree too."""
    same = _same_aircraft(s, i, j)
    keep = ~same
    if not same.any():
        return keep
    group = np.arange(len(s))  # union-find over the same-aircraft pairs: one root per aircraft
    def root(x: int) -> int:
        while group[x] != x:
            group[x] = group[group[x]]
            x = group[x]
        return x
    for a, b in zip(i[same].tolist(), j[same].tolist()):
        ra, rb = root(a), root(b)
        group[max(ra, rb)] = min(ra, rb)
    roots = np.array([root(x) for x in range(len(s))])
    rows = np.flatnonzero(keep)
    ga, gb = roots[i[rows]], roots[j[rows]]
    low, high = np.minimum(ga, gb), np.maximum(ga, gb)
    between = (s.party[i[rows]] != s.party[j[rows]]).astype(np.int8)
    order = np.lexsort((t_in[rows], -between, -level[rows].astype(np.int16), high, low))
    first = np.ones(order.size, dtype=bool)
    first[1:] = (low[order][1:] != low[order][:-1]) | (high[order][1:] != high[order][:-1])
    keep[:] = False
    keep[rows[order[first]]] = True
    return keep


# suggestions are flown as aircraft fly them: a standard-rate turn, 1 m/s^2 along track, 0.1 g vertically
SUGGESTION_KINEMATICS = Kinematics()


def manoeuvres(aircraft: str, found: Any, snapshot: States, standard: Standard) -> list[dict[str, Any]]:
    """Manoeuvre proposals from an aircraft's (kinematic) bands: the nearest acceptable heading (whole
    degrees), flight level (1000 ft steps) and speed (whole knots), each offered only once flown as
    proposed (the very value written, after rounding, reached by a standard-rate turn or an
    acceleration: `SUGGESTION_KINEMATICS`) against every aircraft of the picture over the standard's
    whole look-ahead: no alert above preventive and no loss with anyone (SPEC §6). In recovery, the recovery
    values are offered (they are checked against the shrunk volume by the bands themselves)."""
    current, best = found.current, found.recommended
    candidates = []
    if best["track"] is not None and round(best["track"]) % 360 != round(current["track"]) % 360:
        heading = round(best["track"]) % 360
        candidates.append(("track", float(heading), {"action": "heading", "value": f"{heading:03d}"}))
    level = best["altitude"] if found.recovery else found.recommended_level
    if level is not None and abs(level - current["altitude"]) >= 30.0:
        flight_level = int(round(level / FOOT / 100))
        candidates.append(("altitude", flight_level * 100 * FOOT,
                           {"action": "climb" if level > current["altitude"] else "descend",
                            "value": f"FL{flight_level:03d}"}))
    if best["ground_speed"] is not None and abs(best["ground_speed"] - current["ground_speed"]) >= 2.0:
        knots = round(best["ground_speed"] / KNOT)
        candidates.append(("ground_speed", knots * KNOT, {"action": "speed", "value": f"{knots}kt"}))
    proposals = []
    for variable, value, proposal in candidates:
        if not found.recovery:
            level_flown, loss = flown_level(snapshot, aircraft, standard, variable, value,
                                            kinematics=SUGGESTION_KINEMATICS)
            if level_flown > 1 or loss:
                continue  # offering nothing is better than a manoeuvre into a conflict
        proposals.append({"type": "manoeuvre", "aircraft": aircraft, **proposal})
    return proposals


def _table(columns: dict[str, Any]) -> pa.Table:
    """A track batch's columns as an Arrow table: ISO 8601 times read as UNIX seconds (SPEC §1 for
    APIs); a column of lists or objects, or of mixed types, is a 422 naming it."""
    arrays = {}
    for name, values in columns.items():
        if not isinstance(name, str) or not isinstance(values, list):
            raise BadRequest(f"tracks: column {str(name)[:40]!r} is not an array")
        try:
            array = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as error:
            if name != "time":
                raise BadRequest(f"tracks: column {name[:40]!r} mixes types ({str(error).splitlines()[0][:120]})") from None
            array = pa.array([_seconds(v) for v in values], pa.float64())  # UNIX seconds and ISO 8601 mixed
        if pa.types.is_nested(array.type):
            raise BadRequest(f"tracks: column {name[:40]!r} holds lists or objects; expected numbers or text")
        if name == "time" and (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
            array = pa.array([_seconds(v) for v in values], pa.float64())
        arrays[name] = array
    if len({len(a) for a in arrays.values()}) > 1:
        raise BadRequest("tracks: columns have different lengths")
    return pa.table(arrays) if arrays else pa.table({"time": pa.array([], pa.float64())})


def _seconds(value: Any) -> float:
    """One time of a batch: UNIX seconds, or ISO 8601 with an offset; unreadable: NaN (a bad row)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return parse_time(value)
    except (ValueError, OverflowError):
        return float("nan")
