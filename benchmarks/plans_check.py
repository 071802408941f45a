"""Strategic de-confliction benchmark: insert-and-check new plans against 200,000 stored ones.

Drone-scale traffic: plans over a day in a 300 km x 300 km area, 80 % circles (100-1000 m),
20 % quadrilaterals (0.5-2 km), altitude bands between 0 and 150 m, 10-60 min long. The target
is >= 10,000 checks/s on one core, and a cost that does not grow with the number of days stored
(1 day and 3 days are compared). The baseline, in the same process, is a scan of every stored
volume with the same vectorised filters and exact test (no index).

    .venv/bin/python benchmarks/plans_check.py [--stored 200000] [--checks 5000]

Prints a table and writes benchmarks/results/plans_check.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from deconflict.core.plans import Plan, PlanIndex
from deconflict.core.volumes import Circle, Polygon, Volume4D

RESULTS = Path(__file__).resolve().parent / "results" / "plans_check.json"
DAY0 = 1445299200.0  # 2015-10-20T00:00:00Z


def random_plans(n: int, seed: int, first_day: int = 0, days: int = 1, prefix: str = "p") -> list[Plan]:
    rng = np.random.default_rng(seed)
    lat = 50.0 + rng.uniform(-1.35, 1.35, n)  # 300 km x 300 km
    lon = 10.0 + rng.uniform(-2.1, 2.1, n)
    start = DAY0 + 86400.0 * rng.integers(first_day, first_day + days, n) + rng.uniform(0, 86400.0 - 3600.0, n)
    duration = rng.uniform(600.0, 3600.0, n)
    lower = rng.uniform(0.0, 60.0, n)
    upper = lower + rng.uniform(30.0, 90.0, n)
    circle = rng.uniform(size=n) < 0.8
    radius = rng.uniform(100.0, 1000.0, n)
    size = rng.uniform(500.0, 2000.0, n) / 111_000.0
    plans = []
    for k in range(n):
        if circle[k]:
            footprint = Circle(lat[k], lon[k], radius[k])
        else:
            d = size[k] / 2.0
            footprint = Polygon(((lat[k] - d, lon[k] - d * 1.5), (lat[k] - d * 0.8, lon[k] + d * 1.5),
                                 (lat[k] + d, lon[k] + d * 1.4), (lat[k] + d * 0.9, lon[k] - d * 1.5)))
        plans.append(Plan(f"{prefix}{k}", f"party{k % 7}",
                          (Volume4D(footprint, lower[k], upper[k], start[k], start[k] + duration[k]),),
                          priority=int(k % 3)))
    return plans


def check_rate(index: PlanIndex, plans: list[Plan], insert: bool = True) -> tuple[float, int]:
    conflicts = 0
    begin = time.perf_counter()
    for plan in plans:
        result = index.check(plan)
        conflicts += len(result.conflicts)
        if insert:
            index.add(plan)
    return len(plans) / (time.perf_counter() - begin), conflicts


def scan_rate(index: PlanIndex, plans: list[Plan]) -> tuple[float, int]:
    """Baseline: every stored volume through the same filters and exact test."""
    columns = index._columns
    everything = np.arange(columns.size)
    conflicts = 0
    begin = time.perf_counter()
    for plan in plans:
        for volume in plan.volumes:
            for handle in columns.filter(everything, volume, index.margin):
                other_id, j = index._owner[handle]
                from deconflict.core.volumes import overlap

                if overlap(volume, index.get(other_id).volumes[j], index.margin) is not None:
                    conflicts += 1
    return len(plans) / (time.perf_counter() - begin), conflicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=200_000)
    parser.add_argument("--checks", type=int, default=5_000)
    args = parser.parse_args()
    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
              "stored_per_day": args.stored, "checks": args.checks, "runs": []}
    new = random_plans(args.checks, seed=99, prefix="new")
    for days in (1, 3):
        index = PlanIndex()
        begin = time.perf_counter()
        for day in range(days):
            for plan in random_plans(args.stored, seed=day, first_day=day, prefix=f"d{day}-"):
                index.add(plan)
        build = time.perf_counter() - begin
        baseline_rate, baseline_conflicts = scan_rate(index, new[:200]) if days == 1 else (None, None)
        rate, conflicts = check_rate(index, new[:200], insert=False)
        rate, conflicts = check_rate(index, new)  # insert-and-check
        row = {"days_stored": days, "stored_plans": args.stored * days, "build_seconds": build,
               "checks_per_second": rate, "conflicts_found": conflicts,
               "conflicts_per_check": conflicts / len(new)}
        if baseline_rate is not None:
            indexed_rate, indexed_conflicts = check_rate(index, new[:200], insert=False)
            row.update(baseline_checks_per_second=baseline_rate, speedup=indexed_rate / baseline_rate,
                       baseline_agrees=indexed_conflicts == baseline_conflicts)
        report["runs"].append(row)
        print(f"{days} day(s), {args.stored * days} stored: build {build:.1f} s, insert-and-check "
              f"{rate:,.0f} checks/s, {row['conflicts_per_check']:.2f} conflicts/check"
              + (f"; scan baseline {baseline_rate:,.0f} checks/s (x{row['speedup']:.0f}, "
                 f"same conflicts: {row['baseline_agrees']})" if baseline_rate is not None else ""), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
