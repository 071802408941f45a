"""kill -9 during a write load: after a restart every acknowledged write is there and the chain verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx

from deconflict.store.audit import load_public_key, parse_records, verify
from tests.servers import free_port
from tests.service.builders import plan, two_parties_and_a_cell


def _serve(database: str, key: str, port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "deconflict.cli", "serve", "--db", database, "--key", key,
                                "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server did not start: {process.stderr.read().decode()[-500:]}")


def test_kill_9_loses_no_acknowledged_write(database, tmp_path):
    key = str(tmp_path / "service.key")
    tokens = two_parties_and_a_cell(database, key)

    port = free_port()
    server = _serve(database, key, port)
    url = f"http://127.0.0.1:{port}"
    acknowledged: dict[str, list[str]] = {"alpha": [], "bravo": []}
    messages: list[int] = []
    stop = threading.Event()
    thread_id = httpx.post(f"{url}/v1/threads", json={"parties": ["bravo"]},
                           headers={"Authorization": f"Bearer {tokens['alpha']}"}).json()["id"]

    def load(party: str, worker: int) -> None:
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens[party]}"}, timeout=5)
        k = 0
        while not stop.is_set():
            k += 1
            plan_id = f"{party}-{worker}-{k}"
            try:
                answer = client.post("/v1/plans", json=plan(plan_id, lat=-60 + worker * 10 + (k % 50) * 0.1,
                                                           lon=(k // 50) * 0.5 + (party == "bravo") * 90))
                if answer.status_code == 201:
                    acknowledged[party].append(plan_id)
                note = client.post(f"/v1/threads/{thread_id}/messages", json={"text": plan_id})
                if note.status_code == 201:
                    messages.append(note.json()["id"])
            except httpx.TransportError:
                return

    workers = [threading.Thread(target=load, args=(p, w)) for p in ("alpha", "bravo") for w in range(2)]
    for w in workers:
        w.start()
    deadline = time.monotonic() + 120  # kill once the load is going, however slow the machine is
    while sum(map(len, acknowledged.values())) < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(server.pid, signal.SIGKILL)
    server.wait()
    stop.set()
    for w in workers:
        w.join()
    assert sum(map(len, acknowledged.values())) > 20, "the load did not get going"

    server = _serve(database, key, port)
    try:
        for party, ids in acknowledged.items():
            client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens[party]}"})
            stored = {p["id"] for p in client.get("/v1/plans").json()}
            assert set(ids) <= stored, f"{party}: {len(set(ids) - stored)} acknowledged plans lost"
            records, head = parse_records(client.get("/v1/audit/receipts").text)
            key = load_public_key(client.get("/v1/audit/key").text)
            assert verify(records, head, key).entries >= len(ids)
        cell = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens['cell']}"})
        records, head = parse_records(cell.get("/v1/audit/chain").text)
        result = verify(records, head, load_public_key(cell.get("/v1/audit/key").text))
        stored_messages = {m["id"] for m in cell.get(f"/v1/threads/{thread_id}").json()["messages"]}
        assert set(messages) <= stored_messages
        assert result.entries > len(messages) + sum(map(len, acknowledged.values()))
    finally:
        server.terminate()
        server.wait(10)
