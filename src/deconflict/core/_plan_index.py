"""Storage and compiled candidate search of the plan index (`plans.PlanIndex`).

A check asks one compiled call (`search`) for the stored volumes that may conflict with a new
volume: it computes the volume's index keys (space cell x 15-min time bucket), reads them in a
hash table kept in flat arrays (`CellTable`), drops repeats, compares bounds, altitude bands and
time windows, and decides circles against circles, circles against polygons and polygons against
polygons wherever rigorous bounds settle it, so that most candidate pairs never reach the exact
test (`volumes.overlap`, pyproj + shapely, about 60 us a pair). Every decision here is conservative: a pair is dropped only
when it is provably apart by at least the margin, proved only when it provably overlaps, and any
pair within `TOLERANCE` of either answer is left to the exact test.

The decisions themselves are proved in `_footprint_proofs`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from deconflict.core._footprint_proofs import RHO, circle_polygon, ecef, polygon_polygon, surface_ring
from deconflict.core.volumes import PRECISION, Circle, Volume4D

CELL_DEGREES = 0.05  # index cell, about 5.5 km north-south
TIME_BUCKET = 900.0  # s
MAX_KEYS = 4096  # a volume covering more cells x buckets is kept in the list of large volumes
BUCKET_SHIFT = 1 << 24  # time buckets of 15 min from 1970 to the year 2448
COLUMNS = round(360.0 / CELL_DEGREES)
UNDECIDED, PROVED = 0, 1
EMPTY = -(2**63)  # a slot holding no key (a plain int: numba freezes it as a constant)
_GOLDEN = 0x9E3779B97F4A7C15  # Fibonacci hashing multiplier (2^64 / golden ratio)
_NONE = np.empty(0, dtype=np.int64)


class Columns:
    """Growable table describing stored volumes (handle = row of ``values``, so that the search reads one
    volume from one or two cache lines): bounds, altitude band,
    time window, alive and recurring flags, circles by centre, radius and ECEF centre, polygons by
    the span of their cut points in ``rings`` (ECEF, 3 x total)."""

    NAMES = ("south", "west", "north", "east", "lower", "upper", "start", "end", "lat", "lon", "radius", "x", "y",
             "z", "alive", "recurring", "ring_start", "ring_size")
    ALIVE, RECURRING, RING_START, RING_SIZE = 14, 15, 16, 17

    def __init__(self) -> None:
        self.size = 0
        self.values = np.zeros((1024, len(self.NAMES)))
        self.rings = np.zeros((3, 4096))
        self.ring_used = 0
        self.recurring_count = 0

    @property
    def alive(self) -> np.ndarray:
        return self.values[: self.size, self.ALIVE] > 0.0

    @property
    def recurring(self) -> np.ndarray:
        return self.values[: self.size, self.RECURRING] > 0.0

    def kill(self, handles: list[int]) -> None:
        self.values[handles, self.ALIVE] = 0.0

    def append(self, volume: Volume4D, recurring: bool) -> int:
        if self.size == self.values.shape[0]:
            self.values = _grown(self.values, self.size + 1, axis=0)
        f = volume.footprint
        circle = isinstance(f, Circle)
        start, count = 0, 0
        if not circle:
            ring = surface_ring(f)
            start, count = self.ring_used, ring.shape[1]
            if self.ring_used + count > self.rings.shape[1]:
                self.rings = _grown(self.rings, self.ring_used + count, axis=1)
            self.rings[:, start:start + count] = ring
            self.ring_used += count
        centre = ecef(f.lat, f.lon) if circle else (np.nan, np.nan, np.nan)
        self.values[self.size] = (*f.bounds, volume.altitude_lower, volume.altitude_upper, volume.time_start,
                                     volume.time_end, f.lat if circle else np.nan, f.lon if circle else np.nan,
                                     f.radius if circle else np.nan, *centre, 1.0, float(recurring), start, count)
        self.recurring_count += int(recurring)
        self.size += 1
        return self.size - 1


def _grown(array: np.ndarray, needed: int, axis: int) -> np.ndarray:
    """``array`` with room for at least ``needed`` items along ``axis`` (doubling; a snapshot's copy may
    hold none spare)."""
    shape = list(array.shape)
    shape[axis] = max(2 * array.shape[axis], needed, 1024)
    grown = np.zeros(shape, dtype=array.dtype)
    grown[tuple(slice(0, n) for n in array.shape)] = array
    return grown


class CellTable:
    """Multimap index key -> volume handles in flat arrays, so that compiled code reads it: open
    addressing (``slots`` rows: key, first entry) and chained entries (``entries`` rows: handle, next entry).
    Entries of removed volumes stay until a rebuild (the search skips dead handles)."""

    def __init__(self, capacity: int = 1 << 12) -> None:
        self.slots = np.empty((capacity, 2), dtype=np.int64)
        self.slots[:, 0], self.slots[:, 1] = EMPTY, -1
        self.entries = np.empty((capacity, 2), dtype=np.int64)
        self.used = 0  # slots holding a key
        self.count = 0  # entries

    def insert(self, keys: np.ndarray, handle: int) -> None:
        while 2 * (self.used + keys.size) > self.slots.shape[0]:
            self.slots = _rehash(self.slots, 2 * self.slots.shape[0])
        if self.count + keys.size > self.entries.shape[0]:
            self.entries = _grown(self.entries, self.count + keys.size, axis=0)
        self.used, self.count = _insert(self.slots, self.entries, self.used, self.count, keys, handle)


@njit(cache=True, nogil=True)
def _slot_of(slots, key):
    """The slot holding ``key``, or the empty slot where it would go."""
    mask = slots.shape[0] - 1
    slot = np.int64((np.uint64(key) * np.uint64(_GOLDEN)) >> np.uint64(33)) & mask
    while slots[slot, 0] != key and slots[slot, 0] != EMPTY:
        slot = (slot + 1) & mask
    return slot


@njit(cache=True, nogil=True)
def _insert(slots, entries, used, count, keys, handle):
    for key in keys:
        slot = _slot_of(slots, key)
        if slots[slot, 0] == EMPTY:
            slots[slot, 0] = key
            slots[slot, 1] = -1
            used += 1
        entries[count, 0] = handle
        entries[count, 1] = slots[slot, 1]
        slots[slot, 1] = count
        count += 1
    return used, count


@njit(cache=True, nogil=True)
def _rehash(slots, capacity):
    out = np.empty((capacity, 2), dtype=np.int64)
    out[:, 0] = EMPTY
    out[:, 1] = -1
    for k in range(slots.shape[0]):
        if slots[k, 0] != EMPTY:
            slot = _slot_of(out, slots[k, 0])
            out[slot, 0] = slots[k, 0]
            out[slot, 1] = slots[k, 1]
    return out


@njit(cache=True, nogil=True)
def volume_keys(south, west, north, east, start, end, recurring, out):
    """Index keys of a volume whose (grown) footprint box is south/west/north/east (deg) into ``out``:
    cell x time bucket packed in one non-negative int, or for recurring volumes (indexed by space
    only) -1 - cell. Returns how many, or -1 when there would be more than `MAX_KEYS` (a large volume).
    The box's cells are every column near a pole or when it goes all the way round."""
    row0 = math.floor((south + 90.0) / CELL_DEGREES)
    row1 = math.floor((north + 90.0) / CELL_DEGREES)
    first = math.floor((west + 180.0) / CELL_DEGREES)
    last = math.floor((east + 180.0) / CELL_DEGREES)
    if east < west:  # across the antimeridian
        last += COLUMNS
    if last - first + 1 >= COLUMNS or north > 89.0 or south < -89.0:
        first, last = 0, COLUMNS - 1
    cells = (row1 - row0 + 1) * (last - first + 1)
    if cells > MAX_KEYS:
        return -1
    b0, b1 = 0, 0
    if not recurring:
        b0 = max(math.floor(start / TIME_BUCKET), 0)
        b1 = min(max(math.floor(end / TIME_BUCKET), b0), BUCKET_SHIFT - 1)
        if cells * (b1 - b0 + 1) > MAX_KEYS:
            return -1
    n = 0
    for row in range(row0, row1 + 1):
        for column in range(first, last + 1):
            cell = row * COLUMNS + column % COLUMNS
            if recurring:
                out[n] = -1 - cell
                n += 1
            else:
                for bucket in range(b0, b1 + 1):
                    out[n] = cell * BUCKET_SHIFT + bucket
                    n += 1
    return n


