"""Conflict bands for one aircraft against all traffic (as NASA's DAIDALUS does).

For each manoeuvre variable (track, ground speed, vertical speed, target altitude) the values
are sampled over their range, the aircraft is given that value with the others kept, and each
sample gets the highest alert level it would raise against any intruder (`standards`). Runs of
samples with the same level are merged into bands; the recommended value per variable is the
one closest to the current value with no alert. Sampled, not analytic: a band edge is exact to
the sampling step (1 degree, 5 kt, 100 ft/min, 100 ft by default), which the tests check by hand.

When the aircraft is already in loss of separation every value alerts; the bands then become
recovery bands: a value is acceptable when it makes every pair in loss of separation diverge
(horizontally or vertically) and raises no alert with anyone else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from deconflict.core.encounter import Encounter, ProtectedVolume, horizontal_interval, vertical_interval
from deconflict.core.geodesy import ground_velocity_ecef, surface_ecef
from deconflict.core.standards import LEVEL_NAMES, Standard, standard as named_standard
from deconflict.core.states import States
from deconflict.core.units import FOOT, KNOT

VARIABLES = ("track", "ground_speed", "vertical_speed", "altitude")
RECOVERY_OPENING = 0.5  # m/s: a pair in loss of separation "diverges" when opening at least this fast


class BandsError(ValueError):
    """An unknown aircraft or a nonsensical range."""


@dataclass(frozen=True)
class BandRanges:
    """Sampling of each variable: (low, high, step), SI units (deg, m/s, m/s, m); climb rate (m/s) used
    to reach a target altitude."""

    ground_speed: tuple[float, float, float] = (100 * KNOT, 600 * KNOT, 5 * KNOT)
    vertical_speed: tuple[float, float, float] = (-6000 * FOOT / 60, 6000 * FOOT / 60, 100 * FOOT / 60)
    altitude: tuple[float, float, float] = (0.0, 50000 * FOOT, 100 * FOOT)
    track_step: float = 1.0
    climb_rate: float = 2000 * FOOT / 60


@dataclass(frozen=True)
class Bands:
    """Bands of one aircraft: per variable, a list of ``(low, high, level)`` with level 0 for clear values
    and 1..3 for the alert level they lead to; ``recommended`` per variable (``None``: no clear value);
    ``recovery``: the aircraft is in loss of separation and these are recovery bands."""

    icao24: str
    current: dict[str, float]
    bands: dict[str, list[tuple[float, float, int]]]
    recommended: dict[str, float | None]
    recovery: bool
    intruders: list[str] = field(default_factory=list)

    def level_at(self, variable: str, value: float) -> int:
        """Alert level of a value of a variable: that of the band holding it, or of the nearest sample."""
        runs = self.bands[variable]
        for low, high, level in runs:
            if low <= value <= high or (low > high and (value >= low or value <= high)):  # a track band across north
                return level
        if not runs:
            raise BandsError(f"no {variable} bands were computed")
        gap = [min(abs(value - low), abs(value - high)) for low, high, _ in runs]
        return runs[int(np.argmin(gap))][2]

    def describe(self) -> list[str]:
        """Human lines, e.g. ``track 60-120 deg: corrective``."""
        units = {"track": (1.0, "deg"), "ground_speed": (KNOT, "kt"), "vertical_speed": (FOOT / 60, "ft/min"),
                 "altitude": (FOOT, "ft")}
        lines = []
        for variable, runs in self.bands.items():
            scale, unit = units[variable]
            for low, high, level in runs:
                if level:
                    lines.append(f"{variable} {low / scale:.0f}-{high / scale:.0f} {unit}: {LEVEL_NAMES[level]}")
        return lines


def bands(states: States, icao24: str, standard: Standard | str = "en-route",
          ranges: BandRanges = BandRanges()) -> Bands:
    """Conflict (or recovery) bands of aircraft ``icao24`` against every other aircraft of ``states``."""
    if isinstance(standard, str):
        standard = named_standard(standard)
    s = states if states.is_snapshot else states.snapshot()
    rows = np.flatnonzero(s.icao24 == icao24)
    if rows.size != 1:
        raise BandsError(f"aircraft {icao24!r} is {'not in' if rows.size == 0 else 'more than once in'} the snapshot")
    own = int(rows[0])
    others = _nearby(s, own, standard, ranges)
    position, _ = surface_ecef(s.lat, s.lon)
    velocity = ground_velocity_ecef(s.lat, s.lon, s.velocity, s.heading)
    current = {"track": float(s.heading[own]), "ground_speed": float(s.velocity[own]),
               "vertical_speed": float(s.vertrate[own]), "altitude": float(s.altitude[own])}
    samples = {
        "track": _grid(0.0, 360.0 - ranges.track_step, ranges.track_step),
        "ground_speed": _grid(*ranges.ground_speed),
        "vertical_speed": _grid(*ranges.vertical_speed),
        "altitude": _grid(*ranges.altitude),
    }
    geometry = _Geometry(s, own, others, position, velocity)
    in_loss = geometry.in_loss(standard.loss)
    result_bands, recommended = {}, {}
    for variable, values in samples.items():
        levels = geometry.levels(variable, values, standard, ranges.climb_rate, in_loss)
        result_bands[variable] = _runs(values, levels, wrap=variable == "track")
        recommended[variable] = _closest_clear(values, levels, current[variable], wrap=variable == "track")
    return Bands(icao24=icao24, current=current, bands=result_bands, recommended=recommended,
                 recovery=bool(in_loss.any()), intruders=s.icao24[others].tolist())


def _grid(low: float, high: float, step: float) -> np.ndarray:
    """Samples low, low + step, ... up to high; multiples of the step (zero stays exactly zero)."""
    if not (step > 0 and high >= low):
        raise BandsError(f"band range needs low <= high and a positive step, got {low}, {high}, {step}")
    first, last = np.ceil(low / step - 1e-9), np.floor(high / step + 1e-9)
    return np.arange(first, last + 1) * step


def _nearby(s: States, own: int, standard: Standard, ranges: BandRanges) -> np.ndarray:
    """Aircraft that any manoeuvre in range could bring into an alert within the look-ahead."""
    position, _ = surface_ecef(s.lat, s.lon)
    top_speed = max(ranges.ground_speed[1], float(s.velocity[own]))
    reach = max(level.volume.horizontal_reach(top_speed + float(np.max(s.velocity))) for level in standard.levels)
    chord = np.linalg.norm(position - position[own], axis=1)
    near = chord <= reach + (top_speed + s.velocity) * standard.lookahead
    near[own] = False
    return np.flatnonzero(near)


class _Geometry:
    """Ownship-intruder geometry, re-evaluated for alternative ownship velocities."""

    def __init__(self, s: States, own: int, others: np.ndarray, position: np.ndarray, velocity: np.ndarray) -> None:
        self.s, self.own, self.others = s, own, others
        base = Encounter.from_ecef(position, velocity, s.vertrate, s.altitude, np.full(others.size, own), others)
        self.base = base
        self.intruder_velocity = velocity[others]
        lat, lon = np.radians(s.lat[own]), np.radians(s.lon[own])
        self.east = np.array([-np.sin(lon), np.cos(lon), 0.0])
        self.north = np.array([-np.sin(lat) * np.cos(lon), -np.sin(lat) * np.sin(lon), np.cos(lat)])

    def in_loss(self, volume: ProtectedVolume) -> np.ndarray:
        return (self.base.distance < volume.hsep) & (np.abs(self.base.dz) < volume.vsep)

    def levels(self, variable: str, values: np.ndarray, standard: Standard, climb_rate: float,
               in_loss: np.ndarray) -> np.ndarray:
        """Alert level of each sampled value (max over intruders), or 0/3 recovery verdicts in loss."""
        s, own, m = self.s, self.own, self.others.size
        k = values.size
        if m == 0:
            return np.zeros(k, dtype=np.int8)
        speed = np.full(k, s.velocity[own])
        track = np.full(k, s.heading[own])
        vertrate = np.full(k, s.vertrate[own])
        if variable == "track":
            track = values
        elif variable == "ground_speed":
            speed = values
        elif variable == "vertical_speed":
            vertrate = values
        rad = np.radians(track)
        own_velocity = (speed * np.sin(rad))[:, None] * self.east + (speed * np.cos(rad))[:, None] * self.north
        # rows: sample-major, intruder-minor
        normal = np.tile(self.base.normal, (k, 1))
        w = np.tile(self.intruder_velocity, (k, 1)) - np.repeat(own_velocity, m, axis=0)
        w -= np.einsum("ij,ij->i", w, normal)[:, None] * normal
        d = np.tile(self.base.position, (k, 1))
        dz = np.tile(self.base.dz, k)
        dvz = np.tile(s.vertrate[self.others], k) - np.repeat(vertrate, m)
        level = np.zeros(k * m, dtype=np.int8)
        for alert in standard.levels:
            if variable == "altitude":
                hit = _altitude_violation(d, w, dz, s.altitude[own], np.repeat(values, m), np.tile(s.vertrate[self.others], k),
                                          climb_rate, alert.volume, alert.early_alerting_time)
            else:
                h_in, h_out = horizontal_interval(d, w, alert.volume)
                v_in, v_out = vertical_interval(dz, dvz, alert.volume)
                start, end = np.maximum(np.maximum(h_in, v_in), 0.0), np.minimum(np.minimum(h_out, v_out),
                                                                                  alert.early_alerting_time)
                hit = start <= end
            level[hit] = alert.number
        level = level.reshape(k, m)
        if in_loss.any():
            return _recovery_levels(level, in_loss, d.reshape(k, m, 3), w.reshape(k, m, 3), dz.reshape(k, m),
                                    dvz.reshape(k, m), variable)
        return level.max(axis=1)


def _altitude_violation(d, w, dz, own_altitude, target, intruder_vertrate, climb_rate, volume, horizon):
    """Violation within ``horizon`` when the ownship climbs or descends at ``climb_rate`` to ``target``, then levels."""
    change = target - own_altitude
    rate = np.sign(change) * climb_rate
    t_level = np.minimum(np.abs(change) / climb_rate, horizon)
    h_in, h_out = horizontal_interval(d, w, volume)
    # leg 1: changing level during [0, t_level]
    v_in, v_out = vertical_interval(dz, intruder_vertrate - rate, volume)
    # (levelling off exactly at the minimum from the intruder only touches it at t_level: 1 us allowance)
    hit = np.maximum(np.maximum(h_in, v_in), 0.0) < np.minimum(np.minimum(h_out, v_out), t_level - 1e-6)
    # leg 2: level at the target from t_level to the horizon (times still counted from now)
    v_in, v_out = vertical_interval(dz - change, intruder_vertrate, volume)  # dz(t) = dz - change + vz_intruder t
    hit |= np.maximum(np.maximum(h_in, v_in), t_level) <= np.minimum(np.minimum(h_out, v_out), horizon)
    return hit


def _recovery_levels(level, in_loss, d, w, dz, dvz, variable) -> np.ndarray:
    """In loss of separation: 0 where every lost pair diverges and nobody else alerts, 3 elsewhere."""
    distance = np.maximum(np.linalg.norm(d, axis=2), 1e-9)
    opening = np.einsum("kmj,kmj->km", d, w) / distance  # m/s, rate of change of the horizontal distance
    diverging = (opening > RECOVERY_OPENING) | (np.sign(dz) * dvz > RECOVERY_OPENING)
    if variable == "altitude":
        diverging = np.ones_like(diverging)  # altitude targets: judged by the alerts of the others only
    others_clear = np.where(in_loss[None, :], True, level == 0).all(axis=1)
    ok = others_clear & np.where(in_loss[None, :], diverging, True).all(axis=1)
    return np.where(ok, 0, 3).astype(np.int8)


def _runs(values: np.ndarray, levels: np.ndarray, wrap: bool) -> list[tuple[float, float, int]]:
    """Consecutive samples with the same level as (first value, last value, level)."""
    if values.size == 0:
        return []
    edges = np.flatnonzero(np.diff(levels)) + 1
    starts = np.concatenate(([0], edges))
    ends = np.concatenate((edges - 1, [values.size - 1]))
    runs = [(float(values[a]), float(values[b]), int(levels[a])) for a, b in zip(starts, ends)]
    if wrap and len(runs) > 1 and runs[0][2] == runs[-1][2]:  # a track band across north is one band
        last = runs.pop()
        runs[0] = (last[0], runs[0][1], runs[0][2])
    return runs


def _closest_clear(values: np.ndarray, levels: np.ndarray, current: float, wrap: bool) -> float | None:
    clear = values[levels == 0]
    if clear.size == 0:
        return None
    distance = np.abs(clear - current)
    if wrap:
        distance = np.minimum(distance, 360.0 - distance)
    return float(clear[np.argmin(distance)])
