"""Live events (SSE) over a real server on loopback: each subscriber gets only its own view."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from deconflict.service.app import create_app
from deconflict.service.background import BackgroundServer
from tests.servers import free_port
from tests.service.builders import head_on, plan, tracks
from tests.service.conftest import make_world


@pytest.fixture
def live(tmp_path):
    w = make_world(str(tmp_path / "live.db"), tmp_path)
    with BackgroundServer(create_app(w.service, run_detection=False), port=free_port()) as url:
        yield w, url
    w.service.close()


def _listen(url: str, token: str, received: list, stop: threading.Event) -> None:
    with httpx.stream("GET", f"{url}/v1/events", headers={"Authorization": f"Bearer {token}"}, timeout=30) as stream:
        kind = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                received.append((kind, json.loads(line[6:])))
            if stop.is_set():
                return


def test_each_subscriber_sees_only_its_own_view(live):
    w, url = live
    streams = {name: [] for name in ("alpha_op", "bravo_obs", "cell")}
    stop = threading.Event()
    listeners = [threading.Thread(target=_listen, args=(url, w.tokens[n], streams[n], stop), daemon=True)
                 for n in streams]
    for listener in listeners:
        listener.start()
    time.sleep(0.5)
    headers = {name: {"Authorization": f"Bearer {w.tokens[name]}"} for name in w.tokens}
    httpx.post(f"{url}/v1/plans", json=plan("A-PRIVATE"), headers=headers["alpha_op"]).raise_for_status()
    httpx.post(f"{url}/v1/plans", json=plan("A-FAR", lat=30.0), headers=headers["alpha_op"]).raise_for_status()
    httpx.post(f"{url}/v1/plans", json=plan("B-PLAN", lon=5.05), headers=headers["bravo_op"]).raise_for_status()
    mine, theirs = head_on()
    httpx.post(f"{url}/v1/tracks", json=tracks(mine), headers=headers["alpha_op"]).raise_for_status()
    httpx.post(f"{url}/v1/tracks", json=tracks(theirs), headers=headers["bravo_op"]).raise_for_status()
    w.service.detect_now()
    deadline = time.time() + 10
    while time.time() < deadline and any(sum(k == "conflict.raised" for k, _ in events) < 2
                                         for events in streams.values()):  # every stream, not the first one only
        time.sleep(0.05)
    stop.set()
    httpx.post(f"{url}/v1/threads", json={"parties": ["bravo"]}, headers=headers["alpha_op"])  # wake the streams
    kinds = {name: [k for k, _ in events] for name, events in streams.items()}
    for name in streams:
        assert kinds[name].count("conflict.raised") == 2, (name, kinds[name])  # one strategic, one tactical
    bravo_text = json.dumps(streams["bravo_obs"])
    assert "A-PRIVATE" not in bravo_text and "A-FAR" not in bravo_text
    alpha_text = json.dumps(streams["alpha_op"])
    assert "B-PLAN" not in alpha_text
    assert "A-PRIVATE" in json.dumps(streams["cell"]) and "B-PLAN" in json.dumps(streams["cell"])
    tactical = [d for k, d in streams["alpha_op"] if k == "conflict.raised" and d.get("kind") == "tactical"]
    assert tactical[0]["a"] == "a1" and tactical[0]["level"] == 3


def test_editing_a_plan_away_tells_both_parties_the_conflict_cleared(live):
    w, url = live
    received = {name: [] for name in ("alpha_op", "bravo_op")}
    stop = threading.Event()
    for name in received:
        threading.Thread(target=_listen, args=(url, w.tokens[name], received[name], stop), daemon=True).start()
    time.sleep(0.5)
    headers = {name: {"Authorization": f"Bearer {w.tokens[name]}"} for name in w.tokens}
    httpx.post(f"{url}/v1/plans", json=plan("A1"), headers=headers["alpha_op"]).raise_for_status()
    httpx.post(f"{url}/v1/plans", json=plan("B1", lon=5.05), headers=headers["bravo_op"]).raise_for_status()
    httpx.put(f"{url}/v1/plans/bravo/B1", json=plan("B1", lon=9.0),
              headers={**headers["bravo_op"], "If-Match": '"1"'}).raise_for_status()
    deadline = time.time() + 10
    while time.time() < deadline and not all(any(k == "conflict.cleared" for k, _ in r) for r in received.values()):
        time.sleep(0.05)
    stop.set()
    httpx.post(f"{url}/v1/threads", json={"parties": ["bravo"]}, headers=headers["alpha_op"])  # wake the streams
    for name, events in received.items():
        cleared = [d for k, d in events if k == "conflict.cleared"]
        assert len(cleared) == 1 and cleared[0]["kind"] == "strategic" and not cleared[0]["active"], name
    assert "B1" not in json.dumps(received["alpha_op"])
