"""The documentation (issue 16): the MkDocs site builds with no broken page or anchor, its API
reference lists every route of the service, and the README's quickstart runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_the_site_builds_strict_with_the_api_reference_and_the_quickstart(tmp_path):
    pytest.importorskip("mkdocs")
    built = subprocess.run([str(BIN / "mkdocs"), "build", "--strict", "--quiet", "--site-dir", str(tmp_path / "site")],
                           cwd=ROOT, capture_output=True, text=True, timeout=300,
                           env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert built.returncode == 0, built.stderr[-2000:]
    api = (tmp_path / "site/api/index.html").read_text()
    from deconflict.service.app import create_app

    for path in create_app(None, run_detection=False).openapi()["paths"]:
        assert path.replace("{", "").replace("}", "") in api.replace("{", "").replace("}", ""), path
    assert "PlanAnswer" in api and "TacticalConflictView" in api
    quickstart = (tmp_path / "site/quickstart/index.html").read_text()
    assert "deconflict detect src/deconflict/data/sample_states.csv" in quickstart


def _quickstart_commands() -> list[tuple[str, str]]:
    """Each ``$ deconflict ...`` of the README's quickstart (run here) with the last line shown after
    it (what it must print). The service and the demo are left to their own tests."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Five-minute quickstart"):text.index("## Documentation")]
    found = []
    for block in re.findall(r"```\n(.*?)```", section, flags=re.S):
        lines = block.rstrip("\n").split("\n")
        for k, line in enumerate(lines):
            if not line.startswith("$ deconflict ") or " serve " in line or " admin " in line:
                continue
            output = [text for text in lines[k + 1:]]
            output = output[:next((j for j, text in enumerate(output) if text.startswith("$ ")), len(output))]
            found.append((line[2:], output[-1] if output else ""))
    return found


@pytest.mark.parametrize("command, last", _quickstart_commands(), ids=lambda v: v.split()[1] if " " in v else v)
def test_each_quickstart_command_runs_as_written(command, last, tmp_path):
    """Run from the checkout on its bundled data; the last line it shows (timings aside) is printed."""
    parts = command.split()
    if "--out" in parts:
        parts[parts.index("--out") + 1] = str(tmp_path / "sim")
    if "-o" in parts:
        parts[parts.index("-o") + 1] = str(tmp_path / parts[parts.index("-o") + 1])
    recording = next((p for p in parts if p.startswith(".venv/")), None)
    if recording is not None:
        import importlib.util

        spec = importlib.util.find_spec("traffic")
        if spec is None:
            pytest.skip("the traffic package's recordings are not installed")
        parts[parts.index(recording)] = str(Path(spec.submodule_search_locations[0]) / recording.split("/traffic/", 1)[1])
    done = subprocess.run([str(BIN / "deconflict"), *parts[1:]], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "100"})
    assert done.returncode == 0, done.stderr[-1000:]
    normalise = lambda text: re.sub(r"in \d+(\.\d+)? s\b", "in T s", re.sub(r"\s+", " ", text)).strip()  # noqa: E731
    expected = normalise(last.replace("wrote sim/", f"wrote {tmp_path}/sim/"))
    assert expected in normalise(done.stdout + "\n" + done.stderr), (expected, done.stdout[-600:], done.stderr[-300:])
