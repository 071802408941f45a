"""Plans (ASTM F3548-21 operational intents): sets of 4D volumes declared by a party, and their conflicts.

A `Plan` is volumes plus a party, a state, a priority and a version token that changes on every
edit. A recurring plan holds volumes timed relative to each departure and a `Recurrence`
("06:00 and 18:00 UTC every day from 2015-09-01 to 2015-12-31"); its occurrences are expanded
only inside the window being checked, never for all time.

`PlanIndex` stores plans in a grid of space cells x time buckets (recurring plans by space
only), so a check touches only the cells and buckets a new plan covers: its cost does not grow
with the number of days stored. The index gives a superset of candidates; `volumes.overlap`
decides exactly.
"""

from __future__ import annotations

import gc
import hashlib
import json
import pickle
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from typing import Iterable, Iterator, KeysView

import numpy as np
import shapely
from pyproj import Geod

from deconflict.core.bounds import grow
from deconflict.core.geojson import polygon_geometry
from deconflict.core._footprint_proofs import ecef, surface_ring
from deconflict.core._plan_index import MAX_KEYS, PROVED, CellTable, Columns, search, search_many, volume_keys
from deconflict.core.volumes import (Circle, Overlap, Polygon, Volume4D, VolumeError, aeqd, footprint_overlap,
                                     latlon_ring, overlap)
from deconflict.errors import DeconflictError

_GEOD = Geod(ellps="WGS84")
EQUAL_PRIORITY_POLICIES = ("reject", "accept")
SNAPSHOT_VERSION = 2  # of `PlanIndex.encode`; an older snapshot is not read (the index is rebuilt)


class PlanState(str, Enum):
    ACCEPTED = "Accepted"
    ACTIVATED = "Activated"
    NONCONFORMING = "Nonconforming"
    CONTINGENT = "Contingent"


class PlanError(DeconflictError, ValueError):
    """A plan that cannot be stored or checked; names the plan."""


@dataclass(frozen=True)
class Recurrence:
    """Departures at ``times_of_day`` (s after 00:00 UTC) on every day from ``first_day`` to ``last_day``
    (inclusive), optionally only on ``weekdays`` (0 Monday .. 6 Sunday)."""

    times_of_day: tuple[float, ...]
    first_day: date
    last_day: date
    weekdays: frozenset[int] | None = None

    def __post_init__(self) -> None:
        if not self.times_of_day or any(not 0.0 <= t < 86400.0 for t in self.times_of_day):
            raise VolumeError("recurrence times of day must be within 00:00-24:00 UTC")
        if self.last_day < self.first_day:
            raise VolumeError(f"recurrence ends ({self.last_day}) before it starts ({self.first_day})")

    def departures(self, start: float, end: float) -> np.ndarray:
        """UNIX times of the departures in [start, end)."""
        first = max(datetime.fromtimestamp(start, timezone.utc).date() - timedelta(days=1), self.first_day)
        last = min(datetime.fromtimestamp(end, timezone.utc).date(), self.last_day)
        times = []
        day = first
        while day <= last:
            if self.weekdays is None or day.weekday() in self.weekdays:
                midnight = datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()
                times.extend(midnight + t for t in self.times_of_day if start <= midnight + t < end)
            day += timedelta(days=1)
        return np.asarray(sorted(times))

    def span(self) -> tuple[float, float]:
        """First and last UNIX time any departure can happen."""
        first = datetime(self.first_day.year, self.first_day.month, self.first_day.day, tzinfo=timezone.utc).timestamp()
        last = datetime(self.last_day.year, self.last_day.month, self.last_day.day, tzinfo=timezone.utc).timestamp()
        return first + min(self.times_of_day), last + max(self.times_of_day)


