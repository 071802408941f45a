"""The hotline: threads per conflict and free ones, proposals with deadlines, replies, escalation."""

from __future__ import annotations

import pytest

from tests.service.builders import head_on, tracks


@pytest.fixture
def conflict_thread(sqlite_world):
    w = sqlite_world
    mine, theirs = head_on()
    w["alpha_op"].post("/v1/tracks", json=tracks(mine))
    w["bravo_op"].post("/v1/tracks", json=tracks(theirs))
    w.service.detect_now()
    return w, w["alpha_op"].get("/v1/threads").json()[0]["id"]


CLIMB = {"type": "manoeuvre", "aircraft": "a1", "action": "climb", "value": "FL320"}


def test_proposal_accepted_by_the_other_party_settles_the_thread(conflict_thread):
    w, thread = conflict_thread
    proposal = w["alpha_op"].post(f"/v1/threads/{thread}/messages",
                                  json={"kind": "proposal", "text": "ALPHA1 climbs", "proposal": CLIMB})
    assert proposal.status_code == 201 and proposal.json()["status"] == "pending"
    own = w["alpha_op"].post(f"/v1/threads/{thread}/messages", json={"kind": "accept", "reply_to": proposal.json()["id"]})
    assert own.status_code == 403  # not by its author
    observer = w["bravo_obs"].post(f"/v1/threads/{thread}/messages", json={"kind": "accept",
                                                                           "reply_to": proposal.json()["id"]})
    assert observer.status_code == 403
    accepted = w["bravo_op"].post(f"/v1/threads/{thread}/messages", json={"kind": "accept",
                                                                          "reply_to": proposal.json()["id"]})
    assert accepted.status_code == 201
    again = w["bravo_op"].post(f"/v1/threads/{thread}/messages", json={"kind": "reject",
                                                                       "reply_to": proposal.json()["id"]})
    assert again.status_code == 409 and "already accepted" in again.json()["detail"]
    detail = w["alpha_op"].get(f"/v1/threads/{thread}").json()
    assert detail["status"] == "settled"
    assert [m["kind"] for m in detail["messages"]] == ["proposal", "accept"]
    assert detail["messages"][0]["status"] == "accepted"
    assert detail["acknowledged_by"] == ["alpha", "bravo"]


def test_bad_proposals_are_refused_naming_the_field(conflict_thread):
    w, thread = conflict_thread
    bad_unit = w["alpha_op"].post(f"/v1/threads/{thread}/messages", json={
        "kind": "proposal", "proposal": {**CLIMB, "value": "320"}})
    assert bad_unit.status_code == 422 and "altitude" in bad_unit.json()["detail"].lower()
    bad_type = w["alpha_op"].post(f"/v1/threads/{thread}/messages", json={
        "kind": "proposal", "proposal": {"type": "teleport"}})
    assert bad_type.status_code == 422
    delay = w["bravo_op"].post(f"/v1/threads/{thread}/messages", json={
        "kind": "proposal", "proposal": {"type": "plan_change", "plan": "B1", "action": "delay", "value": "10min"}})
    assert delay.status_code == 201


def test_unanswered_proposal_expires_and_escalates(conflict_thread):
    w, thread = conflict_thread
    proposal = w["alpha_op"].post(f"/v1/threads/{thread}/messages",
                                  json={"kind": "proposal", "proposal": CLIMB, "answer_within": "2min"}).json()
    w["bravo_op"].post(f"/v1/threads/{thread}/messages", json={"kind": "acknowledge"})
    w.clock.advance(121)
    late = w["bravo_op"].post(f"/v1/threads/{thread}/messages", json={"kind": "accept", "reply_to": proposal["id"]})
    assert late.status_code == 409 and "expired" in late.json()["detail"]
    w.service.escalate_overdue()
    detail = w["cell"].get(f"/v1/threads/{thread}").json()
    assert detail["status"] == "escalated"
    assert detail["messages"][0]["status"] == "expired"
    assert detail["messages"][-1]["kind"] == "escalation"


