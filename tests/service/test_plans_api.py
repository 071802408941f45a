"""Plans over the API: submit, strategic check, versions (409 on stale), need-to-know of conflicts."""

from __future__ import annotations

import threading

import pytest

from tests.service.builders import plan


def test_submit_read_update_delete_with_versions(world):
    alpha = world["alpha_op"]
    created = alpha.post("/v1/plans", json=plan("P1"))
    assert created.status_code == 201
    assert created.json()["status"] == "accepted" and created.json()["version"] == 1
    assert created.headers["etag"] == '"1"'
    read = alpha.get("/v1/plans/alpha/P1")
    assert read.json()["document"]["volumes"][0]["circle"]["radius"] == "5km"

    moved = plan("P1", lon=5.5)
    assert alpha.put("/v1/plans/alpha/P1", json=moved).status_code == 428  # no version given
    updated = alpha.put("/v1/plans/alpha/P1", json=moved, headers={"If-Match": '"1"'})
    assert updated.status_code == 200 and updated.json()["version"] == 2
    stale = alpha.put("/v1/plans/alpha/P1", json=plan("P1"), headers={"If-Match": '"1"'})
    assert stale.status_code == 409 and "version 2" in stale.json()["detail"]
    assert alpha.get("/v1/plans/alpha/P1").json()["document"]["volumes"][0]["circle"]["lon"] == 5.5

    assert alpha.delete("/v1/plans/alpha/P1", headers={"If-Match": '"1"'}).status_code == 409
    assert alpha.delete("/v1/plans/alpha/P1", headers={"If-Match": '"2"'}).status_code == 204
    assert alpha.get("/v1/plans/alpha/P1").status_code == 404
    assert alpha.get("/v1/plans").json() == []
    again = alpha.post("/v1/plans", json=plan("P1"))  # a deleted plan's id may be used again ...
    assert again.status_code == 201 and again.json()["version"] == 4  # ... its versions go on: no stale ETag fits
    assert alpha.post("/v1/plans", json=plan("P1")).status_code == 409  # a live id is taken


def test_bad_plan_gets_one_line_naming_the_field(world):
    answer = world["alpha_op"].post("/v1/plans", json={"id": "X", "volumes": [
        {"circle": {"lat": 95, "lon": 5, "radius": "5km"}, "altitude": ["FL100", "FL200"],
         "time": ["2026-11-18T10:00:00Z", "2026-11-18T11:00:00Z"]}]})
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert "lat" in detail and "\n" not in detail
    unit = world["alpha_op"].post("/v1/plans", json=plan("Y", radius="5"))
    assert unit.status_code == 422 and "radius" in unit.json()["detail"]
    assert world["alpha_op"].get("/v1/plans").json() == []


def test_strategic_conflict_shows_each_side_only_the_conflicting_volume(world):
    alpha, bravo = world["alpha_op"], world["bravo_op"]
    secret = plan("A-SECRET-1", lat=45.0, lon=5.0)
    secret["volumes"].append({**plan("x", lat=41.234567, lon=2.345678)["volumes"][0]})  # a volume bravo must not see
    assert alpha.post("/v1/plans", json=secret).status_code == 201
    alpha.post("/v1/plans", json=plan("A-SECRET-2", lat=40.0, lon=1.0))
    answer = bravo.post("/v1/plans", json=plan("B1", lat=45.0, lon=5.05)).json()
    assert answer["accepted"] and answer["status"] == "accepted"  # equal priority, accept policy: both notified
    assert len(answer["conflicts"]) == 1
    seen_by_bravo = bravo.get("/v1/conflicts").json()["strategic"]
    assert len(seen_by_bravo) == 1
    conflict = seen_by_bravo[0]
    assert conflict["plan"] == "B1" and conflict["other_party"] == "alpha"
    assert conflict["other_volume"]["geometry"]["type"] == "Polygon"
    text = str(bravo.get("/v1/conflicts").json()) + str(bravo.get("/v1/plans").json())
    assert "A-SECRET" not in text and "41.23" not in text and "2.34" not in text
    assert bravo.get("/v1/plans/alpha/A-SECRET-1").status_code == 404
    seen_by_alpha = alpha.get("/v1/conflicts").json()["strategic"]
    assert seen_by_alpha[0]["plan"] == "A-SECRET-1" and "B1" not in str(seen_by_alpha)
    cell = world["cell"].get("/v1/conflicts").json()["strategic"][0]
    assert {cell["plan"], cell["other_plan"]} == {"A-SECRET-1", "B1"}
    thread = bravo.get("/v1/threads").json()
    assert len(thread) == 1 and thread[0]["parties"] == ["alpha", "bravo"]


