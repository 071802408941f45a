"""Track batches, continuous tactical detection with alert levels, and need-to-know of the picture."""

from __future__ import annotations

import numpy as np

from tests.service.builders import head_on, tracks
from tests.service.conftest import T0


def test_head_on_pair_of_two_parties_raises_a_conflict_each_side_sees(world):
    mine, theirs = head_on()
    far = {"time": T0, "icao24": "b-far", "lat": 50.0, "lon": 10.0, "callsign": "HIDDEN9"}
    assert world["alpha_op"].post("/v1/tracks", json=tracks(mine)).json()["accepted"] == 1
    assert world["bravo_op"].post("/v1/tracks", json=tracks(theirs, far)).json()["accepted"] == 2
    world.service.detect_now()
    for member in ("alpha_op", "alpha_obs", "bravo_op", "cell"):
        conflicts = world[member].get("/v1/conflicts").json()["tactical"]
        assert len(conflicts) == 1, member
        c = conflicts[0]
        assert (c["a"], c["b"], c["party_a"], c["party_b"]) == ("a1", "b1", "alpha", "bravo")
        assert c["level"] == 3 and 10 < c["t_in"] < 25 and c["d_cpa"] < 100
    alpha_sees = world["alpha_op"].get("/v1/tracks").json()
    assert {(t["icao24"], t.get("intruder", False)) for t in alpha_sees} == {("a1", False), ("b1", True)}
    assert "HIDDEN9" not in str(alpha_sees) and "b-far" not in str(alpha_sees)
    bravo_sees = world["bravo_op"].get("/v1/tracks").json()
    assert {(t["icao24"], t.get("intruder", False)) for t in bravo_sees} == {("b1", False), ("b-far", False),
                                                                            ("a1", True)}
    assert {t["icao24"] for t in world["cell"].get("/v1/tracks").json()} == {"a1", "b1", "b-far"}
    threads = world["alpha_op"].get("/v1/threads").json()
    assert threads[0]["conflict"] == c["id"]


def test_conflict_clears_when_one_climbs_and_levels_follow_time_to_loss(world):
    mine, theirs = head_on()
    mine = {**mine, "lon": 4.5}  # ~55 km apart: loss of separation in ~115 s: corrective
    world["alpha_op"].post("/v1/tracks", json=tracks(mine))
    world["bravo_op"].post("/v1/tracks", json=tracks(theirs))
    world.service.detect_now()
    first = world["cell"].get("/v1/conflicts").json()["tactical"][0]
    assert first["level"] == 2
    world.clock.advance(60)
    world.service.detect_now()
    assert world["cell"].get("/v1/conflicts").json()["tactical"][0]["level"] == 3
    world["alpha_op"].post("/v1/tracks", json=tracks({**mine, "time": T0 + 60, "lon": 4.5 + 0.15,
                                                      "baroaltitude": 9000 + 610}))
    world.service.detect_now()
    assert world["cell"].get("/v1/conflicts").json()["tactical"] == []


def test_party_cannot_push_tracks_as_another_party(world):
    mine, _ = head_on()
    world["alpha_op"].post("/v1/tracks", json=tracks({**mine, "party": "bravo"}))
    assert world["cell"].get("/v1/tracks").json()[0]["party"] == "alpha"


def test_bad_rows_are_counted_and_the_good_ones_kept(world):
    good, _ = head_on()
    bad = {**good, "icao24": "zz", "lat": 95.0}
    answer = world["alpha_op"].post("/v1/tracks", json=tracks(good, bad)).json()
    assert answer["accepted"] == 1 and answer["rejected"] == 1
    assert "row 2" in answer["examples"][0] and "lat" in answer["examples"][0]
    missing = world["alpha_op"].post("/v1/tracks", json={"time": [T0], "icao24": ["x"]})
    assert missing.status_code == 422 and "missing required column" in missing.json()["detail"]
    garbage = world["alpha_op"].post("/v1/tracks", content=b"{not json")
    assert garbage.status_code == 422 and "not JSON" in garbage.json()["detail"]
    rows = world["alpha_op"].post("/v1/tracks", json=[{**good, "velocity": 200.0, "vertrate": 0.0,
                                                        "baroaltitude": 9000.0}])
    assert rows.json()["accepted"] == 1


