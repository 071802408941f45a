"""Conformance monitoring (issue 15): an aircraft outside every volume of its party's plans naming
it makes them Nonconforming; the owner is told, and so is every party it could now reach; back
inside, the plans conform again. One bad report does not trip it; going silent does not end it."""

from __future__ import annotations

import json

import pytest

from deconflict.core.units import FOOT
from deconflict.store.audit import load_public_key, parse_records, verify
from tests.service.answers import documented
from tests.service.builders import plan, tracks

KM_PER_DEGREE_LAT = 111.1
BOX_NORTH = 45.2  # alpha's box: 45.0-45.2 N, 5.0-5.4 E, FL180-FL220, from T0 - 10 min for 1 h


def _box(**extra) -> dict:
    return {"id": "BOX", "aircraft": ["a1"], **extra,
            "volumes": [{"polygon": [[45.0, 5.0], [45.2, 5.0], [45.2, 5.4], [45.0, 5.4]],
                         "altitude": ["FL180", "FL220"],
                         "time": [_iso(-600.0), _iso(3000.0)]}]}


def _iso(offset: float) -> str:
    from tests.service.builders import iso
    from tests.service.conftest import T0

    return iso(T0 + offset)


def _a1(world, lat: float, altitude_ft: float = 20_000.0, heading: float = 0.0) -> None:
    """alpha's a1 at ``lat`` (5.2 E), now; slow (5 m/s), so that each set position is believed."""
    world["alpha_op"].post("/v1/tracks", json=tracks({"time": world.clock.now(), "icao24": "a1", "lat": lat,
                                                       "lon": 5.2, "velocity": 5.0, "heading": heading,
                                                       "baroaltitude": altitude_ft * FOOT, "callsign": "HAWK1"}))


def _b1(world, lat: float = 45.2 - 12.0 / KM_PER_DEGREE_LAT) -> None:
    """bravo's b1, 12 km south of alpha's box at FL200 (alpha's a1 never conflicts with it: far enough)."""
    world["bravo_op"].post("/v1/tracks", json=tracks({"time": world.clock.now(), "icao24": "b1", "lat": lat - 0.3,
                                                       "lon": 5.2, "velocity": 5.0, "baroaltitude": 20_000 * FOOT}))


def _cycle(world, seconds: float = 2.0) -> None:
    world.service.detect_now()
    world.clock.advance(seconds)


def _state(world, client: str = "alpha_op", plan_id: str = "BOX") -> str:
    return world[client].get(f"/v1/plans/alpha/{plan_id}").json()["state"]


def _kinds(world) -> list[str]:
    """The nonconformance entries of the whole record, verified."""
    records, head = parse_records(world["cell"].get("/v1/audit/chain").text)
    verify(records, head, load_public_key(world["cell"].get("/v1/audit/key").text))
    kinds = [json.loads(r["body"])["kind"] for r in records]
    return [k for k in kinds if k.startswith("nonconformance.")]


