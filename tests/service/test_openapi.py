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
