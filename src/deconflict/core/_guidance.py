"""Compiled kernel of conflict bands (numba): the band level of every sampled value of a manoeuvre
variable against every intruder, with early exits (an intruder at the top level settles a value).

It computes exactly what `bands.Geometry.levels` computes with numpy (`encounter.horizontal_interval`
and `vertical_interval` per value x intruder), which stays the reference the tests compare it with:
the same closed-form intervals, scalar. Volumes are rows (hsep, vsep, tau, miss distance, tcoa).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from deconflict.core._kernels import VERTICAL_EPSILON, WGS84_A, WGS84_E2

TRACK, GROUND_SPEED, VERTICAL_SPEED, ALTITUDE = 0, 1, 2, 3


@njit(cache=True, nogil=True, inline="always")
def _horizontal(sx, sy, sz, vx, vy, vz, hsep, tau, miss):
    """`encounter.horizontal_interval` for one pair: (t_in, t_out), unbounded."""
    a = vx * vx + vy * vy + vz * vz
    b = sx * vx + sy * vy + sz * vz
    c = sx * sx + sy * sy + sz * sz
    r2 = hsep * hsep
    moving = a > 1e-12
    if not moving:
        if c <= r2:
            return -math.inf, math.inf
        return math.inf, -math.inf
    disc = b * b - a * (c - r2)
    if disc >= 0.0:
        root = math.sqrt(disc)
        d_in, d_out = (-b - root) / a, (-b + root) / a
    else:
        d_in, d_out = math.inf, -math.inf
    if tau > 0.0:
        miss2 = max(c - b * b / a, 0.0)
        qb = 2.0 * b + tau * a
        qc = c + tau * b - r2
        q_disc = qb * qb - 4.0 * a * qc
        if miss2 <= miss * miss and q_disc >= 0.0:
            d_in = min(d_in, (-qb - math.sqrt(q_disc)) / (2.0 * a))
    return d_in, d_out


@njit(cache=True, nogil=True, inline="always")
def _vertical(dz, dvz, vsep, tcoa):
    """`encounter.vertical_interval` for one pair: (t_in, t_out), unbounded."""
    inner = vsep - VERTICAL_EPSILON
    if dvz != 0.0:
        r1, r2 = (-inner - dz) / dvz, (inner - dz) / dvz
        v_in, v_out = min(r1, r2), max(r1, r2)
        if tcoa > 0.0:
            v_in = min(v_in, -dz / dvz - tcoa)
        return v_in, v_out
    if abs(dz) < inner:
        return -math.inf, math.inf
    return math.inf, -math.inf


@njit(cache=True, nogil=True, inline="always")
def _hits(kind, value, sx, sy, sz, wx, wy, wz, dz, intruder_rate, own_rate, own_altitude, climb_rate,
          volume, horizon):
    """Whether flying ``value`` enters ``volume`` within [0, horizon] with one intruder."""
    if kind != ALTITUDE:  # the vertical interval first: no square root, and it rejects most intruders
        v_in, v_out = _vertical(dz, intruder_rate - own_rate, volume[1], volume[4])
        if not max(v_in, 0.0) <= min(v_out, horizon):
            return False
        h_in, h_out = _horizontal(sx, sy, sz, wx, wy, wz, volume[0], volume[2], volume[3])
        return max(max(h_in, v_in), 0.0) <= min(min(h_out, v_out), horizon)
    h_in, h_out = _horizontal(sx, sy, sz, wx, wy, wz, volume[0], volume[2], volume[3])
    if not h_in <= h_out:
        return False
    change = value - own_altitude
    rate = climb_rate if change > 0.0 else (-climb_rate if change < 0.0 else 0.0)
    t_level = min(abs(change) / climb_rate, horizon)
    v_in, v_out = _vertical(dz, intruder_rate - rate, volume[1], volume[4])
    if max(max(h_in, v_in), 0.0) <= min(min(h_out, v_out), t_level):
        return True
    v_in, v_out = _vertical(dz - change, intruder_rate, volume[1], volume[4])
    return max(max(h_in, v_in), t_level) <= min(min(h_out, v_out), horizon)


@njit(cache=True, nogil=True)
def band_levels(kind, values, position, intruder_velocity, normal, east, north, dz, intruder_rate, own_speed,
                own_track, own_rate, own_altitude, climb_rate, volumes, horizons, numbers, loss, lookahead):
    """Band level of each value: the highest level number whose volume it enters within the level's
    horizon with some intruder, or 1 when it enters the ``loss`` volume within ``lookahead``, else 0.
    ``position``, ``intruder_velocity``, ``normal``: per intruder, its position relative to the ownship
    (projected), its ground velocity and the pair plane's normal (ECEF)."""
    k, m = values.size, position.shape[0]
    out = np.zeros(k, dtype=np.int8)
    top = numbers.max() if numbers.size else 0
    for q in range(k):
        speed, track, rate = own_speed, own_track, own_rate
        if kind == TRACK:
            track = values[q]
        elif kind == GROUND_SPEED:
            speed = values[q]
        elif kind == VERTICAL_SPEED:
            rate = values[q]
        rad = math.radians(track)
        ve, vn = speed * math.sin(rad), speed * math.cos(rad)
        ox = ve * east[0] + vn * north[0]
        oy = ve * east[1] + vn * north[1]
        oz = ve * east[2] + vn * north[2]
        level = 0
        for j in range(m):
            nx, ny, nz = normal[j, 0], normal[j, 1], normal[j, 2]
            wx, wy, wz = intruder_velocity[j, 0] - ox, intruder_velocity[j, 1] - oy, intruder_velocity[j, 2] - oz
            wn = wx * nx + wy * ny + wz * nz
            wx, wy, wz = wx - wn * nx, wy - wn * ny, wz - wn * nz
            for L in range(numbers.size - 1, -1, -1):  # the most severe first
                if numbers[L] <= level:
                    break
                if _hits(kind, values[q], position[j, 0], position[j, 1], position[j, 2], wx, wy, wz, dz[j],
                         intruder_rate[j], rate, own_altitude, climb_rate, volumes[L], horizons[L]):
                    level = numbers[L]
                    break
            if level == top:
                break
        if level == 0:
            for j in range(m):
                nx, ny, nz = normal[j, 0], normal[j, 1], normal[j, 2]
                wx, wy, wz = intruder_velocity[j, 0] - ox, intruder_velocity[j, 1] - oy, intruder_velocity[j, 2] - oz
                wn = wx * nx + wy * ny + wz * nz
                wx, wy, wz = wx - wn * nx, wy - wn * ny, wz - wn * nz
                if _hits(kind, values[q], position[j, 0], position[j, 1], position[j, 2], wx, wy, wz, dz[j],
                         intruder_rate[j], rate, own_altitude, climb_rate, loss, lookahead):
                    level = 1
                    break
        out[q] = level
    return out


