"""Servers the tests need, installed and started by the tests themselves.

PostgreSQL: Debian's package (``apt-get install postgresql`` under CI when missing), a throw-away
cluster in a temporary folder on a free loopback port, trust auth, stopped at the end. Outside CI a
missing PostgreSQL skips its tests with the reason; under CI (``CI=true``) it is an error.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

UNDER_CI = os.environ.get("CI", "").lower() == "true"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _install_postgres() -> None:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=False, env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], check=False, env=env, capture_output=True)


class Postgres:
    """A PostgreSQL cluster on loopback; `database()` gives a fresh empty database URL."""

    def __init__(self) -> None:
        binaries = _postgres_bin()
        if binaries is None and UNDER_CI:
            _install_postgres()
            binaries = _postgres_bin()
        if binaries is None:
            message = "PostgreSQL server not installed (apt-get install postgresql); these tests run under CI"
            if UNDER_CI:
                pytest.fail(message)
            pytest.skip(message)
        self.bin = binaries
        self.folder = Path(tempfile.mkdtemp(prefix="deconflict-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self._as_user = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(self.folder, "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "deconflict", "--no-sync")
        self._run("pg_ctl", "-D", str(self.data), "-w", "-l", str(self.folder / "log"), "-o",
                  f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=on", "start")
        self._count = 0

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run([*self._as_user, str(self.bin / program), *args], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed: {result.stderr.strip() or result.stdout.strip()}")

    def database(self) -> str:
        import psycopg

        self._count += 1
        name = f"test_{self._count}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=deconflict dbname=postgres",
                             autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return f"postgresql+psycopg://deconflict@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
