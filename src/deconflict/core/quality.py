"""Reports a surveillance history should not be believed: frozen positions and position jumps.

Recorded ADS-B holds an aircraft's last position when messages stop (decoders and aggregators
repeat it, often with the last ground speed), and now and then a position decodes wrong. Scanned as
they are, a frozen position on a runway "collides" with every aircraft landing through it (the Paris
CDG gates in the `traffic` package's quickstart recording gave dozens of losses at 76 m). A report is

- *frozen* when it is less than 10 % of its reported ground speed x time away from the same aircraft's
  previous report, at least 1 s and at most ``max_gap`` s before, while reporting at least 10 m/s;
- a *jump* when the previous report (at most ``max_gap`` s before) is farther than 3 x the larger of
  the two reported speeds x time + 100 m/s x time: no aircraft moves like that.

A report slower than 50 kt below 1500 ft (pressure altitude) is *surface traffic*: taxiing and
holding aircraft that recordings often leave flagged airborne. (Reports flagged on the ground are
left out of every scan anyway, as of detection.)

Each verdict depends on the report and its predecessor only, so windows that hold the predecessor
judge a report alike (the scan reads ``2 max_gap`` before each window for that).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from deconflict.core.geodesy import WGS84_A, WGS84_E2
from deconflict.core.states import States, by_aircraft

SURFACE_SPEED, SURFACE_ALTITUDE = 25.7, 457.2  # m/s (50 kt), m (1500 ft): slower and lower is surface traffic
FROZEN_SHARE = 0.1  # of the reported distance flown
FROZEN_MIN_SPEED = 10.0  # m/s: slower reports (holding, taxiing) may stand still
HELD_WINDOW = 10.0  # s: the most time a held-position test counts (see `held_positions`)
JUMP_FACTOR, JUMP_SLACK = 3.0, 100.0  # x the reported speed, + m/s
REASONS = ("frozen position", "position jump", "surface traffic (under 50 kt below 1500 ft)")


def implausible(states: States, max_gap: float) -> dict[str, np.ndarray]:
    """Boolean masks over ``states`` rows, one per reason of `REASONS` (see the module)."""
    n = len(states)
    surface = (states.velocity < SURFACE_SPEED) & (states.altitude < SURFACE_ALTITUDE) & ~states.onground
    frozen, jump = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    if n >= 2:
        order, code, _ = by_aircraft(states.icao24, states.time)
        parties = states.party[order]
        same = np.empty(n, dtype=bool)  # row k follows a report of the same track
        same[0] = False
        same[1:] = (code[1:] == code[:-1]) & (parties[1:] == parties[:-1])
        f, j = _verdicts(same, states.time[order], states.lat[order], states.lon[order], states.velocity[order],
                         max_gap)
        frozen[order], jump[order] = f, j
    return {REASONS[0]: frozen, REASONS[1]: jump & ~frozen, REASONS[2]: surface & ~frozen & ~jump}


@njit(cache=True, nogil=True)
def _surface_point(lat, lon):
    """ECEF (m) of a point on the WGS84 surface."""
    la, lo = math.radians(lat), math.radians(lon)
    radius = WGS84_A / math.sqrt(1.0 - WGS84_E2 * math.sin(la) ** 2)
    return (radius * math.cos(la) * math.cos(lo), radius * math.cos(la) * math.sin(lo),
            radius * (1.0 - WGS84_E2) * math.sin(la))


@njit(cache=True, nogil=True)
def _verdicts(same, time, lat, lon, speed, max_gap):
    """Frozen and jump verdicts of rows sorted by track then time (one pass; the chord between surface
    points stands for the distance moved: within a part in a million of the geodesic at these ranges,
    and these are data-quality thresholds, not separation geometry)."""
    n = time.size
    frozen = np.zeros(n, dtype=np.bool_)
    jump = np.zeros(n, dtype=np.bool_)
    px = py = pz = 0.0
    for k in range(n):
        x, y, z = _surface_point(lat[k], lon[k])
        if same[k]:
            dt = time[k] - time[k - 1]
            if 0.0 < dt <= max_gap:
                moved = math.sqrt((x - px) ** 2 + (y - py) ** 2 + (z - pz) ** 2)
                if dt >= 1.0 and speed[k] >= FROZEN_MIN_SPEED and moved < FROZEN_SHARE * speed[k] * dt:
                    frozen[k] = True
                elif moved > (JUMP_FACTOR * max(speed[k], speed[k - 1]) + JUMP_SLACK) * dt:
                    jump[k] = True
        px, py, pz = x, y, z
    return frozen, jump


def held_positions(same: np.ndarray, time: np.ndarray, lat: np.ndarray, lon: np.ndarray,
                   speed: np.ndarray) -> np.ndarray:
    """For a live picture: which reports (sorted by track, then time; ``same``: row k follows a row of
    its track) bring a new position. A report is *held* (False) when it is frozen (as above) against
    its track's last report that brought one, however long ago, so that a position repeated for
    minutes stays as old as it is. The time in the test is taken between 1 and `HELD_WINDOW` s: after
    a long silence a real aircraft needs only to have moved 10 % of 10 s of its speed (200 m at
    200 m/s) to be believed, so an aircraft departing near where it was last seen is not hidden.
    Only a moving report (at least 10 m/s) can be held."""
    return _held(np.ascontiguousarray(same), np.ascontiguousarray(time, dtype=np.float64),
                 np.ascontiguousarray(lat, dtype=np.float64), np.ascontiguousarray(lon, dtype=np.float64),
                 np.ascontiguousarray(speed, dtype=np.float64))


@njit(cache=True, nogil=True)
def _held(same, time, lat, lon, speed):
    n = time.size
    fresh = np.ones(n, dtype=np.bool_)
    px = py = pz = 0.0
    last = -1
    for k in range(n):
        x, y, z = _surface_point(lat[k], lon[k])
        if same[k] and last >= 0 and speed[k] >= FROZEN_MIN_SPEED:
            dt = min(max(time[k] - time[last], 1.0), HELD_WINDOW)
            moved = math.sqrt((x - px) ** 2 + (y - py) ** 2 + (z - pz) ** 2)
            if moved < FROZEN_SHARE * speed[k] * dt:
                fresh[k] = False
                continue
        px, py, pz, last = x, y, z, k
    return fresh
