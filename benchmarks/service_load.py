"""Service load benchmark: a real `deconflict serve` on loopback, driven over HTTP.

1. Plan submission latency (POST /v1/plans, one at a time) on an empty store (the baseline), then
   with ``--plans`` (100,000) stored. Target: p99 < 100 ms with 100,000 stored.
2. Sustained track ingest (POST /v1/tracks, columnar JSON batches) from two client threads, as fast
   as the server takes it, then paced at ``--rate`` (50,000 sv/s, the target), each time with
   ``--aircraft`` aircraft of two parties moving over 3300 km x 3000 km, while probe pairs on collision
   courses are injected every 2 s and a cell subscriber on /v1/events times when each conflict is
   published. Targets: >= 50,000 state vectors/s on 2 cores; conflicts published within 1 s.
   Baseline in this process: the same batches through `Deconfliction.ingest` without HTTP.

    .venv/bin/python benchmarks/service_load.py [--plans 100000] [--aircraft 20000] [--seconds 20]

Prints the figures and writes benchmarks/results/service_load.json. The server and this client
share the machine's cores, as the issue asks.
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
from datetime import datetime, timezone
from pathlib import Path

import httpx
import numpy as np
import orjson

from deconflict.service.auth import Principal, Role
from deconflict.service.deconfliction import Deconfliction
from deconflict.service.settings import ServiceSettings

RESULTS = Path(__file__).resolve().parent / "results" / "service_load.json"


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def random_plans(n: int, seed: int, prefix: str, day0: float) -> list[dict]:
    """Drone-scale plans over a day in 300 km x 300 km (as benchmarks/plans_check.py), as documents."""
    rng = np.random.default_rng(seed)
    lat = 50.0 + rng.uniform(-1.35, 1.35, n)
    lon = 10.0 + rng.uniform(-2.1, 2.1, n)
    start = day0 + rng.uniform(0, 86400.0 - 3600.0, n)
    end = start + rng.uniform(600.0, 3600.0, n)
    lower = rng.uniform(0.0, 60.0, n)
    upper = lower + rng.uniform(30.0, 90.0, n)
    radius = rng.uniform(100.0, 1000.0, n)
    return [{"id": f"{prefix}{k}", "volumes": [{
        "circle": {"lat": round(lat[k], 6), "lon": round(lon[k], 6), "radius": f"{radius[k]:.0f}m"},
        "altitude": [f"{lower[k]:.0f}m", f"{upper[k]:.0f}m"], "time": [iso(start[k]), iso(end[k])]}]}
        for k in range(n)]


def serve(database: str, key: str, port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "deconflict.cli", "serve", "--db", database, "--key", key,
                                "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            if process.poll() is not None:
                raise RuntimeError("server exited")
            time.sleep(0.1)


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()


def plan_latencies(url: str, token: str, documents: list[dict]) -> np.ndarray:
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    latencies = []
    for document in documents:
        started = time.perf_counter()
        client.post("/v1/plans", json=document).raise_for_status()
        latencies.append(time.perf_counter() - started)
    return np.array(latencies)


class Traffic:
    """Aircraft of one party moving straight at constant speed over about 3300 km x 3000 km (FL200-FL400):
    20,000 aircraft there are twice the density of Europe's busiest hour."""

    def __init__(self, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.ids = [f"{seed:02d}{k:06x}" for k in range(n)]
        self.lat0, self.lon0 = 45.0 + rng.uniform(-15.0, 15.0, n), 10.0 + rng.uniform(-22.0, 22.0, n)
        self.heading = rng.uniform(0, 360, n)
        self.velocity = rng.uniform(180, 260, n)
        self.altitude = rng.choice(np.arange(6096.0, 12192.0, 304.8), n)

    def batch(self, rows: slice, t: float, t0: float) -> dict:
        dt = t - t0
        h = np.radians(self.heading[rows])
        distance = self.velocity[rows] * dt
        lat = self.lat0[rows] + np.degrees(distance * np.cos(h) / 6.371e6)
        lon = self.lon0[rows] + np.degrees(distance * np.sin(h) / (6.371e6 * np.cos(np.radians(lat))))
        n = lat.size
        return {"time": [t] * n, "icao24": self.ids[rows], "lat": lat.round(6).tolist(), "lon": lon.round(6).tolist(),
                "velocity": self.velocity[rows].tolist(), "heading": self.heading[rows].tolist(),
                "vertrate": [0.0] * n, "baroaltitude": self.altitude[rows].tolist()}


def probe(k: int, t: float) -> tuple[dict, dict]:
    """A head-on pair at FL450 (above the traffic), 15 km apart: loss of separation in ~16 s."""
    lat, lon = 40.0 + (k % 20) * 0.5, 2.0 + (k // 20) * 0.5
    row = {"velocity": [240.0], "vertrate": [0.0], "baroaltitude": [13716.0], "time": [t], "lat": [lat]}
    return ({**row, "icao24": [f"probe{k}a"], "lon": [lon], "heading": [90.0]},
            {**row, "icao24": [f"probe{k}b"], "lon": [lon + 0.19], "heading": [270.0]})


def ingest_phase(url: str, tokens: dict, aircraft: int, batch: int, seconds: float, rate: float | None = None,
                 first_probe: int = 0) -> dict:
    """Push for ``seconds`` as fast as the server takes it (``rate`` None) or paced at ``rate`` sv/s."""
    fleets = {"alpha": Traffic(aircraft // 2, 1), "bravo": Traffic(aircraft - aircraft // 2, 2)}
    t0 = time.time()
    sent = {"rows": 0, "requests": 0}
    lock = threading.Lock()
    stop_event, stop_listening = threading.Event(), threading.Event()
    raised: dict[str, float] = {}
    injected: dict[str, float] = {}

    def listen() -> None:
        with httpx.stream("GET", f"{url}/v1/events", headers={"Authorization": f"Bearer {tokens['cell']}"},
                          timeout=None) as stream:
            kind = None
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "conflict.raised":
                    data = orjson.loads(line[6:])
                    if data.get("kind") == "tactical" and str(data.get("a", "")).startswith("probe"):
                        raised.setdefault(data["a"], time.time())
                if stop_listening.is_set():
                    return

    def push(party: str) -> None:
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens[party]}",
                                                     "Content-Type": "application/json"}, timeout=60)
        fleet = fleets[party]
        n = len(fleet.ids)
        interval = None if rate is None else batch / (rate / len(fleets))  # s between two batches of this client
        due = time.perf_counter()
        while not stop_event.is_set():
            for start in range(0, n, batch):
                if stop_event.is_set():
                    break
                if interval is not None:
                    due += interval
                    time.sleep(max(0.0, due - time.perf_counter()))
                body = orjson.dumps(fleet.batch(slice(start, start + batch), time.time(), t0))
                answer = client.post("/v1/tracks", content=body).raise_for_status().json()
                with lock:
                    sent["rows"] += answer["accepted"]
                    sent["requests"] += 1

    def inject() -> None:
        clients = {p: httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens[p]}"}) for p in tokens}
        k = first_probe
        while not stop_event.wait(2.0):
            a, b = probe(k, time.time())
            clients["alpha"].post("/v1/tracks", json=a).raise_for_status()
            clients["bravo"].post("/v1/tracks", json=b).raise_for_status()
            injected[a["icao24"][0]] = time.time()
            k += 1

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    time.sleep(0.5)
    pushers = [threading.Thread(target=push, args=(p,)) for p in ("alpha", "bravo")]
    prober = threading.Thread(target=inject)
    health0 = httpx.get(f"{url}/healthz").json()["detections"]
    started = time.perf_counter()
    for thread in (*pushers, prober):
        thread.start()
    time.sleep(seconds)
    stop_event.set()
    for thread in (*pushers, prober):
        thread.join()
    elapsed = time.perf_counter() - started
    time.sleep(3.0)  # let the last probes be detected
    stop_listening.set()
    cycles = httpx.get(f"{url}/healthz").json()["detections"] - health0
    latency = np.array([raised[k] - injected[k] for k in injected if k in raised])
    missed = [k for k in injected if k not in raised]
    return {"paced_at": rate, "state_vectors": sent["rows"], "requests": sent["requests"], "seconds": round(elapsed, 2),
            "state_vectors_per_second": round(sent["rows"] / elapsed), "aircraft": aircraft, "batch": batch,
            "detection_cycles_per_second": round(cycles / (elapsed + 3.0), 2),
            "probes": len(injected), "probes_missed": len(missed),
            "publish_latency_median_s": round(float(np.median(latency)), 3) if latency.size else None,
            "publish_latency_max_s": round(float(latency.max()), 3) if latency.size else None}


def in_process_ingest(aircraft: int, batch: int, folder: str) -> float:
    """Baseline: the same batches through `Deconfliction.ingest` (validation, picture, audit), no HTTP."""
    service = Deconfliction(ServiceSettings(database=os.path.join(folder, "baseline.db"),
                                            key_file=os.path.join(folder, "baseline.key")))
    service.add_party("alpha")
    who = Principal(1, "bench", "alpha", Role.OPERATOR)
    fleet = Traffic(aircraft, 1)
    bodies = [orjson.dumps(fleet.batch(slice(s, s + batch), time.time(), time.time()))
              for s in range(0, aircraft, batch)]
    rows, started = 0, time.perf_counter()
    while time.perf_counter() - started < 5.0:
        for body in bodies:
            rows += service.ingest(who, orjson.loads(body), body).accepted
    rate = rows / (time.perf_counter() - started)
    service.engine.dispose()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=100_000)
    parser.add_argument("--plan-checks", type=int, default=500)
    parser.add_argument("--aircraft", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=52_000.0, help="paced phase: state vectors/s (above the 50,000 target)")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="deconflict-load-")
    database, key = os.path.join(folder, "load.db"), os.path.join(folder, "load.key")
    day0 = float(int(time.time() // 86400 * 86400 + 86400))

    setup = Deconfliction(ServiceSettings(database=database, key_file=key))
    for party in ("alpha", "bravo"):
        setup.add_party(party)
    tokens = {p: setup.add_member(f"{p} op", "operator", p) for p in ("alpha", "bravo")}
    tokens["cell"] = setup.add_member("cell", "cell", None)
    port = 8700 + os.getpid() % 200
    url = f"http://127.0.0.1:{port}"
    probes = random_plans(args.plan_checks, 99, "probe", day0)

    server = serve(database, key, port)
    empty = plan_latencies(url, tokens["bravo"], probes[: args.plan_checks // 2])
    stop(server)

    seeding = time.perf_counter()
    who = {p: Principal(0, "seed", p, Role.OPERATOR) for p in ("alpha", "bravo")}
    documents = random_plans(args.plans, 7, "seed", day0)
    for k in range(0, args.plans, 5000):
        setup.submit_plans(who["alpha" if (k // 5000) % 2 == 0 else "bravo"], documents[k: k + 5000])
        print(f"\rseeded {min(k + 5000, args.plans):,} plans", end="", flush=True)
    print()
    seeding = time.perf_counter() - seeding
    setup.engine.dispose()

    started = time.perf_counter()
    server = serve(database, key, port)
    startup = time.perf_counter() - started
    try:
        full = plan_latencies(url, tokens["bravo"], probes[args.plan_checks // 2:])
        ingest = ingest_phase(url, tokens, args.aircraft, args.batch, args.seconds)
        paced = ingest_phase(url, tokens, args.aircraft, args.batch, args.seconds, rate=args.rate, first_probe=1000)
    finally:
        stop(server)
    baseline = in_process_ingest(args.aircraft, args.batch, folder)

    def summary(latencies: np.ndarray) -> dict:
        return {"count": int(latencies.size), "p50_ms": round(float(np.percentile(latencies, 50)) * 1e3, 2),
                "p99_ms": round(float(np.percentile(latencies, 99)) * 1e3, 2),
                "max_ms": round(float(latencies.max()) * 1e3, 2)}

    figures = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "plans": {"stored": args.plans, "seed_seconds": round(seeding, 1), "server_start_seconds": round(startup, 2),
                  "empty_store": summary(empty), "with_stored": summary(full),
                  "p99_ratio_stored_vs_empty": round(float(np.percentile(full, 99) / np.percentile(empty, 99)), 2)},
        "ingest": {**ingest, "in_process_state_vectors_per_second": round(baseline),
                   "http_vs_in_process": round(ingest["state_vectors_per_second"] / baseline, 3)},
        "ingest_at_target_rate": paced,
    }
    print(json.dumps(figures, indent=2))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
