"""Conflict and recovery bands for one aircraft against all traffic (DO-365 Appendix G semantics).

For each manoeuvre variable (track, ground speed, vertical speed, target altitude) every value of
its range is given a *region*, the others kept as they are: NONE (clear), FAR, MID, NEAR (the
preventive, corrective and warning levels of the standard), or RECOVERY. A value's level is the
highest level whose volume it would violate with some intruder within that level's early alerting
time (so the current value carries the aircraft's own alert level). Beyond that, a value that would
enter the standard's loss volume (DO-365: well clear; en-route: 5 NM / 1000 ft) with anyone within
the standard's whole look-ahead (DO-365: 180 s; an intruder met at 78 s counts) is never NONE
(SPEC §6): it is at least FAR.

Values are sampled (1 deg, 5 kt, 100 ft/min, 100 ft), then every band edge is bisected to 0.1 deg,
1 kt, 10 ft/min and 10 ft. A target altitude is flown as a climb or descent at ``climb_rate`` and
level at the target; both legs are checked against every aircraft (one 1000 ft below the target
included). ``recommended`` is the nearest NONE (or RECOVERY) sample at least one sample inside its
band; ``recommended_level`` the nearest clear altitude on a 1000 ft flight level.

Recovery (the aircraft already in loss of the loss volume with some intruder, as DO-365 and
DAIDALUS define it): a value recovers when, flown, it keeps every such intruder outside the loss
volume shrunk by a factor f (so separation is restored along the manoeuvre itself: both the
horizontal and the vertical geometry of the manoeuvred trajectory count, not a rate of opening),
and raises nothing above preventive nor any loss with anyone else. f is the largest (to 1 %) for
which some value recovers; no such f above 1 % leaves every value NEAR and nothing recommended.
Offering nothing is better than offering a manoeuvre into a conflict.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from deconflict.core import _guidance
from deconflict.core.encounter import Encounter, ProtectedVolume, horizontal_interval, vertical_interval
from deconflict.core.geodesy import ground_velocity_ecef, surface_ecef
from deconflict.core.standards import LEVEL_NAMES, Standard, standard as named_standard
from deconflict.core.states import States
from deconflict.core.units import FOOT, KNOT
from deconflict.errors import DeconflictError

VARIABLES = ("track", "ground_speed", "vertical_speed", "altitude")
REGIONS = ("NONE", "FAR", "MID", "NEAR", "RECOVERY")
RECOVERY = 4  # region number of recovery bands (their level is 0: acceptable)
EDGE_TOLERANCE = {"track": 0.1, "ground_speed": 1 * KNOT, "vertical_speed": 10 * FOOT / 60, "altitude": 10 * FOOT}
FLIGHT_LEVEL_STEP = 1000 * FOOT
SHRINK_FLOOR = 0.01  # recovery volumes no smaller than 1 % of the loss volume


class BandsError(DeconflictError, ValueError):
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
class Kinematics:
    """How the ownship flies to a new value, for kinematic bands (instead of changing it at once): a
    turn at ``turn_rate`` (deg/s; standard rate 3) or, when ``bank_angle`` (deg) is given, at
    g tan(bank) / ground speed; ``acceleration`` along track and ``vertical_acceleration`` (m/s^2).
    Checked in straight pieces of at most ``step`` s, each volume grown by the most the true path
    strays from the piece. Altitude bands keep their climb at a rate (already a manoeuvre in time)."""

    turn_rate: float = 3.0
    bank_angle: float | None = None
    acceleration: float = 1.0
    vertical_acceleration: float = 0.1 * 9.80665
    step: float = 1.0

    def __post_init__(self) -> None:
        if not (self.turn_rate > 0 and self.acceleration > 0 and self.vertical_acceleration > 0 and self.step > 0):
            raise BandsError("kinematics: turn rate, accelerations and step must be positive")
        if self.bank_angle is not None and not 0 < self.bank_angle < 90:
            raise BandsError(f"kinematics: bank angle must be between 0 and 90 deg, got {self.bank_angle}")


@dataclass(frozen=True)
class Bands:
    """Bands of one aircraft: per variable, ``(low, high, level)`` (0 for acceptable values, 1..3 for the
    alert level they lead to) and the same as ``regions`` with names (NONE, FAR, MID, NEAR, RECOVERY);
    ``recommended`` per variable (``None``: nothing acceptable); ``preferred`` the direction of the
    recommendation (``left``/``right``, ``up``/``down``, ``faster``/``slower``, or ``none`` when the
    current value is acceptable); ``recovery``: the aircraft is in loss and these are recovery bands;
    ``recovery_factor``: per variable, the share of the loss volume its recovery values keep clear."""

    icao24: str
    current: dict[str, float]
    bands: dict[str, list[tuple[float, float, int]]]
    recommended: dict[str, float | None]
    recovery: bool
    intruders: list[str] = field(default_factory=list)
    regions: dict[str, list[tuple[float, float, str]]] = field(default_factory=dict)
    preferred: dict[str, str] = field(default_factory=dict)
    recommended_level: float | None = None
    recovery_factor: dict[str, float | None] = field(default_factory=dict)

    def level_at(self, variable: str, value: float) -> int:
        """Alert level of a value of a variable: that of the band holding it, or of the nearest one."""
        runs = self.bands[variable]
        for low, high, level in runs:
            if low <= value <= high or (low > high and (value >= low or value <= high)):  # a track band across north
                return level
        if not runs:
            raise BandsError(f"no {variable} bands were computed")
        gap = [min(abs(value - low), abs(value - high)) for low, high, _ in runs]
        return runs[int(np.argmin(gap))][2]

    def describe(self) -> list[str]:
        """Human lines, e.g. ``track 60-120 deg: MID (corrective)``."""
        units = {"track": (1.0, "deg"), "ground_speed": (KNOT, "kt"), "vertical_speed": (FOOT / 60, "ft/min"),
                 "altitude": (FOOT, "ft")}
        lines = []
        for variable, runs in self.regions.items():
            scale, unit = units[variable]
            for low, high, region in runs:
                if region != "NONE":
                    level = REGIONS.index(region)
                    name = "recovery" if region == "RECOVERY" else LEVEL_NAMES[level]
                    lines.append(f"{variable} {low / scale:.1f}-{high / scale:.1f} {unit}: {region} ({name})")
        return lines


def bands(states: States, icao24: str, standard: Standard | str = "en-route",
          ranges: BandRanges = BandRanges(), kinematics: Kinematics | None = None) -> Bands:
    """Conflict (or recovery) bands of aircraft ``icao24`` against every other aircraft of ``states``;
    with ``kinematics``, each track, ground speed and vertical speed is reached by a turn or an
    acceleration (kinematic bands) instead of at once."""
    standard, s, own = _ownship(states, icao24, standard)
    geometry = Geometry(s, own, standard, ranges.climb_rate, _nearby(s, own, standard, ranges), kinematics)
    current = {"track": float(s.heading[own]), "ground_speed": float(s.velocity[own]),
               "vertical_speed": float(s.vertrate[own]), "altitude": float(s.altitude[own])}
    samples = {"track": _grid(0.0, 360.0 - ranges.track_step, ranges.track_step),
               "ground_speed": _grid(*ranges.ground_speed), "vertical_speed": _grid(*ranges.vertical_speed),
               "altitude": _grid(*ranges.altitude)}
    recovering = bool(geometry.in_loss.any())
    result_bands, regions, recommended, preferred = {}, {}, {}, {}
    factors: dict[str, float | None] = {}
    for variable, values in samples.items():
        if recovering:
            judge, factors[variable] = geometry.recovery_judge(variable, values)
        else:
            judge = lambda v, var=variable: geometry.levels(var, v)  # noqa: E731
        levels = judge(values)
        runs = _refined_runs(values, levels, judge, EDGE_TOLERANCE[variable], wrap=variable == "track")
        region_of = (lambda level: "RECOVERY" if level == 0 else "NEAR") if recovering else (lambda level: REGIONS[level])
        result_bands[variable] = [(low, high, 0 if recovering and level == 0 else (3 if recovering else level))
                                  for low, high, level in runs]
        regions[variable] = [(low, high, region_of(level)) for low, high, level in runs]
        best = _closest_clear(values, levels, current[variable], wrap=variable == "track")
        recommended[variable] = best
        preferred[variable] = _direction(variable, current[variable], best)
    level = None
    if not recovering:
        flight_levels = _grid(ranges.altitude[0], ranges.altitude[1], FLIGHT_LEVEL_STEP)
        clear = flight_levels[geometry.levels("altitude", flight_levels) == 0]
        if clear.size:
            level = float(clear[np.argmin(np.abs(clear - current["altitude"]))])
    return Bands(icao24=icao24, current=current, bands=result_bands, recommended=recommended, recovery=recovering,
                 intruders=s.icao24[geometry.others].tolist(), regions=regions, preferred=preferred,
                 recommended_level=level, recovery_factor=factors)


def _ownship(states: States, icao24: str, standard: Standard | str) -> tuple[Standard, States, int]:
    """The standard, the snapshot and the row of the aircraft advised (exactly once in it)."""
    if isinstance(standard, str):
        standard = named_standard(standard)
    s = states if states.is_snapshot else states.snapshot()
    rows = np.flatnonzero(s.icao24 == icao24)
    if rows.size != 1:
        raise BandsError(f"aircraft {icao24!r} is {'not in' if rows.size == 0 else 'more than once in'} the snapshot")
    return standard, s, int(rows[0])


def _grid(low: float, high: float, step: float) -> np.ndarray:
    """Samples low, low + step, ... up to high; multiples of the step (zero stays exactly zero)."""
    if not (step > 0 and high >= low):
        raise BandsError(f"band range needs low <= high and a positive step, got {low}, {high}, {step}")
    first, last = np.ceil(low / step - 1e-9), np.floor(high / step + 1e-9)
    return np.arange(first, last + 1) * step


def _nearby(s: States, own: int, standard: Standard, ranges: BandRanges) -> np.ndarray:
    """Aircraft that any manoeuvre in range could bring into a level's volume within the look-ahead
    (chord distances never exceed the distances along the surface, so the test is conservative)."""
    position, _ = surface_ecef(s.lat, s.lon)
    top_speed = max(ranges.ground_speed[1], float(s.velocity[own]))
    volumes = [level.volume for level in standard.levels] + [standard.loss]
    reach = max(volume.horizontal_reach(top_speed + float(np.max(s.velocity))) for volume in volumes)
    chord = np.linalg.norm(position - position[own], axis=1)
    near = chord <= reach + (top_speed + s.velocity) * standard.lookahead
    near[own] = False
    return np.flatnonzero(near)


class Geometry:
    """Ownship-intruder geometry, re-evaluated for alternative ownship manoeuvres (vectorised over
    values x intruders). The same model as detection: straight lines in each pair's tangent plane."""

    def __init__(self, s: States, own: int, standard: Standard, climb_rate: float, others: np.ndarray,
                 kinematics: Kinematics | None = None) -> None:
        self.s, self.own, self.standard, self.climb_rate, self.others = s, own, standard, climb_rate, others
        self.kinematics = kinematics
        position, _ = surface_ecef(s.lat, s.lon)
        velocity = ground_velocity_ecef(s.lat, s.lon, s.velocity, s.heading)
        self.base = Encounter.from_ecef(position, velocity, s.vertrate, s.altitude, np.full(others.size, own), others)
        self.intruder_velocity = velocity[others]
        lat, lon = np.radians(s.lat[own]), np.radians(s.lon[own])
        self.east = np.array([-np.sin(lon), np.cos(lon), 0.0])
        self.north = np.array([-np.sin(lat) * np.cos(lon), -np.sin(lat) * np.sin(lon), np.cos(lat)])
        # intruders inside the loss volume now (or entering it within a microsecond)
        self.in_loss = self.violates("track", np.array([float(s.heading[own])]), standard.loss, 1e-6)[0]

    def violates(self, variable: str, values: np.ndarray, volume: ProtectedVolume, horizon,  # noqa: ANN001
                 start: float = 0.0) -> np.ndarray:
        """(values, intruders): whether flying each value is inside ``volume`` at some time between
        ``start`` and ``horizon`` s (a number, or one per intruder)."""
        s, own, m, k = self.s, self.own, self.others.size, values.size
        if m == 0:
            return np.zeros((k, 0), dtype=bool)
        if self.kinematics is not None and variable != "altitude":
            return self._kinematic_violations(variable, values, volume, horizon, start)
        speed, track, vertrate = np.full(k, s.velocity[own]), np.full(k, s.heading[own]), np.full(k, s.vertrate[own])
        if variable == "track":
            track = values
        elif variable == "ground_speed":
            speed = values
        elif variable == "vertical_speed":
            vertrate = values
        rad = np.radians(track)
        own_velocity = (speed * np.sin(rad))[:, None] * self.east + (speed * np.cos(rad))[:, None] * self.north
        normal = np.tile(self.base.normal, (k, 1))
        w = np.tile(self.intruder_velocity, (k, 1)) - np.repeat(own_velocity, m, axis=0)
        w -= np.einsum("ij,ij->i", w, normal)[:, None] * normal
        d = np.tile(self.base.position, (k, 1))
        dz = np.tile(self.base.dz, k)
        intruder_rate = np.tile(s.vertrate[self.others], k)
        limit = np.tile(np.broadcast_to(np.asarray(horizon, dtype=float), (m,)), k)
        if variable == "altitude":
            hit = _altitude_violation(d, w, dz, s.altitude[own], np.repeat(values, m), intruder_rate,
                                      self.climb_rate, volume, limit, start)
        else:
            h_in, h_out = horizontal_interval(d, w, volume)
            v_in, v_out = vertical_interval(dz, intruder_rate - np.repeat(vertrate, m), volume)
            hit = np.maximum(np.maximum(h_in, v_in), start) <= np.minimum(np.minimum(h_out, v_out), limit)
        return hit.reshape(k, m)

    def _kinematic_violations(self, variable: str, values: np.ndarray, volume: ProtectedVolume, horizon,  # noqa: ANN001
                              start: float) -> np.ndarray:
        s, own, kin = self.s, self.own, self.kinematics
        bank = 0.0 if kin.bank_angle is None else float(np.tan(np.radians(kin.bank_angle)))
        return _guidance.kinematic_violations(
            VARIABLES.index(variable), np.ascontiguousarray(values, dtype=np.float64),
            np.ascontiguousarray(self.base.position), np.ascontiguousarray(self.intruder_velocity),
            np.ascontiguousarray(self.base.normal), self.east, self.north, np.ascontiguousarray(self.base.dz),
            np.ascontiguousarray(s.vertrate[self.others], dtype=np.float64), float(s.velocity[own]),
            float(s.heading[own]), float(s.vertrate[own]), float(np.radians(kin.turn_rate)), bank,
            float(kin.acceleration), float(kin.vertical_acceleration), float(kin.step), _volume_rows([volume])[0],
            np.ascontiguousarray(np.broadcast_to(np.asarray(horizon, dtype=float), (self.others.size,))),
            float(start))

    def levels(self, variable: str, values: np.ndarray) -> np.ndarray:
        """Band level of each value: the highest level violated within its horizon with anyone; at least
        1 for a value entering the loss volume within the whole look-ahead (never offered as clear).
        Compiled (`_guidance.band_levels`, early exits); `levels_reference` is the same in numpy."""
        s, own, standard = self.s, self.own, self.standard
        if self.others.size == 0:
            return np.zeros(values.size, dtype=np.int8)
        if self.kinematics is not None and variable != "altitude":
            return self.levels_reference(variable, values)  # the same rule, each value flown as a manoeuvre
        return _guidance.band_levels(
            VARIABLES.index(variable), np.ascontiguousarray(values, dtype=np.float64),
            np.ascontiguousarray(self.base.position), np.ascontiguousarray(self.intruder_velocity),
            np.ascontiguousarray(self.base.normal), self.east, self.north, np.ascontiguousarray(self.base.dz),
            np.ascontiguousarray(s.vertrate[self.others], dtype=np.float64), float(s.velocity[own]),
            float(s.heading[own]), float(s.vertrate[own]), float(s.altitude[own]), float(self.climb_rate),
            _volume_rows([alert.volume for alert in standard.levels]),
            np.array([alert.early_alerting_time for alert in standard.levels], dtype=np.float64),
            np.array([alert.number for alert in standard.levels], dtype=np.int64),
            _volume_rows([standard.loss])[0], float(standard.lookahead))

    def levels_reference(self, variable: str, values: np.ndarray) -> np.ndarray:
        """`levels` with numpy over values x intruders (the reference of the compiled kernel)."""
        standard = self.standard
        level = np.zeros(values.size, dtype=np.int8)
        for alert in standard.levels:
            level[self.violates(variable, values, alert.volume, alert.early_alerting_time).any(axis=1)] = alert.number
        loss = self.violates(variable, values, standard.loss, standard.lookahead).any(axis=1)
        level[(level == 0) & loss] = 1
        return level

    def recovery_judge(self, variable: str, values: np.ndarray):  # noqa: ANN201
        """The level function of recovery bands (0: recovers, 3: not) at the largest shrink factor for
        which some sample recovers, and that factor (None: no recovery at all)."""
        lost, others = self.in_loss, ~self.in_loss
        standard = self.standard

        def others_ok(vals: np.ndarray) -> np.ndarray:
            if not others.any():
                return np.ones(vals.size, dtype=bool)
            ok = np.ones(vals.size, dtype=bool)
            for alert in standard.levels:
                if alert.number >= 2:
                    ok &= ~self.violates(variable, vals, alert.volume, alert.early_alerting_time)[:, others].any(axis=1)
            return ok & ~self.violates(variable, vals, standard.loss, standard.lookahead)[:, others].any(axis=1)

        end = standard.lookahead

        def recovers(vals: np.ndarray, factor: float) -> np.ndarray:
            """Never inside the shrunk volume with a lost intruder, out of the loss volume with it by the
            end of the look-ahead (separation restored, not merely kept), and nothing above preventive
            nor any loss with anyone else."""
            shrunk = _shrunk(standard.loss, factor)
            restored = ~self.violates(variable, vals, standard.loss, end, start=end)[:, lost].any(axis=1)
            kept = ~self.violates(variable, vals, shrunk, end)[:, lost].any(axis=1)
            return others_ok(vals) & restored & kept

        low, high = 0.0, 1.0  # largest factor with a recovering sample, to 1 %
        if not recovers(values, SHRINK_FLOOR).any():
            return (lambda vals: np.full(vals.size, 3, dtype=np.int8)), None
        low = SHRINK_FLOOR
        while high - low > 0.01:
            middle = 0.5 * (low + high)
            low, high = (middle, high) if recovers(values, middle).any() else (low, middle)
        factor = low
        return (lambda vals: np.where(recovers(vals, factor), 0, 3).astype(np.int8)), factor


