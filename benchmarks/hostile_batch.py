"""A hostile party against a real `deconflict serve` on loopback: does anyone else notice?

mallory (an operator with a valid token) sends, back to back, batches of mutually overlapping plans:
first 100 in one batch (refused whole: it would raise 4,950 conflicts), then, adapting, batches of
10 (45 conflicts each, just under the per-request bound of 50) at new places. Meanwhile alpha and
bravo push 50,000 state vectors/s with head-on probe pairs every 2 s, and bravo submits plans one at
a time. Measured: bravo's plan submit latency (target p99 < 200 ms) and the time from the batch that
causes a tactical conflict to its publication on /v1/events (target < 2 s), each with and without
mallory in the same process run (the baseline).

    .venv/bin/python benchmarks/hostile_batch.py [--seconds 20] [--aircraft 20000]

Prints the figures and writes benchmarks/results/hostile_batch.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_load import ingest_phase, iso, random_plans, serve, stop  # noqa: E402

from deconflict.service.deconfliction import Deconfliction  # noqa: E402
from deconflict.service.settings import ServiceSettings  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "hostile_batch.json"


def overlapping(n: int, k: int, day0: float) -> list[dict]:
    """``n`` plans that all overlap one another (batch ``k`` at its own place)."""
    lat, lon = -40.0 + (k % 40) * 0.5, -60.0 + (k // 40) * 0.5
    return [{"id": f"m{k}-{j}", "volumes": [{"circle": {"lat": lat, "lon": lon + 0.001 * j, "radius": "5km"},
                                            "altitude": ["FL100", "FL200"],
                                            "time": [iso(day0), iso(day0 + 3600)]}]} for j in range(n)]


def hostile(url: str, token: str, day0: float, stop_event: threading.Event, log: dict) -> None:
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120)
    started = time.perf_counter()
    first = client.post("/v1/plans/batch", json={"plans": overlapping(100, 0, day0)})
    log["batch_of_100"] = {"status": first.status_code, "seconds": round(time.perf_counter() - started, 3),
                           "detail": first.json().get("detail", "")[:120]}
    k, durations = 1, []
    while not stop_event.is_set():
        started = time.perf_counter()
        answer = client.post("/v1/plans/batch", json={"plans": overlapping(10, k, day0)})
        durations.append(time.perf_counter() - started)
        log["statuses"][answer.status_code] = log["statuses"].get(answer.status_code, 0) + 1
        k += 1
    log["batches_of_10"] = {"count": len(durations), "median_s": round(float(np.median(durations)), 3)}


def submits(url: str, token: str, documents: list[dict], stop_event: threading.Event) -> list[float]:
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120)
    latencies = []
    for document in documents:
        if stop_event.is_set():
            break
        started = time.perf_counter()
        client.post("/v1/plans", json=document).raise_for_status()
        latencies.append(time.perf_counter() - started)
        time.sleep(0.05)
    return latencies


def run(url: str, tokens: dict, args, day0: float, with_mallory: bool, round_: int) -> dict:
    stop_event = threading.Event()
    log: dict = {"statuses": {}}
    latencies: list[float] = []
    documents = random_plans(10_000, 11 + round_, f"b{round_}-", day0)
    threads = [threading.Thread(target=lambda: latencies.extend(submits(url, tokens["bravo"], documents, stop_event)))]
    if with_mallory:
        threads.append(threading.Thread(target=hostile, args=(url, tokens["mallory"], day0 + 86400 * (round_ + 1),
                                                              stop_event, log)))
    for thread in threads:
        thread.start()
    tactical = ingest_phase(url, tokens, args.aircraft, args.batch, args.seconds, rate=args.rate,
                            first_probe=1000 * round_)
    stop_event.set()
    for thread in threads:
        thread.join()
    values = np.array(latencies)
    return {"plan_submits": int(values.size), "plan_p50_ms": round(float(np.percentile(values, 50)) * 1e3, 1),
            "plan_p99_ms": round(float(np.percentile(values, 99)) * 1e3, 1),
            "plan_max_ms": round(float(values.max()) * 1e3, 1), "tactical": tactical,
            **({"mallory": log} if with_mallory else {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aircraft", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=50_000.0)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="deconflict-hostile-")
    database, key = os.path.join(folder, "hostile.db"), os.path.join(folder, "hostile.key")
    day0 = float(int(time.time() // 86400 * 86400 + 86400))
    setup = Deconfliction(ServiceSettings(database=database, key_file=key))
    for party in ("alpha", "bravo", "mallory"):
        setup.add_party(party)
    tokens = {p: setup.add_member(f"{p} op", "operator", p) for p in ("alpha", "bravo", "mallory")}
    tokens["cell"] = setup.add_member("cell", "cell", None)
    setup.engine.dispose()
    port = 8900 + os.getpid() % 90
    url = f"http://127.0.0.1:{port}"
    server = serve(database, key, port)
    try:
        baseline = run(url, tokens, args, day0, with_mallory=False, round_=0)
        attacked = run(url, tokens, args, day0, with_mallory=True, round_=1)
    finally:
        stop(server)
    figures = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
               "settings": vars(args), "baseline": baseline, "under_hostile_batches": attacked,
               "plan_p99_ratio": round(attacked["plan_p99_ms"] / baseline["plan_p99_ms"], 2),
               "targets": {"plan_p99_ms": 200, "publish_latency_s": 2.0}}
    print(json.dumps(figures, indent=2))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