@njit(cache=True, nogil=True)
def small_alerts(lat, lon, speed, track, vertrate, altitude, vtol, volumes, times, numbers, lookahead, level_rate):
    """`alerting.alerts` for a small snapshot under one standard, every pair tested (no broad phase):
    the same geometry (`encounter.Encounter.from_ecef`), volumes, ``vtol`` rule and closest approach.
    Returns (i, j, level, t_in, t_out, t_cpa, d_cpa, dz_cpa) of the pairs with an alert, unsorted."""
    n = lat.size
    position = np.empty((n, 3))
    velocity = np.empty((n, 3))
    e2 = WGS84_E2
    for k in range(n):
        la, lo = math.radians(lat[k]), math.radians(lon[k])
        sl, cl, so, co = math.sin(la), math.cos(la), math.sin(lo), math.cos(lo)
        radius = WGS84_A / math.sqrt(1.0 - e2 * sl * sl)
        position[k, 0], position[k, 1], position[k, 2] = radius * cl * co, radius * cl * so, radius * (1.0 - e2) * sl
        tr = math.radians(track[k])
        ve, vn = speed[k] * math.sin(tr), speed[k] * math.cos(tr)
        velocity[k, 0] = -so * ve - sl * co * vn
        velocity[k, 1] = co * ve - sl * so * vn
        velocity[k, 2] = cl * vn
    pairs = n * (n - 1) // 2
    out_i = np.empty(pairs, dtype=np.int64)
    out_j = np.empty(pairs, dtype=np.int64)
    out_level = np.empty(pairs, dtype=np.int8)
    out = np.empty((pairs, 5))
    count = 0
    for i in range(n):
        for j in range(i + 1, n):
            nx = 0.5 * (position[i, 0] + position[j, 0])
            ny = 0.5 * (position[i, 1] + position[j, 1])
            nz = 0.5 * (position[i, 2] + position[j, 2]) / (1.0 - e2)
            norm = math.sqrt(nx * nx + ny * ny + nz * nz)
            nx, ny, nz = nx / norm, ny / norm, nz / norm
            dx, dy, dd = position[j, 0] - position[i, 0], position[j, 1] - position[i, 1], position[j, 2] - position[i, 2]
            dn = dx * nx + dy * ny + dd * nz
            dx, dy, dd = dx - dn * nx, dy - dn * ny, dd - dn * nz
            wx, wy, wz = velocity[j, 0] - velocity[i, 0], velocity[j, 1] - velocity[i, 1], velocity[j, 2] - velocity[i, 2]
            wn = wx * nx + wy * ny + wz * nz
            wx, wy, wz = wx - wn * nx, wy - wn * ny, wz - wn * nz
            dz, dvz = altitude[j] - altitude[i], vertrate[j] - vertrate[i]
            level_pair = abs(vertrate[i]) < level_rate and abs(vertrate[j]) < level_rate
            level, t_in, t_out = 0, math.inf, -math.inf
            for L in range(numbers.size):  # levels in increasing severity: the last hit stays
                volume = volumes[L]
                h_in, h_out = _horizontal(dx, dy, dd, wx, wy, wz, volume[0], volume[2], volume[3])
                v_in, v_out = _vertical(dz, dvz, volume[1], volume[4])
                start = max(max(h_in, v_in), 0.0)
                end = min(min(h_out, v_out), times[L])
                if start <= end and not (vtol > 0.0 and level_pair and abs(dz) >= volume[1] - vtol):
                    level, t_in, t_out = numbers[L], start, end
            if level == 0:
                continue
            a = wx * wx + wy * wy + wz * wz
            t_cpa = -(dx * wx + dy * wy + dd * wz) / a if a > 1e-12 else 0.0
            t_cpa = min(max(t_cpa, 0.0), lookahead)
            cx, cy, cz = dx + wx * t_cpa, dy + wy * t_cpa, dd + wz * t_cpa
            out_i[count], out_j[count], out_level[count] = i, j, level
            out[count, 0], out[count, 1], out[count, 2] = t_in, t_out, t_cpa
            out[count, 3] = math.sqrt(cx * cx + cy * cy + cz * cz)
            out[count, 4] = abs(dz + dvz * t_cpa)
            count += 1
    return out_i[:count], out_j[:count], out_level[:count], out[:count]