def _volume_rows(volumes: list[ProtectedVolume]) -> np.ndarray:
    """Volumes as rows (hsep, vsep, tau, miss distance, tcoa) for the compiled kernel."""
    return np.array([(v.hsep, v.vsep, v.tau, v.miss_distance, v.tcoa) for v in volumes], dtype=np.float64)


def _shrunk(volume: ProtectedVolume, factor: float) -> ProtectedVolume:
    """The volume with its distances and times scaled by ``factor``."""
    return replace(volume, hsep=volume.hsep * factor, vsep=volume.vsep * factor, tau=volume.tau * factor,
                   hmd=None if volume.hmd is None else volume.hmd * factor, tcoa=volume.tcoa * factor)


def _altitude_violation(d, w, dz, own_altitude, target, intruder_vertrate, climb_rate, volume, horizon, start=0.0):
    """Violation between ``start`` and ``horizon`` (per row) when the ownship climbs or descends at
    ``climb_rate`` to ``target``, then levels off: checked during the change and level at the target."""
    change = target - own_altitude
    rate = np.sign(change) * climb_rate
    t_level = np.minimum(np.abs(change) / climb_rate, horizon)
    h_in, h_out = horizontal_interval(d, w, volume)
    # leg 1: changing level during [0, t_level]
    v_in, v_out = vertical_interval(dz, intruder_vertrate - rate, volume)
    hit = np.maximum(np.maximum(h_in, v_in), start) <= np.minimum(np.minimum(h_out, v_out), t_level)
    # leg 2: level at the target from t_level to the horizon (times counted from now)
    v_in, v_out = vertical_interval(dz - change, intruder_vertrate, volume)  # dz(t) = dz - change + vz_intruder t
    hit |= np.maximum(np.maximum(np.maximum(h_in, v_in), t_level), start) <= np.minimum(np.minimum(h_out, v_out),
                                                                                        horizon)
    return hit


