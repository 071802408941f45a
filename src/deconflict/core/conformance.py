"""Conformance: is an aircraft inside what its party declared? (ASTM F3548 "Nonconforming")

A party's plan may name the aircraft that fly it (``Plan.aircraft``). At a report's time an aircraft
*conforms* when its reported position is inside some 4D volume of one of its party's plans that name
it, within a `Tolerance`: laterally within ``lateral`` m of the footprint, vertically within
``vertical`` m of the altitude band, and in time within ``time`` s of the volume's window (a route
flown a little early or late). A plan is *monitored* from its first volume's start minus ``time``
until ``overrun`` s after its last volume's end, so an aircraft still flying after its plan ended
is outside every volume of it (an overrun) and does not go unmonitored.

Distances here are conformance tolerances, not separation: a polygon is measured in the azimuthal
equidistant frame centred on the aircraft, which keeps the distance to each of its densified points
(every 500 m at most along each geodesic edge) exact; a circle by the geodesic to its centre.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import shapely

from deconflict.core.geodesy import geodesic_distance
from deconflict.core.plans import Plan
from deconflict.core.units import FOOT
from deconflict.core.volumes import Circle, Volume4D, aeqd


@dataclass(frozen=True)
class Tolerance:
    """How far outside its plans an aircraft may be before it counts as outside (m, m, s), how long it
    must stay out (``confirm`` s of reports, at least two) before its plan is Nonconforming, and as long
    back inside before it conforms again; ``overrun``: how long after its end a plan stays monitored."""

    lateral: float = 500.0
    vertical: float = 300 * FOOT  # ICAO: a deviation of 300 ft or more from the cleared level is a level bust
    time: float = 60.0
    confirm: float = 5.0
    overrun: float = 3600.0

    def __post_init__(self) -> None:
        for name in ("lateral", "vertical", "time", "confirm", "overrun"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0.0):
                raise ValueError(f"conformance tolerance {name} must be >= 0, got {value}")


@dataclass(frozen=True)
class Deviation:
    """How far outside one volume a report is: metres beyond the footprint and the altitude band,
    seconds beyond the time window (0 where inside)."""

    lateral: float
    vertical: float
    time: float

    def within(self, tolerance: Tolerance) -> bool:
        return self.lateral <= tolerance.lateral and self.vertical <= tolerance.vertical and self.time <= tolerance.time

    def excess(self, tolerance: Tolerance) -> float:
        """One number to pick the nearest volume: the largest excess over the tolerances, each scaled to
        its tolerance (a 2 x lateral miss is farther than a 1.5 x vertical one)."""
        return max(self.lateral / max(tolerance.lateral, 1.0), self.vertical / max(tolerance.vertical, 1.0),
                   self.time / max(tolerance.time, 1.0))


def lateral_outside(volume: Volume4D, lat: float, lon: float) -> float:
    """Metres from (lat, lon) to ``volume``'s footprint (0 inside)."""
    footprint = volume.footprint
    if isinstance(footprint, Circle):
        return max(0.0, float(geodesic_distance(footprint.lat, footprint.lon, lat, lon)) - footprint.radius)
    ring = shapely.Polygon(aeqd(footprint.densified(), lat, lon))
    return float(shapely.distance(ring, shapely.Point(0.0, 0.0)))


def deviation(volume: Volume4D, lat: float, lon: float, altitude: float, time: float) -> Deviation:
    vertical = max(volume.altitude_lower - altitude, altitude - volume.altitude_upper, 0.0)
    timing = max(volume.time_start - time, time - volume.time_end, 0.0)
    return Deviation(lateral_outside(volume, lat, lon), float(vertical), float(timing))


def monitored_span(plan: Plan, time: float, tolerance: Tolerance) -> list[tuple[float, float, tuple[Volume4D, ...]]]:
    """``(start, end, volumes)`` of each occurrence of ``plan`` monitored at ``time``: from its first
    volume's start - ``tolerance.time`` to its last volume's end + ``tolerance.overrun``."""
    spans = []
    for _, volumes in plan.occurrences(time - tolerance.overrun, time + tolerance.time):
        start = min(v.time_start for v in volumes) - tolerance.time
        end = max(v.time_end for v in volumes)
        if start <= time <= end + tolerance.overrun:
            spans.append((start, end, volumes))
    return spans


