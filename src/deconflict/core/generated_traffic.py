"""Random crossing traffic for the simulator: flights entering a square area on one side and leaving on another.

Flights start at a steady rate (``flights_per_hour``) and the area is already filled at time 0 as if
that rate had always held (flights that started "before" 0 begin mid-route). No two flights present
at time 0 loses separation with another within a minute (the simulator's hand-over rule).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyproj import Geod

from deconflict.core.detection import detect
from deconflict.core.simulation import Flights
from deconflict.core.states import States
from deconflict.core.units import FOOT

_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class CrossingTraffic:
    """``flights_per_hour`` crossing a ``size`` m square centred on (``lat``, ``lon``) during
    ``duration`` s; altitudes (m) drawn from flight levels in ``altitude_range``, speeds (m/s)
    from ``speed_range``; a ``climbing`` fraction changes level along its route."""

    flights_per_hour: float
    duration: float
    lat: float
    lon: float
    size: float
    altitude_range: tuple[float, float] = (20000 * FOOT, 40000 * FOOT)
    speed_range: tuple[float, float] = (130.0, 250.0)
    climbing: float = 0.2
    parties: tuple[str, ...] = ("",)
    seed: int = 0

    def flights(self, hsep: float = 9260.0, vsep: float = 304.8) -> Flights:
        """The generated flights; none of those airborne at 0 comes within ``hsep`` and ``vsep`` of another in 60 s."""
        rng = np.random.default_rng(self.seed)
        half = self.size / 2.0
        # routes between two different sides, in the square's own metres (x east, y north);
        # starts from as long before 0 as the slowest, longest crossing takes
        before = np.sqrt(2.0) * self.size / min(self.speed_range)
        count = int(rng.poisson(self.flights_per_hour / 3600.0 * (self.duration + before)))
        entry, exit_ = _side_points(rng, count, half), _side_points(rng, count, half)
        same_side = entry[:, 2] == exit_[:, 2]
        exit_[same_side] = _side_points(rng, int(same_side.sum()), half, avoid=entry[same_side, 2])
        length = np.hypot(*(exit_[:, :2] - entry[:, :2]).T)
        speed = rng.uniform(*self.speed_range, count)
        crossing = length / speed
        start = rng.uniform(-before, self.duration, count)
        keep = (start + crossing > 0.0) & (length > 0.1 * self.size)
        entry, exit_, speed, crossing, start = entry[keep], exit_[keep], speed[keep], crossing[keep], start[keep]
        n = start.size
        levels = np.arange(np.ceil(self.altitude_range[0] / (1000 * FOOT)), np.floor(self.altitude_range[1] / (1000 * FOOT)) + 1)
        altitude_in = rng.choice(levels, n) * 1000 * FOOT
        altitude_out = np.where(rng.uniform(size=n) < self.climbing, rng.choice(levels, n) * 1000 * FOOT, altitude_in)
        # flights under way at 0 begin where they would be
        done = np.clip(-start / crossing, 0.0, None)
        first = entry[:, :2] + (exit_[:, :2] - entry[:, :2]) * done[:, None]
        altitude_first = altitude_in + (altitude_out - altitude_in) * done
        start = np.maximum(start, 0.0)
        lat0, lon0 = self._to_geographic(first)
        lat1, lon1 = self._to_geographic(exit_[:, :2])
        ids = np.char.mod("%06x", np.arange(n))
        party = np.asarray(self.parties)[rng.integers(0, len(self.parties), n)]
        routes = [np.array([[lat0[k], lon0[k], altitude_first[k]], [lat1[k], lon1[k], altitude_out[k]]]) for k in range(n)]
        azimuth, _, to_go = _GEOD.inv(lon0, lat0, lon1, lat1)
        vertrate = np.clip((altitude_out - altitude_first) / np.maximum(np.asarray(to_go) / speed, 10.0), -15.0, 15.0)
        keep = self._separated_at_start(start, lat0, lon0, altitude_first, speed, np.asarray(azimuth), vertrate,
                                        hsep, vsep)
        callsign = np.char.add("GEN", np.char.mod("%04d", np.arange(n)))
        return Flights.from_routes(ids[keep], callsign[keep], party[keep], start[keep], speed[keep],
                                   [routes[k] for k in np.flatnonzero(keep)])

    def _to_geographic(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points in metres east/north of the centre, by azimuthal equidistant placement."""
        azimuth = np.degrees(np.arctan2(xy[:, 0], xy[:, 1]))
        distance = np.hypot(xy[:, 0], xy[:, 1])
        lon, lat, _ = _GEOD.fwd(np.full(len(xy), self.lon), np.full(len(xy), self.lat), azimuth, distance)
        return np.asarray(lat), np.asarray(lon)

    @staticmethod
    def _separated_at_start(start, lat, lon, altitude, speed, track, vertrate, hsep, vsep,
                            horizon: float = 60.0) -> np.ndarray:
        """Drop the later of every pair of flights present at 0 that would lose separation within
        ``horizon`` s (as the simulator's hand-over rule does for flights entering later)."""
        keep = np.ones(start.size, dtype=bool)
        present = np.flatnonzero(start <= 0.0)
        if present.size < 2:
            return keep
        s = States.from_arrays(icao24=np.char.mod("%08d", present), time=0.0, lat=lat[present], lon=lon[present],
                               velocity=speed[present], heading=track[present], vertrate=vertrate[present],
                               altitude=altitude[present], at=0.0)
        found = detect(s, lookahead=horizon, hsep=hsep, vsep=vsep)
        for a, b in sorted(zip(found.index_a.tolist(), found.index_b.tolist()), key=lambda p: max(p)):
            first, second = sorted((a, b))
            if keep[present[first]]:
                keep[present[second]] = False
        return keep


def _side_points(rng: np.random.Generator, count: int, half: float, avoid: np.ndarray | None = None) -> np.ndarray:
    """Uniform points on the square's sides: columns x, y (m) and the side (0 N, 1 E, 2 S, 3 W)."""
    side = rng.integers(0, 4, count)
    if avoid is not None:
        side = (avoid.astype(np.int64) + rng.integers(1, 4, count)) % 4
    along = rng.uniform(-half, half, count)
    x = np.select([side == 0, side == 1, side == 2], [along, np.full(count, half), along], -half)
    y = np.select([side == 0, side == 1, side == 2], [np.full(count, half), along, np.full(count, -half)], along)
    return np.column_stack((x, y, side)).astype(float)