def test_higher_priority_plan_blocks_and_an_edit_that_would_conflict_is_refused(world):
    alpha, bravo = world["alpha_op"], world["bravo_op"]
    alpha.post("/v1/plans", json=plan("A1", priority=5))
    blocked = bravo.post("/v1/plans", json=plan("B1", lon=5.05, priority=1)).json()
    assert blocked["status"] == "rejected" and not blocked["accepted"]
    assert blocked["blocked_by"][0]["other_party"] == "alpha" and "A1" not in str(blocked)
    clear = bravo.post("/v1/plans", json=plan("B2", lon=7.0, priority=1)).json()
    assert clear["status"] == "accepted"
    refused = bravo.put("/v1/plans/bravo/B2", json=plan("B2", lon=5.05, priority=1), headers={"If-Match": '"1"'}).json()
    assert not refused["accepted"] and refused["status"] == "accepted"
    assert refused["document"]["volumes"][0]["circle"]["lon"] == 7.0  # the old version still holds


def test_deleting_a_plan_clears_its_conflicts(world):
    alpha, bravo = world["alpha_op"], world["bravo_op"]
    alpha.post("/v1/plans", json=plan("A1"))
    bravo.post("/v1/plans", json=plan("B1", lon=5.05))
    assert len(alpha.get("/v1/conflicts").json()["strategic"]) == 1
    bravo.delete("/v1/plans/bravo/B1", headers={"If-Match": '"1"'})
    assert alpha.get("/v1/conflicts").json()["strategic"] == []


