"""Service fixtures: a `Deconfliction` on SQLite and on PostgreSQL, parties, members, a test clock."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from deconflict.service.app import create_app
from deconflict.service.deconfliction import Deconfliction
from deconflict.service.settings import ServiceSettings

T0 = 1_795_000_000.0  # 2026-11-18T11:06:40Z


class ManualClock:
    """Service time that moves only when a test says so."""

    def __init__(self, start: float = T0) -> None:
        self.time = start
        self.speed = 1.0

    def now(self) -> float:
        return self.time

    def advance(self, seconds: float) -> None:
        self.time += seconds


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "service.db")
    return request.getfixturevalue("postgres").database()


@dataclass
class World:
    """A service with parties alpha and bravo, and a client per member."""

    service: Deconfliction
    clock: ManualClock
    clients: dict[str, TestClient]
    tokens: dict[str, str]

    def __getitem__(self, member: str) -> TestClient:
        return self.clients[member]


MEMBERS = {"alpha_op": ("operator", "alpha"), "alpha_obs": ("observer", "alpha"),
           "bravo_op": ("operator", "bravo"), "bravo_obs": ("observer", "bravo"), "cell": ("cell", None)}


def make_world(database: str, tmp_path, **settings) -> World:
    clock = ManualClock()
    options = {"alert_m": 1, "alert_n": 1, "alert_hysteresis": 0.0, **settings}
    service = Deconfliction(ServiceSettings(database=database, key_file=str(tmp_path / "service.key"), **options),
                            clock=clock)
    for party in ("alpha", "bravo"):
        service.add_party(party)
    tokens = {name: service.add_member(name, role, party) for name, (role, party) in MEMBERS.items()}
    app = create_app(service, run_detection=False)
    clients = {name: TestClient(app, headers={"Authorization": f"Bearer {token}"}) for name, token in tokens.items()}
    clients["anonymous"] = TestClient(app)
    return World(service, clock, clients, tokens)


@pytest.fixture
def world(database, tmp_path):
    w = make_world(database, tmp_path)
    with w.clients["cell"]:  # runs the app's lifespan (binds the event bus)
        yield w
    w.service.close()


@pytest.fixture
def sqlite_world(tmp_path):
    w = make_world(str(tmp_path / "service.db"), tmp_path)
    with w.clients["cell"]:
        yield w
    w.service.close()