@dataclass(frozen=True)
class Plan:
    """A party's declared operation. With a ``recurrence``, volume times are seconds after each departure."""

    id: str
    party: str
    volumes: tuple[Volume4D, ...]
    priority: int = 0
    state: PlanState = PlanState.ACCEPTED
    revision: int = 0
    recurrence: Recurrence | None = None
    aircraft: tuple[str, ...] = ()  # the addresses (icao24) that fly it: their tracks are held to it

    def __post_init__(self) -> None:
        if not self.id:
            raise PlanError("a plan needs an id")
        if not self.volumes:
            raise PlanError(f"plan {self.id!r} has no volumes")

    @property
    def version(self) -> str:
        """Token that changes on every edit (revision) and with the content."""
        content = json.dumps([self.id, self.party, self.priority, self.state.value, self.revision,
                              repr(self.volumes), repr(self.recurrence)])
        return hashlib.sha256(content.encode()).hexdigest()[:16]

    def edited(self, **changes: object) -> "Plan":
        """A new version of this plan with ``changes`` applied."""
        return replace(self, revision=self.revision + 1, **changes)

    def occurrences(self, start: float, end: float) -> Iterator[tuple[float, tuple[Volume4D, ...]]]:
        """``(departure, volumes)`` of each occurrence that may touch [start, end] (departure 0 if not recurring)."""
        if self.recurrence is None:
            yield 0.0, self.volumes
            return
        earliest = min(v.time_start for v in self.volumes)
        latest = max(v.time_end for v in self.volumes)
        for departure in self.recurrence.departures(start - latest, end - earliest + 1e-6):
            yield float(departure), tuple(v.shifted(departure) for v in self.volumes)


@dataclass(frozen=True)
class PlanConflict:
    """A volume of ``plan`` overlapping one of ``other``; ``blocking``: ``plan`` may not be accepted."""

    plan: str
    other: str
    party: str
    other_party: str
    volume: int
    other_volume: int
    departure: float  # of the other plan's occurrence (0 when not recurring)
    overlap: Overlap
    priority: int
    other_priority: int
    blocking: bool
    reason: str

    def geojson(self) -> dict:
        """The overlap as a GeoJSON Feature (Polygon of the footprint overlap; no geometry when only within margin)."""
        geometry = polygon_geometry(self.overlap.rings)  # RFC 7946; None when only within the margin
        return {"type": "Feature", "geometry": geometry, "properties": {
            "plan": self.plan, "other": self.other, "party": self.party, "other_party": self.other_party,
            "volume": self.volume, "other_volume": self.other_volume,
            "time_start": _iso(self.overlap.time_start), "time_end": _iso(self.overlap.time_end),
            "alt_lower": f"{self.overlap.altitude_lower:g}m", "alt_upper": f"{self.overlap.altitude_upper:g}m",
            "separation": f"{self.overlap.separation:g}m", "blocking": self.blocking, "reason": self.reason}}


@dataclass(frozen=True)
class PlanCheck:
    """The conflicts of a plan against the stored ones, and whether it may be accepted."""

    plan: Plan
    conflicts: tuple[PlanConflict, ...]

    @property
    def accepted(self) -> bool:
        return not any(c.blocking for c in self.conflicts)


