"""Simulation scenarios in YAML: parties' flights along routes, generated traffic, resolution settings.

The format is documented in docs/guidance.md ("Simulation"). Quantities carry units (SPEC §1);
a bad value is one error naming the file and the field path (``aircraft[2].route[0].lat``).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from deconflict.core.generated_traffic import CrossingTraffic
from deconflict.core.simulation import Flights, Resolver, SimulationSettings
from deconflict.core.standards import StandardError, standard
from deconflict.errors import DeconflictError
from deconflict.io.fields import load_yaml, Altitude, Distance, Duration, Speed, field_message

BUNDLED = ("dense", "encounters")


class ScenarioError(DeconflictError, ValueError):
    """A scenario file that cannot be read or does not follow the format."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Waypoint(_Model):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    altitude: Altitude | None = None


class Aircraft(_Model):
    id: str = Field(min_length=1, max_length=32)
    party: str = ""
    callsign: str = ""
    start: Duration = 0.0
    speed: Speed = Field(gt=0)
    route: list[Waypoint] = Field(min_length=2)

    @model_validator(mode="after")
    def _first_altitude(self) -> "Aircraft":
        if self.route[0].altitude is None:
            raise ValueError("the first waypoint needs an altitude")
        return self


class Point(_Model):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Traffic(_Model):
    flights_per_hour: float = Field(gt=0)
    center: Point
    size: Distance = Field(gt=0)
    altitude: tuple[Altitude, Altitude] = (20000 * 0.3048, 40000 * 0.3048)
    speed: tuple[Speed, Speed] = (130.0, 250.0)
    climbing: float = Field(0.2, ge=0, le=1)
    parties: list[str] = Field(default_factory=lambda: [""])
    seed: int = 0

    @model_validator(mode="after")
    def _ranges(self) -> "Traffic":
        if not self.altitude[0] <= self.altitude[1] or not 0 < self.speed[0] <= self.speed[1]:
            raise ValueError("altitude and speed ranges must be [low, high] with low <= high")
        return self


class Minima(_Model):
    hsep: Distance = Field(gt=0)
    vsep: Distance = Field(gt=0)


class Resolution(_Model):
    method: Literal["mvp", "none"] = "mvp"
    dimensions: Literal["horizontal", "heading", "speed", "vertical", "both"] = "horizontal"
    margin: float = Field(1.1, ge=1.0, le=3.0)
    vertical_margin: float | None = Field(None, ge=1.0, le=3.0)
    delay: Duration = 5.0
    manoeuvring: list[str] | None = None
    resume: Literal["route", "cpa"] = "route"
    hold_level: bool = True


class Performance(_Model):
    bank_angle: float = Field(25.0, gt=0, lt=90)
    vertrate_limit: Speed = 15.0
    speed_range: tuple[float, float] = (0.7, 1.2)


class ScenarioModel(_Model):
    name: str = "scenario"
    description: str = ""
    duration: Duration = Field(gt=0)
    step: Duration = Field(1.0, gt=0)
    separation: Literal["en-route", "terminal"] | Minima = "en-route"
    lookahead: Duration = Field(300.0, gt=0)
    resolution: Resolution = Field(default_factory=Resolution)
    performance: Performance = Field(default_factory=Performance)
    aircraft: list[Aircraft] = Field(default_factory=list)
    traffic: Traffic | None = None

    @model_validator(mode="after")
    def _some_flights(self) -> "ScenarioModel":
        if not self.aircraft and self.traffic is None:
            raise ValueError("a scenario needs aircraft, traffic, or both")
        ids = [a.id for a in self.aircraft]
        if len(set(ids)) != len(ids):
            raise ValueError(f"aircraft ids must be unique: {sorted({i for i in ids if ids.count(i) > 1})}")
        return self


