"""Commitments signed by the parties themselves (issue 15): a member with a registered key must sign
its proposals, answers and plan writes; a wrong, moved or borrowed signature is refused and nothing
is stored; the record carries each signature so that anyone checks it offline, and an entry the
service operator rewrote (even re-signing its chain) is caught by the party signature."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

from deconflict.store.audit import load_public_key, parse_records, verify
from deconflict.store.signatures import (HEADER, PartyKey, SignatureError, check_party_signatures, message_commitment,
                                         plan_commitment)
from tests.service.builders import head_on, plan, tracks

CLIMB = {"type": "manoeuvre", "aircraft": "a1", "action": "climb", "value": "FL320"}


@pytest.fixture
def signed_thread(world):
    """alpha and bravo in a conflict thread; alpha's operator has registered a key, bravo's none."""
    key = PartyKey.generate()
    answer = world["alpha_op"].post("/v1/me/keys", json={"public_key": key.public_text})
    assert answer.status_code == 201 and answer.json()["key"] == key.id
    mine, theirs = head_on()
    world["alpha_op"].post("/v1/tracks", json=tracks(mine))
    world["bravo_op"].post("/v1/tracks", json=tracks(theirs))
    world.service.detect_now()
    return world, key, world["alpha_op"].get("/v1/threads").json()[0]["id"]


def _bodies(world) -> list[dict]:
    records, head = parse_records(world["cell"].get("/v1/audit/chain").text)
    verify(records, head, load_public_key(world["cell"].get("/v1/audit/key").text))
    return [json.loads(r["body"]) for r in records]


def _propose(world, key, thread, text="ALPHA1 climbs", sign_text=None, sign_thread=None, signer=None):
    commitment = message_commitment("alpha", sign_thread or thread, "proposal", sign_text or text, CLIMB)
    return world["alpha_op"].post(f"/v1/threads/{thread}/messages", json={"kind": "proposal", "text": text,
                                                                          "proposal": CLIMB},
                                  headers={HEADER: (signer or key).header(commitment)})


def test_a_signed_proposal_and_an_unsigned_answer_are_recorded_and_verified(signed_thread):
    world, key, thread = signed_thread
    unsigned = world["alpha_op"].post(f"/v1/threads/{thread}/messages", json={"kind": "proposal", "proposal": CLIMB})
    assert unsigned.status_code == 422 and HEADER in unsigned.json()["detail"]  # alpha has a key: it must sign
    proposal = _propose(world, key, thread)
    assert proposal.status_code == 201
    accept = world["bravo_op"].post(f"/v1/threads/{thread}/messages",
                                    json={"kind": "accept", "reply_to": proposal.json()["id"]})
    assert accept.status_code == 201  # bravo has no key: its answer is recorded unsigned
    found = check_party_signatures(_bodies(world))
    assert (found.verified, found.unsigned) == (1, 1)
    receipts, _ = parse_records(world["bravo_op"].get("/v1/audit/receipts").text)
    bodies = [json.loads(r["body"]) for r in receipts]  # bravo checks alpha's commitment in its own receipts
    assert check_party_signatures(bodies).verified == 1
    assert any(b["kind"] == "member.key" and b["payload"]["public_key"] == key.public_text for b in bodies)


@pytest.mark.parametrize("lie", ["other text", "other thread", "other key"])
def test_a_wrong_moved_or_borrowed_signature_is_refused_and_nothing_is_stored(signed_thread, lie):
    world, key, thread = signed_thread
    stranger = PartyKey.generate()
    if lie == "other key":  # bravo's registered key, used by alpha's operator
        world["bravo_op"].post("/v1/me/keys", json={"public_key": stranger.public_text})
    before = len(_bodies(world))
    answer = _propose(world, key, thread, sign_text="something else" if lie == "other text" else None,
                      sign_thread=thread + 1 if lie == "other thread" else None,
                      signer=stranger if lie == "other key" else None)
    assert answer.status_code == 422
    assert len(_bodies(world)) == before
    assert world["alpha_op"].get(f"/v1/threads/{thread}").json()["messages"] == []


def test_an_entry_rewritten_by_the_service_operator_is_caught_by_the_party_signature(signed_thread):
    """The operator holds the service key and could re-sign a rewritten chain: the party's signature of
    the commitment is what it cannot forge."""
    world, key, thread = signed_thread
    _propose(world, key, thread)
    bodies = _bodies(world)
    position = next(k for k, b in enumerate(bodies) if b["kind"] == "hotline.proposal")
    rewritten = copy.deepcopy(bodies)
    rewritten[position]["payload"]["proposal"]["value"] = "FL280"  # "alpha proposed FL280"
    with pytest.raises(SignatureError, match="not this entry's"):
        check_party_signatures(rewritten)
    forged = copy.deepcopy(bodies)
    forged[position]["payload"]["signed"]["commitment"]["proposal"]["value"] = "FL280"
    forged[position]["payload"]["proposal"]["value"] = "FL280"
    with pytest.raises(SignatureError, match="does not verify"):
        check_party_signatures(forged)
    swapped = copy.deepcopy(bodies)
    other = PartyKey.generate()  # the operator's own key passed off as alpha's
    commitment = forged[position]["payload"]["signed"]["commitment"]
    from deconflict.store.signatures import parse_header, signed_payload

    swapped[position]["payload"] = {**forged[position]["payload"],
                                    "signed": signed_payload(other.private.public_key(),
                                                             parse_header(other.header(commitment))[1], commitment)}
    with pytest.raises(SignatureError, match="does not show registered"):
        check_party_signatures(swapped)


def test_a_party_that_joins_later_can_check_signatures_made_with_earlier_keys(signed_thread):
    world, key, thread = signed_thread
    world.service.add_party("charlie")
    token = world.service.add_member("charlie op", "operator", "charlie")
    from fastapi.testclient import TestClient

    charlie = TestClient(world["cell"].app, headers={"Authorization": f"Bearer {token}"})
    records, _ = parse_records(charlie.get("/v1/audit/receipts").text)
    [listed] = [json.loads(r["body"]) for r in records if json.loads(r["body"])["kind"] == "member.keys"]
    assert [k["key"] for k in listed["payload"]["keys"]] == [key.id]


def test_plan_writes_and_deletion_are_signed(world):
    key = PartyKey.generate()
    world["alpha_op"].post("/v1/me/keys", json={"public_key": key.public_text})
    document = plan("A1")
    assert world["alpha_op"].post("/v1/plans", json=document).status_code == 422
    answer = world["alpha_op"].post("/v1/plans", json=document,
                                    headers={HEADER: key.header(plan_commitment("alpha", "A1", document, 0))})
    assert answer.status_code == 201
    moved = plan("A1", lon=6.0)
    stale = world["alpha_op"].put("/v1/plans/alpha/A1", json=moved, headers={
        "If-Match": '"1"', HEADER: key.header(plan_commitment("alpha", "A1", document, 1))})  # signed the old one
    assert stale.status_code == 422
    edit = world["alpha_op"].put("/v1/plans/alpha/A1", json=moved, headers={
        "If-Match": '"1"', HEADER: key.header(plan_commitment("alpha", "A1", moved, 1))})
    assert edit.status_code == 200
    gone = world["alpha_op"].delete("/v1/plans/alpha/A1", headers={
        "If-Match": '"2"', HEADER: key.header(plan_commitment("alpha", "A1", None, 2))})
    assert gone.status_code == 204
    assert check_party_signatures(_bodies(world)).verified == 3


def test_a_revoked_key_signs_nothing_more(world):
    key = PartyKey.generate()
    world["alpha_op"].post("/v1/me/keys", json={"public_key": key.public_text})
    assert world["alpha_op"].delete(f"/v1/me/keys/{key.id}").status_code == 204
    document = plan("A1")
    answer = world["alpha_op"].post("/v1/plans", json=document,
                                    headers={HEADER: key.header(plan_commitment("alpha", "A1", document, 0))})
    assert answer.status_code == 422 and "revoked" in answer.json()["detail"]
    assert world["bravo_op"].get("/v1/keys").json()[0]["revoked"] is True  # every party sees it


def test_the_party_tool_signs_what_the_service_checks(world, tmp_path):
    """`deconflict keys new` and `deconflict sign message` as a party would run them."""
    private = tmp_path / "alpha.pem"
    made = subprocess.run([sys.executable, "-m", "deconflict.cli", "keys", "new", str(private)],
                          capture_output=True, text=True, check=True).stdout
    public = made.split("): ")[1].splitlines()[0].strip()
    assert oct(private.stat().st_mode & 0o777) == "0o600"
    world["alpha_op"].post("/v1/me/keys", json={"public_key": public})
    mine, theirs = head_on()
    world["alpha_op"].post("/v1/tracks", json=tracks(mine))
    world["bravo_op"].post("/v1/tracks", json=tracks(theirs))
    world.service.detect_now()
    thread = world["alpha_op"].get("/v1/threads").json()[0]["id"]
    header = subprocess.run([sys.executable, "-m", "deconflict.cli", "sign", "message", "--key", str(private),
                             "--party", "alpha", "--thread", str(thread), "--kind", "proposal", "--text", "climbing",
                             "--proposal", json.dumps(CLIMB), "--answer-within", "5min"],
                            capture_output=True, text=True, check=True).stdout.strip()
    answer = world["alpha_op"].post(f"/v1/threads/{thread}/messages", headers={HEADER: header}, json={
        "kind": "proposal", "text": "climbing", "proposal": CLIMB, "answer_within": "5min"})
    assert answer.status_code == 201, answer.text
    again = subprocess.run([sys.executable, "-m", "deconflict.cli", "keys", "new", str(private)],
                           capture_output=True, text=True)
    assert again.returncode == 2 and "exists" in again.stderr and "Traceback" not in again.stderr


def test_audit_verify_catches_an_operator_who_rewrites_and_re_signs_the_chain(signed_thread, tmp_path, capsys):
    """The service key's holder rewrites alpha's proposal (FL320 -> FL280) and re-signs every hash, link
    and the head: the service checks all pass; the party signature does not."""
    import hashlib

    from deconflict.cli import main
    from deconflict.store.audit import GENESIS, ServiceKey, canonical, link_hash

    world, key, thread = signed_thread
    _propose(world, key, thread)
    (tmp_path / "service.pub").write_text(world["cell"].get("/v1/audit/key").text)
    good = tmp_path / "chain.jsonl"
    good.write_text(world["cell"].get("/v1/audit/chain").text)
    with pytest.raises(SystemExit) as done:
        main(["audit", "verify", str(good), "--key", str(tmp_path / "service.pub")])
    assert done.value.code == 0 and "party signatures: 1 verified" in capsys.readouterr().out

    operator = ServiceKey.load_or_create(world.service.settings.key_path)
    records, head = parse_records(good.read_text())
    lines, previous = [], GENESIS
    for record in records:
        body = json.loads(record["body"])
        if body["kind"] == "hotline.proposal":
            body["payload"]["proposal"]["value"] = "FL280"
        text = canonical(body).decode()
        digest = link_hash(previous, text.encode())
        lines.append(json.dumps({"body": text, "prev_hash": previous, "hash": digest, "signature": operator.sign(digest)}))
        previous = digest
    statement = {"scope": head["scope"], "count": head["count"], "hash": previous, "time": head["time"]}
    lines.append(json.dumps({"head": {**statement, "signature": operator.sign(
        hashlib.sha256(canonical(statement)).hexdigest())}}))
    forged = tmp_path / "forged.jsonl"
    forged.write_text("\n".join(lines) + "\n")
    with pytest.raises(SystemExit) as done:
        main(["audit", "verify", str(forged), "--key", str(tmp_path / "service.pub")])
    assert done.value.code == 1 and "FORGED" in capsys.readouterr().err


def test_every_party_is_told_of_a_key_registered(world):
    import time

    key = PartyKey.generate()
    subscription = world.service.events.subscribe("bravo", member=0)
    world["alpha_op"].post("/v1/me/keys", json={"public_key": key.public_text})
    deadline = time.time() + 5
    while subscription.queue.qsize() == 0 and time.time() < deadline:
        time.sleep(0.02)  # delivered on the app's event loop
    [event] = list(subscription.queue._queue)
    assert event.type == "member.key" and event.data["public_key"] == key.public_text and event.data["party"] == "alpha"
    subscription.close()