class PlanIndex:
    """Stored plans, indexed by space cells x time buckets. ``margin`` (m): footprints closer than this
    conflict; ``equal_priority``: ``reject`` (first come, first served) or ``accept`` (both fly, notified).

    Volumes live in columnar arrays (bounds, altitude band, time window, circle parameters) so that the
    candidates of a check are filtered with a few vectorised comparisons before the exact test.
    """

    def __init__(self, margin: float = 0.0, equal_priority: str = "reject") -> None:
        if equal_priority not in EQUAL_PRIORITY_POLICIES:
            raise PlanError(f"equal-priority policy must be one of {', '.join(EQUAL_PRIORITY_POLICIES)}, "
                            f"got {equal_priority!r}")
        if not margin >= 0.0:
            raise PlanError(f"margin must be >= 0 m, got {margin}")
        self.margin, self.equal_priority = float(margin), equal_priority
        self._plans: dict[str, Plan] = _Plans()
        self._handles: dict[str, list[int]] = {}
        self._keys: dict[str, list[np.ndarray | None]] = {}  # per volume; None: a large volume
        self._table = CellTable()
        self._dead = 0  # table entries of removed volumes
        self._large: set[int] = set()
        self._large_array = _NONE
        self._owner: list[tuple[str, int]] = []
        self._columns = Columns()
        self._flown_by: dict[tuple[str, str], set[str]] = defaultdict(set)  # (party, icao24) -> plan ids

    def __len__(self) -> int:
        return len(self._plans)

    def frozen(self) -> dict:
        """A copy of the index's state that later changes do not touch (shallow where the index never
        changes a value in place): quick, so a service takes it while its writes wait, then encodes it
        (`encode`, the slow part) while they go on."""
        c, t = self._columns, self._table
        columns = Columns.__new__(Columns)
        columns.__dict__.update(c.__dict__, values=c.values[: c.size].copy(), rings=c.rings[:, : c.ring_used].copy())
        table = CellTable.__new__(CellTable)
        table.__dict__.update(t.__dict__, slots=t.slots.copy(), entries=t.entries[: t.count].copy())
        return {"version": SNAPSHOT_VERSION, "margin": self.margin, "equal_priority": self.equal_priority,
                "plans": dict(dict.items(self._plans)), "handles": dict(self._handles), "keys": dict(self._keys),
                "table": table, "dead": self._dead, "large": set(self._large), "owner": list(self._owner),
                "columns": columns, "flown_by": {key: set(ids) for key, ids in self._flown_by.items()}}

    @staticmethod
    def encode(state: dict) -> bytes:
        """`frozen` state as bytes; each plan pickled on its own, so that `restore_into` unpickles a plan only
        when it is first read."""
        plans = {key: value if isinstance(value, bytes) else pickle.dumps(value, protocol=5)
                 for key, value in state["plans"].items()}
        return pickle.dumps({**state, "plans": plans}, protocol=5)

    def restore_into(self, data: bytes) -> None:
        """Replace this index's content with `encode`d `frozen` state (the object stays the same, so whoever
        holds it sees the restored plans). Only bytes this program wrote may be given (pickle): the
        service checks their HMAC first."""
        collecting = gc.isenabled()
        gc.disable()  # a million small objects at once: the collector would walk the heap again and again
        try:
            state = pickle.loads(data)
        finally:
            if collecting:
                gc.enable()
        if state.get("version") != SNAPSHOT_VERSION:
            raise PlanError(f"plan index snapshot version {state.get('version')!r}, expected {SNAPSHOT_VERSION}")
        if (state["margin"], state["equal_priority"]) != (self.margin, self.equal_priority):
            raise PlanError("the snapshot was taken with another margin or equal-priority policy")
        self._plans = _Plans(state["plans"])
        self._handles, self._keys, self._large = state["handles"], state["keys"], state["large"]
        self._large_changed()
        self._table, self._dead = state["table"], state["dead"]
        self._owner, self._columns = state["owner"], state["columns"]
        self._flown_by = defaultdict(set, state["flown_by"])

    def __contains__(self, plan_id: str) -> bool:
        return plan_id in self._plans

    def get(self, plan_id: str) -> Plan | None:
        return self._plans.get(plan_id)

    def add(self, plan: Plan) -> None:
        """Store ``plan``, replacing a stored plan with the same id."""
        if plan.id in self._plans:
            self.remove(plan.id)
        self._plans[plan.id] = plan
        handles, keys = [], []
        recurring = plan.recurrence is not None
        for k, volume in enumerate(plan.volumes):
            handle = self._columns.append(volume, recurring)
            self._owner.append((plan.id, k))
            handles.append(handle)
            volume_keys = _index_keys(volume, recurring)
            keys.append(volume_keys)
            if volume_keys is None:
                self._large.add(handle)
                self._large_changed()
            else:
                self._table.insert(volume_keys, handle)
        self._handles[plan.id], self._keys[plan.id] = handles, keys
        for icao24 in plan.aircraft:
            self._flown_by[(plan.party, icao24)].add(plan.id)

    def flown_by(self, party: str, icao24: str) -> list[Plan]:
        """The stored plans of ``party`` that name the aircraft ``icao24``."""
        return [self._plans[key] for key in sorted(self._flown_by.get((party, icao24), ()))]

    def named_aircraft(self) -> "KeysView[tuple[str, str]]":
        """Every (party, icao24) some stored plan names (a live view: no copy per detection cycle)."""
        return self._flown_by.keys()

    def remove(self, plan_id: str) -> Plan:
        """Remove a stored plan; returns it. Its table entries stay (the search skips dead volumes) until
        they are half of the table, which is then rebuilt from the live volumes' keys."""
        plan = self._plans.pop(plan_id, None)
        if plan is None:
            raise PlanError(f"no stored plan {plan_id!r}")
        for icao24 in plan.aircraft:
            named = self._flown_by[(plan.party, icao24)]
            named.discard(plan_id)
            if not named:
                del self._flown_by[(plan.party, icao24)]
        handles = self._handles.pop(plan_id)
        self._columns.kill(handles)
        if self._large.intersection(handles):
            self._large -= set(handles)
            self._large_changed()
        self._dead += sum(keys.size for keys in self._keys.pop(plan_id) if keys is not None)
        if self._dead > 4096 and 2 * self._dead > self._table.count:
            self._rebuild_table()
        return plan

    def _large_changed(self) -> None:
        """The large volumes' handles as the sorted array the compiled search reads."""
        self._large_array = np.array(sorted(self._large), dtype=np.int64)

    def _rebuild_table(self) -> None:
        table = CellTable(capacity=max(1 << 12, 1 << int(2 * (self._table.count - self._dead)).bit_length()))
        for plan_id, handles in self._handles.items():
            for handle, keys in zip(handles, self._keys[plan_id]):
                if keys is not None:
                    table.insert(keys, handle)
        self._table, self._dead = table, 0

    def check(self, plan: Plan) -> PlanCheck:
        """Conflicts of ``plan`` with every stored plan (a stored plan with the same id is its old version)."""
        conflicts: list[PlanConflict] = []
        for _, volumes in plan.occurrences(*_life(plan)):
            for k, volume in enumerate(volumes):
                self._decide(plan, k, volume, *self._candidates(volume), conflicts)
        return _sorted_check(plan, conflicts)

    def check_many(self, plans: "Iterable[Plan]") -> list[PlanCheck]:
        """`check` of each plan against the stored plans (not against each other: nothing is stored), the
        candidates of every volume found in one compiled call: for a batch of candidate plans, or a
        what-if over a schedule."""
        plans = list(plans)
        volumes = [(p, k, volume) for p, plan in enumerate(plans) for _, occurrence in plan.occurrences(*_life(plan))
                   for k, volume in enumerate(occurrence)]
        found: list[list[PlanConflict]] = [[] for _ in plans]
        if volumes:
            queries, rings = zip(*(self._query(volume) for _, _, volume in volumes))
            sizes = np.array([ring.shape[1] for ring in rings], dtype=np.int64)
            spans = np.column_stack((np.cumsum(sizes) - sizes, sizes))
            c, t = self._columns, self._table
            rows, handles, states = search_many(np.vstack(queries), spans, np.hstack(rings), t.slots, t.entries,
                                                self._large_array, c.values, c.size, c.recurring_count, c.rings,
                                                self.margin)
            cuts = np.searchsorted(rows, np.arange(len(volumes) + 1))
            for q, (p, k, volume) in enumerate(volumes):
                lo, hi = cuts[q], cuts[q + 1]
                if lo < hi:
                    self._decide(plans[p], k, volume, handles[lo:hi], states[lo:hi], found[p])
        return [_sorted_check(plan, conflicts) for plan, conflicts in zip(plans, found)]

    def _decide(self, plan: Plan, k: int, volume: Volume4D, handles: np.ndarray, states: np.ndarray,
                conflicts: list[PlanConflict]) -> None:
        """Append the conflicts of ``plan``'s volume ``k`` (``volume``: one occurrence) with its candidates."""
        for handle, state in zip(handles.tolist(), states.tolist()):
            other_id, j = self._owner[handle]
            if other_id == plan.id:
                continue
            other = self._plans[other_id]
            if state == PROVED:  # a one-off pair the compiled bounds proved to overlap
                found = _proved_overlap(volume, other.volumes[j], self.margin)
                conflicts.append(self._conflict(plan, k, other, j, 0.0, found))
                continue
            for departure, other_volumes in other.occurrences(volume.time_start, volume.time_end):
                found = overlap(volume, other_volumes[j], self.margin)
                if found is not None:
                    conflicts.append(self._conflict(plan, k, other, j, departure, found))

    def submit(self, plan: Plan) -> PlanCheck:
        """Check ``plan`` and store it when it may be accepted."""
        result = self.check(plan)
        if result.accepted:
            self.add(plan)
        return result

    def active(self, at: float) -> list[tuple[Plan, int, Volume4D]]:
        """``(plan, volume number, volume)`` of every stored volume whose time window holds ``at`` (UNIX s);
        for a recurring plan, the volume of the occurrence that holds it."""
        c = self._columns
        n = c.size
        start, end = c.values[:n, 6], c.values[:n, 7]
        alive = c.alive[:n]
        once = np.flatnonzero(alive & ~c.recurring[:n] & (start <= at) & (end >= at))
        found = []
        for handle in once.tolist():
            plan_id, k = self._owner[handle]
            plan = self._plans[plan_id]
            found.append((plan, k, plan.volumes[k]))
        for handle in np.flatnonzero(alive & c.recurring[:n]).tolist():
            plan_id, k = self._owner[handle]
            plan = self._plans[plan_id]
            for _, volumes in plan.occurrences(at, at):
                if volumes[k].time_start <= at <= volumes[k].time_end:
                    found.append((plan, k, volumes[k]))
        return found

    def _candidates(self, volume: Volume4D) -> tuple[np.ndarray, np.ndarray]:
        """Handles of stored volumes that may conflict with ``volume``, and for each `PROVED` or not
        (`_plan_index.search`: one compiled call)."""
        query, ring = self._query(volume)
        c, t = self._columns, self._table
        return search(query, t.slots, t.entries, self._large_array, c.values, c.size, c.recurring_count, c.rings,
                      ring, self.margin)

    def _query(self, volume: Volume4D) -> tuple[np.ndarray, np.ndarray]:
        """The search's description of a volume: box grown by the margin, band, window, circle; and the
        ECEF cut points of a polygon."""
        f = volume.footprint
        box = grow(f.bounds, self.margin) if self.margin > 0.0 else f.bounds  # conservative
        if isinstance(f, Circle):
            return (np.array((*box, volume.altitude_lower, volume.altitude_upper, volume.time_start, volume.time_end,
                              f.lat, f.lon, f.radius, *ecef(f.lat, f.lon))), _NO_RING)
        return (np.array((*box, volume.altitude_lower, volume.altitude_upper, volume.time_start, volume.time_end,
                          *_NO_CIRCLE)), surface_ring(f))

    def _conflict(self, plan: Plan, k: int, other: Plan, j: int, departure: float, found: Overlap) -> PlanConflict:
        if other.priority > plan.priority:
            blocking, reason = True, "higher priority"
        elif other.priority == plan.priority:
            blocking = self.equal_priority == "reject"
            reason = f"equal priority, {self.equal_priority} policy"
        else:
            blocking, reason = False, "lower priority"
        return PlanConflict(plan=plan.id, other=other.id, party=plan.party, other_party=other.party, volume=k,
                            other_volume=j, departure=departure, overlap=found, priority=plan.priority,
                            other_priority=other.priority, blocking=blocking, reason=reason)