def test_suspended_party_still_counts_and_the_other_is_alerted(world):
    mine, theirs = head_on()
    world["alpha_op"].post("/v1/tracks", json=tracks(mine))
    world["bravo_op"].post("/v1/tracks", json=tracks(theirs))
    assert world["bravo_op"].post("/v1/parties/bravo/suspend").status_code == 200
    assert world["alpha_op"].post("/v1/parties/bravo/suspend").status_code == 403
    world.service.detect_now()
    conflicts = world["alpha_op"].get("/v1/conflicts").json()["tactical"]
    assert len(conflicts) == 1 and conflicts[0]["party_b"] == "bravo"
    thread = world["alpha_op"].get("/v1/threads").json()[0]
    world.service.escalate_overdue()
    detail = world["cell"].get(f"/v1/threads/{thread['id']}").json()
    assert detail["status"] == "escalated"
    assert "suspended" in detail["messages"][-1]["text"]


def test_suggested_manoeuvres_resolve_the_conflict_and_name_only_own_aircraft(world):
    import numpy as np

    from deconflict.core.alerting import alerts
    from deconflict.core.states import States
    from deconflict.service.proposals import Manoeuvre

    mine, theirs = head_on()
    mine = {**mine, "lon": 4.6}  # loss of separation in ~1 min 15 s: time to manoeuvre
    world["alpha_op"].post("/v1/tracks", json=tracks(mine))
    world["bravo_op"].post("/v1/tracks", json=tracks(theirs))
    world.service.detect_now()
    conflict = world["alpha_op"].get("/v1/conflicts").json()["tactical"][0]
    answer = world["alpha_op"].get(f"/v1/conflicts/{conflict['id']}/resolutions").json()
    assert [a["aircraft"] for a in answer] == ["a1"] and "b1" not in str(answer)
    proposals = answer[0]["proposals"]
    assert {p["action"] for p in proposals} >= {"heading", "climb"} or {p["action"] for p in proposals} >= {"heading", "descend"}
    for proposal in proposals:
        Manoeuvre.model_validate(proposal)  # ready to post on the hotline
    heading = next(p for p in proposals if p["action"] == "heading")
    snapshot = world.service.picture.snapshot(world.clock.now(), 60.0)
    own = np.flatnonzero(snapshot.icao24 == "a1")[0]
    turned = snapshot.heading.copy()
    turned[own] = float(heading["value"])
    after = alerts(States.from_arrays(snapshot.icao24, snapshot.time, snapshot.lat, snapshot.lon, snapshot.velocity,
                                      turned, snapshot.vertrate, snapshot.altitude, at=snapshot.at), "en-route")
    assert len(after) == 0  # the suggested heading clears every alert level
    both = world["cell"].get(f"/v1/conflicts/{conflict['id']}/resolutions").json()
    assert [a["aircraft"] for a in both] == ["a1", "b1"]
    assert world["alpha_op"].get("/v1/conflicts/tactical:999/resolutions").status_code == 404


def test_oversized_batch_is_refused_and_unauthenticated_calls_say_bearer(world, monkeypatch):
    import deconflict.service.hardening as api

    monkeypatch.setattr(api, "MAX_TRACK_BODY", 1000)
    mine, _ = head_on()
    big = tracks(*[{**mine, "icao24": f"x{k:05d}"} for k in range(50)])
    answer = world["alpha_op"].post("/v1/tracks", json=big)
    assert answer.status_code == 413 and "split it" in answer.json()["detail"]
    assert world["alpha_op"].post("/v1/tracks", json=tracks(mine)).status_code == 202
    refused = world["anonymous"].get("/v1/tracks")
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"


def test_times_may_be_iso_8601_as_in_every_other_api_field(world):
    from tests.service.builders import iso

    mine, theirs = head_on()
    batch = tracks({**mine, "time": iso(T0)}, {**theirs, "time": "2026-11-18T12:06:40+01:00"},
                   {**theirs, "icao24": "bad", "time": "yesterday"})
    answer = world["cell"].post("/v1/tracks", json={**batch, "party": ["alpha", "bravo", "bravo"]}).json()
    assert answer["accepted"] == 2 and answer["rejected"] == 1 and "row 3: time missing" in answer["examples"]
    world.service.detect_now()
    assert [(c["a"], c["b"]) for c in world["cell"].get("/v1/conflicts").json()["tactical"]] == [("a1", "b1")]