@njit(cache=True, nogil=True)
def _own_path(kind, value, speed, track, rate, turn_rate, bank_tangent, acceleration, vertical_acceleration, step,
              east, north, out):
    """The ownship's manoeuvre to ``value`` as pieces flown in straight lines: row r of ``out`` = (t0, t1,
    displacement at t0 (ECEF x, y, z, m), velocity over the piece (x, y, z), height change at t0, vertical
    rate over the piece, horizontal and vertical growth of the volume). The last piece, from the end of
    the manoeuvre, has t1 = inf and no growth. Returns the number of rows.

    Track: a turn at ``turn_rate`` (rad/s; or, with ``bank_tangent`` > 0, g tan(bank) / speed) the short
    way round; ground speed: ``acceleration`` (m/s^2); vertical speed: ``vertical_acceleration``. Each
    piece lasts at most ``step`` s; the true path strays from its chord by at most rate x speed x dt^2 / 8
    (turn) or acceleration x dt^2 / 8 (speed, vertical speed), which the piece's volume grows by."""
    theta = math.radians(track)
    duration, sign = 0.0, 1.0
    omega = turn_rate
    if kind == TRACK:
        delta = (value - track + 180.0) % 360.0 - 180.0
        sign = 1.0 if delta >= 0.0 else -1.0
        if bank_tangent > 0.0:
            omega = 9.80665 * bank_tangent / max(speed, 1.0)
        duration = math.radians(abs(delta)) / omega
    elif kind == GROUND_SPEED:
        sign = 1.0 if value >= speed else -1.0
        duration = abs(value - speed) / acceleration
    elif kind == VERTICAL_SPEED:
        sign = 1.0 if value >= rate else -1.0
        duration = abs(value - rate) / vertical_acceleration
    pieces = min(int(math.ceil(duration / step - 1e-9)), out.shape[0] - 1) if duration > 0.0 else 0
    dt = duration / pieces if pieces > 0 else 0.0
    for r in range(pieces + 1):
        t0 = r * dt
        t1 = (r + 1) * dt if r < pieces else math.inf
        e0, n0, h0 = _displacement(kind, t0, duration, sign, speed, theta, omega, rate, acceleration,
                                   vertical_acceleration, value)
        grow_h, grow_v = 0.0, 0.0
        if r < pieces:
            e1, n1, h1 = _displacement(kind, t1, duration, sign, speed, theta, omega, rate, acceleration,
                                       vertical_acceleration, value)
            ve, vn, vz = (e1 - e0) / dt, (n1 - n0) / dt, (h1 - h0) / dt
            if kind == TRACK:
                grow_h = omega * speed * dt * dt / 8.0 + 1e-6
            elif kind == GROUND_SPEED:
                grow_h = acceleration * dt * dt / 8.0 + 1e-6
            elif kind == VERTICAL_SPEED:
                grow_v = vertical_acceleration * dt * dt / 8.0 + 1e-6
        else:  # after the manoeuvre: the new track, speed or rate
            final_speed = value if kind == GROUND_SPEED else speed
            final_theta = math.radians(value) if kind == TRACK else theta
            ve, vn = final_speed * math.sin(final_theta), final_speed * math.cos(final_theta)
            vz = value if kind == VERTICAL_SPEED else rate
        out[r, 0], out[r, 1] = t0, t1
        for axis in range(3):
            out[r, 2 + axis] = e0 * east[axis] + n0 * north[axis]
            out[r, 5 + axis] = ve * east[axis] + vn * north[axis]
        out[r, 8], out[r, 9], out[r, 10], out[r, 11] = h0, vz, grow_h, grow_v
    return pieces + 1


