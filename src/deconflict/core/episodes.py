"""Actual losses of separation in recorded traffic: where and when aircraft were closer than the minima.

Between two reports at most ``max_gap`` s apart an aircraft moves along the surface chord between
them (on the ellipsoid: exact at the poles and across the antimeridian) and linearly in altitude.
That motion is cut at every grid tick (every ``step`` s) and at every report into pieces, each flown
straight; so every part of every track is searched, the last seconds before it ends or before a gap
included. The pieces of each grid step are searched with the detection core (SPEC §3 geometry, the
minima exclusive: exactly the minimum apart is separated) for pairs inside both minima while both
are in the air, and the hits of a pair are merged into episodes (start, end, closest approach, where).

`scan_window` works on one time window; windows can be scanned apart (on Dask workers) and
their hits merged by `merge_episodes`, which gives the same result as scanning the whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from deconflict.core import _kernels
from deconflict.core.detection import _resumable
from deconflict.core.encounter import Encounter
from deconflict.core.geodesy import WGS84_E2
from deconflict.core.quality import implausible
from deconflict.core.states import States, by_aircraft as _by_aircraft, factorize as _factorize

SCAN_VTOL = 60.96  # m (200 ft): recorded altitudes come in 25 ft steps; see `scan_window`'s vtol rule
SCAN_JOIN = 30.0  # s: losses of a pair this close in time are one episode (one encounter)
HIT_COLUMNS = ("a", "b", "party_a", "party_b", "start", "end", "min_distance", "min_vertical", "lat", "lon")


@dataclass(frozen=True)
class Hits:
    """Per grid interval, the pairs inside both minima: ids (a < b), time span (UNIX s), closest
    horizontal distance (m) in the span with the vertical distance then (m), and where (deg)."""

    columns: dict[str, np.ndarray]
    dropped: dict[str, int] = field(default_factory=dict)  # reports left out as implausible, by reason

    def __len__(self) -> int:
        return int(self.columns["start"].size)

    @classmethod
    def empty(cls, dropped: dict[str, int] | None = None) -> "Hits":
        return cls({name: np.empty(0, dtype=str if name in ("a", "b", "party_a", "party_b") else float)
                    for name in HIT_COLUMNS}, dict(dropped or {}))

    @classmethod
    def concat(cls, parts: list["Hits"]) -> "Hits":
        dropped: dict[str, int] = {}
        for part in parts:
            for reason, count in part.dropped.items():
                dropped[reason] = dropped.get(reason, 0) + count
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty(dropped)
        return cls({name: np.concatenate([p.columns[name] for p in parts]) for name in HIT_COLUMNS}, dropped)


def scan_window(states: States, start: float, end: float, step: float = 5.0, max_gap: float = 60.0,
                hsep: float = 9260.0, vsep: float = 304.8, vtol: float = 0.0) -> Hits:
    """Hits in the grid steps starting in [start, end) (grid times are multiples of ``step``).

    ``states`` must hold every report from ``start - max_gap`` to ``end + step + max_gap``.
    Aircraft on the ground are left out, as in detection.
    """
    airborne = states.take(~states.onground) if states.onground.any() else states
    first = int(np.ceil(start / step - 1e-9))
    last = int(np.ceil(end / step - 1e-9)) - 1
    if last < first or len(airborne) < 2:
        return Hits.empty()
    order, code, ids = _by_aircraft(airborne.icao24, airborne.time)
    pieces = _kernels.track_pieces(code, airborne.time[order], airborne.lat[order], airborne.lon[order],
                                   airborne.altitude[order], airborne.vertrate[order], first, last, step, max_gap)
    aircraft, tick, offset, points, velocity, altitude, vertrate, reported = pieces
    if aircraft.size < 2:
        return Hits.empty()
    parties = np.full(ids.size, "", dtype=airborne.party.dtype if airborne.party.size else "U1")
    parties[code] = airborne.party[order]  # the last report's party of each aircraft
    top_speed = float(np.sqrt(np.einsum("ij,ij->i", velocity, velocity).max()))
    # a pair in conflict during a step starts within the minimum plus both aircraft's travel (and the
    # few metres by which the tangent-plane distance can exceed the chord over that span)
    cell = max(hsep * 1.01 + 2.0 * top_speed * step * 1.01 + 10.0, _kernels.MIN_STEP_CELL)
    origin = points.min(axis=0) - cell
    keys = _kernels.step_keys(tick - first, points, origin, cell)
    sorted_order = np.argsort(keys)  # pairs are put in id order afterwards: the order of equal keys does not matter
    sorted_keys = keys[sorted_order]
    pairs, values = _resumable(lambda q, out_pairs, out_values: _kernels.scan_pieces(
        q, sorted_keys, sorted_order, aircraft, offset, points, velocity, altitude, vertrate, reported, hsep, vsep,
        vtol, out_pairs, out_values), 0, sorted_keys.size)
    if not len(pairs):
        return Hits.empty()
    return _hits(pairs, values, tick, step, aircraft, offset, ids, parties, points, velocity, altitude, vertrate)


def _hits(pairs, values, tick, step, aircraft, offset, ids, parties, points, velocity, altitude,
          vertrate) -> Hits:  # noqa: ANN001 - internal arrays of scan_window
    """Each conflicting pair's closest horizontal approach inside its loss, placed in time and space."""
    i, j = pairs[:, 0], pairs[:, 1]
    t_in, t_out, t_cpa = values[:, 0], values[:, 1], values[:, 2]
    at = np.clip(t_cpa, t_in, t_out)  # s into the step
    ahead_i, ahead_j = at - offset[i, 0], at - offset[j, 0]
    where_i = points[i] + velocity[i] * ahead_i[:, None]
    where_j = points[j] + velocity[j] * ahead_j[:, None]
    both = np.concatenate((where_i, where_j))
    moved = Encounter.from_ecef(both, np.zeros_like(both), np.zeros(both.shape[0]),
                                np.concatenate((altitude[i] + vertrate[i] * ahead_i, altitude[j] + vertrate[j] * ahead_j)),
                                np.arange(i.size), np.arange(i.size) + i.size)
    horizontal, vertical = moved.at(np.zeros(i.size))
    id_a, id_b = ids[aircraft[i]], ids[aircraft[j]]
    swap = id_a > id_b
    place = np.where(swap[:, None], where_j, where_i)  # at aircraft a (the smaller id), whatever the search order
    lat, lon = _geodetic(place)
    t0 = tick[i] * step
    return Hits({"a": np.where(swap, id_b, id_a), "b": np.where(swap, id_a, id_b),
                 "party_a": np.where(swap, parties[aircraft[j]], parties[aircraft[i]]),
                 "party_b": np.where(swap, parties[aircraft[i]], parties[aircraft[j]]),
                 "start": t0 + t_in, "end": t0 + t_out, "min_distance": horizontal,
                 "min_vertical": np.maximum(vertical, 0.0), "lat": lat, "lon": lon})


