"""Real receiver recordings shipped in the `traffic` package (installed data-only by `make`; never imported)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def sample(relative: str) -> Path:
    """Path of ``traffic/data/samples/<relative>``; skips the test (visibly) when the package is missing."""
    spec = importlib.util.find_spec("traffic")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the traffic package's recordings are not installed (make installs them: pip install --no-deps traffic)")
    path = Path(spec.submodule_search_locations[0]) / "data" / "samples" / relative
    if not path.exists():
        pytest.skip(f"{path} is missing from the installed traffic package")
    return path
