"""The API is documented: every route in the OpenAPI document, the work routes with a description."""

from __future__ import annotations


def test_openapi_lists_every_route_with_a_description(sqlite_world):
    document = sqlite_world["anonymous"].get("/openapi.json").json()
    paths = document["paths"]
    app_routes = {r.path for r in sqlite_world["cell"].app.routes if r.path.startswith("/v1/")}
    assert app_routes <= set(paths)
    for path in ("/v1/plans", "/v1/plans/{party}/{plan_id}", "/v1/tracks", "/v1/conflicts", "/v1/events",
                 "/v1/audit/receipts", "/v1/plans/volumes"):
        for operation in paths[path].values():
            assert operation.get("description"), (path, operation.get("summary"))
    assert "need" in document["info"]["description"].lower() or "bearer" in document["info"]["description"].lower()
    assert sqlite_world["anonymous"].get("/docs").status_code == 200


def test_track_batches_conflicts_and_me_have_typed_schemas(sqlite_world):
    """Issue 16: POST /v1/tracks had no body schema and the answers were untyped."""
    document = sqlite_world["anonymous"].get("/openapi.json").json()
    push = document["paths"]["/v1/tracks"]["post"]
    shapes = push["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert {"time", "icao24", "lat", "lon", "velocity", "heading", "vertrate"} <= set(shapes[0]["properties"])
    assert shapes[1]["type"] == "array" and "icao24" in shapes[1]["items"]["properties"]
    schemas = document["components"]["schemas"]
    assert push["responses"]["202"]["content"]["application/json"]["schema"]["$ref"].endswith("/IngestAnswer")
    assert set(schemas["IngestAnswer"]["properties"]) == {"accepted", "rejected", "reasons", "examples"}
    conflicts = document["paths"]["/v1/conflicts"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert conflicts["$ref"].endswith("/ConflictsAnswer") and "t_cpa" in schemas["TacticalConflictView"]["properties"]
    assert document["paths"]["/v1/me"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"] \
        .endswith("/MemberAnswer")
    assert "bearer" in str(document["components"]["securitySchemes"]).lower()


def test_every_json_answer_names_its_model(sqlite_world):
    """Every route answering JSON documents a model (not a bare object or an array of anything)."""
    document = sqlite_world["anonymous"].get("/openapi.json").json()
    untyped = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                if schema is None or not status.startswith("2"):
                    continue
                target = schema.get("items", {}) if schema.get("type") == "array" else schema
                if "$ref" not in target:
                    untyped.append(f"{method.upper()} {path} {status}")
    assert untyped == []
    body = document["paths"]["/v1/plans"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    plan = body["oneOf"][0]
    assert {"id", "volumes", "route", "recurring", "aircraft"} <= set(plan["properties"])
    radius = plan["properties"]["volumes"]["items"]["properties"]["circle"]["anyOf"][0]["properties"]["radius"]
    assert radius["type"] == "string" and "5km" in radius["examples"]  # quantities travel as text with a unit
    for path in ("/v1/audit/receipts", "/v1/events", "/metrics"):
        assert "application/json" not in document["paths"][path]["get"]["responses"]["200"]["content"]


def test_real_answers_match_their_documented_models(sqlite_world):
    """One real answer of each route, validated against the model its OpenAPI entry names, so the
    documentation cannot drift from the answers (occurrences, nonconformances and clashes are checked
    in their own tests, where they are not empty)."""
    from tests.service.answers import documented
    from tests.service.builders import head_on, plan, tracks

    w = sqlite_world
    alpha, bravo, cell = w["alpha_op"], w["bravo_op"], w["cell"]
    created = documented(alpha, "POST", "/v1/plans", alpha.post("/v1/plans", json=plan("A1")))
    assert created.accepted and created.conflicts == []
    met = documented(bravo, "POST", "/v1/plans", bravo.post("/v1/plans", json=plan("B1", lat=45.01)))
    assert met.conflicts[0].other_party == "alpha" and met.conflicts[0].other_plan is None
    documented(bravo, "POST", "/v1/plans/batch", bravo.post("/v1/plans/batch", json={"plans": [plan("B2", lat=46.0)]}))
    [checked] = documented(bravo, "POST", "/v1/plans/check",
                           bravo.post("/v1/plans/check", json={"plans": [plan("B3")]}))
    assert checked.conflicts and checked.conflicts[0].other_party == "alpha"
    documented(alpha, "GET", "/v1/plans", alpha.get("/v1/plans"))
    read = alpha.get("/v1/plans/alpha/A1")
    documented(alpha, "GET", "/v1/plans/{party}/{plan_id}", read)
    documented(alpha, "PUT", "/v1/plans/{party}/{plan_id}", alpha.put(
        "/v1/plans/alpha/A1", json=plan("A1", radius="6km"), headers={"If-Match": read.headers["etag"]}))
    documented(alpha, "GET", "/v1/plans/volumes", alpha.get("/v1/plans/volumes"))
    documented(alpha, "GET", "/v1/airports", alpha.get("/v1/airports?bbox=43,1,50,3"))
    mine, theirs = head_on(w.clock.now())
    alpha.post("/v1/tracks", json=tracks(mine))
    bravo.post("/v1/tracks", json=tracks(theirs))
    w.service.detect_now()
    answer = documented(cell, "GET", "/v1/conflicts", cell.get("/v1/conflicts"))
    assert answer.tactical and answer.strategic and answer.strategic[0].other_plan is not None  # the cell sees both
    conflict = answer.tactical[0].id
    documented(alpha, "GET", "/v1/conflicts/{conflict_id}/resolutions", alpha.get(f"/v1/conflicts/{conflict}/resolutions"))
    documented(cell, "GET", "/v1/parties", cell.get("/v1/parties"))
    documented(cell, "POST", "/v1/parties/{party}/suspend", cell.post("/v1/parties/bravo/suspend"))
    documented(cell, "POST", "/v1/parties/{party}/resume", cell.post("/v1/parties/bravo/resume"))
    opened = documented(alpha, "POST", "/v1/threads", alpha.post("/v1/threads", json={"parties": ["bravo"],
                                                                                        "subject": "hello"}))
    documented(alpha, "POST", "/v1/threads/{thread_id}/messages", alpha.post(
        f"/v1/threads/{opened.id}/messages", json={"kind": "proposal", "text": "please climb", "answer_within": "5min",
                                                   "proposal": {"type": "manoeuvre", "aircraft": "b1",
                                                                "action": "climb", "value": "FL320"}}))
    detail = documented(alpha, "GET", "/v1/threads/{thread_id}", alpha.get(f"/v1/threads/{opened.id}"))
    assert detail.messages[-1].proposal["value"] == "FL320"
    documented(alpha, "GET", "/v1/threads", alpha.get("/v1/threads"))
    from deconflict.store.signatures import PartyKey

    documented(bravo, "POST", "/v1/me/keys", bravo.post("/v1/me/keys", json={"public_key": PartyKey.generate().public_text}))
    documented(alpha, "GET", "/v1/keys", alpha.get("/v1/keys"))
    documented(cell, "GET", "/healthz", w["anonymous"].get("/healthz"))
    documented(cell, "GET", "/healthz/leader", w["anonymous"].get("/healthz/leader"))
    documented(cell, "GET", "/v1/me", cell.get("/v1/me"))
