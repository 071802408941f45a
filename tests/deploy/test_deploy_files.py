"""The container image and the two-node compose file (issue 18): linted here; built and started where a
container runtime is available (none on the CI machine: that test skips, saying so)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def test_compose_runs_two_nodes_on_postgresql_behind_a_leader_checking_proxy():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "node-a", "node-b", "proxy"}
    for name in ("node-a", "node-b"):
        node = services[name]
        assert node["build"]["dockerfile"] == "deploy/Dockerfile" and node["restart"] == "unless-stopped"
        assert node["environment"]["DECONFLICT_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert node["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert node["secrets"] == ["audit_key"]
    assert services["node-a"]["volumes"] != services["node-b"]["volumes"]  # a witness and snapshot each
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    haproxy = (DEPLOY / "haproxy.cfg").read_text()
    assert "option httpchk GET /healthz/leader" in haproxy and "http-check expect status 200" in haproxy
    assert re.search(r"server node-a node-a:8000 check", haproxy) and re.search(r"server node-b node-b:8000 check", haproxy)


def test_the_image_copies_what_exists_and_the_entrypoint_uses_real_options():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, re.M):
        for path in source.split():
            assert (ROOT / path).exists(), path
    for path in re.findall(r"cp (?:-r )?(node_modules/\S+)", dockerfile):
        assert path.split("/")[1] in (ROOT / "web-assets" / "package.json").read_text(), path
    entrypoint = (DEPLOY / "entrypoint.sh").read_text()
    assert subprocess.run(["sh", "-n", str(DEPLOY / "entrypoint.sh")]).returncode == 0
    serve_help = subprocess.run([str(ROOT / ".venv" / "bin" / "deconflict"), "serve", "--help"], capture_output=True,
                                text=True, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"}).stdout
    for option in set(re.findall(r"(--[a-z-]+)", entrypoint.split("exec deconflict serve", 1)[1])):
        assert option in serve_help, option


def _container_runtime() -> bool:
    """A Docker engine answers and has the compose plugin (a client alone cannot build or run)."""
    if shutil.which("docker") is None:
        return False
    engine = subprocess.run(["docker", "info"], capture_output=True)
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True)
    return engine.returncode == 0 and plugin.returncode == 0


@pytest.mark.skipif(not _container_runtime(), reason="no Docker engine with compose here: the image is not built, "
                                                     "the compose file is only linted")
def test_the_compose_file_is_valid_for_docker(tmp_path):
    key = DEPLOY / "audit.key"
    made = not key.exists()
    if made:
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(key)], check=True)
    try:
        result = subprocess.run(["docker", "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    finally:
        if made:
            key.unlink()
