"""Plan files: GeoJSON and YAML, and one-line errors that name the file, the plan and the field."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from deconflict.core.units import FOOT, NAUTICAL_MILE
from deconflict.core.volumes import Circle, Polygon
from deconflict.io.plans_file import PlansFileError, read_plans

BUNDLED = resources.files("deconflict") / "data" / "plans"


def feature(geometry, **properties):
    base = {"plan": "P1", "party": "blue", "alt_lower": "0m", "alt_upper": "120m",
            "time_start": "2015-10-20T06:00:00Z", "time_end": "2015-10-20T07:00:00+00:00"}
    base.update(properties)
    return {"type": "Feature", "geometry": geometry, "properties": {k: v for k, v in base.items() if v is not None}}


def write_geojson(tmp_path, *features):
    path = tmp_path / "plans.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": list(features)}))
    return path


SQUARE = {"type": "Polygon", "coordinates": [[[10.0, 50.0], [10.1, 50.0], [10.1, 50.1], [10.0, 50.1], [10.0, 50.0]]]}
POINT = {"type": "Point", "coordinates": [10.0, 50.0]}


def test_bundled_files_read():
    plans = read_plans([BUNDLED / "airbase.geojson", BUNDLED / "schedules.yaml"])
    assert [p.id for p in plans] == ["BLU-CAP", "ORG-BOX", "CGO-DAILY", "BLU-PATROL"]
    cap = plans[0]
    assert isinstance(cap.volumes[0].footprint, Circle) and cap.volumes[0].footprint.radius == 5000.0
    assert cap.volumes[0].altitude_lower == pytest.approx(10000 * FOOT) and cap.priority == 2
    cargo = plans[2]
    assert cargo.recurrence is not None and cargo.recurrence.times_of_day == (6.5 * 3600, 18.5 * 3600)
    assert isinstance(cargo.volumes[0].footprint, Polygon)  # the corridor around the route
    assert cargo.volumes[0].time_start == -300.0  # relative to each departure, minus the 5 min buffer


def test_features_of_one_plan_are_grouped(tmp_path):
    path = write_geojson(tmp_path, feature(SQUARE), feature(POINT, radius="2nm"),
                         feature(POINT, plan="P2", radius="100m", state="Activated", priority=4))
    p1, p2 = read_plans([path])
    assert len(p1.volumes) == 2 and p1.volumes[1].footprint.radius == pytest.approx(2 * NAUTICAL_MILE)
    assert p2.state.value == "Activated" and p2.priority == 4


@pytest.mark.parametrize("broken, message", [
    (feature({"type": "Polygon", "coordinates": [[[10, 50], [10.1, 50.1], [10, 50.1], [10.1, 50], [10, 50]]]}),
     "feature 0 (plan 'P1'): geometry: polygon is not simple (self-intersection)"),
    (feature(SQUARE, alt_lower="200m"), "feature 0 (plan 'P1'): altitude band inverted"),
    (feature(SQUARE, time_end="2015-10-20T05:00:00Z"), "feature 0 (plan 'P1'): time window inverted"),
    (feature(SQUARE, alt_upper="120"), "property alt_upper: '120' is not an altitude; expected a flight level"),
    (feature(SQUARE, alt_upper="120 furlongs"), "property alt_upper: '120 furlongs' is not an altitude"),
    (feature(SQUARE, time_start="2015-10-20T06:00:00"), "property time_start: '2015-10-20T06:00:00' has no UTC offset"),
    (feature(SQUARE, time_start=None), "property time_start is missing"),
    (feature(POINT), "a Point needs a radius property"),
    (feature(SQUARE, state="Flying"), "property state: 'Flying' is not one of Accepted, Activated"),
])
def test_geojson_errors(tmp_path, broken, message):
    with pytest.raises(PlansFileError) as error:
        read_plans([write_geojson(tmp_path, broken)])
    assert message in str(error.value) and "plans.geojson" in str(error.value) and "\n" not in str(error.value)


YAML = """
plans:
  - id: R1
    party: blue
    route:
      lateral: 1nm
      vertical: 500ft
      time_buffer: 2min
      waypoints:
        - {lat: 50.0, lon: 8.0, altitude: FL100, time: 2015-10-20T06:00:00Z}
        - {lat: 50.2, lon: 8.4, speed: 250kt}
        - {lat: 50.2, lon: 8.8, altitude: FL120, time: 2015-10-20T06:40:00Z}
"""


def test_yaml_route_times_from_speed(tmp_path):
    path = tmp_path / "plans.yaml"
    path.write_text(YAML)
    (plan,) = read_plans([path])
    first, second = plan.volumes
    assert first.altitude_upper == pytest.approx(10000 * FOOT + 500 * FOOT)
    assert second.altitude_upper == pytest.approx(12000 * FOOT + 500 * FOOT)
    assert first.time_end == second.time_start + 240.0  # both 2 min buffers around the second waypoint


@pytest.mark.parametrize("change, message", [
    (("lateral: 1nm", "lateral: 1"), "plan 'R1': route.lateral: '1' has no unit"),
    (("lat: 50.2, lon: 8.4, speed: 250kt", "lat: 50.2, lon: 8.4"), "plan 'R1': route.waypoints[1]: give a time or the speed"),
    (("time: 2015-10-20T06:40:00Z", "time: 2015-10-20T06:01:00Z"), "plan 'R1': route: waypoint times must increase"),
    (("    party: blue", "    party: blue\n    colour: blue"), "plan 'R1': colour: Extra inputs are not permitted"),
])
def test_yaml_errors(tmp_path, change, message):
    path = tmp_path / "plans.yaml"
    path.write_text(YAML.replace(*change))
    with pytest.raises(PlansFileError) as error:
        read_plans([path])
    assert message in str(error.value) and "\n" not in str(error.value)


def test_file_level_errors(tmp_path):
    with pytest.raises(PlansFileError, match="cannot read plans"):
        read_plans([tmp_path / "nope.geojson"])
    other = tmp_path / "plans.txt"
    other.write_text("x")
    with pytest.raises(PlansFileError, match="unknown plan file type"):
        read_plans([other])
    path = write_geojson(tmp_path, feature(SQUARE))
    copy = tmp_path / "copy.geojson"
    copy.write_text(path.read_text())
    with pytest.raises(PlansFileError, match="plan 'P1' is already declared in"):
        read_plans([path, copy])
