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
import math
import pickle
from collections import defaultdict
from dataclasses import dataclass, replace
from itertools import chain
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from typing import Iterator, KeysView

import numpy as np
import shapely
from numba import njit
from pyproj import Geod

from deconflict.core.bounds import grow
from deconflict.core.geojson import polygon_geometry
from deconflict.core.geodesy import WGS84_A, WGS84_E2, WGS84_MIN_CURVATURE_RADIUS
from deconflict.core.volumes import (PRECISION, Circle, Overlap, Polygon, Volume4D, VolumeError, aeqd, footprint_overlap,
                                     latlon_ring, overlap)
from deconflict.errors import DeconflictError

_GEOD = Geod(ellps="WGS84")
CELL_DEGREES = 0.05  # index cell, about 5.5 km north-south
TIME_BUCKET = 900.0  # s
MAX_KEYS = 4096  # a volume covering more cells x buckets is kept in the list of large volumes
EQUAL_PRIORITY_POLICIES = ("reject", "accept")
SNAPSHOT_VERSION = 1  # of `PlanIndex.encode`; an older snapshot is not read (the index is rebuilt)


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
        self._keys: dict[str, list[int]] = {}
        self._cells: dict[int, list[int]] = defaultdict(list)
        self._large: set[int] = set()
        self._owner: list[tuple[str, int]] = []
        self._columns = _Columns()
        self._flown_by: dict[tuple[str, str], set[str]] = defaultdict(set)  # (party, icao24) -> plan ids

    def __len__(self) -> int:
        return len(self._plans)

    def frozen(self) -> dict:
        """A copy of the index's state that later changes do not touch (shallow where the index never
        changes a value in place): quick, so a service takes it while its writes wait, then encodes it
        (`encode`, the slow part) while they go on."""
        c = self._columns
        columns = _Columns.__new__(_Columns)
        columns.__dict__.update(c.__dict__, values=c.values.copy(), alive=c.alive.copy(), recurring=c.recurring.copy())
        return {"version": SNAPSHOT_VERSION, "margin": self.margin, "equal_priority": self.equal_priority,
                "plans": dict(dict.items(self._plans)), "handles": dict(self._handles), "keys": dict(self._keys),
                "cells": {key: list(handles) for key, handles in self._cells.items()}, "large": set(self._large),
                "owner": list(self._owner), "columns": columns,
                "flown_by": {key: set(ids) for key, ids in self._flown_by.items()}}

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
        self._cells = defaultdict(list, state["cells"])
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
            volume_keys = _keys(volume, recurring, _cell_numbers(volume))
            if volume_keys is None:
                self._large.add(handle)
                continue
            for key in volume_keys:
                self._cells[key].append(handle)
            keys.extend(volume_keys)
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
        """Remove a stored plan; returns it."""
        plan = self._plans.pop(plan_id, None)
        if plan is None:
            raise PlanError(f"no stored plan {plan_id!r}")
        for icao24 in plan.aircraft:
            named = self._flown_by[(plan.party, icao24)]
            named.discard(plan_id)
            if not named:
                del self._flown_by[(plan.party, icao24)]
        handles = set(self._handles.pop(plan_id))
        self._columns.alive[list(handles)] = False
        self._large -= handles
        for key in set(self._keys.pop(plan_id)):
            refs = [h for h in self._cells[key] if h not in handles]
            if refs:
                self._cells[key] = refs
            else:
                del self._cells[key]
        return plan

    def check(self, plan: Plan) -> PlanCheck:
        """Conflicts of ``plan`` with every stored plan (a stored plan with the same id is its old version)."""
        conflicts = []
        for _, volumes in plan.occurrences(*_life(plan)):
            for k, volume in enumerate(volumes):
                handles, decided = self._candidates(volume)
                for handle, sure in zip(handles.tolist(), decided.tolist()):
                    other_id, j = self._owner[handle]
                    if other_id == plan.id:
                        continue
                    other = self._plans[other_id]
                    if sure:  # two one-off circles the filter proved to overlap: no geodesic needed
                        found = _proved_overlap(volume, other.volumes[j], self.margin)
                        conflicts.append(self._conflict(plan, k, other, j, 0.0, found))
                        continue
                    for departure, other_volumes in other.occurrences(volume.time_start, volume.time_end):
                        found = overlap(volume, other_volumes[j], self.margin)
                        if found is not None:
                            conflicts.append(self._conflict(plan, k, other, j, departure, found))
        conflicts.sort(key=lambda c: (c.overlap.time_start, c.other, c.volume, c.other_volume))
        return PlanCheck(plan, tuple(conflicts))

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
        start, end = c.values[6, :n], c.values[7, :n]
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
        """Handles of stored volumes that may overlap ``volume`` (same cells and buckets, then bounds,
        altitude and time compared), and for each whether the overlap is already proved (two one-off
        circles, by the chord bounds of `_filter_candidates`)."""
        cells = _cell_numbers(volume, self.margin)
        keys = _keys(volume, False, cells)
        if keys is None:
            handles = np.flatnonzero(self._columns.alive[: self._columns.size])
        else:
            table = self._cells
            lists = [table[key] for key in keys if key in table]
            if self._columns.recurring_count:
                lists += [table[key] for key in _keys(volume, True, cells) or () if key in table]
            if self._large:
                lists.append(list(self._large))
            if not lists:
                return _NONE, _NONE.astype(bool)
            if len(lists) == 1:
                handles = np.array(lists[0], dtype=np.int64)  # one list never holds a handle twice
            elif sum(map(len, lists)) < 256:  # the usual few: a set is 3x faster than np.unique
                handles = np.array(sorted(set(chain.from_iterable(lists))), dtype=np.int64)
            else:
                handles = np.unique(np.fromiter(chain.from_iterable(lists), dtype=np.int64))
        return self._columns.filter(handles, volume, self.margin)

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


