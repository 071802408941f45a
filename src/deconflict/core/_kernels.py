"""Compiled kernels of tactical detection (numba): swept boxes, grid scan and the exact pair test.

Only the loops that cannot be vectorised live here; the orchestration is in `detection.py`.
All kernels release the GIL so that the grid scan runs on every core from a thread pool.

Geometry (SPEC §3): horizontal positions are points on the WGS84 surface in ECEF metres,
ground velocities are ECEF vectors tangent to the surface; a pair is compared in the plane
perpendicular to the normal at its midpoint. Altitudes are compared separately.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

WGS84_A = 6378137.0
WGS84_E2 = (1.0 / 298.257223563) * (2.0 - 1.0 / 298.257223563)
MIN_CURVATURE_RADIUS = WGS84_A * (1.0 - WGS84_E2)

# Grid keys: 17 bits per ECEF axis for the cell index, then 1 bit for the layer (0: thin altitude
# interval, level flight; 1: thick, climbing or descending) and 11 bits of altitude bucket used to
# sweep within a layer. Cell size is never smaller than the span / 2**17 (about 100 m), so indices fit.
AXIS_BITS = 17
AXIS_CELLS = 1 << AXIS_BITS
SUB_BITS = 12
BUCKET_BITS = 11
ALT_BUCKETS = 1 << BUCKET_BITS
BUCKET_MASK = ALT_BUCKETS - 1
VERTICAL_EPSILON = 1e-6  # m
ALT_BASE = -2000.0  # m, lowest altitude bucket edge
ALT_BUCKET_SIZE = 25.0  # m: buckets cover -2000 m .. ~49 km; values outside are clipped (still sorted)


PARALLEL_MIN_ROWS = 20_000  # below this, numba's thread start-up costs more than it saves


def prepare(lat, lon, speed, track, vertrate, altitude, lookahead, hsep, vsep):
    """Surface ECEF positions, ECEF ground velocities and conservative swept boxes.

    Returns ``(position (n,3), velocity (n,3), box (n,8) float32)``. ``box`` holds
    x/y/z lower, x/y/z upper, altitude lower, altitude upper of everything the aircraft can
    touch within the look-ahead, expanded so that two aircraft whose boxes do not overlap
    cannot be in conflict (see `swept_margin`). float32 values are rounded outward by 1 m
    (float32 resolves 0.5 m at Earth-radius magnitudes).
    """
    n = lat.size
    position = np.empty((n, 3))
    velocity = np.empty((n, 3))
    box = np.empty((n, 8), dtype=np.float32)
    kernel = _prepare_parallel if n >= PARALLEL_MIN_ROWS else _prepare_serial
    kernel(lat, lon, speed, track, vertrate, altitude, lookahead, hsep, vsep, position, velocity, box)
    return position, velocity, box


@njit(cache=True, nogil=True, parallel=True)
def _prepare_parallel(lat, lon, speed, track, vertrate, altitude, lookahead, hsep, vsep, position, velocity, box):
    for k in prange(lat.size):
        _prepare_row(k, lat, lon, speed, track, vertrate, altitude, lookahead, hsep, vsep, position, velocity, box)


@njit(cache=True, nogil=True)
def _prepare_serial(lat, lon, speed, track, vertrate, altitude, lookahead, hsep, vsep, position, velocity, box):
    for k in range(lat.size):
        _prepare_row(k, lat, lon, speed, track, vertrate, altitude, lookahead, hsep, vsep, position, velocity, box)


@njit(cache=True, nogil=True, inline="always")
def _prepare_row(k, lat, lon, speed, track, vertrate, altitude, lookahead, hsep, vsep, position, velocity, box):
    la = math.radians(lat[k])
    lo = math.radians(lon[k])
    tr = math.radians(track[k])
    sin_lat, cos_lat = math.sin(la), math.cos(la)
    sin_lon, cos_lon = math.sin(lo), math.cos(lo)
    prime_vertical = WGS84_A / math.sqrt(1.0 - WGS84_E2 * sin_lat * sin_lat)
    px = prime_vertical * cos_lat * cos_lon
    py = prime_vertical * cos_lat * sin_lon
    pz = prime_vertical * (1.0 - WGS84_E2) * sin_lat
    v_east = speed[k] * math.sin(tr)
    v_north = speed[k] * math.cos(tr)
    vx = -sin_lon * v_east - sin_lat * cos_lon * v_north
    vy = cos_lon * v_east - sin_lat * sin_lon * v_north
    vzz = cos_lat * v_north
    position[k, 0], position[k, 1], position[k, 2] = px, py, pz
    velocity[k, 0], velocity[k, 1], velocity[k, 2] = vx, vy, vzz
    half = 0.5 * hsep + swept_margin(abs(speed[k]) * lookahead, hsep) + 1.0
    p = (px, py, pz)
    d = (vx * lookahead, vy * lookahead, vzz * lookahead)
    for axis in range(3):
        a = p[axis]
        b = a + d[axis]
        box[k, axis] = min(a, b) - half
        box[k, 3 + axis] = max(a, b) + half
    z0 = altitude[k]
    z1 = z0 + vertrate[k] * lookahead
    box[k, 6] = min(z0, z1) - 0.5 * vsep - 1.0
    box[k, 7] = max(z0, z1) + 0.5 * vsep + 1.0


@njit(cache=True, nogil=True)
def swept_margin(swept_distance, hsep):
    """Metres added to an aircraft's half-box so that box overlap is necessary for a conflict.

    The pair test measures distance in the plane perpendicular to the midpoint normal n;
    the 3D chord between the two predicted points exceeds it by at most |n . (D + W t)|.
    On the ellipsoid n . D is tiny (zero on a sphere) and t |n . V_a| <= S_a * chord / (2 r_min)
    with chord <= R + S_a + S_b, so the excess is at most
    ((S_a + S_b) (R + S_a + S_b)) / (2 r_min) <= sum over a, b of (S R + 2 S^2) / (2 r_min).
    10 % and 0.2 % of (R + S) are added for the ellipsoid's flattening and rounding.
    """
    s = swept_distance
    return 1.1 * (s * hsep + 2.0 * s * s) / (2.0 * MIN_CURVATURE_RADIUS) + 2e-3 * (hsep + s)


@njit(cache=True, nogil=True)
def pair_conflict(position, velocity, altitude, vertrate, i, j, lookahead, hsep, vsep, vtol, out):
    """Exact SPEC §3 test of aircraft i and j; on conflict fills ``out`` = (t_in, t_out, t_cpa, d_cpa, dz_cpa).

    ``position``: surface ECEF positions (m); ``velocity``: ECEF ground velocities (m/s);
    ``altitude`` (m), ``vertrate`` (m/s). Returns True on conflict.
    """
    za, zb, vza, vzb = altitude[i], altitude[j], vertrate[i], vertrate[j]
    # Vertical interval first: it is the cheapest and rejects most candidates.
    dz = zb - za
    dvz = vzb - vza
    if vtol > 0.0 and abs(dz) >= vsep - vtol and abs(vza) < 1.0 and abs(vzb) < 1.0:
        return False
    # Exactly the minimum apart is separated (SPEC §3: "< H"). Altitudes given in feet round in metres
    # (FL100 - FL90 = 304.8000000000002 m) and interpolated ones carry float noise, so a vertical distance
    # within 1 micrometre of the minimum counts as at it, level or not.
    inner = vsep - VERTICAL_EPSILON
    if dvz == 0.0:
        if abs(dz) >= inner:
            return False
        v_low, v_high = -math.inf, math.inf
    else:
        r1 = (-inner - dz) / dvz
        r2 = (inner - dz) / dvz
        v_low, v_high = min(r1, r2), max(r1, r2)
    if v_low >= lookahead or v_high <= 0.0:
        return False

    # Normal at the pair's midpoint (ellipsoid normal of the mean surface point).
    pax, pay, paz = position[i, 0], position[i, 1], position[i, 2]
    pbx, pby, pbz = position[j, 0], position[j, 1], position[j, 2]
    nx = 0.5 * (pax + pbx)
    ny = 0.5 * (pay + pby)
    nz = 0.5 * (paz + pbz) / (1.0 - WGS84_E2)
    norm = math.sqrt(nx * nx + ny * ny + nz * nz)
    if norm < 1.0:  # antipodal pair: never close, any plane will do
        nx, ny, nz = pax, pay, paz / (1.0 - WGS84_E2)
        norm = math.sqrt(nx * nx + ny * ny + nz * nz)
    nx /= norm
    ny /= norm
    nz /= norm
    dx, dy, dzz = pbx - pax, pby - pay, pbz - paz
    wx, wy, wz = velocity[j, 0] - velocity[i, 0], velocity[j, 1] - velocity[i, 1], velocity[j, 2] - velocity[i, 2]
    dn = dx * nx + dy * ny + dzz * nz
    wn = wx * nx + wy * ny + wz * nz
    dx, dy, dzz = dx - dn * nx, dy - dn * ny, dzz - dn * nz
    wx, wy, wz = wx - wn * nx, wy - wn * ny, wz - wn * nz

    a = wx * wx + wy * wy + wz * wz
    b = dx * wx + dy * wy + dzz * wz
    dd = dx * dx + dy * dy + dzz * dzz
    c = dd - hsep * hsep
    if a <= 1e-12:  # same ground velocity: constant horizontal distance
        if c >= 0.0:
            return False
        h_low, h_high = -math.inf, math.inf
        t_cpa = 0.0
    else:
        disc = b * b - a * c
        if disc <= 0.0:
            return False
        root = math.sqrt(disc)
        q = -(b + root) if b >= 0.0 else -(b - root)
        r1 = q / a
        r2 = c / q
        h_low, h_high = min(r1, r2), max(r1, r2)
        t_cpa = -b / a

    low = max(h_low, v_low)
    high = min(h_high, v_high)
    if not (low < high and low < lookahead and high > 0.0):
        return False
    out[0] = max(low, 0.0)
    out[1] = min(high, lookahead)
    t_cpa = min(max(t_cpa, 0.0), lookahead)  # SPEC §3: the closest approach within [0, T]
    out[2] = t_cpa
    out[3] = math.sqrt(max(dd + 2.0 * b * t_cpa + a * t_cpa * t_cpa, 0.0))
    out[4] = abs(dz + dvz * t_cpa)
    return True


def grid_keys(box, origin, cell, regular, thick):
    """Sort key of each regular aircraft: lower-corner cell (17 bits per axis), layer, altitude bucket."""
    keys = np.empty(box.shape[0], dtype=np.int64)
    kernel = _grid_keys_parallel if box.shape[0] >= PARALLEL_MIN_ROWS else _grid_keys_serial
    kernel(box, origin, cell, regular, thick, keys)
    return keys


@njit(cache=True, nogil=True, parallel=True)
def _grid_keys_parallel(box, origin, cell, regular, thick, keys):
    for k in prange(box.shape[0]):
        keys[k] = _grid_key(k, box, origin, cell, regular, thick)


@njit(cache=True, nogil=True)
def _grid_keys_serial(box, origin, cell, regular, thick, keys):
    for k in range(box.shape[0]):
        keys[k] = _grid_key(k, box, origin, cell, regular, thick)


@njit(cache=True, nogil=True, inline="always")
def _grid_key(k, box, origin, cell, regular, thick):
    if not regular[k]:
        return np.iinfo(np.int64).max
    key = 0
    for axis in range(3):
        index = int((box[k, axis] - origin[axis]) / cell)
        index = min(max(index, 0), AXIS_CELLS - 1)
        key = (key << AXIS_BITS) | index
    return (key << SUB_BITS) | (np.int64(thick[k]) << BUCKET_BITS) | altitude_bucket(box[k, 6])


@njit(cache=True, nogil=True, inline="always")
def altitude_bucket(altitude):
    bucket = math.floor((altitude - ALT_BASE) / ALT_BUCKET_SIZE)
    return min(max(bucket, 0), ALT_BUCKETS - 1)


@njit(cache=True, nogil=True)
def _test_and_record(i, j, position, velocity, altitude, vertrate, party, between_parties,
                     lookahead, hsep, vsep, vtol, scratch, pairs, values, count):
    """Exact test of (i, j); on conflict append it to the output buffers.

    Returns the new count, or -1 when the buffers are full (the caller resumes with room).
    Buffers are never reallocated inside a kernel: an array variable reassigned in a numba loop
    costs reference counting on every iteration (measured: 7x slower scan).
    """
    if between_parties and (party[i] < 0 or party[j] < 0 or party[i] == party[j]):
        return count
    if pair_conflict(position, velocity, altitude, vertrate, i, j, lookahead, hsep, vsep, vtol, scratch):
        if count == pairs.shape[0]:
            return -1
        pairs[count, 0] = i
        pairs[count, 1] = j
        for k in range(5):
            values[count, k] = scratch[k]
        count += 1
    return count


@njit(cache=True, nogil=True, inline="always")
def _lower_bound(keys, lo, hi, value):
    while lo < hi:
        mid = (lo + hi) >> 1
        if keys[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def _sweep(qbox, q, i, first, end, prefix, reach, sorted_keys, order, sbox, position, velocity, altitude, vertrate,
           party, between_parties, lookahead, hsep, vsep, vtol, scratch, pairs, values, count):
    """Test aircraft ``i`` (box row ``q`` of ``qbox``) against sorted entries [first, end) of one layer.

    Entries are sorted by altitude bucket of their lower altitude; a partner's interval overlaps
    only if its lower altitude lies in (lo_i - reach, hi_i), reach being the layer's widest interval.
    Returns the new count, -1 if the output buffers are full.
    """
    low_key = prefix | altitude_bucket(qbox[q, 6] - reach)
    high_bucket = altitude_bucket(qbox[q, 7])
    sj = _lower_bound(sorted_keys, first, end, low_key)
    while sj < end and (sorted_keys[sj] & BUCKET_MASK) <= high_bucket:
        if _overlap_rows(qbox, q, sbox, sj):
            count = _test_and_record(i, order[sj], position, velocity, altitude, vertrate, party, between_parties,
                                     lookahead, hsep, vsep, vtol, scratch, pairs, values, count)
            if count < 0:
                return -1
        sj += 1
    return count


@njit(cache=True, nogil=True)
def scan_cells(cell_first, cell_last, cell_key, layer_start, layer_reach, sorted_keys, order, sbox,
               position, velocity, altitude, vertrate, party, between_parties,
               lookahead, hsep, vsep, vtol, pairs, values):
    """Test every regular aircraft of cells [cell_first, cell_last) against later aircraft nearby.

    Cells are sorted by key; each aircraft is in the cell of its box's lower corner and no
    regular box is wider than a cell, so overlapping boxes lie in adjacent cells. Pairs are
    taken once: only partners later in sorted order. ``layer_start[c]`` = (start, first thick,
    end) of cell c in sorted order, ``layer_reach[c]`` the widest altitude interval of each layer.
    ``sbox`` is the box array in sorted order; ``order`` maps sorted positions to aircraft.
    Conflicts go to ``pairs`` (m,2: aircraft indices) and ``values`` (m,5). Returns
    ``(count, next_cell)``: if the buffers fill up, the results of cells before ``next_cell``
    are complete and the caller resumes from ``next_cell`` with emptied (or bigger) buffers.
    """
    count = 0
    scratch = np.empty(5)
    n_cells = cell_key.size
    zmask = (1 << AXIS_BITS) - 1
    for c in range(cell_first, cell_last):
        done = count
        key = cell_key[c]
        ix = key >> (2 * AXIS_BITS)
        iy = (key >> AXIS_BITS) & zmask
        iz = key & zmask
        for column in range(5):
            # Neighbour columns at or after this one in key order: (0,0) and (0,1),(1,-1),(1,0),(1,1).
            if column == 0:
                jx, jy, z_from = ix, iy, iz
            elif column == 1:
                jx, jy, z_from = ix, iy + 1, iz - 1
            else:
                jx, jy, z_from = ix + 1, iy + column - 3, iz - 1
            if jy < 0 or jy > zmask or jx > zmask:
                continue
            base = (jx << (2 * AXIS_BITS)) | (jy << AXIS_BITS)
            first_key = base | max(z_from, 0)
            last_key = base | min(iz + 1, zmask)
            d = _lower_bound(cell_key, 0, n_cells, first_key)
            while d < n_cells and cell_key[d] <= last_key:
                for layer in range(2):
                    end = layer_start[d, layer + 1]
                    if layer_start[d, layer] >= end:
                        continue
                    prefix = (cell_key[d] << SUB_BITS) | (layer << BUCKET_BITS)
                    reach = layer_reach[d, layer]
                    for si in range(layer_start[c, 0], layer_start[c, 2]):
                        first = layer_start[d, layer]
                        if d == c:
                            first = max(first, si + 1)
                        # the sweep of `_sweep`, written out: measured 2-4x faster than the inlined call
                        low_key = prefix | altitude_bucket(sbox[si, 6] - reach)
                        high_bucket = altitude_bucket(sbox[si, 7])
                        sj = _lower_bound(sorted_keys, first, end, low_key)
                        while sj < end and (sorted_keys[sj] & BUCKET_MASK) <= high_bucket:
                            if _overlap_rows(sbox, si, sbox, sj):
                                i = order[si]
                                j = order[sj]
                                if not between_parties or (party[i] >= 0 and party[j] >= 0 and party[i] != party[j]):
                                    if pair_conflict(position, velocity, altitude, vertrate, i, j,
                                                     lookahead, hsep, vsep, vtol, scratch):
                                        if count == pairs.shape[0]:
                                            return done, c
                                        pairs[count, 0] = i
                                        pairs[count, 1] = j
                                        for k in range(5):
                                            values[count, k] = scratch[k]
                                        count += 1
                            sj += 1
                d += 1
    return count, cell_last


@njit(cache=True, nogil=True)
def scan_oversize(q_first, oversize, obox, origin, cell, cell_key, layer_start, layer_reach, sorted_keys, order,
                  sbox, position, velocity, altitude, vertrate, party, between_parties,
                  lookahead, hsep, vsep, vtol, pairs, values):
    """Test aircraft whose box is wider than a cell against every regular aircraft and each other.

    A regular box overlapping an oversize one has its lower corner in the cells from one below
    the oversize box's lower corner to its upper corner, on every axis. Resumable like
    `scan_cells`, by oversize aircraft: returns ``(count, next_q)``.
    """
    count = 0
    scratch = np.empty(5)
    n_cells = cell_key.size
    zmask = (1 << AXIS_BITS) - 1
    lo = np.empty(3, dtype=np.int64)
    hi = np.empty(3, dtype=np.int64)
    for q in range(q_first, oversize.size):
        done = count
        i = oversize[q]
        for axis in range(3):
            lo[axis] = min(max(int((obox[q, axis] - origin[axis]) / cell) - 1, 0), zmask)
            hi[axis] = min(max(int((obox[q, 3 + axis] - origin[axis]) / cell), 0), zmask)
        for jx in range(lo[0], hi[0] + 1):
            for jy in range(lo[1], hi[1] + 1):
                base = (jx << (2 * AXIS_BITS)) | (jy << AXIS_BITS)
                d = _lower_bound(cell_key, 0, n_cells, base | lo[2])
                while d < n_cells and cell_key[d] <= (base | hi[2]):
                    for layer in range(2):
                        prefix = (cell_key[d] << SUB_BITS) | (layer << BUCKET_BITS)
                        count = _sweep(
                            obox, q, i, layer_start[d, layer], layer_start[d, layer + 1], prefix,
                            layer_reach[d, layer], sorted_keys, order, sbox, position, velocity, altitude, vertrate,
                            party, between_parties, lookahead, hsep, vsep, vtol, scratch, pairs, values, count)
                        if count < 0:
                            return done, q
                    d += 1
        for r in range(q + 1, oversize.size):
            if _overlap_rows(obox, q, obox, r):
                count = _test_and_record(
                    i, oversize[r], position, velocity, altitude, vertrate, party, between_parties,
                    lookahead, hsep, vsep, vtol, scratch, pairs, values, count)
                if count < 0:
                    return done, q
    return count, oversize.size


@njit(cache=True, nogil=True, inline="always")
def _overlap_rows(box_a, i, box_b, j):
    return (
        box_a[i, 0] < box_b[j, 3]
        and box_b[j, 0] < box_a[i, 3]
        and box_a[i, 1] < box_b[j, 4]
        and box_b[j, 1] < box_a[i, 4]
        and box_a[i, 2] < box_b[j, 5]
        and box_b[j, 2] < box_a[i, 5]
        and box_a[i, 6] < box_b[j, 7]
        and box_b[j, 6] < box_a[i, 7]
    )


@njit(cache=True, nogil=True)
def all_pairs_exact(i_first, position, velocity, altitude, vertrate, party, between_parties, lookahead, hsep, vsep,
                    vtol, pairs, values):
    """Every pair through the exact test, no broad phase: the O(N^2) reference for the grid.

    Resumable like `scan_cells`, by first aircraft of the pair: returns ``(count, next_i)``.
    """
    count = 0
    scratch = np.empty(5)
    n = altitude.size
    for i in range(i_first, n):
        done = count
        for j in range(i + 1, n):
            count = _test_and_record(
                i, j, position, velocity, altitude, vertrate, party, between_parties,
                lookahead, hsep, vsep, vtol, scratch, pairs, values, count)
            if count < 0:
                return done, i
    return count, n


# Keys of the archive scan: 22 bits of grid step, then 14 bits per ECEF axis for the cell.
STEP_CELL_BITS = 14
STEP_BITS = 22
MIN_STEP_CELL = 800.0  # m: 2**14 cells of this size span more than the Earth's diameter


@njit(cache=True, nogil=True)
def step_keys(step_index, position, origin, cell):
    """Sort key of each point: its grid step, then its ECEF cell (cells of ``cell`` m from ``origin``)."""
    n = step_index.size
    keys = np.empty(n, dtype=np.int64)
    for k in range(n):
        key = np.int64(step_index[k])
        for axis in range(3):
            key = (key << STEP_CELL_BITS) | np.int64((position[k, axis] - origin[axis]) / cell)
        keys[k] = key
    return keys


@njit(cache=True, nogil=True)
def scan_pieces(first, keys, order, code, offset, position, velocity, altitude, vertrate, reported, hsep, vsep, vtol,
                out_pairs, out_values):
    """Every pair of track pieces of the same grid step in conflict while both exist (SPEC §3 test).

    A piece is an aircraft's straight motion over part of one step: from ``offset[k, 0]`` to
    ``offset[k, 1]`` seconds into the step, from ``position[k]`` (at its start) with ``velocity[k]``.
    Two pieces are compared over their common span: both are moved to its start and tested over its
    length; times in ``out_values`` are seconds into the step. ``reported``: the vertical rate the
    piece's aircraft reported (the mean of its two reports), for the ``vtol`` rule: a pair reported at
    least ``vsep - vtol`` apart is vertically separated while it does not close vertically by more than
    1 m/s (both level, SPEC §3, or moving apart). The altitude steps of quantised reports (25 ft a
    second) would otherwise make a level aircraft look as if it climbed, and a pair at adjacent levels
    reported 975 ft apart look like a loss whenever one climbs away. ``keys`` are sorted (``order`` maps them
    back to rows); a pair in conflict during a step starts in the same or adjacent cells when a cell is
    at least the minimum plus both aircraft's travel. Cells (x, y, z-1..z+1) are consecutive keys, so
    each neighbouring column is one range; only the columns at or after this one are searched, so that
    each pair is found once. Resumable like `scan_cells`: returns (pairs written, sorted index to
    resume from).
    """
    n = keys.size
    count = 0
    result = np.empty(5)
    pos = np.empty((2, 3))
    vel = np.empty((2, 3))
    alt = np.empty(2)
    rate = np.empty(2)
    bits = STEP_CELL_BITS
    mask = (np.int64(1) << bits) - 1
    for q in range(first, n):
        key = keys[q]
        i = order[q]
        start = count
        full = False
        x = (key >> (2 * bits)) & mask
        y = (key >> bits) & mask
        z = key & mask
        base = (key >> (3 * bits)) << (3 * bits)
        for column in range(5):  # (0,0) then (0,1), (1,-1), (1,0), (1,1)
            if column == 0:
                cx, cy = x, y
            elif column == 1:
                cx, cy = x, y + 1
            else:
                cx, cy = x + 1, y + column - 3
            if cx > mask or cy < 0 or cy > mask:
                continue
            column_key = base | (cx << (2 * bits)) | (cy << bits)
            low = column_key | max(z - 1, 0)
            high = column_key | min(z + 1, mask)
            p = q + 1 if column == 0 else _lower_bound(keys, q + 1, n, low)
            while p < n and keys[p] <= high:
                j = order[p]
                p += 1
                if code[i] == code[j]:
                    continue  # two pieces of one aircraft
                lo = max(offset[i, 0], offset[j, 0])
                hi = min(offset[i, 1], offset[j, 1])
                if not hi > lo:
                    continue  # not in the air together during this step
                for r, row in enumerate((i, j)):
                    ahead = lo - offset[row, 0]
                    for axis in range(3):
                        pos[r, axis] = position[row, axis] + velocity[row, axis] * ahead
                        vel[r, axis] = velocity[row, axis]
                    alt[r] = altitude[row] + vertrate[row] * ahead
                    rate[r] = vertrate[row]
                if vtol > 0.0 and abs(alt[1] - alt[0]) >= vsep - vtol:
                    closing = -math.copysign(1.0, alt[1] - alt[0]) * (reported[j] - reported[i])
                    if closing < 1.0:
                        continue  # within the tolerance band and not closing: vertically separated
                if pair_conflict(pos, vel, alt, rate, 0, 1, hi - lo, hsep, vsep, 0.0, result):
                    if count == out_pairs.shape[0]:
                        full = True
                        break
                    out_pairs[count, 0] = i
                    out_pairs[count, 1] = j
                    out_values[count, 0] = lo + result[0]
                    out_values[count, 1] = lo + result[1]
                    out_values[count, 2] = lo + min(max(result[2], 0.0), hi - lo)  # closest within the span
                    out_values[count, 3] = result[3]
                    out_values[count, 4] = result[4]
                    count += 1
            if full:
                break
        if full:
            return start, q  # this point again, with room
    return count, n


@njit(cache=True, nogil=True, inline="always")
def _on_surface(x, y, z, out):
    """The point (x, y, z) scaled along its radius onto the WGS84 surface."""
    b2 = WGS84_A * WGS84_A * (1.0 - WGS84_E2)
    scale = 1.0 / math.sqrt((x * x + y * y) / (WGS84_A * WGS84_A) + z * z / b2)
    out[0], out[1], out[2] = x * scale, y * scale, z * scale


@njit(cache=True, nogil=True)
def track_pieces(code, t, lat, lon, alt, reported_rate, first, last, step, max_gap):
    """Each aircraft's motion as pieces within grid steps ``first..last`` (rows sorted by aircraft code,
    then time).

    Between consecutive reports at most ``max_gap`` s apart the aircraft moves along the surface chord
    between the reports (the chord's point at the time fraction, put back on the ellipsoid along its
    radius: exact at the poles and across the antimeridian, within centimetres of the geodesic for
    reports tens of km apart) and linearly in altitude. That motion is cut at every grid tick and at
    every report, so no part of a track is left out (its last seconds before it ends or before a gap
    included); each piece flies straight at the chord velocity of its own ends.

    Returns (code, step, offset (n, 2): start and end s into the step, position (n, 3) ECEF surface
    m at the start, velocity (n, 3) m/s tangent there, altitude m at the start, vertical rate m/s,
    reported vertical rate m/s: the mean of the segment's two reports).
    """
    n = t.size
    total = 0
    for r in range(n - 1):
        if code[r + 1] == code[r] and t[r + 1] > t[r] and t[r + 1] - t[r] <= max_gap:
            k0 = max(np.int64(math.floor(t[r] / step)), first)
            k1 = min(np.int64(math.ceil(t[r + 1] / step)) - 1, last)
            if k1 >= k0:
                total += k1 - k0 + 1
    out_code = np.empty(total, dtype=np.int64)
    out_step = np.empty(total, dtype=np.int64)
    offset = np.empty((total, 2))
    position = np.empty((total, 3))
    velocity = np.empty((total, 3))
    altitude = np.empty(total)
    vertrate = np.empty(total)
    reported = np.empty(total)
    surface = np.empty((n, 3))  # each report's surface point, computed once
    normal = np.empty(3)
    point = np.empty(3)
    for r in range(n):
        _surface_point(lat[r], lon[r], point, normal)
        surface[r, 0], surface[r, 1], surface[r, 2] = point[0], point[1], point[2]
    a = np.empty(3)
    b = np.empty(3)
    m = 0
    for r in range(n - 1):
        if not (code[r + 1] == code[r] and t[r + 1] > t[r] and t[r + 1] - t[r] <= max_gap):
            continue
        t0, t1 = t[r], t[r + 1]
        span = t1 - t0
        p0, p1 = surface[r], surface[r + 1]
        rate = (alt[r + 1] - alt[r]) / span
        k0 = max(np.int64(math.floor(t0 / step)), first)
        k1 = min(np.int64(math.ceil(t1 / step)) - 1, last)
        ready = False  # whether `b` holds this segment's point at the previous piece's end
        for k in range(k0, k1 + 1):
            s = max(t0, k * step)
            e = min(t1, (k + 1) * step)
            if not e - s > 1e-6:
                ready = False
                continue  # an instant: nothing to search
            fs, fe = (s - t0) / span, (e - t0) / span
            if ready:
                a[0], a[1], a[2] = b[0], b[1], b[2]
            else:
                _on_surface(p0[0] + fs * (p1[0] - p0[0]), p0[1] + fs * (p1[1] - p0[1]), p0[2] + fs * (p1[2] - p0[2]), a)
            _on_surface(p0[0] + fe * (p1[0] - p0[0]), p0[1] + fe * (p1[1] - p0[1]), p0[2] + fe * (p1[2] - p0[2]), b)
            ready = True
            # unit normal at a (gradient of the ellipsoid), to keep the velocity tangent there
            nx, ny, nz = a[0], a[1], a[2] / (1.0 - WGS84_E2)
            norm = math.sqrt(nx * nx + ny * ny + nz * nz)
            nx, ny, nz = nx / norm, ny / norm, nz / norm
            along = (b[0] - a[0]) * nx + (b[1] - a[1]) * ny + (b[2] - a[2]) * nz
            out_code[m] = code[r]
            out_step[m] = k
            offset[m, 0] = s - k * step
            offset[m, 1] = e - k * step
            for axis in range(3):
                position[m, axis] = a[axis]
            velocity[m, 0] = (b[0] - a[0] - along * nx) / (e - s)
            velocity[m, 1] = (b[1] - a[1] - along * ny) / (e - s)
            velocity[m, 2] = (b[2] - a[2] - along * nz) / (e - s)
            altitude[m] = alt[r] + rate * (s - t0)
            vertrate[m] = rate
            reported[m] = 0.5 * (reported_rate[r] + reported_rate[r + 1])
            m += 1
    return (out_code[:m], out_step[:m], offset[:m], position[:m], velocity[:m], altitude[:m], vertrate[:m],
            reported[:m])


@njit(cache=True, nogil=True, inline="always")
def _surface_point(lat_deg, lon_deg, point, normal):
    """WGS84 surface point (ECEF m) and unit up-normal at a latitude/longitude (deg)."""
    la = math.radians(lat_deg)
    lo = math.radians(lon_deg)
    sin_lat, cos_lat = math.sin(la), math.cos(la)
    sin_lon, cos_lon = math.sin(lo), math.cos(lo)
    prime_vertical = WGS84_A / math.sqrt(1.0 - WGS84_E2 * sin_lat * sin_lat)
    normal[0], normal[1], normal[2] = cos_lat * cos_lon, cos_lat * sin_lon, sin_lat
    point[0] = prime_vertical * cos_lat * cos_lon
    point[1] = prime_vertical * cos_lat * sin_lon
    point[2] = prime_vertical * (1.0 - WGS84_E2) * sin_lat