def test_concurrent_updates_on_one_version_exactly_one_wins(world):
    alpha = world["alpha_op"]
    alpha.post("/v1/plans", json=plan("P1"))
    statuses, barrier = [], threading.Barrier(8)

    def edit(k: int) -> None:
        barrier.wait()
        answer = alpha.put("/v1/plans/alpha/P1", json=plan("P1", lon=5.0 + k / 100), headers={"If-Match": '"1"'})
        statuses.append(answer.status_code)

    workers = [threading.Thread(target=edit, args=(k,)) for k in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sorted(statuses) == [200] + [409] * 7
    assert alpha.get("/v1/plans/alpha/P1").json()["version"] == 2


def test_plans_survive_a_restart_and_still_conflict(world, tmp_path):
    from deconflict.service.deconfliction import Deconfliction

    world["alpha_op"].post("/v1/plans", json=plan("A1"))
    world.service.close()  # the process stops: its lease goes with it
    again = Deconfliction(world.service.settings, clock=world.clock)
    assert "alpha/A1" in again.plans
    from deconflict.service.auth import Principal, Role

    bravo = Principal(3, "bravo_op", "bravo", Role.OPERATOR)
    answer = again.submit_plan(bravo, plan("B1", lon=5.05))
    assert len(answer["conflicts"]) == 1
    again.close()


def test_batch_is_all_or_nothing(world):
    alpha = world["alpha_op"]
    bad = alpha.post("/v1/plans/batch", json={"plans": [plan("B1"), plan("B2", radius="-1km"), plan("B3")]})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("plans[1]: ")
    assert alpha.get("/v1/plans").json() == []
    taken = alpha.post("/v1/plans", json=plan("B3", lat=10.0))
    duplicate = alpha.post("/v1/plans/batch", json={"plans": [plan("B1", lat=20.0), plan("B3", lat=30.0)]})
    assert taken.status_code == 201 and duplicate.status_code == 409
    assert [p["id"] for p in alpha.get("/v1/plans").json()] == ["B3"]
    assert "alpha/B1" not in world.service.plans  # the in-memory index followed the rollback
    good = alpha.post("/v1/plans/batch", json={"plans": [plan("B1", lat=20.0), plan("B2", lat=21.0)]})
    assert good.status_code == 201 and [p["status"] for p in good.json()] == ["accepted", "accepted"]


def test_a_batch_dry_run_shows_conflicts_stores_nothing_and_is_on_the_record_of_the_party_it_met(world):
    alpha, bravo = world["alpha_op"], world["bravo_op"]
    assert alpha.post("/v1/plans", json=plan("A1")).status_code == 201
    answer = bravo.post("/v1/plans/check", json={"plans": [plan("B1", lon=5.05), plan("B2", lat=20.0), plan("B3")]})
    assert answer.status_code == 200
    checked = answer.json()
    assert [c["id"] for c in checked] == ["B1", "B2", "B3"]
    assert [len(c["conflicts"]) for c in checked] == [1, 0, 1]  # each against the stored plans, not each other
    assert checked[0]["conflicts"][0]["other_party"] == "alpha" and "A1" not in answer.text
    assert checked[0]["conflicts"][0]["overlap"]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert bravo.get("/v1/plans").json() == [] and "bravo/B1" not in world.service.plans  # nothing stored
    assert bravo.get("/v1/conflicts").json()["strategic"] == []  # nothing raised
    assert 'plans.checked' in alpha.get("/v1/audit/receipts").text  # alpha sees that bravo checked against it
    bad = bravo.post("/v1/plans/check", json={"plans": [plan("B1"), plan("B2", radius="-1km")]})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("plans[1]: ")


def test_volumes_in_force_show_own_plans_and_only_the_conflicting_volume_of_others(world):
    from tests.service.builders import iso
    from tests.service.conftest import T0

    world["alpha_op"].post("/v1/plans", json=plan("A1"))
    world["alpha_op"].post("/v1/plans", json=plan("A-ELSEWHERE", lat=30.0))
    world["bravo_op"].post("/v1/plans", json=plan("B1", lon=5.05))
    world["bravo_op"].post("/v1/plans", json=plan("B-LATER", lat=20.0, start=7200, end=9000))
    at = {"at": iso(T0 + 600)}
    bravo = world["bravo_op"].get("/v1/plans/volumes", params=at).json()["features"]
    kinds = sorted((f["properties"]["kind"], f["properties"].get("plan"), f["properties"]["party"]) for f in bravo)
    assert kinds == [("conflicting", None, "alpha"), ("own", "B1", "bravo")]
    assert "A-ELSEWHERE" not in str(bravo) and "A1" not in str(bravo)
    later = world["bravo_op"].get("/v1/plans/volumes", params={"at": iso(T0 + 8000)}).json()["features"]
    assert [f["properties"]["plan"] for f in later] == ["B-LATER"]
    cell = world["cell"].get("/v1/plans/volumes", params=at).json()["features"]
    assert sorted(f["properties"]["plan"] for f in cell) == ["A-ELSEWHERE", "A1", "B1"]
    assert world["cell"].get("/v1/plans/volumes", params={"at": "yesterday"}).status_code == 422


def test_airports_in_a_box_and_across_the_antimeridian(world):
    paris = world["alpha_obs"].get("/v1/airports", params={"bbox": "48.5,2.0,49.5,3.0"}).json()
    codes = [f["properties"]["icao"] for f in paris["features"]]
    assert "LFPG" in codes and "LFPB" in codes and "EGLL" not in codes
    for feature in paris["features"]:
        lon, lat = feature["geometry"]["coordinates"]
        assert 48.5 <= lat <= 49.5 and 2.0 <= lon <= 3.0
    fiji = world["alpha_obs"].get("/v1/airports", params={"bbox": "-19,177,-16,-179"}).json()  # across 180
    assert "NFFN" in [f["properties"]["icao"] for f in fiji["features"]]
    bad = world["alpha_obs"].get("/v1/airports", params={"bbox": "north"})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("bbox: expected south,west,north,east")


def test_a_party_files_an_f3548_operational_intent_as_it_is(world):
    from tests.io.test_f3548 import _intent

    intent = _intent()
    answer = world["alpha_op"].post("/v1/plans", json=intent)
    assert answer.status_code == 201 and answer.json()["status"] == "accepted"
    assert answer.json()["id"] == intent["reference"]["id"]
    stored = answer.json()["document"]["volumes"][0]
    assert stored["circle"]["radius"] == "1000.0m" and stored["altitude"] == ["14.0m", "307.0m"]  # W84, widened
    overlapping = _intent(**{"reference.id": "6f1e8a4e-5b3c-4f9e-9c1a-0a7e2d8b1c12"})
    checked = world["bravo_op"].post("/v1/plans/check", json={"plans": [overlapping]}).json()
    assert len(checked[0]["conflicts"]) == 1 and checked[0]["conflicts"][0]["other_party"] == "alpha"
    bad = world["bravo_op"].post("/v1/plans", json=_intent(**{"details.volumes.volume.altitude_lower.reference": "AGL"}))
    assert bad.status_code == 422 and "altitude_lower.reference" in bad.json()["detail"]


def test_a_plan_is_served_as_an_f3548_operational_intent(world):
    from deconflict.io.f3548 import GEOID_HIGH, GEOID_LOW, plans_from_intents

    world["alpha_op"].post("/v1/plans", json=plan("A1"))
    intent = world["alpha_op"].get("/v1/plans/alpha/A1", params={"format": "f3548"}).json()
    volume = intent["details"]["volumes"][0]["volume"]
    assert volume["altitude_lower"]["reference"] == "W84" and intent["reference"]["manager"] == "alpha"
    from deconflict.io.plans_file import plan_from_document

    own = plan_from_document(world["alpha_op"].get("/v1/plans/alpha/A1").json()["document"]).volumes[0]
    [back] = plans_from_intents(intent, "served")  # and it reads back as one, only ever wider
    assert back.volumes[0].altitude_upper == pytest.approx(own.altitude_upper + GEOID_HIGH - GEOID_LOW)
    assert back.volumes[0].altitude_lower == pytest.approx(own.altitude_lower + GEOID_LOW - GEOID_HIGH)
    assert world["bravo_op"].get("/v1/plans/alpha/A1", params={"format": "f3548"}).status_code == 404
