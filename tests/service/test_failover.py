"""One leader per database, hot standbys, fencing, and conflicts that survive a change of leader (issue 18).

In-process nodes here (two `Deconfliction` on one database, each with its own app); the kill -9 test
with two `deconflict serve` processes is in test_failover_processes.py.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from deconflict.service.app import create_app
from deconflict.service.deconfliction import Deconfliction
from deconflict.store.audit import load_public_key, parse_records, verify
from tests.service.builders import head_on, plan, tracks


def _node(world, **changes) -> tuple[Deconfliction, dict[str, TestClient]]:
    """A second node on the world's database, with a client per member."""
    from dataclasses import replace

    node = Deconfliction(replace(world.service.settings, **changes), clock=world.clock)
    app = create_app(node, run_detection=False)
    clients = {name: TestClient(app, headers={"Authorization": f"Bearer {token}"})
               for name, token in world.tokens.items()}
    clients["anonymous"] = TestClient(app)
    return node, clients


def _chain(client: TestClient) -> list[dict]:
    """The whole record, verified, as entry bodies."""
    records, head = parse_records(client.get("/v1/audit/chain").text)
    verify(records, head, load_public_key(client.get("/v1/audit/key").text))
    return [json.loads(r["body"]) for r in records]


def test_a_second_node_stands_by_and_refuses_every_request(world):
    """The bug: two `serve` on one database both accepted plans and kept separate indexes, so two
    overlapping plans sent one to each were both 201 with no conflict."""
    standby, clients = _node(world)
    try:
        assert standby.role == "standby" and world.service.role == "leader"
        assert world["alpha_op"].post("/v1/plans", json=plan("A1")).status_code == 201
        refused = clients["bravo_op"].post("/v1/plans", json=plan("B1", lon=5.05))
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
        assert "standby" in refused.json()["detail"]
        for path in ("/v1/plans", "/v1/tracks", "/v1/conflicts", "/v1/threads", "/v1/audit/chain"):
            assert clients["cell"].get(path).status_code == 503, path
        health = clients["anonymous"].get("/healthz").json()
        assert health["role"] == "standby" and health["epoch"] is None
        assert clients["anonymous"].get("/healthz/leader").status_code == 503  # a load balancer skips it
        assert world["anonymous"].get("/healthz/leader").status_code == 200
        # the overlapping plan goes to the leader, which finds the conflict
        answer = world["bravo_op"].post("/v1/plans", json=plan("B1", lon=5.05))
        assert answer.status_code == 201 and len(answer.json()["conflicts"]) == 1
        assert world["anonymous"].get("/healthz").json()["role"] == "leader"
    finally:
        standby.close()


def test_the_standby_names_the_leader_it_saw(world, tmp_path):
    world.service.close()
    from dataclasses import replace

    leader = Deconfliction(replace(world.service.settings, advertise="http://10.0.0.1:8000"), clock=world.clock)
    standby, clients = _node(world)
    try:
        refused = clients["alpha_op"].get("/v1/plans")
        assert refused.status_code == 503 and refused.headers["X-Deconflict-Leader"] == "http://10.0.0.1:8000"
        assert clients["anonymous"].get("/healthz").json()["leader"] == "http://10.0.0.1:8000"
    finally:
        standby.close()
        leader.close()


