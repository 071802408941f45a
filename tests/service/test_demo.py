"""`deconflict demo` end to end, as `make demo` runs it (shortened): a real server on loopback,
two party bots over HTTP, conflicts, proposals accepted and carried out, the record verified."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.servers import free_port


def test_demo_runs_the_scenario_and_verifies_the_record(tmp_path):
    database = tmp_path / "demo.db"
    result = subprocess.run(
        [sys.executable, "-m", "deconflict.cli", "demo", "--port", str(free_port()), "--speed", "60",
         "--duration", "13min", "--db", str(database)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "250"})
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "north files plan STRIKE-1: accepted" in out
    assert re.search(r"south files plan CARGO-DAILY: accepted, [12] conflict\(s\)", out)  # vs the strike plan
    assert "north proposes on thread 1: STRIKE-1 departs" in out and "south accepts proposal" in out
    assert "0 conflicts left" in out  # the delayed plan no longer overlaps
    assert "conflict tactical:1: n-viper1 / s-cargo1" in out
    assert "VIPER1 climbs to FL120" in out and "cleared tactical:1" in out
    assert "nonconforming n-cap2 (north) left CAP-EAST" in out  # HAWK2 strays south of its box at T+5min ...
    assert "south told: n-cap2 of north is off its plan and could reach PATROL-SOUTH" in out  # ... near south's patrol
    assert "nonconforming n-cap1" not in out and "nonconforming s-" not in out  # the others fly what they declared
    assert "north registers its signing key" in out and "south registers its signing key" in out
    signed = re.search(r"(\d+) party signatures verified", out)
    assert signed and int(signed.group(1)) >= 8  # 4 plans, 2 proposals, 2 acceptances at least, all signed
    assert "audit verified: cell" in out and "Traceback" not in result.stderr
    assert database.exists() and database.with_suffix(".key").exists()


def test_demo_port_in_use_is_one_line(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "deconflict.cli", "demo", "--port", str(port), "--db",
                                 str(tmp_path / "d.db")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in result.stderr


def test_a_demo_whose_scenes_did_not_happen_fails(tmp_path, monkeypatch):
    """On a loaded machine the demo once ended '0 tactical and 3 strategic conflicts ... audit verified'
    with exit 0, the main scene missing: a whole run that misses a promised scene is a failure."""
    from deconflict.service import demo
    from deconflict.service.errors import DemoError

    import copy

    import pytest

    scenario = demo.load_demo_scenario()
    for flight in scenario.flights:
        if flight.party == "north":
            flight.start += 10 * 3600  # the fighters take off after the demo ends: no tactical conflict
    monkeypatch.setattr(demo, "load_demo_scenario", lambda: copy.copy(scenario))

    with pytest.raises(DemoError, match="tactical conflicts of the fighters .* did not happen"):
        demo.run_demo(port=free_port(), speed=200.0, database=str(tmp_path / "d.db"), say=lambda text: None)


def test_the_manual_hotline_demo_runs_in_real_time_while_a_tactical_thread_waits(tmp_path):
    """`demo --hotline manual`: fast until a tactical conflict's thread opens, then real time (x1) so a
    person can answer on the map; once the thread is settled, fast again to the end."""
    import threading
    import time

    import httpx

    from deconflict.service import demo

    said: list[str] = []
    ready: dict = {}
    done: dict = {}

    def run() -> None:
        try:
            done["result"] = demo.run_demo(str(tmp_path / "m.db"), port=free_port(), speed=120.0, duration=720.0,
                                           say=said.append, bots=False,
                                           ready=lambda url, tokens: ready.update(url=url, tokens=tokens))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            done["error"] = error

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    deadline = time.time() + 120
    while "url" not in ready and time.time() < deadline:
        time.sleep(0.1)
    clients = {name: httpx.Client(base_url=ready["url"], headers={"Authorization": f"Bearer {token}"})
               for name, token in ready["tokens"].items()}
    thread = None
    while thread is None and time.time() < deadline:
        thread = next((t for t in clients["cell"].get("/v1/threads").json()
                       if (t["conflict"] or "").startswith("tactical:")), None)
        time.sleep(0.2)
    assert thread is not None, said[-5:]
    while httpx.get(f"{ready['url']}/healthz").json()["speed"] != 1.0 and time.time() < deadline:
        time.sleep(0.1)
    assert httpx.get(f"{ready['url']}/healthz").json()["speed"] == 1.0  # real time while a person is needed
    answered: set[int] = set()
    while runner.is_alive() and time.time() < deadline + 240:  # the person: settles each tactical thread
        try:
            _settle_tactical_threads(clients, answered)
        except httpx.TransportError:  # the scenario ended meanwhile and its server stopped
            break
        time.sleep(0.3)
    runner.join(timeout=60)
    assert "error" not in done and "result" in done, (done, said[-5:])
    assert any("time x1" in line for line in said) and any("time x120" in line for line in said)
    for client in clients.values():
        client.close()


def _settle_tactical_threads(clients, answered: set[int]) -> None:
    """What a person at the map does: north proposes a climb on each new tactical thread, south accepts."""
    for waiting in clients["cell"].get("/v1/threads").json():
        if not (waiting["conflict"] or "").startswith("tactical:") or waiting["id"] in answered \
                or waiting["status"] not in ("open", "escalated"):
            continue
        answered.add(waiting["id"])
        conflict = next((c for c in clients["cell"].get("/v1/conflicts").json()["tactical"]
                         if c["id"] == waiting["conflict"]), None)
        if conflict is None:
            continue
        own = conflict["a"] if conflict["party_a"] == "north" else conflict["b"]
        proposal = clients["north"].post(f"/v1/threads/{waiting['id']}/messages", json={
            "kind": "proposal", "text": "climbing", "proposal": {"type": "manoeuvre", "aircraft": own,
                                                                 "action": "climb", "value": "FL120"}}).json()
        clients["south"].post(f"/v1/threads/{waiting['id']}/messages", json={"kind": "accept", "reply_to": proposal["id"]})
