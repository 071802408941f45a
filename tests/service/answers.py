"""Check a real answer against the model the OpenAPI document names for it (issue 16: typed answers)."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from deconflict.service import schemas


def documented(client, method: str, path: str, answer) -> Any:  # noqa: ANN001 - a TestClient and its response
    """Validate ``answer`` (JSON) against the model of its status in the OpenAPI document of ``path``
    (the route's template, e.g. ``/v1/threads/{thread_id}``); returns the validated value. A field the
    model does not name, or a missing one, fails: the models forbid extras."""
    document = client.get("/openapi.json").json()
    response = document["paths"][path][method.lower()]["responses"][str(answer.status_code)]
    schema = response["content"]["application/json"]["schema"]
    many = schema.get("type") == "array"
    reference = (schema["items"] if many else schema)["$ref"]
    name = reference.rsplit("/", 1)[-1]
    model = getattr(schemas, name)  # every model the document names, Manoeuvre included
    return TypeAdapter(list[model] if many else model).validate_python(answer.json())
