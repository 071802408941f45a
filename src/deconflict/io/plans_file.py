"""Plan files: GeoJSON FeatureCollections of 4D volumes, and a YAML format with volumes, routes and recurrences.

Both are documented in the README ("Plans"). Quantities carry units (SPEC §1), times are ISO 8601
with an offset. A bad plan is one line naming the file, the plan and the field.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pyproj import Geod

from deconflict.core.plans import Plan, PlanError, PlanState, Recurrence, corridor
from deconflict.core.units import UnitError, parse_altitude, parse_distance, parse_duration
from deconflict.core.volumes import Circle, Polygon, Volume4D, VolumeError
from deconflict.io.fields import load_yaml, Altitude, Distance, Speed, field_message

_GEOD = Geod(ellps="WGS84")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class PlansFileError(ValueError):
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
    """Plans from GeoJSON (``.geojson``, ``.json``) and YAML (``.yaml``, ``.yml``) files, in file order."""
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
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" or not isinstance(data.get("features"), list):
        raise PlansFileError(f"{name}: expected a GeoJSON FeatureCollection")
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
    lower = parse_altitude(str(properties["alt_lower"]), "property alt_lower")
    upper = parse_altitude(str(properties["alt_upper"]), "property alt_upper")
    start = parse_time(properties["time_start"], "property time_start")
    end = parse_time(properties["time_end"], "property time_end")
    if not isinstance(geometry, dict):
        raise ValueError("geometry: expected a Polygon, MultiPolygon or Point (with a radius property)")
    kind, coordinates = geometry.get("type"), geometry.get("coordinates")
    footprints = []
    try:
        if kind == "Point":
            if "radius" not in properties:
                raise ValueError("a Point needs a radius property (e.g. \"500m\")")
            lon, lat = coordinates[:2]
            footprints.append(Circle(float(lat), float(lon), parse_distance(str(properties["radius"]), "property radius")))
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
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius: Distance = Field(gt=0)


class VolumeModel(_Model):
    circle: CircleModel | None = None
    polygon: list[tuple[float, float]] | None = None
    altitude: tuple[Altitude, Altitude]
    time: tuple[Any, Any]

    @model_validator(mode="after")
    def _one_footprint(self) -> "VolumeModel":
        if (self.circle is None) == (self.polygon is None):
            raise ValueError("give either circle or polygon")
        return self


class WaypointModel(_Model):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    altitude: Altitude | None = None
    time: Any = None
    speed: Speed | None = None


class RouteModel(_Model):
    lateral: Distance = Field(gt=0)
    vertical: Distance = Field(ge=0)
    time_buffer: Any = "0s"
    departure: Any = None
    waypoints: list[WaypointModel] = Field(min_length=2)


class RecurringModel(_Model):
    times: list[str] = Field(min_length=1)
    from_: date = Field(alias="from")
    to: date
    weekdays: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] | None = None


class PlanModel(_Model):
    id: str = Field(min_length=1)
    party: str = ""
    priority: int = 0
    state: Literal["Accepted", "Activated", "Nonconforming", "Contingent"] = "Accepted"
    volumes: list[VolumeModel] = Field(default_factory=list)
    route: RouteModel | None = None
    recurring: RecurringModel | None = None


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

    Raises `PlansFileError` with one line naming ``source``, the field and what was expected.
    """
    try:
        model = PlanModel.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        raise PlansFileError(f"{source}: {field_message(list(first['loc']) or ['plan'], first)}") from None
    try:
        return _plan(model)
    except (ValueError, UnitError, VolumeError, PlanError) as error:
        raise PlansFileError(f"{source}: plan {model.id!r}: {error}") from None


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
    when = (lambda value, field: parse_duration(str(value), field)) if recurring else parse_time
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
                recurrence=recurrence)


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
        return corridor(lat, lon, altitude, times, route.lateral, route.vertical,
                        parse_duration(str(route.time_buffer), "route.time_buffer"))
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
