"""Plan files: GeoJSON FeatureCollections of 4D volumes, and a YAML format with volumes, routes and recurrences.

Both are documented in docs/plans.md. Quantities carry units (SPEC §1), times are ISO 8601
with an offset. A bad plan is one line naming the file, the plan and the field.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pyproj import Geod

from deconflict.core.plans import Plan, PlanError, PlanState, Recurrence, corridor
from deconflict.core.units import (ALTITUDE_RANGE, MAX_SPEED, UnitError, parse_altitude, parse_distance,
                                   parse_duration)
from deconflict.errors import DeconflictError
from deconflict.core.volumes import Circle, Polygon, Volume4D, VolumeError
from deconflict.io.fields import load_yaml, Altitude, Distance, Speed, field_message

_GEOD = Geod(ellps="WGS84")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# The documented range of every plan field (docs/service.md, "Input ranges"). Beyond them a value is an
# error naming the field: nothing absurd is stored, and one plan's check costs bounded work.
PLAN_ID = r"^[^/\x00-\x1f\x7f]{1,64}$"  # 1-64 characters, no "/" (the URL separator), no control character
PRIORITY_RANGE = (-1000, 1000)
MAX_RADIUS = 1_000_000.0  # m
MAX_VOLUMES = 100  # per plan, besides a route's
MAX_WAYPOINTS = 200
MAX_POLYGON_VERTICES = 1000
MAX_LATERAL = 100_000.0  # m, a route's half width
MAX_VERTICAL = 3000.0  # m, a route's half height
MAX_TIME_BUFFER = 86_400.0  # s
TIME_RANGE = (946_684_800.0, 4_102_444_800.0)  # UNIX s: 2000-01-01 to 2100-01-01 (UTC)
MAX_OFFSET = 172_800.0  # s: a recurring plan's times are at most 2 days from its departure
DATE_RANGE = (date(2000, 1, 1), date(2100, 1, 1))
MAX_RECURRENCE_DAYS = 731
MAX_TIMES_PER_DAY = 48
MAX_AIRCRAFT = 64  # addresses named by one plan
AIRCRAFT_ADDRESS = r"^[^\x00-\x1f\x7f]{1,32}$"  # as a state vector's icao24: 1-32 characters, no control character

Latitude = Annotated[float, Field(ge=-90, le=90, strict=True)]
Longitude = Annotated[float, Field(ge=-180, le=180, strict=True)]
PlanAltitude = Annotated[Altitude, Field(ge=ALTITUDE_RANGE[0], le=ALTITUDE_RANGE[1])]
AircraftAddress = Annotated[str, Field(pattern=AIRCRAFT_ADDRESS, strict=True)]


class PlansFileError(DeconflictError, ValueError):
    """A plan file that cannot be read or a plan in it that is not valid."""


def parse_time(text: Any, field: str = "time") -> float:
    """UNIX seconds from ISO 8601 with an offset (``2015-10-20T06:00:00Z``)."""
    if isinstance(text, datetime):
        moment = text
    else:
        try:
            moment = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{field}: {text!r} is not an ISO 8601 time (e.g. 2015-10-20T06:00:00Z)") from None
    if moment.tzinfo is None:
        raise ValueError(f"{field}: {text!r} has no UTC offset; add Z or +HH:MM")
    return moment.timestamp()


def read_plans(paths: list[str | Path]) -> list[Plan]:
    """Plans from GeoJSON (``.geojson``, ``.json``), ASTM F3548-21 operational intents (``.json``: one
    OperationalIntent or a list) and YAML (``.yaml``, ``.yml``) files, in file order."""
    plans: list[Plan] = []
    seen: dict[str, str] = {}
    for path in paths:
        name = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            raise PlansFileError(f"{name}: cannot read plans ({reason})") from None
        lower = name.lower()
        if lower.endswith((".geojson", ".json")):
            found = _geojson_plans(text, name)
        elif lower.endswith((".yaml", ".yml")):
            found = _yaml_plans(text, name)
        else:
            raise PlansFileError(f"{name}: unknown plan file type; expected .geojson, .json, .yaml or .yml")
        for plan in found:
            if plan.id in seen:
                raise PlansFileError(f"{name}: plan {plan.id!r} is already declared in {seen[plan.id]}")
            seen[plan.id] = name
        plans.extend(found)
    return plans


# -- GeoJSON ---------------------------------------------------------------------------------------

def _geojson_plans(text: str, name: str) -> list[Plan]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise PlansFileError(f"{name} line {error.lineno}: not valid JSON ({error.msg})") from None
    from deconflict.io import f3548  # it builds on this module: imported when a JSON file is read

    if f3548.is_operational_intents(data):
        return f3548.plans_from_intents(data, name)
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" or not isinstance(data.get("features"), list):
        raise PlansFileError(f"{name}: expected a GeoJSON FeatureCollection or ASTM F3548-21 operational intents")
    grouped: dict[str, dict] = {}
    for k, feature in enumerate(data["features"]):
        where = f"{name}: feature {k}"
        if not isinstance(feature, dict):
            raise PlansFileError(f"{where}: expected a GeoJSON Feature")
        properties = feature.get("properties") or {}
        plan_id = str(properties.get("plan", feature.get("id", f"{Path(name).stem}-{k}")))
        where = f"{name}: feature {k} (plan {plan_id!r})"
        try:
            volumes = _feature_volumes(feature.get("geometry"), properties)
            entry = grouped.setdefault(plan_id, {"volumes": [], "properties": properties, "where": where})
            entry["volumes"].extend(volumes)
            _plan_attributes(properties)  # validated per feature, used from the first
        except (ValueError, UnitError, VolumeError) as error:
            raise PlansFileError(f"{where}: {error}") from None
    plans = []
    for plan_id, entry in grouped.items():
        party, priority, state = _plan_attributes(entry["properties"])
        try:
            plans.append(Plan(plan_id, party, tuple(entry["volumes"]), priority=priority, state=state))
        except PlanError as error:
            raise PlansFileError(f"{entry['where']}: {error}") from None
    return plans


def _plan_attributes(properties: dict) -> tuple[str, int, PlanState]:
    party = str(properties.get("party", ""))
    priority = properties.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise ValueError(f"property priority: expected an integer, got {priority!r}")
    state = properties.get("state", "Accepted")
    try:
        state = PlanState(state)
    except ValueError:
        raise ValueError(f"property state: {state!r} is not one of {', '.join(s.value for s in PlanState)}") from None
    return party, priority, state


def _feature_volumes(geometry: Any, properties: dict) -> list[Volume4D]:
    for key in ("alt_lower", "alt_upper", "time_start", "time_end"):
        if key not in properties:
            raise ValueError(f"property {key} is missing")
    lower = _altitude(properties["alt_lower"], "property alt_lower")
    upper = _altitude(properties["alt_upper"], "property alt_upper")
    start = _moment(properties["time_start"], "property time_start")
    end = _moment(properties["time_end"], "property time_end")
    if not isinstance(geometry, dict):
        raise ValueError("geometry: expected a Polygon, MultiPolygon or Point (with a radius property)")
    kind, coordinates = geometry.get("type"), geometry.get("coordinates")
    footprints = []
    try:
        if kind == "Point":
            if "radius" not in properties:
                raise ValueError("a Point needs a radius property (e.g. \"500m\")")
            lon, lat = coordinates[:2]
            radius = parse_distance(str(properties["radius"]), "property radius")
            if not radius <= MAX_RADIUS:
                raise ValueError(f"property radius: at most {MAX_RADIUS / 1000:g} km, got {properties['radius']!r}")
            footprints.append(Circle(float(lat), float(lon), radius))
        elif kind in ("Polygon", "MultiPolygon"):
            polygons = [coordinates] if kind == "Polygon" else coordinates
            for rings in polygons:
                if len(rings) != 1:
                    raise ValueError("polygons with holes are not supported; split them")
                footprints.append(Polygon(tuple((float(lat), float(lon)) for lon, lat, *_ in rings[0])))
        else:
            raise ValueError(f"geometry type {kind!r} is not supported; expected Polygon, MultiPolygon or Point")
    except (TypeError, IndexError) as error:
        raise ValueError(f"geometry: malformed {kind} coordinates ({error})") from None
    except VolumeError as error:
        raise ValueError(f"geometry: {error}") from None
    return [Volume4D(f, lower, upper, start, end) for f in footprints]


# -- YAML ------------------------------------------------------------------------------------------

class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CircleModel(_Model):
    lat: Latitude
    lon: Longitude
    radius: Distance = Field(gt=0, le=MAX_RADIUS)


class VolumeModel(_Model):
    circle: CircleModel | None = None
    polygon: list[tuple[Latitude, Longitude]] | None = Field(default=None, max_length=MAX_POLYGON_VERTICES)
    altitude: tuple[PlanAltitude, PlanAltitude]
    time: tuple[str | datetime, str | datetime]

    @model_validator(mode="after")
    def _one_footprint(self) -> "VolumeModel":
        if (self.circle is None) == (self.polygon is None):
            raise ValueError("give either circle or polygon")
        return self


class WaypointModel(_Model):
    lat: Latitude
    lon: Longitude
    altitude: PlanAltitude | None = None
    time: str | datetime | None = None
    speed: Speed | None = Field(default=None, gt=0, le=MAX_SPEED)


class RouteModel(_Model):
    lateral: Distance = Field(gt=0, le=MAX_LATERAL)
    vertical: Distance = Field(ge=0, le=MAX_VERTICAL)
    time_buffer: str = "0s"
    departure: str | datetime | None = None
    waypoints: list[WaypointModel] = Field(min_length=2, max_length=MAX_WAYPOINTS)


class RecurringModel(_Model):
    times: list[str] = Field(min_length=1, max_length=MAX_TIMES_PER_DAY)
    from_: date = Field(alias="from", ge=DATE_RANGE[0], le=DATE_RANGE[1])
    to: date = Field(ge=DATE_RANGE[0], le=DATE_RANGE[1])
    weekdays: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] | None = None

    @model_validator(mode="after")
    def _span(self) -> "RecurringModel":
        if not 0 <= (self.to - self.from_).days <= MAX_RECURRENCE_DAYS:
            raise ValueError(f"recurring: 'to' must be on or after 'from', at most {MAX_RECURRENCE_DAYS} days later")
        return self


class PlanModel(_Model):
    id: str = Field(min_length=1, max_length=64, pattern=PLAN_ID)
    party: str = Field(default="", max_length=32)
    priority: int = Field(default=0, ge=PRIORITY_RANGE[0], le=PRIORITY_RANGE[1], strict=True)
    state: Literal["Accepted", "Activated", "Nonconforming", "Contingent"] = "Accepted"
    volumes: list[VolumeModel] = Field(default_factory=list, max_length=MAX_VOLUMES)
    route: RouteModel | None = None
    recurring: RecurringModel | None = None
    aircraft: list[AircraftAddress] = Field(default_factory=list, max_length=MAX_AIRCRAFT)

    @field_validator("aircraft")
    @classmethod
    def _distinct_aircraft(cls, aircraft: list[str]) -> list[str]:
        if len(set(aircraft)) < len(aircraft):
            raise ValueError("an address appears twice")
        return aircraft


class PlansModel(_Model):
    plans: list[PlanModel] = Field(min_length=1)


def _yaml_plans(text: str, name: str) -> list[Plan]:
    data = load_yaml(text, name, PlansFileError)
    try:
        model = PlansModel.model_validate(data)
    except ValidationError as error:
        raise PlansFileError(f"{name}: {_describe(error, data)}") from None
    plans = []
    for model_plan in model.plans:
        try:
            plans.append(_plan(model_plan))
        except (ValueError, UnitError, VolumeError, PlanError) as error:
            raise PlansFileError(f"{name}: plan {model_plan.id!r}: {error}") from None
    return plans


def plan_from_document(data: Any, source: str = "plan") -> Plan:
    """One plan from its document (a ``plans:`` entry of the YAML schema, as parsed JSON or YAML).

    Raises `PlansFileError` with one line naming ``source`` (if given), the field and what was expected.
    """
    prefix = f"{source}: " if source else ""
    try:
        model = PlanModel.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        raise PlansFileError(f"{prefix}{field_message(list(first['loc']) or ['plan'], first)}") from None
    try:
        return _plan(model)
    except (ValueError, UnitError, VolumeError, PlanError) as error:
        raise PlansFileError(f"{prefix}plan {model.id!r}: {error}") from None


def _describe(error: ValidationError, data: Any) -> str:
    """One line: plan id when known, the field path, what was expected."""
    first = error.errors()[0]
    location = list(first["loc"])
    prefix = ""
    if len(location) >= 2 and location[0] == "plans" and isinstance(location[1], int):
        try:
            prefix = f"plan {data['plans'][location[1]]['id']!r}: "
        except (KeyError, TypeError, IndexError):
            prefix = f"plans[{location[1]}]: "
        location = location[2:]
    return prefix + field_message(location or ["plans"], first)


def _plan(model: PlanModel) -> Plan:
    recurring = model.recurring is not None
    when = _offset if recurring else _moment
    volumes = []
    for k, v in enumerate(model.volumes):
        field = f"volumes[{k}]"
        footprint = (Circle(v.circle.lat, v.circle.lon, v.circle.radius) if v.circle is not None
                     else _polygon(v.polygon, field))
        try:
            volumes.append(Volume4D(footprint, v.altitude[0], v.altitude[1], when(v.time[0], f"{field}.time[0]"),
                                    when(v.time[1], f"{field}.time[1]")))
        except VolumeError as error:
            raise ValueError(f"{field}: {error}") from None
    if model.route is not None:
        volumes.extend(_route_volumes(model.route, when, recurring))
    if not volumes:
        raise ValueError("needs volumes, a route, or both")
    recurrence = None
    if model.recurring is not None:
        r = model.recurring
        recurrence = Recurrence(tuple(_time_of_day(t) for t in r.times), r.from_, r.to,
                                None if r.weekdays is None else frozenset(WEEKDAYS.index(d) for d in r.weekdays))
    return Plan(model.id, model.party, tuple(volumes), priority=model.priority, state=PlanState(model.state),
                recurrence=recurrence, aircraft=tuple(model.aircraft))


def _altitude(value: Any, field: str) -> float:
    metres = parse_altitude(str(value), field)
    if not ALTITUDE_RANGE[0] <= metres <= ALTITUDE_RANGE[1]:
        raise ValueError(f"{field}: {str(value)[:40]!r} is outside {ALTITUDE_RANGE[0]:g} m to {ALTITUDE_RANGE[1]:g} m")
    return metres


def _moment(value: Any, field: str) -> float:
    """A time of a one-off plan: ISO 8601 with an offset, within `TIME_RANGE`."""
    seconds = parse_time(value, field)
    if not TIME_RANGE[0] <= seconds <= TIME_RANGE[1]:
        raise ValueError(f"{field}: {str(value)[:40]!r} is outside 2000-01-01 to 2100-01-01")
    return seconds


def _offset(value: Any, field: str) -> float:
    """A time of a recurring plan: a duration from each departure, at most `MAX_OFFSET` either way."""
    seconds = parse_duration(str(value), field)
    if not abs(seconds) <= MAX_OFFSET:
        raise ValueError(f"{field}: {str(value)[:40]!r}: a recurring plan's times are at most 48h from its departure")
    return seconds


def _polygon(points: list[tuple[float, float]], field: str) -> Polygon:
    try:
        return Polygon(tuple((float(lat), float(lon)) for lat, lon in points))
    except VolumeError as error:
        raise ValueError(f"{field}.polygon: {error}") from None


def _route_volumes(route: RouteModel, when, recurring: bool) -> tuple[Volume4D, ...]:  # noqa: ANN001
    points = route.waypoints
    lat = np.array([p.lat for p in points])
    lon = np.array([p.lon for p in points])
    altitude = np.empty(len(points))
    times = np.empty(len(points))
    if points[0].altitude is None:
        raise ValueError("route.waypoints[0].altitude: the first waypoint needs an altitude")
    first_time = points[0].time if points[0].time is not None else route.departure
    if first_time is None:
        raise ValueError("route: give departure or a time on the first waypoint")
    times[0] = when(first_time, "route.departure")
    altitude[0] = points[0].altitude
    for k in range(1, len(points)):
        p = points[k]
        altitude[k] = altitude[k - 1] if p.altitude is None else p.altitude
        if p.time is not None:
            times[k] = when(p.time, f"route.waypoints[{k}].time")
        elif p.speed is not None:
            _, _, leg = _GEOD.inv(lon[k - 1], lat[k - 1], lon[k], lat[k])
            times[k] = times[k - 1] + leg / p.speed
        else:
            raise ValueError(f"route.waypoints[{k}]: give a time or the speed flown to it")
    try:
        buffer = parse_duration(str(route.time_buffer), "route.time_buffer")
        if not 0.0 <= buffer <= MAX_TIME_BUFFER:
            raise ValueError(f"route.time_buffer: expected 0s to 24h, got {route.time_buffer!r}")
        return corridor(lat, lon, altitude, times, route.lateral, route.vertical, buffer)
    except VolumeError as error:
        raise ValueError(f"route: {error}") from None


def _time_of_day(text: str) -> float:
    try:
        hours, minutes = str(text).split(":")
        value = int(hours) * 3600.0 + int(minutes) * 60.0
    except ValueError:
        raise ValueError(f"recurring.times: {text!r} is not a UTC time of day (HH:MM)") from None
    return value


def conflicts_geojson(conflicts: list) -> dict:
    """A FeatureCollection of the overlaps of plan conflicts."""
    return {"type": "FeatureCollection", "features": [c.geojson() for c in conflicts]}