def test_an_aircraft_that_leaves_its_box_makes_its_plan_nonconforming_and_others_are_told(world):
    assert world["alpha_op"].post("/v1/plans", json=_box()).status_code == 201
    assert world["bravo_op"].post("/v1/plans", json=plan(
        "SOUTH", lat=44.8, lon=5.2, radius="10km", altitude=("FL150", "FL250"))).status_code == 201
    for _ in range(4):  # inside: Activated, nothing told
        _a1(world, 45.1)
        _cycle(world)
    assert _state(world) == "Activated"
    assert world["cell"].get("/v1/nonconformances").json() == []
    for _ in range(2):  # out of the box, 4 km south of it, for 2 s: not confirmed yet
        _a1(world, 45.0 - 4.0 / KM_PER_DEGREE_LAT)
        _cycle(world)
    assert _state(world) == "Activated"
    for _ in range(3):  # ... 6 s: Nonconforming
        _a1(world, 45.0 - 4.0 / KM_PER_DEGREE_LAT)
        _cycle(world)
    assert _state(world) == "Nonconforming"
    [own] = world["alpha_op"].get("/v1/nonconformances").json()
    assert own["icao24"] == "a1" and own["plans"] == ["BOX"] and own["ended"] is None
    assert own["detail"]["outside_by"]["lateral_m"] == pytest.approx(4000.0, rel=0.02)
    assert [t["party"] for t in own["told"]] == ["bravo"]  # bravo's plan SOUTH is within its reach
    assert "plans" not in own["told"][0]  # alpha does not learn what of bravo's it could reach
    documented(world["alpha_op"], "GET", "/v1/nonconformances", world["alpha_op"].get("/v1/nonconformances"))
    documented(world["bravo_op"], "GET", "/v1/nonconformances", world["bravo_op"].get("/v1/nonconformances"))
    [told] = world["bravo_op"].get("/v1/nonconformances").json()
    assert told["icao24"] == "a1" and "plans" not in told and "detail" not in told  # never alpha's plans
    assert told["told"][0]["plans"] == ["SOUTH"]
    seen = {row["icao24"]: row for row in world["bravo_op"].get("/v1/tracks").json()}
    assert seen["a1"]["nonconforming"] is True  # bravo sees the aircraft while it lasts
    assert "a1" not in {row["icao24"] for row in world["bravo_op"].get("/v1/tracks").json() if not row.get("nonconforming")}
    assert _kinds(world) == ["nonconformance.started", "nonconformance.told"]
    for _ in range(4):  # back inside for 6 s: conforming again
        _a1(world, 45.1)
        _cycle(world)
    assert _state(world) == "Activated"
    [ended] = world["alpha_op"].get("/v1/nonconformances").json()
    assert ended["end_reason"] == "back inside"
    assert world["bravo_op"].get("/v1/nonconformances").json()[0]["ended"] is not None
    assert "a1" not in {row["icao24"] for row in world["bravo_op"].get("/v1/tracks").json()}
    assert _kinds(world) == ["nonconformance.started", "nonconformance.told", "nonconformance.ended"]


def test_a_party_near_the_aircraft_is_told_and_one_far_away_is_not(world):
    world.service.add_party("charlie")
    charlie = world.service.add_member("charlie op", "operator", "charlie")
    world["alpha_op"].post("/v1/plans", json=_box())
    _b1(world, lat=45.0 - 10.0 / KM_PER_DEGREE_LAT + 0.3)  # 14 km south of a1's position outside
    from fastapi.testclient import TestClient

    far = TestClient(world["cell"].app, headers={"Authorization": f"Bearer {charlie}"})
    far.post("/v1/tracks", json=tracks({"time": world.clock.now(), "icao24": "c1", "lat": 40.0, "lon": 5.2,
                                        "velocity": 5.0, "baroaltitude": 20_000 * FOOT}))
    for _ in range(5):
        _a1(world, 45.0 - 4.0 / KM_PER_DEGREE_LAT)
        _cycle(world)
    [record] = world["cell"].get("/v1/nonconformances").json()
    assert [(t["party"], t["aircraft"]) for t in record["told"]] == [("bravo", ["b1"])]
    assert far.get("/v1/nonconformances").json() == []


def test_one_bad_report_does_not_trip_it(world):
    world["alpha_op"].post("/v1/plans", json=_box())
    for lat in (45.1, 45.1, 44.0, 45.1, 45.1, 45.1, 45.1):  # one report 110 km away, then back
        _a1(world, lat)
        _cycle(world, 3.0)
    assert world["cell"].get("/v1/nonconformances").json() == []
    assert _state(world) == "Activated"


def test_a_level_bust_beyond_300_ft_is_nonconforming_and_within_it_is_not(world):
    world["alpha_op"].post("/v1/plans", json=_box())
    for _ in range(5):
        _a1(world, 45.1, altitude_ft=22_250.0)  # 250 ft above the box: within the tolerance
        _cycle(world)
    assert world["cell"].get("/v1/nonconformances").json() == []
    for _ in range(5):
        _a1(world, 45.1, altitude_ft=22_400.0)
        _cycle(world)
    [record] = world["cell"].get("/v1/nonconformances").json()
    assert record["detail"]["outside_by"]["vertical_m"] == pytest.approx(400 * FOOT, abs=0.2)