@njit(cache=True, nogil=True)
def search(query, slots, entries, large, values, size, recurring_count, rings, query_ring, margin):
    """Stored volumes that may conflict with the query volume, and for each `PROVED` or `UNDECIDED`.

    ``query``: grown box (south, west, north, east), lower, upper, start, end, then for a circle lat,
    lon, radius, x, y, z (else NaN). ``query_ring``: a polygon's cut points (ECEF, 3 x n; empty for a
    circle). Returns (handles, states), handles ascending.
    """
    keys = np.empty(MAX_KEYS, dtype=np.int64)
    n_keys = volume_keys(query[0], query[1], query[2], query[3], query[6], query[7], False, keys)
    if n_keys < 0:
        return _filter(np.flatnonzero(values[:size, 14] > 0.0), query, values, rings, query_ring, margin)
    found = np.empty(64, dtype=np.int64)
    n = 0
    for k in range(n_keys):
        found, n = _gather(slots, entries, keys[k], found, n)
    if recurring_count > 0:
        n_recurring = volume_keys(query[0], query[1], query[2], query[3], 0.0, 0.0, True, keys)
        for k in range(max(n_recurring, 0)):
            found, n = _gather(slots, entries, keys[k], found, n)
    for h in large:
        found, n = _append(found, n, h)
    return _filter(np.sort(found[:n]), query, values, rings, query_ring, margin)  # repeats adjacent: skipped