def test_every_suggested_resolution_flown_as_written_stays_clear_of_everyone(world):
    """The other party at FL290 5 km ahead on the same track: 'descend FL290' was proposed (the bands'
    29,600 ft floored to a flight level nobody had checked), and flying it gave a warning at 0 ft."""
    import numpy as np
    from pyproj import Geod

    from deconflict.core.units import FOOT
    from deconflict.service.proposals import Manoeuvre
    from tests.core.flight import fly, inside_loss

    geod = Geod(ellps="WGS84")
    mine, theirs = head_on()
    mine = {**mine, "lon": 4.6, "baroaltitude": 30000 * FOOT}
    theirs = {**theirs, "baroaltitude": 30000 * FOOT}
    ahead_lon, ahead_lat, _ = geod.fwd(4.6, 45.0, 90.0, 5000.0)
    below = {"time": T0, "icao24": "b2", "lat": ahead_lat, "lon": ahead_lon, "heading": 90.0, "velocity": 200.0,
             "baroaltitude": 29000 * FOOT, "callsign": "BRAVO2"}
    world["alpha_op"].post("/v1/tracks", json=tracks(mine))
    world["bravo_op"].post("/v1/tracks", json=tracks(theirs, below))
    world.service.detect_now()
    conflict = next(c for c in world["alpha_op"].get("/v1/conflicts").json()["tactical"] if c["b"] == "b1")
    proposals = world["alpha_op"].get(f"/v1/conflicts/{conflict['id']}/resolutions").json()[0]["proposals"]
    assert proposals
    snapshot = world.service.picture.snapshot(world.clock.now(), 60.0)
    own = int(np.flatnonzero(snapshot.icao24 == "a1")[0])
    for proposal in proposals:
        Manoeuvre.model_validate(proposal)
        action, value = proposal["action"], proposal["value"]
        variable, target = {"heading": ("track", lambda v: float(v)),
                            "climb": ("altitude", lambda v: int(v[2:]) * 100 * FOOT),
                            "descend": ("altitude", lambda v: int(v[2:]) * 100 * FOOT),
                            "speed": ("ground_speed", lambda v: float(v[:-2]) * 1852 / 3600)}[action]
        assert value != "FL290"
        t, east, north, dz = fly(snapshot, own, variable, target(value), seconds=300.0)
        assert not inside_loss(t, east, north, dz, hsep=9260.0 * 0.99, vsep=304.8 * 0.99).any(), proposal


def test_the_picture_as_asterix_cat062(world):
    from deconflict.io.asterix import decode
    from tests.service.builders import head_on, tracks

    mine, theirs = head_on(world.clock.now())
    world["alpha_op"].post("/v1/tracks", json=tracks(mine))
    world["bravo_op"].post("/v1/tracks", json=tracks(theirs))
    world.service.detect_now()
    answer = world["cell"].get("/v1/tracks", params={"format": "asterix"})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/octet-stream"
    assert answer.content[0] == 62  # a CAT062 datablock
    picture = decode(answer.content, world.clock.now() - world.clock.now() % 86400).states
    shown = world["cell"].get("/v1/tracks", params={"format": "columns"}).json()
    assert len(picture) == len(shown["lat"]) == 2  # addresses that are not ICAO ones go as track numbers
    np.testing.assert_allclose(sorted(picture.lat), sorted(shown["lat"]), atol=1e-5)
    np.testing.assert_allclose(sorted(picture.altitude), sorted(shown["altitude"]), atol=8.0)


def test_the_documented_shapes_match_the_answers(world):
    """The OpenAPI models are documentation (the answers are written by orjson): check them against
    real answers so that they cannot drift."""
    from deconflict.service import schemas

    mine, theirs = head_on(world.clock.now())
    pushed = world["alpha_op"].post("/v1/tracks", json=tracks(mine)).json()
    schemas.IngestAnswer.model_validate(pushed)
    world["bravo_op"].post("/v1/tracks", json=tracks(theirs))
    world.service.detect_now()
    answer = schemas.ConflictsAnswer.model_validate(world["alpha_op"].get("/v1/conflicts").json())
    assert len(answer.tactical) == 1 and answer.tactical[0].state_a.icao24 == "a1"
    for row in world["alpha_op"].get("/v1/tracks").json():
        schemas.TrackView.model_validate(row)
    schemas.MemberAnswer.model_validate(world["cell"].get("/v1/me").json())
