"""The package as `pip install deconflict` gives it (issue 16): a wheel that holds the map's pinned
assets, the bundled data and the migrations, and that runs (CLI and map) from itself alone."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
NEEDED = ("deconflict/web/static/index.html", "deconflict/web/static/app.js", "deconflict/web/static/traffic.js",
          "deconflict/web/static/layers.js", "deconflict/web/static/hotline.js", "deconflict/web/static/live.js",
          "deconflict/web/static/vendor/leaflet.js",
          "deconflict/web/static/vendor/countries-50m.json", "deconflict/web/static/vendor/images/layers.png",
          "deconflict/data/sample_states.csv", "deconflict/data/scenarios/airbase_demo.yaml",
          "deconflict/store/migrations/env.py", "deconflict/store/migrations/versions/0001_initial_schema.py")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built offline from a copy of the checkout (the build writes its own build/ folder)."""
    if not (ROOT / "src/deconflict/web/static/vendor/leaflet.js").exists():
        pytest.skip("the map's assets are not built (make builds them with npm)")
    work = tmp_path_factory.mktemp("package")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    "-w", str(work / "dist"), str(source)], check=True, capture_output=True, timeout=300)
    [built] = (work / "dist").glob("deconflict-*.whl")
    return built


def test_the_wheel_holds_the_map_the_data_and_the_migrations(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert [n for n in NEEDED if n not in names] == []
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "deconflict = deconflict.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_the_installed_wheel_runs_the_cli_and_serves_the_map_from_itself(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # a pure-Python wheel installs by unpacking
    # numba compiles its kernels on first use next to the sources (tens of seconds for a fresh install,
    # paid once): the wheel's code runs here as plain Python instead, which is what this test is about
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NUMBA_DISABLE_JIT": "1"}
    run = [sys.executable, "-c", "import sys; from deconflict.cli import main; sys.argv[0] = 'deconflict'; main()"]
    where = subprocess.run([sys.executable, "-c", "import deconflict; print(deconflict.__file__)"], env=env,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(site))  # the wheel's copy, not the checkout's
    detect = subprocess.run(run + ["detect", str(site / "deconflict/data/sample_states.csv"), "-o", str(tmp_path / "c.csv")],
                            env=env, capture_output=True, text=True, timeout=120)
    assert detect.returncode == 0 and "16 conflicts" in detect.stderr
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = open(tmp_path / "serve.log", "w")
    server = subprocess.Popen(run + ["serve", "--db", str(tmp_path / "s.db"), "--key", str(tmp_path / "k.pem"),
                                     "--port", str(port)], env=env, stdout=log, stderr=log)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        page = httpx.get(f"{base}/", timeout=5)
        assert page.status_code == 200 and "leaflet" in page.text.lower()
        for asset in ("/static/vendor/leaflet.js", "/static/vendor/countries-50m.json", "/static/app.js"):
            assert httpx.get(base + asset, timeout=5).status_code == 200, asset
    finally:
        server.terminate()
        assert server.wait(10) == 0  # SIGTERM (docker stop) ends it cleanly: it was killed by its own signal
        log.close()
    from deconflict.service.deconfliction import Deconfliction
    from deconflict.service.settings import ServiceSettings

    successor = Deconfliction(ServiceSettings(database=str(tmp_path / "s.db"), key_file=str(tmp_path / "k.pem")))
    try:
        assert successor.role == "leader"  # the lead was given up, not left to expire
    finally:
        successor.close()