class _Columns:
    """Growable columns describing stored volumes (handle = row); circles also by their centre's
    surface point in ECEF (m)."""

    NAMES = ("south", "west", "north", "east", "lower", "upper", "start", "end", "lat", "lon", "radius", "x", "y", "z")

    def __init__(self) -> None:
        self.size = 0
        capacity = 1024
        self.values = np.zeros((len(self.NAMES), capacity))
        self.alive = np.zeros(capacity, dtype=bool)
        self.recurring = np.zeros(capacity, dtype=bool)
        self.recurring_count = 0

    def append(self, volume: Volume4D, recurring: bool) -> int:
        if self.size == self.alive.size:
            self.values = np.concatenate((self.values, np.zeros_like(self.values)), axis=1)
            self.alive = np.concatenate((self.alive, np.zeros_like(self.alive)))
            self.recurring = np.concatenate((self.recurring, np.zeros_like(self.recurring)))
        f = volume.footprint
        circle = isinstance(f, Circle)
        centre = _ecef(f.lat, f.lon) if circle else (np.nan, np.nan, np.nan)
        self.values[:, self.size] = (*f.bounds, volume.altitude_lower, volume.altitude_upper, volume.time_start,
                                     volume.time_end, f.lat if circle else np.nan, f.lon if circle else np.nan,
                                     f.radius if circle else np.nan, *centre)
        self.alive[self.size] = True
        self.recurring[self.size] = recurring
        self.recurring_count += int(recurring)
        self.size += 1
        return self.size - 1

    def filter(self, handles: np.ndarray, volume: Volume4D, margin: float) -> tuple[np.ndarray, np.ndarray]:
        """The handles whose bounds, altitude band and time window meet ``volume``'s (a superset of
        overlaps), and for each whether the overlap is proved (one-off circles against circles)."""
        f = volume.footprint
        circle = isinstance(f, Circle)
        south, west, north, east = grow(f.bounds, margin) if margin > 0.0 else f.bounds  # conservative
        x, y, z = _ecef(f.lat, f.lon) if circle else (0.0, 0.0, 0.0)
        return _filter_candidates(handles, self.values, self.alive, self.recurring, south, west,
                                  north, east, volume.altitude_lower, volume.altitude_upper,
                                  volume.time_start, volume.time_end, circle, x, y, z,
                                  f.radius if circle else 0.0, margin)