class _Plans(dict):
    """Plan id -> Plan. Values restored from a snapshot stay pickled bytes until first read, so that a
    restart does not rebuild 100,000 plans before it can answer."""

    def __getitem__(self, key: str) -> Plan:
        value = dict.__getitem__(self, key)
        if isinstance(value, bytes):
            value = pickle.loads(value)
            dict.__setitem__(self, key, value)
        return value

    def get(self, key: str, default: Plan | None = None) -> Plan | None:
        return self[key] if key in self else default

    def pop(self, key: str, *default: Plan | None) -> Plan | None:
        if key in self:
            value = self[key]
            dict.__delitem__(self, key)
            return value
        if default:
            return default[0]
        raise KeyError(key)

    def values(self):  # noqa: ANN201
        return (self[key] for key in list(self.keys()))


def _sorted_check(plan: Plan, conflicts: list[PlanConflict]) -> PlanCheck:
    conflicts.sort(key=lambda c: (c.overlap.time_start, c.other, c.volume, c.other_volume))
    return PlanCheck(plan, tuple(conflicts))


_NONE = np.empty(0, dtype=np.int64)
_NO_RING = np.empty((3, 0))
_NO_CIRCLE = (np.nan,) * 6


def _index_keys(volume: Volume4D, recurring: bool) -> np.ndarray | None:
    """A stored volume's index keys (`_plan_index.volume_keys`), or None when it is a large volume."""
    keys = np.empty(MAX_KEYS, dtype=np.int64)
    n = volume_keys(*volume.footprint.bounds, volume.time_start, volume.time_end, recurring, keys)
    return None if n < 0 else keys[:n].copy()


