"""Plans as ASTM F3548-21 operational intents, in and out, so that a USS hands its intents over as
they are. The shapes are InterUSS's `uas_standards` models of the F3548-21 USS-to-USS OpenAPI
(`ImplicitDict.parse` checks every field against them), not a copy written here.

Altitudes. F3548-21 gives altitudes as WGS84 ellipsoid heights (reference ``W84``, units ``M``); a
deconflict plan's altitudes are heights above mean sea level, compared with pressure altitudes. The
two differ by the geoid undulation N (h_W84 = H_MSL + N), between -107 m and +86 m over the Earth
(EGM2008). No geoid grid ships with this installation (PROJ answers a W84-to-MSL transformation
unchanged without one, which would be silently wrong), so the conversion is explicit and
conservative both ways: a band read from W84 becomes [lower - 86 m, upper + 107 m] above MSL, and
a band written as W84 becomes [lower - 107 m, upper + 86 m]. The volume only grows: no conflict is
hidden by the datum, at the cost of up to 193 m of height.

Which volumes: ``volumes``, and ``off_nominal_volumes`` too (a Nonconforming or Contingent intent
occupies those). ``reference.id`` is the plan id, ``reference.state`` its state,
``details.priority`` its priority; the OVN is not a deconflict version and is not kept.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from implicitdict import ImplicitDict
from uas_standards.astm.f3548.v21 import api

from deconflict.core.plans import Plan, PlanState
from deconflict.core.volumes import Circle, Polygon, Volume4D, VolumeError
from deconflict.io.plans_file import PlansFileError, parse_time

GEOID_LOW, GEOID_HIGH = -107.0, 86.0  # m: the least and greatest geoid undulation (EGM2008, rounded out)


def is_operational_intents(data: Any) -> bool:
    """Whether parsed JSON looks like F3548 operational intents (one, or a list of them)."""
    items = data if isinstance(data, list) else [data]
    return bool(items) and all(isinstance(item, dict) and "reference" in item and "details" in item for item in items)


def plans_from_intents(data: Any, source: str, party: str = "") -> list[Plan]:
    """Plans from an OperationalIntent or a list of them; errors name ``source``, the intent and the field."""
    items = data if isinstance(data, list) else [data]
    return [_plan(item, f"{source}: intent {k}", party) for k, item in enumerate(items)]


def _plan(item: Any, where: str, party: str) -> Plan:
    try:
        intent = ImplicitDict.parse(item, api.OperationalIntent)
    except (ValueError, TypeError, KeyError) as error:
        raise PlansFileError(f"{where}: not an F3548-21 OperationalIntent ({_first_line(error)})") from None
    reference, details = intent.reference, intent.details
    plan_id = str(reference.id)
    where = f"{where} ({plan_id})"
    try:
        state = PlanState(_text(reference.state))
    except ValueError:
        raise PlansFileError(f"{where}: reference.state: expected Accepted, Activated, Nonconforming or Contingent, "
                             f"got {_text(reference.state)!r}") from None
    volumes = []
    for name in ("volumes", "off_nominal_volumes"):
        for k, volume in enumerate(details.get(name) or []):
            volumes.append(_volume(volume, f"{where}: details.{name}[{k}]"))
    if not volumes:
        raise PlansFileError(f"{where}: details.volumes: an intent needs at least one volume")
    priority = int(details.get("priority") or 0)
    return Plan(plan_id, party, tuple(volumes), priority, state)


def _volume(volume: api.Volume4D, where: str) -> Volume4D:
    v3 = volume.volume
    if (v3.get("outline_circle") is None) == (v3.get("outline_polygon") is None):
        raise PlansFileError(f"{where}.volume: exactly one of outline_circle and outline_polygon is needed")
    try:
        if v3.get("outline_circle") is not None:
            circle = v3.outline_circle
            radius = _metres(circle.radius.value, circle.radius.units, f"{where}.volume.outline_circle.radius")
            footprint = Circle(float(circle.center.lat), float(circle.center.lng), radius)
        else:
            footprint = Polygon(tuple((float(p.lat), float(p.lng)) for p in v3.outline_polygon.vertices))
    except VolumeError as error:
        raise PlansFileError(f"{where}.volume: {error}") from None
    for field in ("altitude_lower", "altitude_upper", "time_start", "time_end"):
        if (v3 if field.startswith("altitude") else volume).get(field) is None:
            raise PlansFileError(f"{where}: {field} is required here (an unbounded volume cannot be checked)")
    lower = _msl(v3.altitude_lower, f"{where}.volume.altitude_lower") - GEOID_HIGH
    upper = _msl(v3.altitude_upper, f"{where}.volume.altitude_upper") - GEOID_LOW
    start = _time(volume.time_start, f"{where}.time_start")
    end = _time(volume.time_end, f"{where}.time_end")
    try:
        return Volume4D(footprint, lower, upper, start, end)
    except VolumeError as error:
        raise PlansFileError(f"{where}: {error}") from None


def _metres(value: Any, units: Any, where: str) -> float:
    if _text(units) == "M":
        return float(value)
    raise PlansFileError(f"{where}.units: expected M (F3548-21), got {units!r}")


def _msl(altitude: api.Altitude, where: str) -> float:
    """An F3548 altitude (W84 ellipsoid height) as the value before the datum margin (m)."""
    if _text(altitude.reference) != "W84":
        raise PlansFileError(f"{where}.reference: expected W84 (F3548-21), got {altitude.reference!r}")
    return _metres(altitude.value, altitude.units, where)


def _time(moment: api.Time, where: str) -> float:
    if _text(moment.format) != "RFC3339":
        raise PlansFileError(f"{where}.format: expected RFC3339, got {moment.format!r}")
    try:
        return parse_time(str(moment.value), where)
    except ValueError as error:
        raise PlansFileError(str(error)) from None


def intents_from_plans(plans: list[Plan], manager: str = "deconflict", base_url: str = "https://uss.invalid") -> list[dict]:
    """Each one-off plan as an F3548-21 OperationalIntent (plain JSON; checked against the models).
    Recurring plans are refused: F3548 has no recurrence (expand the occurrences you mean to share)."""
    out = []
    for plan in plans:
        if plan.recurrence is not None:
            raise PlansFileError(f"plan {plan.id!r}: recurring plans have no F3548 form; export one occurrence at a time")
        volumes = [_intent_volume(v) for v in plan.volumes]
        intent_id = plan.id if _is_uuid(plan.id) else str(uuid.uuid5(uuid.NAMESPACE_URL, f"deconflict:{plan.party}/{plan.id}"))
        start = _rfc3339(min(v.time_start for v in plan.volumes))
        end = _rfc3339(max(v.time_end for v in plan.volumes))
        document = {
            "reference": {"id": intent_id, "manager": manager, "uss_availability": "Normal", "version": 1,
                          "state": plan.state.value, "ovn": f"deconflict-{plan.version[:16]}", "time_start": start,
                          "time_end": end, "uss_base_url": base_url, "subscription_id": str(uuid.UUID(int=0))},
            "details": {"volumes": volumes, "priority": plan.priority},
        }
        ImplicitDict.parse(document, api.OperationalIntent)  # what we write must read back as F3548
        out.append(document)
    return out


def _intent_volume(volume: Volume4D) -> dict:
    f = volume.footprint
    if isinstance(f, Circle):
        outline = {"outline_circle": {"center": {"lat": f.lat, "lng": f.lon}, "radius": {"value": f.radius, "units": "M"}}}
    else:
        outline = {"outline_polygon": {"vertices": [{"lat": lat, "lng": lon} for lat, lon in f.vertices]}}
    return {"volume": {**outline,
                       "altitude_lower": {"value": volume.altitude_lower + GEOID_LOW, "reference": "W84", "units": "M"},
                       "altitude_upper": {"value": volume.altitude_upper + GEOID_HIGH, "reference": "W84", "units": "M"}},
            "time_start": _rfc3339(volume.time_start), "time_end": _rfc3339(volume.time_end)}


def _rfc3339(seconds: float) -> dict:
    text = datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"value": text, "format": "RFC3339"}


def _text(value: Any) -> str:
    """An enum member of the models (or a plain string) as its text."""
    return str(getattr(value, "value", value))


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
        return True
    except ValueError:
        return False


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__


def write_intents(plans: list[Plan], path: Path) -> int:
    import json

    intents = intents_from_plans(plans)
    path.write_text(json.dumps(intents, indent=2))
    return len(intents)


def plan_document(plan: Plan) -> dict:
    """A plan read from an intent as a plans-file document (the schema the service stores and checks):
    circles and polygons, altitudes in metres above MSL (already widened for the datum), ISO times."""
    volumes = []
    for volume in plan.volumes:
        f = volume.footprint
        shape = ({"circle": {"lat": f.lat, "lon": f.lon, "radius": f"{f.radius}m"}} if isinstance(f, Circle)
                 else {"polygon": [[lat, lon] for lat, lon in f.vertices]})
        volumes.append({**shape, "altitude": [f"{volume.altitude_lower}m", f"{volume.altitude_upper}m"],
                        "time": [_rfc3339(volume.time_start)["value"], _rfc3339(volume.time_end)["value"]]})
    return {"id": plan.id, "priority": plan.priority, "state": plan.state.value, "volumes": volumes}


def as_plan_document(document: Any, where: str = "plan") -> Any:
    """``document`` itself, or, when it is an F3548-21 OperationalIntent, its plans-file form."""
    if isinstance(document, dict) and is_operational_intents(document):
        return plan_document(plans_from_intents(document, where)[0])
    return document