def _refined_runs(values: np.ndarray, levels: np.ndarray, judge, tolerance: float,  # noqa: ANN001
                  wrap: bool) -> list[tuple[float, float, int]]:
    """Runs of equal level as (low, high, level), each edge between two samples bisected to ``tolerance``."""
    if values.size == 0:
        return []
    edges = np.flatnonzero(np.diff(levels)) + 1  # sample index where a new run starts
    low_side, high_side = values[edges - 1].astype(float), values[edges].astype(float)
    low_level, high_level = levels[edges - 1], levels[edges]
    while edges.size and np.max(high_side - low_side) > tolerance:
        middle = 0.5 * (low_side + high_side)
        found = judge(middle)
        toward_low = found == low_level
        low_side = np.where(toward_low, middle, low_side)
        high_side = np.where(toward_low, high_side, middle)
        stray = ~toward_low & (found != high_level)  # a third level inside the step: keep the edge there
        high_level = np.where(stray, found, high_level)
    starts = np.concatenate(([float(values[0])], high_side))
    ends = np.concatenate((low_side, [float(values[-1])]))
    run_levels = np.concatenate(([levels[0]], levels[edges])) if edges.size else np.array([levels[0]])
    runs = [(float(a), float(b), int(c)) for a, b, c in zip(starts, ends, run_levels)]
    if wrap and len(runs) > 1 and runs[0][2] == runs[-1][2]:  # a track band across north is one band
        last = runs.pop()
        runs[0] = (last[0], runs[0][1], runs[0][2])
    return runs


