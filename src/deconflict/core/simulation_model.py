"""What a fast-time simulation takes and gives: flight plans, resolver and settings, losses and results.

Plain frozen data; `deconflict.core.simulation` flies them. Units SI: m, s, m/s, degrees.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pyproj import Geod

from deconflict.core.resolution import DIMENSIONS, ResolutionError

RESUME = ("route", "cpa")  # when a resolving aircraft goes back to its route (Resolver.resume)
_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True, eq=False)
class Flights:
    """Flight plans: ``n`` flights, each a route of waypoints flown from ``start`` (s) at ``speed`` (m/s).

    Waypoints of flight k are rows ``route_start[k]:route_start[k + 1]`` of ``waypoint_lat``,
    ``waypoint_lon`` (deg) and ``waypoint_altitude`` (m); the first is where the flight appears.
    """

    icao24: np.ndarray
    callsign: np.ndarray
    party: np.ndarray
    start: np.ndarray
    speed: np.ndarray
    route_start: np.ndarray
    waypoint_lat: np.ndarray
    waypoint_lon: np.ndarray
    waypoint_altitude: np.ndarray

    def __post_init__(self) -> None:
        n = self.icao24.size
        if self.route_start.size != n + 1 or np.any(np.diff(self.route_start) < 2):
            raise ValueError("every flight needs a route of at least two waypoints")
        if len(set(self.icao24.tolist())) != n:
            raise ValueError("flight ids must be unique")

    @classmethod
    def from_routes(cls, icao24, callsign, party, start, speed, routes: list[np.ndarray]) -> "Flights":
        """``routes[k]``: array (m, 3) of lat, lon (deg), altitude (m). Flights are kept sorted by id."""
        order = np.argsort(np.asarray(icao24, dtype=str), kind="stable")
        ids = np.asarray(icao24, dtype=str)[order]
        routes = [np.asarray(routes[k], dtype=float).reshape(-1, 3) for k in order]
        offsets = np.concatenate(([0], np.cumsum([len(r) for r in routes]))).astype(np.int64)
        points = np.concatenate(routes) if routes else np.empty((0, 3))
        return cls(icao24=ids, callsign=np.asarray(callsign, dtype=str)[order], party=np.asarray(party, dtype=str)[order],
                   start=np.asarray(start, dtype=float)[order], speed=np.asarray(speed, dtype=float)[order],
                   route_start=offsets, waypoint_lat=points[:, 0], waypoint_lon=points[:, 1],
                   waypoint_altitude=points[:, 2])

    def __len__(self) -> int:
        return int(self.icao24.size)

    def route_length(self) -> np.ndarray:
        """Planned horizontal distance of each flight (m), along geodesic legs."""
        legs = np.zeros(self.waypoint_lat.size)
        if self.waypoint_lat.size > 1:
            _, _, d = _GEOD.inv(self.waypoint_lon[:-1], self.waypoint_lat[:-1], self.waypoint_lon[1:], self.waypoint_lat[1:])
            legs[1:] = d
        legs[self.route_start[:-1]] = 0.0  # no leg into a flight's first waypoint
        return np.add.reduceat(legs, self.route_start[:-1]) if len(self) else np.zeros(0)


@dataclass(frozen=True)
class Resolver:
    """How conflicts are resolved: ``method`` ``mvp`` or ``none``; ``margin`` on the horizontal minimum
    and ``vertical_margin`` on the vertical one (default: ``margin`` when resolving vertically, else 1:
    flight levels 1000 ft apart are separated by design, and a vertical margin above 1 makes every
    crossing at adjacent levels a conflict to resolve horizontally, which at 2,000 flights an hour cost
    MVP 41 % of the flights completed); ``delay`` (s) before pilots follow; ``manoeuvring``: the
    parties whose aircraft manoeuvre (``None``: all, cooperatively; others keep their plan).

    ``resume``: when an aircraft no longer in conflict goes back to its route. ``cpa`` (BlueSky's
    rule, the MVP baseline): once every pair it was resolving is past its closest approach.
    ``route`` (default): also as soon as flying its route again (direct to its next waypoint at its
    planned speed and climb) would raise no conflict to resolve with anyone over the look-ahead.
    With ``hold_level``, at 2,000 flights an hour (three seeds), it completed 97.0-99.1 % of the flights
    the same traffic completes unresolved where the baseline completed 94.4-97.5 %, with fewer losses
    (41 against 65; 60 with ``resume`` alone), less delay and less extra distance
    (benchmarks/simulate_mvp.py, docs/guidance.md).

    ``hold_level`` (default on): resolution in level as well. A level aircraft whose plan now climbs or
    descends keeps its level while the climb would raise a new conflict within 2 minutes (a controller's
    "expect higher later"); the baseline climbs as planned and is resolved horizontally."""

    method: str = "mvp"
    dimensions: str = "horizontal"
    margin: float = 1.1
    delay: float = 5.0
    manoeuvring: frozenset[str] | None = None
    vertical_margin: float | None = None
    resume: str = "route"
    hold_level: bool = True

    @property
    def vertical(self) -> float:
        """The margin on the vertical minimum in force (see the class docstring)."""
        if self.vertical_margin is not None:
            return self.vertical_margin
        return self.margin if self.dimensions in ("vertical", "both") else 1.0

    def __post_init__(self) -> None:
        if self.method not in ("mvp", "none"):
            raise ResolutionError(f"resolution method must be mvp or none, got {self.method!r}")
        if self.dimensions not in DIMENSIONS:
            raise ResolutionError(f"resolution dimensions must be one of {', '.join(DIMENSIONS)}, got {self.dimensions!r}")
        if self.resume not in RESUME:
            raise ResolutionError(f"resolution resume must be one of {', '.join(RESUME)}, got {self.resume!r}")
        if not self.margin >= 1.0 or not self.vertical >= 1.0 or not self.delay >= 0.0:
            raise ResolutionError("resolution margins must be >= 1 and delay >= 0")


@dataclass(frozen=True)
class SimulationSettings:
    """Minima (m), look-ahead (s), time step (s), and aircraft performance limits."""

    duration: float
    hsep: float = 9260.0
    vsep: float = 304.8
    lookahead: float = 300.0
    step: float = 1.0
    resolver: Resolver = field(default_factory=Resolver)
    bank_angle: float = 25.0  # deg
    acceleration: float = 0.5  # m/s^2
    vertical_acceleration: float = 2.0  # m/s^2
    vertrate_limit: float = 15.0  # m/s
    speed_range: tuple[float, float] = (0.7, 1.2)  # resolution speeds, times the planned speed
    entry_clear_time: float = 60.0  # s: a flight enters only if it keeps separation this long


@dataclass(frozen=True)
class LossEpisodes:
    """Losses of separation, one row per episode of a pair inside both minima."""

    a: np.ndarray
    b: np.ndarray
    start: np.ndarray  # s
    duration: np.ndarray  # s
    min_distance: np.ndarray  # m, smallest horizontal distance
    min_vertical: np.ndarray  # m, vertical distance at that moment
    severity: np.ndarray  # 1 - max(d / hsep, dz / vsep) at its worst: 0 grazing, 1 collision
    lat: np.ndarray
    lon: np.ndarray

    def __len__(self) -> int:
        return int(self.start.size)


@dataclass(frozen=True)
class SimulationResult:
    """What a run measured. Time series are per step; distances in m."""

    settings: SimulationSettings
    time: np.ndarray
    airborne: np.ndarray
    conflicts_now: np.ndarray
    losses_now: np.ndarray
    conflicts: int  # conflict episodes at the minima (pairs entering conflict)
    losses: LossEpisodes
    completed: np.ndarray  # per flight: reached its last waypoint
    distance_flown: np.ndarray  # per flight
    route_length: np.ndarray  # per flight, planned
    wall_seconds: float
    tracks: np.ndarray = field(repr=False, default_factory=lambda: np.empty((0, 3)))  # sampled (flight, lat, lon)
    finished_at: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))  # per flight, s (NaN: not)
    # per flight: altitude when it finished minus its last waypoint's (m; NaN: not finished)
    final_level_error: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))
    widened_losses: int = 0  # loss episodes at the minima widened by `simulation.WIDENED`
    flights_start: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))  # planned, s
    flights_speed: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))  # planned, m/s

    @property
    def delay(self) -> np.ndarray:
        """Per completed flight: when it finished minus when its plan had it finish (s): the wait to enter
        plus the time the manoeuvres cost."""
        planned = self.flights_start + self.route_length / self.flights_speed
        return (self.finished_at - planned)[self.completed]

    @property
    def loss_seconds(self) -> float:
        return float(self.losses.duration.sum())

    @property
    def extra_distance(self) -> float:
        """Distance flown beyond the plan by flights that completed their route (m)."""
        done = self.completed
        return float(self.distance_flown[done].sum() - self.route_length[done].sum())

    @property
    def speedup(self) -> float:
        """Simulated time over wall-clock time."""
        return float(self.time[-1] + self.settings.step) / self.wall_seconds if self.wall_seconds > 0 else float("inf")
