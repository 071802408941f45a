"""The authorization matrix: every role x every endpoint x own / other party's data.

Each party holds data the other must never see (plan ids, a far-away aircraft, a thread with the
cell). Every answer to every member is checked for the other party's secrets: zero leaks. The live
stream applies the same views (test_events.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest

from tests.service.builders import head_on, plan, tracks
from tests.service.conftest import T0, make_world

ROLES = ("alpha_op", "alpha_obs", "bravo_op", "bravo_obs", "cell", "anonymous", "forged")
SECRETS = {"alpha": ("ALPHA-HIDDEN", "ALPHA-CONFLICT", "a-hidden", "AHIDE", "alpha-eyes-only"),
           "bravo": ("BRAVO-HIDDEN", "BRAVO-CONFLICT", "b-hidden", "BHIDE", "bravo-eyes-only")}


@dataclass
class Setup:
    world: object
    cell_alpha_thread: int
    conflict_thread: int
    tactical_id: str


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("matrix")
    w = make_world(str(tmp / "matrix.db"), tmp)
    with w.clients["cell"]:
        for party, lon in (("alpha", 5.0), ("bravo", 5.05)):
            op = w[f"{party}_op"]
            op.post("/v1/plans", json=plan(f"{party.upper()}-CONFLICT", lon=lon)).raise_for_status()
            op.post("/v1/plans", json=plan(f"{party.upper()}-HIDDEN", lat=30.0 + len(party), lon=lon)).raise_for_status()
        mine, theirs = head_on()
        w["alpha_op"].post("/v1/tracks", json=tracks(mine, {"time": T0, "icao24": "a-hidden", "lat": 40.0,
                                                             "lon": 0.0, "callsign": "AHIDE"})).raise_for_status()
        w["bravo_op"].post("/v1/tracks", json=tracks(theirs, {"time": T0, "icao24": "b-hidden", "lat": 35.0,
                                                              "lon": 20.0, "callsign": "BHIDE"})).raise_for_status()
        w.service.detect_now()
        threads = {}
        for party in ("alpha", "bravo"):
            made = w["cell"].post("/v1/threads", json={"parties": [party], "subject": "cell only"}).json()
            w[f"{party}_op"].post(f"/v1/threads/{made['id']}/messages",
                                  json={"text": f"{party}-eyes-only"}).raise_for_status()
            threads[party] = made["id"]
        conflict_thread = next(t["id"] for t in w["cell"].get("/v1/threads").json()
                               if (t["conflict"] or "").startswith("tactical"))
        w.clients["forged"] = type(w["cell"])(w["cell"].app, headers={"Authorization": "Bearer dcf_forged"})
        tactical_id = w["cell"].get("/v1/conflicts").json()["tactical"][0]["id"]
        yield Setup(w, threads["alpha"], conflict_thread, tactical_id)
    w.service.close()


def _version(setup: Setup, party: str, plan_id: str) -> str:
    return str(setup.world["cell"].get(f"/v1/plans/{party}/{plan_id}").json()["version"])


def _tmp_plan(setup: Setup, role: str) -> str:
    plan_id = f"TMP-{role}"
    setup.world["alpha_op"].post("/v1/plans", json=plan(plan_id, lat=10.0, lon=ROLES.index(role) * 2.0))
    return plan_id


# endpoint name -> (request maker, expected status per role; roles absent expect 401)
Request = Callable[[Setup, str, object], object]
A, AO, B, BO, C = "alpha_op", "alpha_obs", "bravo_op", "bravo_obs", "cell"
MATRIX: dict[str, tuple[Request, dict[str, int]]] = {
    "GET /v1/me": (lambda s, r, c: c.get("/v1/me"), {A: 200, AO: 200, B: 200, BO: 200, C: 200}),
    "GET /v1/parties": (lambda s, r, c: c.get("/v1/parties"), {A: 200, AO: 200, B: 200, BO: 200, C: 200}),
    "POST suspend+resume alpha": (
        lambda s, r, c: (c.post("/v1/parties/alpha/suspend"), c.post("/v1/parties/alpha/resume"))[1],
        {A: 200, AO: 403, B: 403, BO: 403, C: 200}),
    "GET /v1/plans": (lambda s, r, c: c.get("/v1/plans"), {A: 200, AO: 200, B: 200, BO: 200, C: 200}),
    "POST /v1/plans (own)": (lambda s, r, c: c.post("/v1/plans", json=plan(f"NEW-{r}", lat=-40.0, lon=ROLES.index(r))),
                             {A: 201, AO: 403, B: 201, BO: 403, C: 403}),
    "POST /v1/plans (party alpha in body)": (
        lambda s, r, c: c.post("/v1/plans", json={**plan(f"FOR-ALPHA-{r}", lat=-50.0, lon=ROLES.index(r)),
                                                  "party": "alpha"}),
        {A: 201, AO: 403, B: 403, BO: 403, C: 403}),
    "GET /v1/plans/volumes": (lambda s, r, c: c.get("/v1/plans/volumes", params={"at": "2026-11-18T10:00:00Z"}),
                              {A: 200, AO: 200, B: 200, BO: 200, C: 200}),
    "POST /v1/plans/batch": (lambda s, r, c: c.post("/v1/plans/batch", json={"plans": [
        plan(f"BATCH-{r}-{k}", lat=-70.0, lon=ROLES.index(r) * 5.0 + k) for k in range(2)]}),
        {A: 201, AO: 403, B: 201, BO: 403, C: 403}),
    "GET /v1/airports": (lambda s, r, c: c.get("/v1/airports", params={"bbox": "48,2,50,3"}),
                         {A: 200, AO: 200, B: 200, BO: 200, C: 200}),
    "POST /v1/plans/check": (lambda s, r, c: c.post("/v1/plans/check", json={"plans": [plan(f"DRY-{r}", lat=-75.0)]}),
                             {A: 200, AO: 403, B: 200, BO: 403, C: 403}),
    "GET alpha's hidden plan": (lambda s, r, c: c.get("/v1/plans/alpha/ALPHA-HIDDEN"),
                                {A: 200, AO: 200, B: 404, BO: 404, C: 200}),
    "PUT alpha's hidden plan": (
        lambda s, r, c: c.put("/v1/plans/alpha/ALPHA-HIDDEN", json=plan("ALPHA-HIDDEN", lat=31.0, lon=5.0),
                              headers={"If-Match": _version(s, "alpha", "ALPHA-HIDDEN")}),
        {A: 200, AO: 403, B: 403, BO: 403, C: 403}),
    "DELETE an alpha plan": (
        lambda s, r, c: c.delete(f"/v1/plans/alpha/{_tmp_plan(s, r)}",
                                 headers={"If-Match": _version(s, "alpha", f"TMP-{r}")}),
        {A: 204, AO: 403, B: 403, BO: 403, C: 403}),
    "POST /v1/tracks": (lambda s, r, c: c.post("/v1/tracks", json=tracks(
        {"time": T0, "icao24": f"t-{r}", "lat": -60.0, "lon": ROLES.index(r) * 3.0})),
        {A: 202, AO: 403, B: 202, BO: 403, C: 202}),
    "GET /v1/tracks": (lambda s, r, c: c.get("/v1/tracks"), {A: 200, AO: 200, B: 200, BO: 200, C: 200}),
    "GET /v1/tracks/clashes": (lambda s, r, c: c.get("/v1/tracks/clashes"),
                               {A: 403, AO: 403, B: 403, BO: 403, C: 200}),
    "GET /v1/conflicts": (lambda s, r, c: c.get("/v1/conflicts"), {A: 200, AO: 200, B: 200, BO: 200, C: 200}),
    "GET /v1/occurrences": (lambda s, r, c: c.get("/v1/occurrences"), {A: 200, AO: 200, B: 200, BO: 200, C: 200}),
    "GET /v1/nonconformances": (lambda s, r, c: c.get("/v1/nonconformances"), {A: 200, AO: 200, B: 200, BO: 200, C: 200}),
    "GET /v1/keys": (lambda s, r, c: c.get("/v1/keys"), {A: 200, AO: 200, B: 200, BO: 200, C: 200}),
    "POST /v1/me/keys": (lambda s, r, c: _key_registered(c, revoke=True)[0],
                         {A: 201, AO: 403, B: 201, BO: 403, C: 201}),
    "DELETE /v1/me/keys/{key}": (lambda s, r, c: _key_registered(c, revoke=True)[1],
                                 {A: 204, AO: 404, B: 204, BO: 404, C: 204}),
    "GET resolutions of the conflict": (lambda s, r, c: c.get(f"/v1/conflicts/{s.tactical_id}/resolutions"),
                                        {A: 200, AO: 200, B: 200, BO: 200, C: 200}),
    "GET /v1/threads": (lambda s, r, c: c.get("/v1/threads"), {A: 200, AO: 200, B: 200, BO: 200, C: 200}),
    "GET cell-alpha thread": (lambda s, r, c: c.get(f"/v1/threads/{s.cell_alpha_thread}"),
                              {A: 200, AO: 200, B: 404, BO: 404, C: 200}),
    "POST to cell-alpha thread": (
        lambda s, r, c: c.post(f"/v1/threads/{s.cell_alpha_thread}/messages", json={"text": f"from {r}"}),
        {A: 201, AO: 403, B: 404, BO: 403, C: 201}),
    "GET conflict thread": (lambda s, r, c: c.get(f"/v1/threads/{s.conflict_thread}"),
                            {A: 200, AO: 200, B: 200, BO: 200, C: 200}),
    "POST to conflict thread": (
        lambda s, r, c: c.post(f"/v1/threads/{s.conflict_thread}/messages", json={"kind": "acknowledge"}),
        {A: 201, AO: 403, B: 201, BO: 403, C: 201}),
    "POST /v1/threads": (lambda s, r, c: c.post("/v1/threads", json={"parties": ["alpha", "bravo"]}),
                         {A: 201, AO: 403, B: 201, BO: 403, C: 201}),
    "GET /v1/audit/key": (lambda s, r, c: c.get("/v1/audit/key"), {A: 200, AO: 200, B: 200, BO: 200, C: 200}),
    "GET /v1/audit/receipts": (lambda s, r, c: c.get("/v1/audit/receipts"),
                               {A: 200, AO: 200, B: 200, BO: 200, C: 200}),
    "GET /v1/audit/chain": (lambda s, r, c: c.get("/v1/audit/chain"), {A: 403, AO: 403, B: 403, BO: 403, C: 200}),
}


def _key_registered(client, revoke: bool):
    """Register a fresh key and revoke it at once (so the matrix's later writes need no signature):
    (registration answer, revocation answer)."""
    from deconflict.store.signatures import PartyKey

    key = PartyKey.generate()
    registered = client.post("/v1/me/keys", json={"public_key": key.public_text})
    return registered, client.delete(f"/v1/me/keys/{key.id}")


def test_every_route_is_in_the_matrix(setup):
    routes = {(m, r.path) for r in setup.world["cell"].app.routes for m in getattr(r, "methods", ())
              if r.path.startswith("/v1/")}
    covered = {("GET", "/v1/me"), ("GET", "/v1/parties"), ("POST", "/v1/parties/{party}/suspend"),
               ("POST", "/v1/parties/{party}/resume"), ("GET", "/v1/plans"), ("POST", "/v1/plans"), ("POST", "/v1/plans/batch"), ("POST", "/v1/plans/check"), ("GET", "/v1/plans/volumes"), ("GET", "/v1/airports"),
               ("GET", "/v1/plans/{party}/{plan_id}"), ("PUT", "/v1/plans/{party}/{plan_id}"),
               ("DELETE", "/v1/plans/{party}/{plan_id}"), ("POST", "/v1/tracks"), ("GET", "/v1/tracks"),
               ("GET", "/v1/tracks/clashes"),
               ("GET", "/v1/conflicts"), ("GET", "/v1/occurrences"), ("GET", "/v1/nonconformances"), ("GET", "/v1/keys"), ("POST", "/v1/me/keys"),
               ("DELETE", "/v1/me/keys/{key}"), ("GET", "/v1/conflicts/{conflict_id}/resolutions"), ("GET", "/v1/threads"), ("POST", "/v1/threads"),
               ("GET", "/v1/threads/{thread_id}"), ("POST", "/v1/threads/{thread_id}/messages"),
               ("GET", "/v1/audit/key"), ("GET", "/v1/audit/receipts"), ("GET", "/v1/audit/chain"),
               ("GET", "/v1/events")}  # events: test_events.py (a stream)
    assert routes == covered


@pytest.mark.parametrize("endpoint", list(MATRIX))
def test_matrix(setup, endpoint):
    make, expected = MATRIX[endpoint]
    wrong, leaks = [], []
    for role in ROLES:
        answer = make(setup, role, setup.world[role])
        want = expected.get(role, 401)
        if answer.status_code != want:
            wrong.append(f"{role}: {answer.status_code} (expected {want}) {answer.text[:120]}")
        party = {"alpha_op": "alpha", "alpha_obs": "alpha", "bravo_op": "bravo", "bravo_obs": "bravo"}.get(role)
        if party is not None:
            other = "bravo" if party == "alpha" else "alpha"
            leaks += [f"{role} saw {secret!r}" for secret in SECRETS[other] if secret in answer.text]
    assert not wrong, wrong
    assert not leaks, leaks


def test_party_views_are_complete_for_own_data_and_minimal_for_the_other(setup):
    w = setup.world
    alpha_plans = {p["id"] for p in w["alpha_op"].get("/v1/plans").json()}
    assert {"ALPHA-CONFLICT", "ALPHA-HIDDEN"} <= alpha_plans and not any(p.startswith("BRAVO") for p in alpha_plans)
    assert {p["party"] for p in w["cell"].get("/v1/plans").json()} == {"alpha", "bravo"}
    conflicts = w["alpha_obs"].get("/v1/conflicts").json()
    assert len(conflicts["tactical"]) == 1 and len(conflicts["strategic"]) >= 1
    assert all(c["other_party"] == "bravo" for c in conflicts["strategic"])
    receipts = w["alpha_op"].get("/v1/audit/receipts").text
    assert "alpha-eyes-only" in receipts and "bravo-eyes-only" not in receipts


def test_revoked_token_is_refused_and_the_revocation_recorded(tmp_path):
    w = make_world(str(tmp_path / "revoke.db"), tmp_path)
    with w.clients["cell"]:
        assert w["alpha_obs"].get("/v1/me").status_code == 200
        member = w["alpha_obs"].get("/v1/me").json()["member"]
        w.service.revoke_member(member)
        assert w["alpha_obs"].get("/v1/me").status_code == 401
        assert w["alpha_op"].get("/v1/me").status_code == 200
        assert "member.revoked" in w["alpha_op"].get("/v1/audit/receipts").text
    w.service.close()
