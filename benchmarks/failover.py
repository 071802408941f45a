"""Failover of `deconflict serve` (issue 18): how long the service is away when its leader dies.

A SQLite database holds ``--plans`` stored plans (drone-scale, as benchmarks/service_load.py; written
straight into the table, as the service stores them). Two `serve` processes run on it: the leader and
a hot standby (its plan index built at its start and kept in step). Measured:

- cold start: from spawning a node alone on the database to it leading, with no plan index snapshot
  (the baseline: what a takeover cost before standbys were hot);
- restart: the same once a snapshot exists (written at the first start and at every clean stop): the
  index read from it and the plans written after it (target 2 s);
- takeover: from kill -9 of the leader under track load to the standby answering as leader;
- track ingest (state vectors/s accepted, 1000-row batches, one client) before the kill on the old
  leader and after it on the new one;
- the open conflict shown before the kill: the same id after it, no clear and no second raise;
- events lost and duplicated: a cell subscriber reads the event stream through the kill (hotline
  messages written all along), reconnects to the new leader with Last-Event-ID, and its events are
  compared with the stored ones (target 0 and 0).

    .venv/bin/python benchmarks/failover.py [--plans 100000]

Prints the figures and writes benchmarks/results/failover.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_load import random_plans  # noqa: E402

from deconflict.service.deconfliction import Deconfliction  # noqa: E402
from deconflict.service.settings import ServiceSettings  # noqa: E402
from deconflict.store.schema import PlanRecord  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "failover.json"


def spawn(database: str, key: str, port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "deconflict.cli", "serve", "--db", database, "--key", key,
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def role(url: str) -> str | None:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).json()["role"]
    except (httpx.TransportError, ValueError, KeyError):
        return None


def wait_for(url: str, wanted: set[str], process: subprocess.Popen, limit: float = 600.0) -> float:
    started = time.perf_counter()
    while role(url) not in wanted:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the node exited ({process.returncode})")
        if time.perf_counter() - started > limit:
            raise RuntimeError(f"{url}: not {wanted} after {limit} s")
        time.sleep(0.02)
    return time.perf_counter() - started


def push_rate(url: str, token: str, seconds: float, day_time: float) -> float:
    """State vectors/s accepted: 1000-row batches of distinct aircraft 11 km apart (no conflict among
    them), back to back (one client, within the party's request share of 50/s)."""
    client = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=10)
    rows, started, accepted, statuses, detail = 1000, time.perf_counter(), 0, {}, []
    while time.perf_counter() - started < seconds:
        now = time.time()
        body = {"time": [now] * rows, "icao24": [f"f{k:05x}" for k in range(rows)],
                "lat": [-45.0 + 0.1 * (k % 500) for k in range(rows)], "lon": [100.0 + 20.0 * (k // 500) for k in range(rows)], "velocity": [100.0] * rows,
                "heading": [0.0] * rows, "vertrate": [0.0] * rows, "baroaltitude": [3000.0] * rows}
        answer = client.post(f"{url}/v1/tracks", json=body)
        if answer.status_code == 202:
            accepted += answer.json()["accepted"]
        else:
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
            detail.append(answer.text[:200])
    if statuses:
        print(f"  refused: {statuses} {detail[:1]}")
    return accepted / (time.perf_counter() - started)


def hotline_load(urls: list[str], token: str, stop: threading.Event, written: list[int]) -> None:
    """Messages on one thread every 50 ms, sent to whichever node takes them (503: the next one)."""
    client = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=5)
    thread_id, k = None, 0
    while not stop.is_set():
        for url in urls:
            try:
                if thread_id is None:
                    answer = client.post(f"{url}/v1/threads", json={"parties": ["bravo"], "subject": "load"})
                    if answer.status_code == 201:
                        thread_id = answer.json()["id"]
                    continue
                answer = client.post(f"{url}/v1/threads/{thread_id}/messages", json={"text": f"message {k}"})
                if answer.status_code == 201:
                    written.append(k)
                    k += 1
                    break
            except httpx.TransportError:
                pass
        stop.wait(0.05)


def listen(urls: list[str], token: str, stop: threading.Event, received: list[int]) -> None:
    """The cell's event stream, reconnecting to whichever node answers, with the last id it saw."""
    while not stop.is_set():
        for url in urls:
            headers = {"Authorization": f"Bearer {token}"}
            if received:
                headers["Last-Event-ID"] = str(received[-1])
            try:
                with httpx.stream("GET", f"{url}/v1/events", headers=headers, timeout=3) as stream:
                    if stream.status_code != 200:
                        continue
                    for line in stream.iter_lines():
                        if line.startswith("id: "):
                            received.append(int(line[4:]))
                        if stop.is_set():
                            return
            except httpx.HTTPError:
                pass
        stop.wait(0.1)


def stored_event_ids(database: str) -> list[int]:
    """The events the cell may see, from the database itself (the reference)."""
    from sqlalchemy import create_engine, select

    from deconflict.store.schema import EventRecord

    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        rows = connection.execute(select(EventRecord.id, EventRecord.views).order_by(EventRecord.id)).all()
    engine.dispose()
    return [event_id for event_id, views in rows if '"*cell*"' in views]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=100_000)
    options = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="deconflict-failover-")
    database, key = os.path.join(folder, "service.db"), os.path.join(folder, "service.key")
    setup = Deconfliction(ServiceSettings(database=database, key_file=key))
    for party in ("alpha", "bravo"):
        setup.add_party(party)
    tokens = {p: setup.add_member(f"{p} op", "operator", p) for p in ("alpha", "bravo")}
    tokens["cell"] = setup.add_member("cell", "cell", None)
    day0 = time.time() + 86400.0
    documents = random_plans(options.plans, 7, "P", day0)
    with setup.engine.begin() as connection:
        connection.execute(insert(PlanRecord), [
            {"key": f"alpha/{d['id']}", "party": "alpha", "plan_id": d["id"], "version": 1, "document": d,
             "status": "accepted", "created": 0.0, "updated": 0.0} for d in documents])
    setup.close()

    ports = [18411, 18412]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    leader = spawn(database, key, ports[0])
    cold = wait_for(urls[0], {"leader"}, leader)
    print(f"cold start with {options.plans} plans: {cold:.2f} s")
    standby = spawn(database, key, ports[1])
    warm = wait_for(urls[1], {"standby"}, standby)
    print(f"standby ready (index built): {warm:.2f} s")

    stop_event = threading.Event()

    def conflict_pair(party: str, icao24: str, lon: float, heading: float) -> None:
        client = httpx.Client(headers={"Authorization": f"Bearer {tokens[party]}"}, timeout=5)
        while not stop_event.is_set():
            for url in urls:
                try:
                    client.post(f"{url}/v1/tracks", json={
                        "time": [time.time()], "icao24": [icao24], "lat": [45.0], "lon": [lon], "velocity": [200.0],
                        "heading": [heading], "vertrate": [0.0], "baroaltitude": [9000.0]})
                except httpx.TransportError:
                    pass
            stop_event.wait(0.5)

    pushers = [threading.Thread(target=conflict_pair, args=("alpha", "a1", 5.0, 90.0)),
               threading.Thread(target=conflict_pair, args=("bravo", "b1", 5.2, 270.0))]
    for thread in pushers:
        thread.start()
    cell = httpx.Client(headers={"Authorization": f"Bearer {tokens['cell']}"}, timeout=5)
    before: list = []
    deadline = time.perf_counter() + 60
    while not before and time.perf_counter() < deadline:
        before = cell.get(f"{urls[0]}/v1/conflicts").json()["tactical"]
        time.sleep(0.1)
    rate_before = push_rate(urls[0], tokens["alpha"], 5.0, day0)
    print(f"ingest on the leader: {rate_before:,.0f} state vectors/s")
    events_stop, written, received = threading.Event(), [], []
    side = [threading.Thread(target=listen, args=(urls, tokens["cell"], events_stop, received)),
            threading.Thread(target=hotline_load, args=(urls, tokens["alpha"], events_stop, written))]
    for thread in side:
        thread.start()
    time.sleep(2.0)

    os.kill(leader.pid, signal.SIGKILL)
    killed = time.perf_counter()
    leader.wait()
    takeover = wait_for(urls[1], {"leader"}, standby, limit=600)
    took = time.perf_counter() - killed
    print(f"takeover after kill -9: {took:.2f} s (cold start {cold:.2f} s: x{cold / took:.0f})")
    rate_after = push_rate(urls[1], tokens["alpha"], 5.0, day0)
    print(f"ingest on the new leader: {rate_after:,.0f} state vectors/s")
    time.sleep(2.0)
    after = cell.get(f"{urls[1]}/v1/conflicts").json()["tactical"]
    same = [c["id"] for c in after] == [c["id"] for c in before] and len(before) == 1
    print(f"open conflict kept through the failover: {same} ({[c['id'] for c in before]} -> {[c['id'] for c in after][:5]})")
    stop_event.set()
    for thread in pushers:
        thread.join()
    time.sleep(1.0)  # the last messages delivered
    events_stop.set()
    side[1].join()
    time.sleep(1.0)
    cell.post(f"{urls[1]}/v1/threads", json={"parties": ["alpha"], "subject": "wake the stream"})
    side[0].join(10)
    stored = stored_event_ids(database)
    # from the first event the stream saw (it subscribed then, without a Last-Event-ID) to the last
    stored = [i for i in stored if received and received[0] <= i <= received[-1]]
    missing = sorted(set(stored) - set(received))
    lost = len(missing)
    if missing:
        print(f"  lost: {missing[:20]}")
    duplicated = len(received) - len(set(received))
    print(f"events through the failover: {len(received)} received, {len(stored)} stored, {lost} lost, "
          f"{duplicated} duplicated ({len(written)} hotline messages written)")
    standby.send_signal(signal.SIGINT)  # a clean stop: the plan index snapshot is up to date
    standby.wait(60)
    empty_folder = tempfile.mkdtemp(prefix="deconflict-empty-")
    empty = spawn(os.path.join(empty_folder, "service.db"), os.path.join(empty_folder, "service.key"), ports[1])
    bare = wait_for(urls[1], {"leader"}, empty)  # what any start costs: the interpreter, imports, the server
    empty.send_signal(signal.SIGINT)
    empty.wait(60)
    print(f"start on an empty database: {bare:.2f} s")
    again = spawn(database, key, ports[0])
    restart = wait_for(urls[0], {"leader"}, again)
    print(f"restart with {options.plans} plans (index from its snapshot): {restart:.2f} s (target 2 s; "
          f"cold start without one {cold:.2f} s)")
    again.send_signal(signal.SIGINT)
    again.wait(60)

    figures = {
        "machine": platform.machine(), "cpus": os.cpu_count(), "plans": options.plans,
        "cold_start_s": round(cold, 3), "restart_from_snapshot_s": round(restart, 3), "restart_target_s": 2.0,
        "empty_database_start_s": round(bare, 3), "restart_plan_cost_s": round(restart - bare, 3),
        "standby_ready_s": round(warm, 3), "takeover_s": round(took, 3),
        "takeover_vs_cold_start": round(cold / took, 1), "takeover_poll_s": round(takeover, 3),
        "ingest_before_sv_per_s": round(rate_before), "ingest_after_sv_per_s": round(rate_after),
        "ingest_after_vs_before": round(rate_after / rate_before, 2) if rate_before else None,
        "open_conflict_kept": same,
        "events_received": len(received), "events_stored": len(stored), "events_lost": lost,
        "events_duplicated": duplicated, "hotline_messages_written": len(written),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
