"""The map through a failover (issue 18): two `deconflict serve` processes on PostgreSQL behind one
leader-following address (as `deploy/haproxy.cfg`); kill -9 the leader while both parties push
tracks: the map keeps showing the aircraft and their conflict (same id), and its event stream
resumes on the new leader."""

from __future__ import annotations

import os
import re
import signal
import threading
import time

import httpx
from playwright.sync_api import expect

from deconflict.service.background import BackgroundServer
from tests.leader_proxy import leader_proxy
from tests.servers import free_port
from tests.service.builders import two_parties_and_a_cell
from tests.service.test_durability import _serve
from tests.web.conftest import login


def _role(url: str) -> str | None:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).json()["role"]
    except (httpx.TransportError, ValueError):
        return None


def test_the_map_keeps_the_picture_through_a_kill_9_of_the_leader(browser, postgres, tmp_path):
    database, key = postgres.database(), str(tmp_path / "service.key")
    tokens = two_parties_and_a_cell(database, key)
    nodes = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    processes = [_serve(database, key, int(nodes[0].rsplit(":", 1)[1]))]
    processes.append(_serve(database, key, int(nodes[1].rsplit(":", 1)[1])))
    stop = threading.Event()
    try:
        assert _role(nodes[0]) == "leader" and _role(nodes[1]) == "standby"
        with BackgroundServer(leader_proxy(nodes), port=free_port()) as url:

            def fly(party: str, icao24: str, lon: float, heading: float) -> None:
                client = httpx.Client(headers={"Authorization": f"Bearer {tokens[party]}"}, timeout=5)
                while not stop.is_set():
                    try:  # ALPHA1 and BRAVO1 head-on, 16 km apart: a standing conflict
                        client.post(f"{url}/v1/tracks", json={
                            "time": [time.time()], "icao24": [icao24], "callsign": [f"{party.upper()}1"],
                            "lat": [45.0], "lon": [lon], "velocity": [150.0], "heading": [heading], "vertrate": [0.0],
                            "baroaltitude": [9000.0]})
                    except httpx.TransportError:
                        pass
                    stop.wait(0.5)

            pushers = [threading.Thread(target=fly, args=("alpha", "a00001", 5.0, 90.0), daemon=True),
                       threading.Thread(target=fly, args=("bravo", "b00001", 5.2, 270.0), daemon=True)]
            for pusher in pushers:
                pusher.start()
            context, page, errors = login(browser, url, tokens["cell"])
            expect(page.locator("#aircraft-count")).to_have_text("2", timeout=20_000)
            conflict = page.locator("#conflicts li")
            expect(conflict).to_have_count(1, timeout=20_000)
            shown = conflict.first.inner_text()
            cell = httpx.Client(headers={"Authorization": f"Bearer {tokens['cell']}"}, timeout=5)
            before = [c["id"] for c in cell.get(f"{url}/v1/conflicts").json()["tactical"]]
            alpha = httpx.Client(headers={"Authorization": f"Bearer {tokens['alpha']}"}, timeout=5)
            assert alpha.post(f"{url}/v1/threads", json={"parties": ["bravo"], "subject": "before"}).status_code == 201
            deadline = time.monotonic() + 15
            while not (seen_before := int(page.evaluate("window.deconflictMap.state.lastEventId || 0"))):
                assert time.monotonic() < deadline, "the map's event stream got no stored event"
                page.wait_for_timeout(200)

            os.kill(processes[0].pid, signal.SIGKILL)
            processes[0].wait()
            killed = time.monotonic()
            while _role(nodes[1]) != "leader":
                assert time.monotonic() - killed < 5.0, "the standby did not lead within 5 s"
                time.sleep(0.05)

            opened = alpha.post(f"{url}/v1/threads", json={"parties": ["bravo"], "subject": "after the failover"})
            assert opened.status_code == 201
            # the map's stream reconnected to the new leader and got the new thread's event
            deadline = time.monotonic() + 15
            while int(page.evaluate("window.deconflictMap.state.lastEventId || 0")) <= seen_before:
                assert time.monotonic() < deadline, "the map's event stream did not resume on the new leader"
                page.wait_for_timeout(200)
            newest = cell.get(f"{url}/v1/threads").json()
            assert any(t["subject"] == "after the failover" for t in newest)
            time.sleep(3.0)  # several refreshes on the new leader
            expect(page.locator("#aircraft-count")).to_have_text("2", timeout=10_000)
            expect(conflict).to_have_count(1)
            assert re.findall(r"\b[A-Z]+1\b", conflict.first.inner_text()) == re.findall(r"\b[A-Z]+1\b", shown) \
                == ["ALPHA1", "BRAVO1"]  # the same pair
            after = [c["id"] for c in cell.get(f"{url}/v1/conflicts").json()["tactical"]]
            assert after == before  # the same conflict, not cleared and raised again
            assert not errors
            stop.set()
            context.close()
    finally:
        stop.set()
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(30)
                except Exception:  # an open stream holds a graceful stop: end it
                    process.kill()
                    process.wait()
