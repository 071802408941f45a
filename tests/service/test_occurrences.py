"""Occurrences: a loss of separation that happened is recorded, audited, told, listed and exported;
it used to close as "the conflict cleared" with nothing kept (issue 17)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from deconflict.core.units import FOOT
from deconflict.store.audit import load_public_key, parse_records, verify
from tests.service.answers import documented
from tests.service.builders import tracks
from tests.service.test_hostile import FailingCommits

KM_PER_DEGREE_LON_AT_45 = 78.85  # km per degree of longitude at 45°N


def _pair(world, distance_km: float, dz_ft: float = 0.0, bravo_heading: float = 270.0) -> None:
    """alpha's a1 and bravo's b1 ``distance_km`` apart east-west, now (service clock). Slow (5 m/s), so
    that the positions the test sets are believed (a fast aircraft that does not move is held)."""
    now = world.clock.now()
    world["alpha_op"].post("/v1/tracks", json=tracks({"time": now, "icao24": "a1", "lat": 45.0, "lon": 5.0,
                                                       "heading": 90.0, "velocity": 5.0}))
    world["bravo_op"].post("/v1/tracks", json=tracks({
        "time": now, "icao24": "b1", "lat": 45.0, "lon": 5.0 + distance_km / KM_PER_DEGREE_LON_AT_45,
        "heading": bravo_heading, "baroaltitude": 9000.0 + dz_ft * FOOT, "velocity": 5.0}))


def _step(world, seconds: float = 1.0) -> None:
    world.clock.advance(seconds)


def _chain(world) -> list[dict]:
    records, head = parse_records(world["cell"].get("/v1/audit/chain").text)
    verify(records, head, load_public_key(world["cell"].get("/v1/audit/key").text))
    return [json.loads(r["body"]) for r in records]


def test_a_loss_of_separation_is_kept_as_an_occurrence(world):
    _pair(world, 10.0)  # closing at 10 m/s: a loss in 74 s
    world.service.detect_now()
    assert world["cell"].get("/v1/occurrences").json() == []  # a conflict, not yet a loss
    conflict = world["cell"].get("/v1/conflicts").json()["tactical"][0]["id"]
    _step(world)
    _pair(world, 4.0)
    world.service.detect_now()
    [started] = world["alpha_obs"].get("/v1/occurrences").json()
    assert started["ended"] is None and started["conflict"] == conflict
    assert started["closest_horizontal_m"] == pytest.approx(4000.0, rel=0.01)
    _step(world)
    _pair(world, 1.5)
    world.service.detect_now()
    _step(world)
    _pair(world, 3.0, dz_ft=2000.0, bravo_heading=90.0)  # climbed away and turned: separated ...
    world.service.detect_now()
    assert world["bravo_op"].get("/v1/occurrences").json()[0]["ended"] is None
    _step(world, 30.0)  # ... for 30 s: the occurrence ends, at the last time the pair was seen inside
    _pair(world, 3.0, dz_ft=2000.0, bravo_heading=90.0)
    world.service.detect_now()
    [ended] = world["bravo_op"].get("/v1/occurrences").json()
    documented(world["bravo_op"], "GET", "/v1/occurrences", world["bravo_op"].get("/v1/occurrences"))
    assert ended["id"] == started["id"] and ended["end_reason"] == "separated"
    assert ended["duration_s"] == pytest.approx(1.0)
    assert ended["closest_horizontal_m"] == pytest.approx(1500.0, rel=0.01)
    assert ended["closest_vertical_m"] == pytest.approx(0.0, abs=0.5)
    kinds = [(b["kind"], b["payload"].get("id")) for b in _chain(world) if b["kind"].startswith("occurrence.")]
    assert kinds == [("occurrence.started", started["id"]), ("occurrence.ended", started["id"])]
    exported = list(csv.DictReader(io.StringIO(world["cell"].get("/v1/occurrences?format=csv").text)))
    assert [(row["id"], row["end_reason"], row["party_a"], row["party_b"]) for row in exported] == \
        [(started["id"], "separated", "alpha", "bravo")]
    # the conflict clears later: the record and the thread say a loss happened
    for _ in range(3):
        _step(world, 30.0)
        _pair(world, 60.0, dz_ft=4000.0, bravo_heading=90.0)
        world.service.detect_now()
    cleared = [b for b in _chain(world) if b["kind"] == "conflict.cleared" and b["payload"]["conflict"] == conflict]
    assert cleared and cleared[0]["payload"]["occurrences"] == [started["id"]]


def test_an_occurrence_whose_tracks_are_lost_ends_so(world):
    _pair(world, 2.0)
    world.service.detect_now()
    assert len(world["cell"].get("/v1/occurrences").json()) == 1
    _step(world, world.service.settings.max_age + 1.0)  # nobody reports any more
    world.service.detect_now()
    [ended] = world["cell"].get("/v1/occurrences").json()
    assert ended["end_reason"] == "tracks lost"


def test_level_aircraft_exactly_1000_ft_apart_are_no_occurrence(world):
    _pair(world, 0.5, dz_ft=1000.0)
    world.service.detect_now()
    assert world["cell"].get("/v1/occurrences").json() == []


def test_a_start_whose_write_fails_is_recorded_by_the_next_good_cycle(world):
    _pair(world, 2.0)
    world.service.detect_now()  # the conflict is raised first (its own transaction)
    world["cell"].get("/v1/occurrences")
    world.service.tactical.occurrences._open.clear()  # as if the start had not been stored ...
    with world.service.Session() as session:
        from deconflict.store.schema import Occurrence

        session.query(Occurrence).delete()
        session.commit()
    _step(world)
    _pair(world, 2.0)
    with FailingCommits(world.service.engine, count=10), pytest.raises(Exception):
        world.service.detect_now()  # ... and its write fails now
    assert world["cell"].get("/v1/occurrences").json() == []
    _step(world)
    _pair(world, 2.0)
    world.service.detect_now()
    assert len(world["cell"].get("/v1/occurrences").json()) == 1


def test_an_open_occurrence_survives_a_change_of_leader(world):
    from tests.service.test_failover import _node

    _pair(world, 2.0)
    world.service.detect_now()
    [before] = world["cell"].get("/v1/occurrences").json()
    standby, clients = _node(world)
    try:
        world.service.close()
        standby.check_lease()
        _step(world)
        standby.detect_now()  # no tracks yet on the new leader: the occurrence waits for them
        assert clients["cell"].get("/v1/occurrences").json()[0]["ended"] is None
        now = world.clock.now()
        clients["alpha_op"].post("/v1/tracks", json=tracks({"time": now, "icao24": "a1", "lat": 45.0, "lon": 5.0,
                                                             "velocity": 5.0}))
        clients["bravo_op"].post("/v1/tracks", json=tracks({"time": now, "icao24": "b1", "lat": 45.0,
                                                            "lon": 5.0 + 1.0 / KM_PER_DEGREE_LON_AT_45,
                                                            "heading": 270.0, "velocity": 5.0}))
        standby.detect_now()
        [after] = clients["cell"].get("/v1/occurrences").json()
        assert after["id"] == before["id"] and after["ended"] is None
        assert after["closest_horizontal_m"] == pytest.approx(1000.0, rel=0.01)
    finally:
        standby.close()


def test_a_pair_back_inside_within_30_s_is_one_occurrence(world):
    """A pair on the edge of the minima goes in and out: one encounter, one occurrence (as `scan --join`)."""
    for distance, seconds in ((2.0, 1.0), (12.0, 10.0), (2.0, 1.0), (12.0, 31.0), (12.0, 1.0)):
        _pair(world, distance)
        world.service.detect_now()
        _step(world, seconds)
    [one] = world["cell"].get("/v1/occurrences").json()
    assert one["ended"] is not None and one["duration_s"] == pytest.approx(11.0)


def test_surface_traffic_is_no_occurrence_under_atc_minima(world):
    """A departure climbing out over an aircraft parked at the gate (slow, low) is no loss of
    separation under ATC minima, as `scan` rules; the conflict alert is still raised (conservative)."""
    now = world.clock.now()
    world["alpha_op"].post("/v1/tracks", json=tracks({"time": now, "icao24": "a1", "lat": 45.0, "lon": 5.0,
                                                       "velocity": 0.0, "baroaltitude": 100.0}))
    world["bravo_op"].post("/v1/tracks", json=tracks({"time": now, "icao24": "b1", "lat": 45.0, "lon": 5.005,
                                                       "velocity": 80.0, "baroaltitude": 200.0}))
    world.service.detect_now()
    assert world["cell"].get("/v1/conflicts").json()["tactical"]
    assert world["cell"].get("/v1/occurrences").json() == []


def test_a_loss_only_predicted_from_stale_reports_is_no_occurrence(world):
    """Both tracks last reported 30 s ago, predicted into each other now: shown as a conflict, not
    recorded as something that happened (an occurrence needs positions reported within 20 s)."""
    then = world.clock.now() - 30.0
    world["alpha_op"].post("/v1/tracks", json=tracks({"time": then, "icao24": "a1", "lat": 45.0, "lon": 5.0,
                                                       "heading": 90.0, "velocity": 50.0}))
    world["bravo_op"].post("/v1/tracks", json=tracks({"time": then, "icao24": "b1", "lat": 45.0,
                                                       "lon": 5.0 + 3.0 / KM_PER_DEGREE_LON_AT_45,
                                                       "heading": 270.0, "velocity": 50.0}))
    world.service.detect_now()
    assert world["cell"].get("/v1/conflicts").json()["tactical"]
    assert world["cell"].get("/v1/occurrences").json() == []