def test_a_standby_takes_over_with_plans_conflicts_and_threads(world):
    mine, theirs = head_on(world.clock.now())
    assert world["alpha_op"].post("/v1/plans", json=plan("A1")).status_code == 201
    world["alpha_op"].post("/v1/tracks", json=tracks(mine))
    world["bravo_op"].post("/v1/tracks", json=tracks(theirs))
    world.service.detect_now()
    before = world["cell"].get("/v1/conflicts").json()["tactical"]
    assert len(before) == 1 and before[0]["thread"]
    standby, clients = _node(world)
    try:
        world.service.close()  # the leader stops
        standby.check_lease()
        assert standby.role == "leader"
        # the plan index was rebuilt: a plan sent to the new leader meets the one sent to the old
        answer = clients["bravo_op"].post("/v1/plans", json=plan("B1", lon=5.05))
        assert answer.status_code == 201
        assert [c["other_party"] for c in answer.json()["conflicts"]] == ["alpha"]
        # the open conflict stays open, same id, same thread: no clear, no second raise
        world.clock.advance(1.0)
        standby.detect_now()  # the picture is empty: the conflict waits for its tracks
        after = clients["cell"].get("/v1/conflicts").json()["tactical"]
        assert [(c["id"], c["thread"], c["level"]) for c in after] == [(c["id"], c["thread"], c["level"]) for c in before]
        mine, theirs = head_on(world.clock.now())
        clients["alpha_op"].post("/v1/tracks", json=tracks(mine))
        clients["bravo_op"].post("/v1/tracks", json=tracks(theirs))
        standby.detect_now()
        assert [c["id"] for c in clients["cell"].get("/v1/conflicts").json()["tactical"]] == [before[0]["id"]]
        kinds = [r["kind"] for r in _chain(clients["cell"]) if str(r["payload"].get("conflict")).startswith("tactical:")]
        assert kinds.count("conflict.raised") == 1 and "conflict.cleared" not in kinds
        thread = clients["alpha_op"].get(f"/v1/threads/{before[0]['thread']}").json()
        assert thread["conflict"] == before[0]["id"]
    finally:
        standby.close()


def test_a_conflict_whose_tracks_never_come_back_clears_after_the_track_age(world):
    mine, theirs = head_on(world.clock.now())
    world["alpha_op"].post("/v1/tracks", json=tracks(mine))
    world["bravo_op"].post("/v1/tracks", json=tracks(theirs))
    world.service.detect_now()
    standby, clients = _node(world)
    try:
        world.service.close()
        standby.check_lease()
        world.clock.advance(standby.settings.max_age - 1.0)
        standby.detect_now()
        assert len(clients["cell"].get("/v1/conflicts").json()["tactical"]) == 1
        world.clock.advance(2.0)
        standby.detect_now()
        assert clients["cell"].get("/v1/conflicts").json()["tactical"] == []
        assert [r["kind"] for r in _chain(clients["cell"])].count("conflict.cleared") == 1
    finally:
        standby.close()


def test_a_deposed_leader_cannot_write_after_the_standby_took_over(world):
    """Fencing: the old leader lost its lock without noticing (a long pause, a dropped connection),
    a standby took the lead; the old one's next write is refused and nothing of it is stored."""
    standby, clients = _node(world)
    try:
        world.service.lease._unlock()  # the lock is gone; the old leader has not noticed yet
        standby.check_lease()
        assert standby.role == "leader"
        refused = world["alpha_op"].post("/v1/threads", json={"parties": ["bravo"], "subject": "from the past"})
        assert refused.status_code == 503 and "no longer leads" in refused.json()["detail"]
        assert world.service.role == "deposed"
        assert world["alpha_op"].get("/v1/threads").status_code == 503  # and it stops answering
        assert clients["alpha_op"].post("/v1/threads", json={"parties": ["bravo"], "subject": "now"}).status_code == 201
        subjects = [r["payload"].get("subject") for r in _chain(clients["cell"]) if r["kind"] == "thread.opened"]
        assert subjects == ["now"]
    finally:
        standby.close()


def test_a_leader_whose_lock_connection_dies_steps_down(world):
    """PostgreSQL keeps the lock on a connection: when the server ends it (a partition, an admin's
    pg_terminate_backend), the lease check notices and the node stops answering at once."""
    if world.service.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's lock is a file lock held by the process itself: it ends only with the process")
    from sqlalchemy import text

    deposed: list[str] = []
    world.service.on_deposed = deposed.append
    lock_pid = world.service.lease._connection.execute(text("SELECT pg_backend_pid()")).scalar()
    world.service.lease._connection.commit()
    with world.service.engine.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": lock_pid}).scalar()
    world.service.check_lease()
    assert world.service.role == "deposed" and deposed and "lost" in deposed[0]
    assert world["alpha_op"].get("/v1/plans").status_code == 503