def _geodetic(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude (deg) of points on (or within metres of) the WGS84 surface: for a surface
    point the geodetic latitude is exactly ``atan(z / ((1 - e^2) p))``."""
    p = np.hypot(points[:, 0], points[:, 1])
    lat = np.degrees(np.arctan2(points[:, 2], (1.0 - WGS84_E2) * p))
    lon = np.degrees(np.arctan2(points[:, 1], points[:, 0]))
    return lat, lon


@dataclass(frozen=True)
class Episodes:
    """Losses of separation: one row per episode of a pair, sorted by start then ids."""

    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.columns["start"].size)

    def to_pandas(self):  # noqa: ANN201 - pandas only for conversion
        import pandas as pd

        return pd.DataFrame(self.columns)

    def to_arrow(self):  # noqa: ANN201
        import pyarrow as pa

        return pa.table(self.columns)


EPISODE_COLUMNS = ("a", "b", "party_a", "party_b", "start", "end", "duration", "min_distance", "min_vertical",
                   "lat", "lon")


def merge_episodes(hits: Hits, join: float = 1e-6) -> Episodes:
    """Merge the hits of each pair that touch or overlap in time (within ``join`` s) into episodes."""
    c = hits.columns
    if not len(hits):
        return Episodes({name: (np.empty(0, dtype=str) if name in ("a", "b", "party_a", "party_b") else np.empty(0))
                         for name in EPISODE_COLUMNS})
    order = np.lexsort((c["start"], c["b"], c["a"]))
    a, b, start, end = c["a"][order], c["b"][order], c["start"][order], c["end"][order]
    pair_change = np.ones(order.size, dtype=bool)
    pair_change[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    # a new episode where the pair changes or the hit starts after everything before it of the pair ended
    running_end = np.empty(order.size)
    new = np.zeros(order.size, dtype=bool)
    for k in range(order.size):  # one pass; hits are few compared with reports
        if pair_change[k] or start[k] > running_end[k - 1] + join:
            new[k] = True
            running_end[k] = end[k]
        else:
            running_end[k] = max(running_end[k - 1], end[k])
    episode = np.cumsum(new) - 1
    count = int(episode[-1]) + 1
    first = np.flatnonzero(new)
    distance = c["min_distance"][order]
    closest = np.full(count, -1, dtype=np.int64)
    best = np.full(count, np.inf)
    for k in range(order.size):
        if distance[k] < best[episode[k]]:
            best[episode[k]], closest[episode[k]] = distance[k], k
    ends = np.maximum.reduceat(running_end, first)
    out = {"a": a[first], "b": b[first], "party_a": c["party_a"][order][first], "party_b": c["party_b"][order][first],
           "start": start[first], "end": ends, "duration": ends - start[first], "min_distance": best,
           "min_vertical": c["min_vertical"][order][closest], "lat": c["lat"][order][closest],
           "lon": c["lon"][order][closest]}
    rank = np.lexsort((out["b"], out["a"], out["start"]))
    return Episodes({name: out[name][rank] for name in EPISODE_COLUMNS})


def loss_episodes(states: States, step: float = 5.0, max_gap: float = 60.0, hsep: float = 9260.0,
                  vsep: float = 304.8, vtol: float = SCAN_VTOL, start: float | None = None,
                  end: float | None = None, plausible_only: bool = True, join: float = SCAN_JOIN) -> Episodes:
    """Every loss of separation in a history of state vectors (one process; see `scan_window`), with the
    archive scan's defaults: implausible reports left out (`core.quality`), ``vtol`` 200 ft for
    quantised recorded altitudes, losses of a pair within ``join`` s of each other one episode."""
    if plausible_only and len(states):
        bad = np.zeros(len(states), dtype=bool)
        for mask in implausible(states, max_gap).values():
            bad |= mask
        states = states.take(~bad) if bad.any() else states
    if not len(states):
        return merge_episodes(Hits.empty())
    start = float(np.min(states.time)) if start is None else start
    end = float(np.max(states.time)) if end is None else end
    return merge_episodes(scan_window(states, start, end, step, max_gap, hsep, vsep, vtol), join=join)