def _proved_overlap(a: Volume4D, b: Volume4D, margin: float) -> Overlap:
    """The overlap of two one-off volumes the filter proved to overlap (drawn on first use)."""
    return Overlap(max(a.time_start, b.time_start), min(a.time_end, b.time_end),
                   max(a.altitude_lower, b.altitude_lower), min(a.altitude_upper, b.altitude_upper), 0.0,
                   lambda: footprint_overlap(a.footprint, b.footprint, margin)[0]())


def plan_life(plan: Plan) -> tuple[float, float]:
    """First and last instant any volume of ``plan`` can exist (UNIX s), every occurrence included."""
    return _life(plan)


def _life(plan: Plan) -> tuple[float, float]:
    """First and last instant any volume of ``plan`` can exist (UNIX s)."""
    if plan.recurrence is None:
        return min(v.time_start for v in plan.volumes), max(v.time_end for v in plan.volumes)
    first, last = plan.recurrence.span()
    return first + min(v.time_start for v in plan.volumes), last + max(v.time_end for v in plan.volumes)


def corridor(lat: np.ndarray, lon: np.ndarray, altitude: np.ndarray, time: np.ndarray, lateral: float,
             vertical: float, time_buffer: float) -> tuple[Volume4D, ...]:
    """Volumes covering a flight along a route: one per leg, ``lateral`` m either side of the geodesic
    (round ends), ``vertical`` m above and below the leg's altitudes, ``time_buffer`` s before and after.

    The buffer is drawn in the leg's azimuthal equidistant frame, grown so that its polygon circumscribes
    the exact buffer, and cut into chords of at most 500 m so that geodesic edges follow it.
    """
    if not (lateral > 0 and vertical >= 0 and time_buffer >= 0):
        raise VolumeError("corridor buffers must be lateral > 0, vertical >= 0, time >= 0")
    if np.any(np.diff(time) <= 0):
        raise VolumeError("waypoint times must increase along the route")
    volumes = []
    for k in range(len(lat) - 1):
        centre = (float(lat[k]), float(lon[k]))
        _, _, length = _GEOD.inv(lon[k], lat[k], lon[k + 1], lat[k + 1])
        steps = max(int(np.ceil(length / 500.0)), 1)
        inner = _GEOD.npts(lon[k], lat[k], lon[k + 1], lat[k + 1], steps - 1)
        line = np.array([(lat[k], lon[k]), *[(la, lo) for lo, la in inner], (lat[k + 1], lon[k + 1])])
        planar = shapely.LineString(aeqd(line, *centre))
        # sag of an offset curve against geodesic chords, and chords of the round ends: grow to cover
        grow = lateral / np.cos(np.pi / 64) + lateral * (length / 6.4e6) ** 2 + 0.01
        shape = shapely.segmentize(planar.buffer(grow, quad_segs=16), 500.0)
        ring = latlon_ring(shape, centre)[:-1]
        low = float(min(altitude[k], altitude[k + 1])) - vertical
        high = float(max(altitude[k], altitude[k + 1])) + vertical
        volumes.append(Volume4D(Polygon(tuple(map(tuple, ring.tolist()))), low, max(high, low + 1e-3),
                                float(time[k]) - time_buffer, float(time[k + 1]) + time_buffer))
    return tuple(volumes)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z")


__all__ = ["Circle", "Polygon", "Volume4D", "Plan", "PlanState", "Recurrence", "PlanIndex", "PlanConflict",
           "PlanCheck", "PlanError", "corridor"]
