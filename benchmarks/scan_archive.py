"""Archive scan benchmark: end-to-end state vectors per second for generated archives.

Archives of N state vectors (aircraft flying great circles over a 2000 km box at flight levels,
a report every 5 s, one Parquet file per hour of traffic) are scanned for losses of separation:
in this process (one core), and on a LocalCluster with 1 and 2 workers. Targets: >= 1.5 million
state vectors/s per core end to end, throughput that holds as the archive grows, and near-linear
speed-up with workers. The in-process scan is the baseline for the speed-up; all runs must find
the same episodes. Each figure is the best of two runs.

    .venv/bin/python benchmarks/scan_archive.py [--sizes 1000000,10000000] [--workers 1,2]

Prints a table and writes benchmarks/results/scan_archive.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyproj import Geod

from deconflict.io.archive import ScanSettings, scan_archive

RESULTS = Path(__file__).resolve().parent / "results" / "scan_archive.json"
GEOD = Geod(ellps="WGS84")
T0 = 1_700_000_000.0
REPORT = 5.0  # s between reports


def generate(n: int, folder: Path, airborne: int = 4000, seed: int = 0) -> list[Path]:
    """About ``n`` reports of ``airborne`` aircraft at a time, in hourly Parquet files."""
    rng = np.random.default_rng(seed)
    per_hour = airborne * 3600 / REPORT
    hours = max(1, int(round(n / per_hour)))
    paths = []
    for hour in range(hours):
        count = int(round(n / hours / (3600 / REPORT)))
        lat0 = rng.uniform(40.0, 58.0, count)
        lon0 = rng.uniform(-5.0, 20.0, count)
        track = rng.uniform(0.0, 360.0, count)
        speed = rng.uniform(180.0, 260.0, count)
        level = rng.integers(200, 400, count) * 30.48
        steps = np.arange(0.0, 3600.0, REPORT)
        t = T0 + hour * 3600.0 + steps
        distance = np.outer(speed, steps)
        lon, lat, back = GEOD.fwd(np.repeat(lon0, steps.size), np.repeat(lat0, steps.size),
                                  np.repeat(track, steps.size), distance.ravel())
        ids = np.char.add("a", np.char.mod("%06d", np.arange(count) + hour * 100_000))
        table = pa.table({
            "time": np.tile(t, count), "icao24": np.repeat(ids, steps.size), "lat": lat, "lon": lon,
            "velocity": np.repeat(speed, steps.size), "heading": (np.asarray(back) + 180.0) % 360.0,
            "vertrate": np.zeros(lat.size), "baroaltitude": np.repeat(level, steps.size),
        })
        table = table.sort_by("time")
        path = folder / f"hour{hour:03d}.parquet"
        pq.write_table(table, path, row_group_size=1 << 17)  # about 3 minutes of traffic per row group
        paths.append(path)
    return paths


def run(paths: list[Path], scheduler: str, workers: int | None, repeats: int = 2) -> tuple[float, int, object]:
    """Best wall time of ``repeats`` scans (the first also loads the compiled kernels and warms the files)."""
    settings = ScanSettings(step=REPORT, window=600.0)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        episodes, report = scan_archive(paths, settings, scheduler=scheduler, workers=workers)
        best = min(best, time.perf_counter() - start)
    return best, report.rows, episodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    rows = []
    print(f"{'N':>11} {'mode':>10} {'seconds':>8} {'sv/s':>12} {'sv/s/core':>11} {'speed-up':>8} {'episodes':>8}")
    for n in (int(v) for v in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as folder:
            paths = generate(n, Path(folder))
            seconds, count, baseline = run(paths, "none", None)
            row = {"n": count, "mode": "in-process", "seconds": seconds, "per_second": count / seconds,
                   "per_core": count / seconds, "speedup": 1.0, "episodes": len(baseline)}
            rows.append(row)
            print(f"{count:>11,} {'in-process':>10} {seconds:>8.1f} {count / seconds:>12,.0f} {count / seconds:>11,.0f} "
                  f"{1.0:>8.2f} {len(baseline):>8}", flush=True)
            for workers in (int(v) for v in args.workers.split(",")):
                seconds_w, _, episodes = run(paths, "local", workers)
                same = episodes.to_pandas().equals(baseline.to_pandas())
                row = {"n": count, "mode": f"{workers} workers", "seconds": seconds_w, "per_second": count / seconds_w,
                       "per_core": count / seconds_w / workers, "speedup": seconds / seconds_w,
                       "episodes": len(episodes), "same_episodes": same}
                rows.append(row)
                print(f"{count:>11,} {f'{workers} workers':>10} {seconds_w:>8.1f} {count / seconds_w:>12,.0f} "
                      f"{count / seconds_w / workers:>11,.0f} {seconds / seconds_w:>8.2f} {len(episodes):>8}"
                      + ("" if same else "  DIFFERENT EPISODES"), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                               "platform": platform.platform()}, "runs": rows}, indent=2))
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
