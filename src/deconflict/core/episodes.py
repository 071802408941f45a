"""Actual losses of separation in recorded traffic: where and when aircraft were closer than the minima.

Each aircraft's track is resampled on a time grid (every ``step`` s) by linear interpolation
between its reports, across gaps of at most ``max_gap`` s; between two grid times it flies
straight from one resampled point to the next. Each grid interval is then searched with the
detection core (SPEC §3 geometry) for pairs inside both minima at some moment of it, and the
per-interval hits of a pair are merged into episodes (start, end, closest approach, where).

`scan_window` works on one time window; windows can be scanned apart (on Dask workers) and
their hits merged by `merge_episodes`, which gives the same result as scanning the whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deconflict.core import _kernels
from deconflict.core.detection import _resumable
from deconflict.core.encounter import Encounter
from deconflict.core.states import States

HIT_COLUMNS = ("a", "b", "party_a", "party_b", "start", "end", "min_distance", "min_vertical", "lat", "lon")


@dataclass(frozen=True)
class Hits:
    """Per grid interval, the pairs inside both minima: ids (a < b), time span (UNIX s), closest
    horizontal distance (m) in the span with the vertical distance then (m), and where (deg)."""

    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.columns["start"].size)

    @classmethod
    def empty(cls) -> "Hits":
        return cls({name: np.empty(0, dtype=str if name in ("a", "b", "party_a", "party_b") else float)
                    for name in HIT_COLUMNS})

    @classmethod
    def concat(cls, parts: list["Hits"]) -> "Hits":
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls({name: np.concatenate([p.columns[name] for p in parts]) for name in HIT_COLUMNS})


def scan_window(states: States, start: float, end: float, step: float = 5.0, max_gap: float = 60.0,
                hsep: float = 9260.0, vsep: float = 304.8, vtol: float = 0.0) -> Hits:
    """Hits in the grid intervals starting in [start, end) (grid times are multiples of ``step``).

    ``states`` must hold every report from ``start - max_gap`` to ``end + step + max_gap``.
    Aircraft on the ground are left out, as in detection.
    """
    airborne = states.take(~states.onground) if states.onground.any() else states
    first = int(np.ceil(start / step - 1e-9))
    last = int(np.ceil(end / step - 1e-9)) - 1
    if last < first or len(airborne) < 2:
        return Hits.empty()
    grid = _resample(airborne, first, last + 1, step, max_gap)
    if grid is None:
        return Hits.empty()
    aircraft, tick, lat, lon, altitude, ids, parties = grid
    # each point flies straight to the next grid point of the same aircraft; the last of a run is not searched
    moving, points, velocity, vertrate = _kernels.grid_kinematics(aircraft, tick, lat, lon, altitude, step)
    if moving.size < 2:
        return Hits.empty()
    top_speed = float(np.sqrt(np.einsum("ij,ij->i", velocity, velocity).max()))
    # a pair in conflict during a step starts within the minimum plus both aircraft's travel (and the
    # few metres by which the tangent-plane distance can exceed the chord over that span)
    cell = max(hsep * 1.01 + 2.0 * top_speed * step * 1.01 + 10.0, _kernels.MIN_STEP_CELL)
    origin = points.min(axis=0) - cell
    keys = _kernels.step_keys(tick[moving] - first, points, origin, cell)
    order = np.argsort(keys)  # pairs are put in id order afterwards: the order of equal keys does not matter
    sorted_keys = keys[order]
    lookahead = step * (1.0 - 1e-9)
    pairs, values = _resumable(lambda q, out_pairs, out_values: _kernels.scan_steps(
        q, sorted_keys, order, points, velocity, altitude[moving], vertrate, lookahead, hsep, vsep, vtol,
        out_pairs, out_values), 0, sorted_keys.size)
    if not len(pairs):
        return Hits.empty()
    return _hits(pairs, values, moving, tick, step, aircraft, lat, lon, ids, parties, points, velocity,
                 altitude[moving], vertrate)


def _resample(s: States, first: int, stop: int, step: float, max_gap: float):  # noqa: ANN202
    """Interpolated points at grid ticks first..stop (inclusive): (aircraft code, tick, lat, lon, altitude)
    sorted by aircraft then tick, then the sorted distinct ids and each one's party; None when there are none."""
    order, code, ids = _by_aircraft(s.icao24, s.time)
    out = _kernels.resample_tracks(code, s.time[order], s.lat[order], s.lon[order], s.altitude[order],
                                   first, stop, step, max_gap)
    if out[0].size == 0:
        return None
    parties = np.full(ids.size, "", dtype=s.party.dtype if s.party.size else "U1")
    parties[code] = s.party[order]  # the last report's party of each aircraft
    return (*out, ids, parties)