@dataclass(frozen=True)
class Scenario:
    """A scenario ready to simulate."""

    name: str
    description: str
    flights: Flights
    settings: SimulationSettings
    source: str


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario file, or a bundled scenario by name (``dense``, ``encounters``)."""
    text, source = _read(path)
    data = load_yaml(text, source, ScenarioError)
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: expected a mapping of scenario fields at the top level")
    try:
        model = ScenarioModel.model_validate(data)
    except ValidationError as error:
        raise ScenarioError(f"{source}: {_first_error(error)}") from None
    try:
        return _build(model, source)
    except (ValueError, StandardError) as error:
        raise ScenarioError(f"{source}: {error}") from None


def _read(path: str | Path) -> tuple[str, str]:
    candidate = Path(path)
    if not candidate.exists() and str(path) in BUNDLED:
        resource = resources.files("deconflict") / "data" / "scenarios" / f"{path}.yaml"
        return resource.read_text(encoding="utf-8"), f"{path} (bundled)"
    try:
        return candidate.read_text(encoding="utf-8"), str(path)
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ScenarioError(f"{path}: cannot read scenario ({reason}); bundled scenarios: {', '.join(BUNDLED)}") from None


def _first_error(error: ValidationError) -> str:
    """One line: the field path and what was expected."""
    first = error.errors()[0]
    more = len(error.errors()) - 1
    return field_message(first["loc"], first) + (f"; and {more} more error(s)" if more else "")


def _build(model: ScenarioModel, source: str) -> Scenario:
    if isinstance(model.separation, str):
        loss = standard(model.separation).loss
        hsep, vsep = loss.hsep, loss.vsep
    else:
        hsep, vsep = model.separation.hsep, model.separation.vsep
    r = model.resolution
    resolver = Resolver(method=r.method, dimensions=r.dimensions, margin=r.margin, delay=r.delay,
                        manoeuvring=None if r.manoeuvring is None else frozenset(r.manoeuvring),
                        vertical_margin=r.vertical_margin, resume=r.resume, hold_level=r.hold_level)
    p = model.performance
    settings = SimulationSettings(duration=model.duration, hsep=hsep, vsep=vsep, lookahead=model.lookahead,
                                  step=model.step, resolver=resolver, bank_angle=p.bank_angle,
                                  vertrate_limit=p.vertrate_limit, speed_range=p.speed_range)
    flights = _flights(model, hsep, vsep)
    return Scenario(name=model.name, description=model.description, flights=flights, settings=settings, source=source)


def _flights(model: ScenarioModel, hsep: float, vsep: float) -> Flights:
    ids, callsigns, parties, starts, speeds, routes = [], [], [], [], [], []
    for aircraft in model.aircraft:
        altitude, route = None, []
        for waypoint in aircraft.route:
            altitude = waypoint.altitude if waypoint.altitude is not None else altitude
            route.append((waypoint.lat, waypoint.lon, altitude))
        ids.append(aircraft.id)
        callsigns.append(aircraft.callsign or aircraft.id)
        parties.append(aircraft.party)
        starts.append(aircraft.start)
        speeds.append(aircraft.speed)
        routes.append(np.array(route))
    if model.traffic is not None:
        t = model.traffic
        generated = CrossingTraffic(flights_per_hour=t.flights_per_hour, duration=model.duration, lat=t.center.lat,
                                    lon=t.center.lon, size=t.size, altitude_range=t.altitude, speed_range=t.speed,
                                    climbing=t.climbing, parties=tuple(t.parties), seed=t.seed).flights(hsep, vsep)
        taken = set(ids)
        for k in range(len(generated)):
            ident = generated.icao24[k]
            if ident in taken:
                raise ValueError(f"aircraft id {ident!r} clashes with a generated flight id (6 hex digits)")
            rows = slice(generated.route_start[k], generated.route_start[k + 1])
            ids.append(ident)
            callsigns.append(generated.callsign[k])
            parties.append(generated.party[k])
            starts.append(generated.start[k])
            speeds.append(generated.speed[k])
            routes.append(np.column_stack((generated.waypoint_lat[rows], generated.waypoint_lon[rows],
                                           generated.waypoint_altitude[rows])))
    return Flights.from_routes(ids, callsigns, parties, starts, speeds, routes)
