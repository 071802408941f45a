"""Fixtures shared across the test folders."""

from __future__ import annotations

import pytest

from tests.servers import Postgres


@pytest.fixture(scope="session")
def postgres():
    """One throw-away PostgreSQL cluster for the whole run (`tests.servers.Postgres`)."""
    server = Postgres()
    yield server
    server.stop()