def _closest_clear(values: np.ndarray, levels: np.ndarray, current: float, wrap: bool) -> float | None:
    """The acceptable sample nearest ``current``, preferring one a sample inside its band (not on an
    edge): the current value itself when acceptable."""
    clear = levels == 0
    if not clear.any():
        return None
    inner = clear.copy()
    if wrap:
        inner &= np.roll(clear, 1) & np.roll(clear, -1)
    else:
        inner[1:] &= clear[:-1]
        inner[:-1] &= clear[1:]
    pick = inner if inner.any() else clear
    distance = np.abs(values - current)
    if wrap:
        distance = np.minimum(distance, 360.0 - distance)
    if clear[np.argmin(distance)] and np.min(distance) < 1e-9:
        return float(values[np.argmin(distance)])  # the current value is a sample and acceptable
    candidates = np.flatnonzero(pick)
    return float(values[candidates[np.argmin(distance[candidates])]])


def _direction(variable: str, current: float, best: float | None) -> str:
    if best is None:
        return "none"
    delta = (best - current + 180.0) % 360.0 - 180.0 if variable == "track" else best - current
    if abs(delta) < 1e-9:
        return "none"
    return {"track": ("left", "right"), "ground_speed": ("slower", "faster"), "vertical_speed": ("down", "up"),
            "altitude": ("down", "up")}[variable][int(delta > 0)]


def flown_level(states: States, icao24: str, standard: Standard | str, variable: str, value: float,
                climb_rate: float = BandRanges().climb_rate, kinematics: Kinematics | None = None) -> tuple[int, bool]:
    """The check of one manoeuvre before it is offered: ``icao24`` flies ``variable`` = ``value`` (the
    others kept; with ``kinematics``, reached by a turn or an acceleration) against every aircraft of
    ``states``. Returns (the highest alert level it raises with anyone within each level's alerting
    time, whether it enters the loss volume within the whole look-ahead)."""
    standard, s, own = _ownship(states, icao24, standard)
    others = np.flatnonzero(np.arange(len(s)) != own)
    geometry = Geometry(s, own, standard, climb_rate, others, kinematics)
    values = np.array([float(value)])
    level = 0
    for alert in standard.levels:
        if geometry.violates(variable, values, alert.volume, alert.alerting_time).any():
            level = alert.number
    return level, bool(geometry.violates(variable, values, standard.loss, standard.lookahead).any())