def test_a_standby_keeps_its_plan_index_in_step_with_the_leader(world):
    """Hot standby: the index is built when the standby starts and follows the leader's plan writes
    (new, edited, deleted), so taking over reads only what was written since."""
    alpha = world["alpha_op"]
    assert alpha.post("/v1/plans", json=plan("A1")).status_code == 201
    assert alpha.post("/v1/plans", json=plan("A2", lon=20.0)).status_code == 201
    standby, clients = _node(world)
    try:
        assert {"alpha/A1", "alpha/A2"} <= set(standby.plans._plans)
        assert alpha.post("/v1/plans", json=plan("A3", lon=30.0)).status_code == 201
        version = alpha.get("/v1/plans/alpha/A1").headers["ETag"]
        assert alpha.put("/v1/plans/alpha/A1", json=plan("A1", lon=40.0),
                         headers={"If-Match": version}).status_code == 200
        version = alpha.get("/v1/plans/alpha/A2").headers["ETag"]
        assert alpha.delete("/v1/plans/alpha/A2", headers={"If-Match": version}).status_code == 204
        standby.check_lease()  # not leading: follows
        assert standby.role == "standby"
        assert set(standby.plans._plans) == {"alpha/A1", "alpha/A3"}
        circle = standby.plans._plans["alpha/A1"].volumes[0].footprint
        assert abs(circle.lon - 40.0) < 1e-9
        world.service.close()
        standby.check_lease()
        assert standby.role == "leader"
        answer = clients["bravo_op"].post("/v1/plans", json=plan("B1", lon=40.05)).json()
        assert [c["other_party"] for c in answer["conflicts"]] == ["alpha"]  # meets the edited plan
        assert clients["bravo_op"].post("/v1/plans", json=plan("B2", lon=5.05)).json()["conflicts"] == []
    finally:
        standby.close()


def test_a_standby_takes_over_with_the_traffic_the_leader_saw(world):
    """The live picture is copied for the standbys: the new leader shows the aircraft and judges their
    conflict on its first cycle, before any party reports again (it took an empty sky before)."""
    mine, theirs = head_on(world.clock.now())
    world["alpha_op"].post("/v1/tracks", json=tracks(mine))
    world["bravo_op"].post("/v1/tracks", json=tracks(theirs))
    world.service.detect_now()
    before = world["cell"].get("/v1/conflicts").json()["tactical"]
    assert len(before) == 1
    world.service.copy_picture()
    standby, clients = _node(world)
    try:
        standby.check_lease()  # a standby's round: the audit tail, the plans, the picture
        assert len(standby.tactical.picture.latest()) == 2
        world.service.close()
        world.clock.advance(1.0)
        standby.check_lease()
        assert standby.role == "leader"
        shown = clients["cell"].get("/v1/tracks").json()
        assert sorted(t["icao24"] for t in shown) == ["a1", "b1"]
        standby.detect_now()  # no report since the failover
        after = clients["cell"].get("/v1/conflicts").json()["tactical"]
        assert [c["id"] for c in after] == [before[0]["id"]]
        assert after[0]["t_in"] < before[0]["t_in"]  # judged again on the copied tracks, a second later
    finally:
        standby.close()


def test_a_malformed_picture_copy_is_not_loaded(world):
    from deconflict.store.schema import PictureCopy

    with world.service.work.write() as session:
        session.add(PictureCopy(id=1, time=world.clock.now(), data=b"not an npz"))
    standby, _ = _node(world)
    try:
        assert standby.tactical.follow_picture() is False
        assert standby.tactical.picture.latest() is None
    finally:
        standby.close()
