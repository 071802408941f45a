"""MkDocs hook: pages generated at build time, so that they cannot drift from their source:
the API reference (api.md) from the service's own OpenAPI document, and the quickstart
(quickstart.md) from the README's, which a test runs. Nothing here runs in the service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files


def on_files(files: Files, config: Any) -> Files:
    from deconflict.service.app import create_app

    document = create_app(None, run_detection=False).openapi()  # the routes and models; no service needed
    files.append(File.generated(config, "api.md", content=reference(document)))
    files.append(File.generated(config, "quickstart.md", content=quickstart(Path(config.config_file_path).parent)))
    return files


def quickstart(root: Path) -> str:
    """The README's quickstart section as a page (links into docs/ made relative to it)."""
    text = (root / "README.md").read_text()
    section = text[text.index("## Five-minute quickstart"):text.index("\n## ", text.index("## Five-minute quickstart"))]
    return "# Quickstart" + section.removeprefix("## Five-minute quickstart").replace("](docs/", "](")


def reference(document: dict[str, Any]) -> str:
    """The OpenAPI document as a page: routes by tag (method, path, what it does, parameters, body,
    answers with their models), then every model with its fields."""
    lines = ["# API reference", "",
             f"{document['info']['description']} The same document, interactive, is at `/docs` on a running "
             "service and as JSON at `/openapi.json`; this page is generated from it when the site is built.", ""]
    by_tag: dict[str, list[tuple[str, str, dict]]] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            by_tag.setdefault((operation.get("tags") or ["other"])[0], []).append((method.upper(), path, operation))
    for tag, operations in by_tag.items():
        lines += [f"## {tag}", ""]
        for method, path, operation in operations:
            lines += [f"### `{method} {path}`", "", operation.get("description") or operation.get("summary", ""), ""]
            parameters = operation.get("parameters", [])
            if parameters:
                lines += ["| parameter | in | type | required |", "|---|---|---|---|"]
                lines += [f"| `{p['name']}` | {p['in']} | {_type(p.get('schema', {}))} | {'yes' if p.get('required') else 'no'} |"
                          for p in parameters]
                lines.append("")
            body = operation.get("requestBody", {}).get("content", {})
            for media, content in body.items():
                lines += [f"Body ({media}): {_type(content.get('schema', {}))}", ""]
            lines += ["| status | meaning | answer |", "|---|---|---|"]
            for status, response in operation["responses"].items():
                answer = ", ".join(f"{_type(c.get('schema', {}))} ({media})"
                                   for media, c in response.get("content", {}).items()) or "-"
                lines.append(f"| {status} | {response.get('description', '')} | {answer} |")
            lines.append("")
    lines += ["## Models", ""]
    for name, schema in sorted(document.get("components", {}).get("schemas", {}).items()):
        lines += [f"### {name}", "", schema.get("description", ""), ""]
        properties = schema.get("properties", {})
        if properties:
            required = set(schema.get("required", []))
            lines += ["| field | type | required | description |", "|---|---|---|---|"]
            for field, spec in properties.items():
                text = (spec.get("description") or "").replace("|", "\\|").replace("\n", " ")
                lines.append(f"| `{field}` | {_type(spec)} | {'yes' if field in required else 'no'} | {text} |")
        elif schema.get("enum"):
            lines.append("One of: " + ", ".join(f"`{v}`" for v in schema["enum"]))
        lines.append("")
    return "\n".join(lines)


def _type(schema: dict[str, Any]) -> str:
    """A short human name of a schema: a model links to its section."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if schema.get("type") == "array":
        return f"array of {_type(schema.get('items', {}))}"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(_type(s) for s in schema[key] if s.get("type") != "null") or "null"
    if "enum" in schema:
        return " / ".join(json.dumps(v) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    return schema.get("title", schema.get("type", "any")) if schema.get("type") == "object" else schema.get("type", "any")