@njit(cache=True, nogil=True)
def _append(found, n, handle):
    if n == found.size:
        grown = np.empty(2 * found.size, dtype=np.int64)
        grown[:n] = found
        found = grown
    found[n] = handle
    return found, n + 1


@njit(cache=True, nogil=True)
def _gather(slots, entries, key, found, n):
    """Append the handles stored under ``key``."""
    slot = _slot_of(slots, key)
    if slots[slot, 0] == key:
        entry = slots[slot, 1]
        while entry >= 0:
            found, n = _append(found, n, entries[entry, 0])
            entry = entries[entry, 1]
    return found, n


@njit(cache=True, nogil=True)
def _filter(handles, query, values, rings, query_ring, margin):
    """Bounds, altitude band and time window compared (``handles`` ascending, repeats skipped); circles against circles decided from the chord
    between centres (geodesic g in [c, 2 rho asin(c / 2 rho)]), circles against polygons by
    `circle_polygon`. One-off volumes only are proved (a recurring one's time depends on the departure)."""
    out = np.empty(handles.size, dtype=np.int64)
    states = np.zeros(handles.size, dtype=np.int8)
    south, west, north, east = query[0], query[1], query[2], query[3]
    lower, upper, start, end = query[4], query[5], query[6], query[7]
    circle = not math.isnan(query[10])
    q_width = 360.0 if east - west >= 360.0 else (east - west) % 360.0
    count = 0
    previous = -1
    for h in handles:
        if h == previous or values[h, 14] <= 0.0:
            continue
        previous = h
        recurring = values[h, 15] > 0.0
        if not (values[h, 4] < upper and values[h, 5] > lower):
            continue
        if not recurring and not (values[h, 6] < end and values[h, 7] > start):
            continue
        if values[h, 0] > north or values[h, 2] < south:
            continue
        w, e = values[h, 1], values[h, 3]
        width = 360.0 if e - w >= 360.0 else (e - w) % 360.0
        if not ((west - w) % 360.0 <= width or (w - west) % 360.0 <= q_width):
            continue
        stored_circle = not math.isnan(values[h, 10])
        state = UNDECIDED
        if circle and stored_circle:
            dx, dy, dz = values[h, 11] - query[11], values[h, 12] - query[12], values[h, 13] - query[13]
            chord = math.sqrt(dx * dx + dy * dy + dz * dz)
            reach = values[h, 10] + query[10]
            if chord - reach >= margin and chord - reach > -PRECISION:
                continue  # apart (beyond the margin) at the shortest the geodesic can be
            longest = 2.0 * RHO * math.asin(min(chord / (2.0 * RHO), 1.0))
            if longest - reach <= -PRECISION:
                state = PROVED
        elif circle:
            lo, n = int(values[h, 16]), int(values[h, 17])
            state = circle_polygon(query[11], query[12], query[13], query[10], rings[:, lo:lo + n], margin)
        elif stored_circle:
            state = circle_polygon(values[h, 11], values[h, 12], values[h, 13], values[h, 10], query_ring, margin)
        else:
            lo, n = int(values[h, 16]), int(values[h, 17])
            state = polygon_polygon(query_ring, rings[:, lo:lo + n], margin)
        if state < 0:
            continue
        out[count] = h
        states[count] = PROVED if state == PROVED and not recurring else UNDECIDED
        count += 1
    return out[:count], states[:count]


@njit(cache=True, nogil=True)
def search_many(queries, ring_spans, query_rings, slots, entries, large, values, size, recurring_count, rings, margin):
    """`search` for many query volumes in one call (row q of ``queries``; a polygon's cut points are
    ``query_rings[:, start:start + count]`` for ``ring_spans[q] = (start, count)``). Returns (query
    row, handle, state) of every candidate, by query row then handle."""
    rows, handles, states = [], [], []
    for q in range(queries.shape[0]):
        start, count = ring_spans[q, 0], ring_spans[q, 1]
        found, decided = search(queries[q], slots, entries, large, values, size, recurring_count, rings,
                                query_rings[:, start:start + count], margin)
        for k in range(found.size):
            rows.append(q)
            handles.append(found[k])
            states.append(decided[k])
    return (np.array(rows, dtype=np.int64), np.array(handles, dtype=np.int64), np.array(states, dtype=np.int8))
