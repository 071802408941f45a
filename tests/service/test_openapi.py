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