@njit(cache=True, nogil=True)
def _displacement(kind, t, duration, sign, speed, theta, omega, rate, acceleration, vertical_acceleration, value):
    """East, north (m) and height (m) the ownship has moved at ``t`` s into the manoeuvre (or after it)."""
    tm = min(t, duration)
    after = t - tm
    if kind == TRACK:
        if duration > 0.0:
            radius = speed / omega
            turned = theta + sign * omega * tm
            e = sign * radius * (math.cos(theta) - math.cos(turned))
            n = sign * radius * (math.sin(turned) - math.sin(theta))
        else:
            turned, e, n = theta, 0.0, 0.0
        return e + speed * math.sin(turned) * after, n + speed * math.cos(turned) * after, rate * t
    if kind == GROUND_SPEED:
        along = speed * tm + 0.5 * sign * acceleration * tm * tm + (speed + sign * acceleration * tm) * after
        return along * math.sin(theta), along * math.cos(theta), rate * t
    height = rate * tm + 0.5 * sign * vertical_acceleration * tm * tm + (rate + sign * vertical_acceleration * tm) * after
    return speed * math.sin(theta) * t, speed * math.cos(theta) * t, height


@njit(cache=True, nogil=True)
def kinematic_violations(kind, values, position, intruder_velocity, normal, east, north, dz, intruder_rate, own_speed,
                         own_track, own_rate, turn_rate, bank_tangent, acceleration, vertical_acceleration, step,
                         volume, horizon, start):
    """(values, intruders): whether flying the manoeuvre to each value (`_own_path`) enters ``volume``
    between ``start`` and ``horizon[j]`` s with intruder j. Each piece is tested in closed form as a
    straight relative motion in the pair's plane, with the volume grown by the piece's growth."""
    k, m = values.size, position.shape[0]
    out = np.zeros((k, m), dtype=np.bool_)
    path = np.empty((4096, 12))
    for q in range(k):
        count = _own_path(kind, values[q], own_speed, own_track, own_rate, turn_rate, bank_tangent, acceleration,
                          vertical_acceleration, step, east, north, path)
        for j in range(m):
            nx, ny, nz = normal[j, 0], normal[j, 1], normal[j, 2]
            for r in range(count):
                t0, t1 = path[r, 0], path[r, 1]
                if t0 > horizon[j]:
                    break
                low, high = max(start - t0, 0.0), min(t1, horizon[j]) - t0
                if high < low:
                    continue
                sx = position[j, 0] + intruder_velocity[j, 0] * t0 - path[r, 2]
                sy = position[j, 1] + intruder_velocity[j, 1] * t0 - path[r, 3]
                sz = position[j, 2] + intruder_velocity[j, 2] * t0 - path[r, 4]
                sn = sx * nx + sy * ny + sz * nz
                sx, sy, sz = sx - sn * nx, sy - sn * ny, sz - sn * nz
                wx, wy, wz = intruder_velocity[j, 0] - path[r, 5], intruder_velocity[j, 1] - path[r, 6], \
                    intruder_velocity[j, 2] - path[r, 7]
                wn = wx * nx + wy * ny + wz * nz
                wx, wy, wz = wx - wn * nx, wy - wn * ny, wz - wn * nz
                v_in, v_out = _vertical(dz[j] + intruder_rate[j] * t0 - path[r, 8], intruder_rate[j] - path[r, 9],
                                        volume[1] + path[r, 11], volume[4])
                if not max(v_in, low) <= min(v_out, high):
                    continue
                h_in, h_out = _horizontal(sx, sy, sz, wx, wy, wz, volume[0] + path[r, 10], volume[2], volume[3])
                if max(max(h_in, v_in), low) <= min(min(h_out, v_out), high):
                    out[q, j] = True
                    break
    return out