def test_unacknowledged_conflict_thread_escalates_to_the_cell(conflict_thread):
    w, thread = conflict_thread
    w["alpha_op"].post(f"/v1/threads/{thread}/messages", json={"kind": "acknowledge"})
    w.clock.advance(w.service.settings.acknowledge_within - 1)
    w.service.escalate_overdue()
    assert w["cell"].get(f"/v1/threads/{thread}").json()["status"] == "open"
    w.clock.advance(2)
    assert w.service.escalate_overdue() == 1
    detail = w["cell"].get(f"/v1/threads/{thread}").json()
    assert detail["status"] == "escalated" and "bravo" in detail["messages"][-1]["text"]


def test_free_thread_between_parties_is_theirs_only(sqlite_world):
    w = sqlite_world
    made = w["alpha_op"].post("/v1/threads", json={"parties": ["bravo"], "subject": "exercise next week"})
    assert made.status_code == 201 and made.json()["parties"] == ["alpha", "bravo"]
    thread = made.json()["id"]
    w["bravo_op"].post(f"/v1/threads/{thread}/messages", json={"text": "noted"})
    assert w["cell"].get(f"/v1/threads/{thread}").status_code == 200
    only_alpha = w["cell"].post("/v1/threads", json={"parties": ["alpha"], "subject": "cell to alpha"}).json()
    assert w["bravo_op"].get(f"/v1/threads/{only_alpha['id']}").status_code == 404
    assert all(t["id"] != only_alpha["id"] for t in w["bravo_op"].get("/v1/threads").json())
    assert w["alpha_op"].post("/v1/threads", json={"parties": ["nobody"]}).status_code == 422


def test_receipts_tail_gives_the_last_entries_in_order(conflict_thread):
    import json

    w, thread = conflict_thread
    for k in range(5):
        w["alpha_op"].post(f"/v1/threads/{thread}/messages", json={"text": f"note {k}"})
    whole = [json.loads(line) for line in w["alpha_op"].get("/v1/audit/receipts").text.splitlines()]
    tail = [json.loads(line) for line in w["alpha_op"].get("/v1/audit/receipts", params={"tail": 3}).text.splitlines()]
    assert tail[:-1] == whole[-4:-1] and tail[-1]["head"]["count"] == whole[-1]["head"]["count"]
    assert w["alpha_op"].get("/v1/audit/receipts", params={"tail": 0}).status_code == 422


def test_thread_of_a_cleared_conflict_closes_and_does_not_escalate(conflict_thread):
    w, thread = conflict_thread
    proposal = w["alpha_op"].post(f"/v1/threads/{thread}/messages",
                                  json={"kind": "proposal", "proposal": CLIMB, "answer_within": "10min"}).json()
    mine, _ = head_on()
    w["alpha_op"].post("/v1/tracks", json=tracks({**mine, "time": w.clock.now() + 1, "baroaltitude": 12000.0,
                                                  "lon": mine["lon"] + 200.0 / 78_850.0}))  # flown on 1 s
    w.clock.advance(1)
    w.service.detect_now()
    assert w["cell"].get("/v1/conflicts").json()["tactical"] == []
    detail = w["cell"].get(f"/v1/threads/{thread}").json()
    assert detail["status"] == "closed" and detail["messages"][-1]["kind"] == "closed"
    w.clock.advance(3600)
    assert w.service.escalate_overdue() == 0  # neither the missing acknowledgement nor the expiry escalates
    assert w["cell"].get(f"/v1/threads/{thread}").json()["status"] == "closed"
    late = w["bravo_op"].post(f"/v1/threads/{thread}/messages", json={"kind": "accept", "reply_to": proposal["id"]})
    assert late.status_code == 409  # expired meanwhile


def test_strategic_thread_closes_when_the_plan_moves_away(sqlite_world):
    from tests.service.builders import plan

    w = sqlite_world
    w["alpha_op"].post("/v1/plans", json=plan("A1"))
    w["bravo_op"].post("/v1/plans", json=plan("B1", lon=5.05))
    thread = w["bravo_op"].get("/v1/threads").json()[0]
    w["bravo_op"].put("/v1/plans/bravo/B1", json=plan("B1", lon=9.0), headers={"If-Match": '"1"'})
    assert w["alpha_op"].get(f"/v1/threads/{thread['id']}").json()["status"] == "closed"