def test_going_silent_does_not_end_it_but_withdrawing_the_plan_does(world):
    world["alpha_op"].post("/v1/plans", json=_box())
    for _ in range(5):
        _a1(world, 44.5)
        _cycle(world)
    world.clock.advance(600)  # a1 silent for 10 min: dropped from the picture, still Nonconforming
    _cycle(world)
    assert _state(world) == "Nonconforming"
    version = world["alpha_op"].get("/v1/plans/alpha/BOX").headers["etag"]
    assert world["alpha_op"].delete("/v1/plans/alpha/BOX", headers={"If-Match": version}).status_code == 204
    _cycle(world)
    [record] = world["cell"].get("/v1/nonconformances").json()
    assert record["end_reason"] == "plan withdrawn"


def test_an_aircraft_still_flying_after_its_plan_ended_is_nonconforming(world):
    world["alpha_op"].post("/v1/plans", json=_box())
    world.clock.advance(3000 + 60)  # the box ends at T0 + 3000 s; the time tolerance is 60 s
    for _ in range(5):
        _a1(world, 45.1)
        _cycle(world)
    [record] = world["cell"].get("/v1/nonconformances").json()
    assert record["plans"] == ["BOX"] and record["detail"]["outside_by"]["time_s"] >= 60.0


def test_a_plan_naming_another_partys_aircraft_does_not_touch_it(world):
    """alpha names bravo's b1 in its plan: bravo's track of b1 is bravo's, held to bravo's plans only."""
    world["alpha_op"].post("/v1/plans", json={**_box(), "aircraft": ["b1"]})
    for _ in range(5):
        _b1(world, lat=46.0)
        _cycle(world)
    assert world["cell"].get("/v1/nonconformances").json() == []


def test_an_aircraft_no_plan_names_is_not_monitored(world):
    world["alpha_op"].post("/v1/plans", json={**_box(), "aircraft": []})
    for _ in range(5):
        _a1(world, 44.0)
        _cycle(world)
    assert world["cell"].get("/v1/nonconformances").json() == []
    assert _state(world) == "Activated"


def test_an_open_nonconformance_survives_a_restart(world, tmp_path):
    from deconflict.service.deconfliction import Deconfliction

    world["alpha_op"].post("/v1/plans", json=_box())
    for _ in range(5):
        _a1(world, 44.5)
        _cycle(world)
    world.service.close()
    again = Deconfliction(world.service.settings, clock=world.clock)
    try:
        assert again.conformance.nonconforming_plans() == {"alpha/BOX"}
    finally:
        again.close()


def test_many_aircraft_off_their_plan_are_all_told_within_a_few_cycles_of_bounded_work(world):
    """A party flying 40 aircraft out of its box at once: each cycle looks at the reach of 32 at most
    (detection is not slowed for everyone), and within two more cycles every one has been looked at."""
    from deconflict.service.conformance import MAX_REACH_PER_CYCLE

    aircraft = [f"a{k}" for k in range(40)]
    world["alpha_op"].post("/v1/plans", json=_box(aircraft=aircraft))
    _b1(world, lat=45.0 - 10.0 / KM_PER_DEGREE_LAT + 0.3)

    def report() -> None:
        world["alpha_op"].post("/v1/tracks", json=tracks(*[
            {"time": world.clock.now(), "icao24": name, "lat": 45.0 - 4.0 / KM_PER_DEGREE_LAT, "lon": 5.15 + 0.002 * k,
             "velocity": 5.0, "baroaltitude": 20_000 * FOOT} for k, name in enumerate(aircraft)]))

    for _ in range(4):
        report()
        _cycle(world)
    told = [r for r in world["cell"].get("/v1/nonconformances").json() if r["told"]]
    assert 0 < len(told) <= MAX_REACH_PER_CYCLE and len(told) < len(aircraft)  # not all 40 in one cycle
    for _ in range(2):
        report()
        _cycle(world)
    records = world["cell"].get("/v1/nonconformances").json()
    assert len(records) == 40 and all(r["told"] and r["told"][0]["party"] == "bravo" for r in records)