@dataclass(frozen=True)
class Assessment:
    """One report against its plans: ``monitored`` plan ids; ``conforming``; ``responsible``: the plans
    an outside report makes nonconforming (those in force now, or else those it overran);
    ``nearest``: the deviation from the nearest volume (None when no plan is monitored)."""

    monitored: tuple[str, ...]
    conforming: bool
    responsible: tuple[str, ...]
    nearest: Deviation | None


def assess(plans: Iterable[Plan], lat: float, lon: float, altitude: float, time: float,
           tolerance: Tolerance) -> Assessment:
    """Whether a report at (lat, lon deg, altitude m, time UNIX s) conforms to ``plans`` (the plans of
    its party naming the aircraft)."""
    monitored, in_force, overrun = [], [], []
    nearest: Deviation | None = None
    for plan in plans:
        spans = monitored_span(plan, time, tolerance)
        if not spans:
            continue
        monitored.append(plan.id)
        (in_force if any(time <= end + tolerance.time for _, end, _ in spans) else overrun).append(plan.id)
        for _, _, volumes in spans:
            for volume in volumes:
                found = deviation(volume, lat, lon, altitude, time)
                if found.within(tolerance):
                    return Assessment(tuple(monitored), True, (), found)
                if nearest is None or found.excess(tolerance) < nearest.excess(tolerance):
                    nearest = found
    return Assessment(tuple(monitored), False if monitored else True, tuple(in_force or overrun), nearest)


@dataclass
class Streak:
    """Consecutive reports on one side of a plan's edge (outside, or back inside): since when, how many,
    the latest time. Confirmed once they span ``confirm`` s with two reports at least."""

    since: float
    count: int = 1
    last: float = 0.0

    def __post_init__(self) -> None:
        self.last = self.since

    def add(self, time: float) -> None:
        if time > self.last:
            self.count, self.last = self.count + 1, time

    def confirmed(self, tolerance: Tolerance) -> bool:
        return self.count >= 2 and self.last - self.since >= tolerance.confirm


@dataclass(frozen=True)
class Episode:
    """One time an aircraft was off its plans, from a recording: first and last report outside (UNIX s),
    the plans it left, and the largest deviation seen (m, m, s)."""

    icao24: str
    party: str
    plans: tuple[str, ...]
    start: float
    end: float
    lateral: float
    vertical: float
    time: float


def episodes(icao24: str, party: str, plans: list[Plan], times, lats, lons, altitudes,
             tolerance: Tolerance) -> list[Episode]:
    """The nonconformances of one aircraft's reports (sorted by time) against its plans, by the live
    rules (`assess`, confirmed over ``confirm`` s both ways); an episode still open at the last report
    ends there."""
    found: list[Episode] = []
    outside: Streak | None = None
    inside: Streak | None = None
    current: dict | None = None
    for time, lat, lon, altitude in zip(times, lats, lons, altitudes):
        verdict = assess(plans, float(lat), float(lon), float(altitude), float(time), tolerance)
        if not verdict.monitored:
            outside = inside = None
            continue
        if verdict.conforming:
            outside = None
            if current is not None:
                inside = inside or Streak(float(time))
                inside.add(float(time))
                if inside.confirmed(tolerance):
                    found.append(Episode(icao24, party, current["plans"], current["start"], current["end"],
                                         *current["worst"]))
                    current, inside = None, None
            continue
        inside = None
        if current is None:
            outside = outside or Streak(float(time))
            outside.add(float(time))
            if outside.confirmed(tolerance):
                current = {"plans": verdict.responsible, "start": outside.since, "end": float(time),
                           "worst": (0.0, 0.0, 0.0)}
        if current is not None:
            nearest = verdict.nearest
            worst = current["worst"]
            current["end"] = float(time)
            if nearest is not None:
                current["worst"] = (max(worst[0], nearest.lateral), max(worst[1], nearest.vertical),
                                    max(worst[2], nearest.time))
    if current is not None:
        found.append(Episode(icao24, party, current["plans"], current["start"], current["end"], *current["worst"]))
    return found
