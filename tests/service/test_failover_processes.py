"""Two `deconflict serve` processes on one database: kill -9 the leader under plan, track and hotline
load; the standby leads within 5 s, every acknowledged write is there, the chain verifies, and the
conflict that was open before the kill is still open after it, with the same id (issue 18)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import httpx

from deconflict.store.audit import load_public_key, parse_records, verify
from tests.servers import free_port
from tests.service.builders import plan, two_parties_and_a_cell
from tests.service.test_durability import _serve

TAKEOVER_LIMIT = 5.0  # s, from the kill to a standby answering as leader


def _role(url: str) -> str | None:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).json()["role"]
    except (httpx.TransportError, ValueError):
        return None


def test_kill_9_of_the_leader_hands_over_without_losing_anything(database, tmp_path):
    key = str(tmp_path / "service.key")
    tokens = two_parties_and_a_cell(database, key)

    urls = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    leader = _serve(database, key, int(urls[0].rsplit(":", 1)[1]))
    standby = _serve(database, key, int(urls[1].rsplit(":", 1)[1]))
    processes = [leader, standby]
    try:
        assert _role(urls[0]) == "leader" and _role(urls[1]) == "standby"
        acknowledged: dict[str, list[str]] = {"alpha": [], "bravo": []}
        messages: list[int] = []
        refused_by_standby = []
        stop = threading.Event()
        thread_id = httpx.post(f"{urls[0]}/v1/threads", json={"parties": ["bravo"]},
                               headers={"Authorization": f"Bearer {tokens['alpha']}"}).json()["id"]

        def post(client: httpx.Client, path: str, body: dict) -> httpx.Response | None:
            """To whichever node leads: a 503 or a dropped connection sends the request to the other."""
            for attempt in range(40):
                url = urls[attempt % 2]
                try:
                    answer = client.post(url + path, json=body)
                except httpx.TransportError:
                    time.sleep(0.05)
                    continue
                if answer.status_code != 503:
                    return answer
                refused_by_standby.append(url)
                time.sleep(0.05)
            return None

        def load(party: str, worker: int) -> None:
            client = httpx.Client(headers={"Authorization": f"Bearer {tokens[party]}"}, timeout=5)
            k = 0
            while not stop.is_set():
                k += 1
                plan_id = f"{party}-{worker}-{k}"
                answer = post(client, "/v1/plans", plan(plan_id, lat=-60 + worker * 10 + (k % 50) * 0.1,
                                                        lon=(k // 50) * 0.5 + (party == "bravo") * 90))
                if answer is not None and answer.status_code == 201:
                    acknowledged[party].append(plan_id)
                note = post(client, f"/v1/threads/{thread_id}/messages", {"text": plan_id})
                if note is not None and note.status_code == 201:
                    messages.append(note.json()["id"])

        def tracks(party: str, icao24: str, lon: float, heading: float) -> None:
            """An aircraft reported twice a second, head-on with the other party's: a standing conflict."""
            client = httpx.Client(headers={"Authorization": f"Bearer {tokens[party]}"}, timeout=5)
            while not stop.is_set():
                post(client, "/v1/tracks", {"time": [time.time()], "icao24": [icao24], "lat": [45.0], "lon": [lon],
                                            "velocity": [200.0], "heading": [heading], "vertrate": [0.0],
                                            "baroaltitude": [9000.0], "callsign": [icao24.upper()]})
                stop.wait(0.5)

        workers = [threading.Thread(target=load, args=(p, w)) for p in ("alpha", "bravo") for w in range(2)]
        workers += [threading.Thread(target=tracks, args=("alpha", "a1", 5.0, 90.0)),
                    threading.Thread(target=tracks, args=("bravo", "b1", 5.2, 270.0))]
        for w in workers:
            w.start()
        cell = httpx.Client(headers={"Authorization": f"Bearer {tokens['cell']}"}, timeout=5)
        deadline = time.monotonic() + 120  # however slow the machine: the load going and the conflict shown
        before: list = []
        while time.monotonic() < deadline and (sum(map(len, acknowledged.values())) < 30 or not before):
            before = cell.get(f"{urls[0]}/v1/conflicts").json()["tactical"]
            time.sleep(0.1)
        assert len(before) == 1, "the head-on pair was not shown before the kill"

        os.kill(leader.pid, signal.SIGKILL)
        killed = time.monotonic()
        leader.wait()
        while _role(urls[1]) != "leader" and time.monotonic() - killed < 30:
            time.sleep(0.05)
        took = time.monotonic() - killed
        assert took < TAKEOVER_LIMIT, f"the standby took {took:.1f} s to lead"
        settled = sum(map(len, acknowledged.values()))
        while sum(map(len, acknowledged.values())) < settled + 10 and time.monotonic() - killed < 60:
            time.sleep(0.05)  # writes go on, on the new leader
        time.sleep(2.0)  # a few detection cycles on the new leader, with the tracks back
        stop.set()
        for w in workers:
            w.join()

        new = urls[1]
        after = cell.get(f"{new}/v1/conflicts").json()["tactical"]
        assert [c["id"] for c in after] == [before[0]["id"]], "the open conflict did not stay open through the failover"
        for party, ids in acknowledged.items():
            client = httpx.Client(headers={"Authorization": f"Bearer {tokens[party]}"})
            stored = {p["id"] for p in client.get(f"{new}/v1/plans").json()}
            assert set(ids) <= stored, f"{party}: {len(set(ids) - stored)} acknowledged plans lost"
        records, head = parse_records(cell.get(f"{new}/v1/audit/chain").text)
        verify(records, head, load_public_key(cell.get(f"{new}/v1/audit/key").text))
        bodies = [json.loads(r["body"]) for r in records]
        about = [b["kind"] for b in bodies if b["payload"].get("conflict") == before[0]["id"]]
        assert about.count("conflict.raised") == 1 and "conflict.cleared" not in about
        stored_messages = {m["id"] for m in cell.get(f"{new}/v1/threads/{thread_id}").json()["messages"]}
        assert set(messages) <= stored_messages
        assert sum(map(len, acknowledged.values())) > settled  # the load went on after the kill
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait(10)