@njit(cache=True, nogil=True)
def _filter_candidates(handles, values, alive, recurring, south, west, north, east, lower, upper, start, end,
                       circle, x, y, z, radius, margin):
    """Compiled filter of `_Columns.filter`: one pass, no temporaries (it runs on every check).

    Circles against circles are decided from the chord c between their centres' surface points: the
    geodesic distance g lies in [c, 2 rho asin(c / (2 rho))] with rho the least radius of curvature
    of the ellipsoid (a curve whose curvature is at most 1 / rho has a chord at least that of a circle
    of radius rho: Schur's comparison; a geodesic's curvature is the surface's normal curvature).
    Apart by more than the margin even at c: dropped. Overlapping by more than `PRECISION` even at the
    upper bound: proved (and a one-off pair needs no geodesic). Otherwise the exact test decides.
    """
    out = np.empty(handles.size, dtype=np.int64)
    proved = np.zeros(handles.size, dtype=np.bool_)
    count = 0
    q_width = 360.0 if east - west >= 360.0 else (east - west) % 360.0
    for h in handles:
        if not alive[h]:
            continue
        if not (values[4, h] < upper and values[5, h] > lower):
            continue
        if not recurring[h] and not (values[6, h] < end and values[7, h] > start):
            continue
        if values[0, h] > north or values[2, h] < south:
            continue
        w, e = values[1, h], values[3, h]
        width = 360.0 if e - w >= 360.0 else (e - w) % 360.0
        if not ((west - w) % 360.0 <= width or (w - west) % 360.0 <= q_width):
            continue
        if circle and not math.isnan(values[10, h]):
            dx, dy, dz = values[11, h] - x, values[12, h] - y, values[13, h] - z
            chord = math.sqrt(dx * dx + dy * dy + dz * dz)
            reach = values[10, h] + radius
            if chord - reach >= margin and chord - reach > -PRECISION:
                continue  # apart (beyond the margin) at the shortest the geodesic can be
            longest = 2.0 * _RHO * math.asin(min(chord / (2.0 * _RHO), 1.0))
            proved[count] = not recurring[h] and longest - reach <= -PRECISION
        out[count] = h
        count += 1
    return out[:count], proved[:count]


_RHO = WGS84_MIN_CURVATURE_RADIUS  # m: least radius of curvature of the ellipsoid (meridional, equator)
_NONE = np.empty(0, dtype=np.int64)


def _ecef(lat: float, lon: float) -> tuple[float, float, float]:
    """Surface point (ECEF m) of one latitude/longitude: `geodesy.surface_ecef` for one point, in
    scalar math (the array version costs 10 us of numpy overhead on every check)."""
    la, lo = math.radians(lat), math.radians(lon)
    n = WGS84_A / math.sqrt(1.0 - WGS84_E2 * math.sin(la) ** 2)
    return n * math.cos(la) * math.cos(lo), n * math.cos(la) * math.sin(lo), n * (1.0 - WGS84_E2) * math.sin(la)


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


_BUCKET_SHIFT = 1 << 24  # time buckets of 15 min from 1970 to the year 2448
_COLUMNS = round(360.0 / CELL_DEGREES)


def _cell_numbers(volume: Volume4D, margin: float = 0.0) -> list[int] | None:
    cells = _cells(volume, margin)
    return None if cells is None else [row * _COLUMNS + column for row, column in cells]


def _keys(volume: Volume4D, recurring: bool, cells: list[int] | None = None) -> list[int] | None:
    """Index keys of a volume (from its cell numbers), or None when it covers too many: cell x time bucket
    packed in one non-negative int; for recurring volumes (indexed by space only) the negative -1 - cell."""
    if cells is None:
        return None
    if recurring:
        return [-1 - cell for cell in cells]
    first = max(math.floor(volume.time_start / TIME_BUCKET), 0)
    buckets = range(first, min(max(math.floor(volume.time_end / TIME_BUCKET), first), _BUCKET_SHIFT - 1) + 1)
    if len(cells) * len(buckets) > MAX_KEYS:
        return None
    return [cell * _BUCKET_SHIFT + bucket for cell in cells for bucket in buckets]


def _cells(volume: Volume4D, margin: float = 0.0) -> list[tuple[int, int]] | None:
    """Index cells (lat row, lon column) meeting the volume's footprint bounds (which are conservative),
    grown by ``margin`` m; None when there would be more than `MAX_KEYS`."""
    south, west, north, east = grow(volume.footprint.bounds, margin) if margin > 0.0 else volume.footprint.bounds
    rows = range(math.floor((south + 90.0) / CELL_DEGREES), math.floor((north + 90.0) / CELL_DEGREES) + 1)
    first = math.floor((west + 180.0) / CELL_DEGREES)
    last = math.floor((east + 180.0) / CELL_DEGREES)
    if east < west:  # across the antimeridian
        last += _COLUMNS
    if last - first + 1 >= _COLUMNS or north > 89.0 or south < -89.0:
        columns = range(_COLUMNS)  # all the way round (near a pole)
    else:
        columns = range(first, last + 1)
    if len(rows) * len(columns) > MAX_KEYS:
        return None
    return [(row, column % _COLUMNS) for row in rows for column in columns]


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
