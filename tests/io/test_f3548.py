"""ASTM F3548-21 operational intents in and out: parsed with InterUSS's models of the published
OpenAPI, altitudes converted from WGS84 heights with a conservative geoid margin, one-line errors."""

from __future__ import annotations

import json

import pytest

from deconflict.core.plans import Plan, PlanIndex, PlanState
from deconflict.core.volumes import Circle, Polygon, Volume4D
from deconflict.io.f3548 import GEOID_HIGH, GEOID_LOW, intents_from_plans, plans_from_intents
from deconflict.io.plans_file import PlansFileError, read_plans

T0 = 1_800_000_000.0


def _intent(**changes):
    volume = {"volume": {"outline_circle": {"center": {"lat": 45.0, "lng": 5.0}, "radius": {"value": 1000.0, "units": "M"}},
                         "altitude_lower": {"value": 100.0, "reference": "W84", "units": "M"},
                         "altitude_upper": {"value": 200.0, "reference": "W84", "units": "M"}},
              "time_start": {"value": "2027-01-15T08:00:00Z", "format": "RFC3339"},
              "time_end": {"value": "2027-01-15T09:00:00Z", "format": "RFC3339"}}
    intent = {"reference": {"id": "6f1e8a4e-5b3c-4f9e-9c1a-0a7e2d8b1c11", "manager": "uss1", "uss_availability": "Normal",
                            "version": 3, "state": "Accepted", "ovn": "abc", "time_start": volume["time_start"],
                            "time_end": volume["time_end"], "uss_base_url": "https://uss1.example",
                            "subscription_id": "00000000-0000-0000-0000-000000000000"},
              "details": {"volumes": [volume], "priority": 10}}
    for path, value in changes.items():
        target = intent
        keys = path.split(".")
        for key in keys[:-1]:
            target = target[key][0] if isinstance(target[key], list) else target[key]
        target[keys[-1]] = value
    return intent


def test_an_intent_becomes_a_plan_with_its_band_widened_for_the_geoid():
    [plan] = plans_from_intents(_intent(), "intents.json", party="uss1")
    assert plan.id == "6f1e8a4e-5b3c-4f9e-9c1a-0a7e2d8b1c11" and plan.priority == 10 and plan.state is PlanState.ACCEPTED
    volume = plan.volumes[0]
    assert isinstance(volume.footprint, Circle) and volume.footprint.radius == 1000.0
    assert volume.altitude_lower == pytest.approx(100.0 - GEOID_HIGH) and volume.altitude_upper == pytest.approx(200.0 - GEOID_LOW)
    assert volume.time_end - volume.time_start == 3600.0


def test_plans_round_trip_and_conflicts_survive_the_datum(tmp_path):
    mine = Plan("p1", "blue", (Volume4D(Polygon(((45.0, 5.0), (45.0, 5.02), (45.02, 5.02), (45.02, 5.0))), 300.0, 600.0,
                                        T0, T0 + 1800),), priority=2)
    theirs = Plan("p2", "red", (Volume4D(Circle(45.01, 5.01, 500.0), 650.0, 900.0, T0 + 600, T0 + 2400),))
    assert PlanIndex().check(theirs).conflicts == ()  # 50 m apart above MSL: no conflict ...
    path = tmp_path / "intents.json"
    path.write_text(json.dumps(intents_from_plans([mine, theirs])))
    back = read_plans([path])  # ... but once through W84 and back, the datum's uncertainty makes it one
    index = PlanIndex(equal_priority="accept")
    index.add(back[0])
    assert len(index.check(back[1]).conflicts) == 1
    assert back[0].volumes[0].footprint.vertices == mine.volumes[0].footprint.vertices
    assert back[0].volumes[0].altitude_lower == pytest.approx(300.0 + GEOID_LOW - GEOID_HIGH)  # only ever wider
    assert back[0].volumes[0].altitude_upper == pytest.approx(600.0 + GEOID_HIGH - GEOID_LOW)


@pytest.mark.parametrize("changes, expected", [
    ({"details.volumes.volume.altitude_lower.reference": "AGL"}, "altitude_lower.reference"),
    ({"details.volumes.volume.outline_circle.radius.units": "FT"}, "radius.units"),
    ({"reference.state": "Flying"}, "reference.state"),
    ({"details.volumes.time_start.format": "unix"}, "time_start.format"),
    ({"details.volumes.volume.altitude_upper": None}, "altitude_upper is required"),
    ({"details.volumes": []}, "at least one volume"),
])
def test_a_bad_intent_is_one_line_naming_the_field(changes, expected):
    with pytest.raises(PlansFileError) as error:
        plans_from_intents(_intent(**changes), "intents.json")
    assert expected in str(error.value) and "intents.json: intent 0" in str(error.value) and "\n" not in str(error.value)


def test_recurring_plans_are_not_exported():
    from datetime import date

    from deconflict.core.plans import Recurrence

    plan = Plan("daily", "x", (Volume4D(Circle(45.0, 5.0, 100.0), 0.0, 100.0, 0.0, 600.0),),
                recurrence=Recurrence((21600.0,), date(2027, 1, 1), date(2027, 1, 9)))
    with pytest.raises(PlansFileError, match="recurring plans have no F3548 form"):
        intents_from_plans([plan])