def _by_aircraft(ids: np.ndarray, time: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row order by aircraft then time, each sorted row's aircraft code, and the distinct ids in order.

    One stable sort of the packed ids (see `_factorize`) when the rows are already in time order
    (archives are), instead of a unique and a two-key sort.
    """
    packed = _packed(ids)
    in_time = ids.size < 2 or bool(np.all(time[1:] >= time[:-1]))
    if packed is None or not in_time:
        distinct, code = _factorize(ids)
        order = np.lexsort((time, code))
        return order, code[order], distinct
    order = np.argsort(packed, kind="stable")
    keys = packed[order]
    new = np.empty(keys.size, dtype=bool)
    new[:1] = True
    new[1:] = keys[1:] != keys[:-1]
    return order, np.cumsum(new) - 1, ids[order[new]]


def _packed(ids: np.ndarray) -> np.ndarray | None:
    """Ids of up to 8 characters below U+0100 packed big-endian into integers that sort like the text."""
    width = ids.dtype.itemsize // 4 if ids.dtype.kind == "U" else 0
    if not (0 < width <= 8 and ids.size):
        return None
    chars = np.ascontiguousarray(ids).view(np.uint32).reshape(ids.size, width)
    if int(chars.max()) >= 256:
        return None
    packed = np.zeros(ids.size, dtype=np.uint64)
    for k in range(width):
        packed |= chars[:, k].astype(np.uint64) << np.uint64(8 * (7 - k))
    return packed


def _factorize(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct ids and each row's index among them, as ``np.unique(..., return_inverse=True)``,
    faster through packed integers when the ids allow it."""
    packed = _packed(ids)
    if packed is None:
        return np.unique(ids, return_inverse=True)
    _, first, code = np.unique(packed, return_index=True, return_inverse=True)
    return ids[first], code


def _hits(pairs, values, moving, tick, step, aircraft, lat, lon, ids, parties, points, velocity, altitude,
          vertrate) -> Hits:  # noqa: ANN001 - internal arrays of scan_window
    """Each conflicting pair's closest horizontal approach inside its loss, placed in time and space."""
    i, j = pairs[:, 0], pairs[:, 1]
    t_in, t_out, t_cpa = values[:, 0], values[:, 1], values[:, 2]
    at = np.clip(t_cpa, t_in, t_out)
    encounter = Encounter.from_ecef(points, velocity, vertrate, altitude, i, j)
    horizontal, vertical = encounter.at(at)
    a_row, b_row = moving[i], moving[j]
    id_a, id_b = ids[aircraft[a_row]], ids[aircraft[b_row]]
    swap = id_a > id_b
    fraction = at / step
    t0 = tick[a_row] * step
    where = np.where(swap, b_row, a_row)  # placed at aircraft a (the smaller id), whatever the search order
    dlon = (lon[where + 1] - lon[where] + 180.0) % 360.0 - 180.0
    return Hits({"a": np.where(swap, id_b, id_a), "b": np.where(swap, id_a, id_b),
                 "party_a": np.where(swap, parties[aircraft[b_row]], parties[aircraft[a_row]]),
                 "party_b": np.where(swap, parties[aircraft[a_row]], parties[aircraft[b_row]]),
                 "start": t0 + t_in, "end": t0 + t_out, "min_distance": horizontal,
                 "min_vertical": np.maximum(vertical, 0.0),
                 "lat": lat[where] + fraction * (lat[where + 1] - lat[where]),
                 "lon": (lon[where] + fraction * dlon + 180.0) % 360.0 - 180.0})


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
                  vsep: float = 304.8, vtol: float = 0.0, start: float | None = None,
                  end: float | None = None) -> Episodes:
    """Every loss of separation in a history of state vectors (one process; see `scan_window`)."""
    if not len(states):
        return merge_episodes(Hits.empty())
    start = float(np.min(states.time)) if start is None else start
    end = float(np.max(states.time)) if end is None else end
    return merge_episodes(scan_window(states, start, end, step, max_gap, hsep, vsep, vtol))


