"""Strategic de-confliction benchmark: insert-and-check new plans against 200,000 stored ones.

Drone-scale traffic: plans over a day in a 300 km x 300 km area, 80 % circles (100-1000 m),
20 % quadrilaterals (0.5-2 km), altitude bands between 0 and 150 m, 10-60 min long. The target
is >= 10,000 checks/s on one core, a cost that does not grow with the number of days stored
(1 day and 3 days are compared), and (issue 14) at least twice a shapely 2 STRtree baseline over
the same footprint boxes with the same exact test, run in the same process: one check per plan
against one query per plan, and `PlanIndex.check_many` against one bulk query. A scan of every
stored volume with the same filters (no index) is the first baseline.

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


def batch_rate(index: PlanIndex, plans: list[Plan]) -> tuple[float, int]:
    begin = time.perf_counter()
    checks = index.check_many(plans)
    return len(plans) / (time.perf_counter() - begin), sum(len(c.conflicts) for c in checks)


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
    from deconflict.core._plan_index import _filter

    columns = index._columns
    everything = np.arange(columns.size)
    conflicts = 0
    begin = time.perf_counter()
    for plan in plans:
        for volume in plan.volumes:
            query, ring = index._query(volume)
            for handle in _filter(everything, query, columns.values, columns.rings, ring, index.margin)[0].tolist():
                other_id, j = index._owner[handle]
                from deconflict.core.volumes import overlap

                if overlap(volume, index.get(other_id).volumes[j], index.margin) is not None:
                    conflicts += 1
    return len(plans) / (time.perf_counter() - begin), conflicts


def strtree_rates(index: PlanIndex, plans: list[Plan]) -> tuple[float, float, int]:
    """Baseline asked for by issue 14: a shapely 2 STRtree over the stored footprints' boxes (the same
    conservative bounds), one query per plan and one bulk query, then the same time/altitude filter
    and exact test. Returns (checks/s one query per plan, checks/s in bulk, conflicts)."""
    import shapely

    from deconflict.core.volumes import overlap

    columns = index._columns
    handles = np.flatnonzero(columns.alive)
    values = columns.values
    tree = shapely.STRtree(shapely.box(values[handles, 1], values[handles, 0], values[handles, 3], values[handles, 2]))

    def box(volume: Volume4D):  # noqa: ANN202
        south, west, north, east = volume.footprint.bounds
        return shapely.box(west, south, east, north)

    stored = []
    for handle in handles.tolist():
        owner, j = index._owner[handle]
        stored.append(index.get(owner).volumes[j])

    def exact(volume: Volume4D, hit: int) -> bool:
        other = stored[hit]
        return (other.altitude_lower < volume.altitude_upper and other.altitude_upper > volume.altitude_lower
                and other.time_start < volume.time_end and other.time_end > volume.time_start
                and overlap(volume, other, index.margin) is not None)

    begin = time.perf_counter()
    single = sum(exact(p.volumes[0], h) for p in plans for h in tree.query(box(p.volumes[0])))
    per_query = len(plans) / (time.perf_counter() - begin)
    begin = time.perf_counter()
    which, hits = tree.query([box(p.volumes[0]) for p in plans])
    bulk = sum(exact(plans[q].volumes[0], h) for q, h in zip(which.tolist(), hits.tolist()))
    in_bulk = len(plans) / (time.perf_counter() - begin)
    assert single == bulk
    return per_query, in_bulk, single


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
        index.check_many(new[:2])  # compiled code warmed up (a fresh cache compiles on first call)
        scan_rate(index, new[:2])
        baseline_rate, baseline_conflicts = scan_rate(index, new[:200]) if days == 1 else (None, None)
        rate, conflicts = check_rate(index, new[:200], insert=False)
        for plan in new:
            plan.volumes[0].footprint.bounds  # drawn once for every method alike
        tree_single, tree_bulk, tree_conflicts = strtree_rates(index, new)
        check_only, check_conflicts = check_rate(index, new, insert=False)
        batch, batch_conflicts = batch_rate(index, new)
        assert check_conflicts == tree_conflicts == batch_conflicts, (check_conflicts, tree_conflicts, batch_conflicts)
        rate, conflicts = check_rate(index, new)  # insert-and-check
        row = {"days_stored": days, "stored_plans": args.stored * days, "build_seconds": build,
               "checks_per_second": rate, "conflicts_found": conflicts,
               "conflicts_per_check": conflicts / len(new),
               "check_only_per_second": check_only, "strtree_one_query_per_second": tree_single,
               "strtree_bulk_per_second": tree_bulk, "batch_check_per_second": batch,
               "vs_strtree_one_query": check_only / tree_single, "batch_vs_strtree_bulk": batch / tree_bulk}
        if baseline_rate is not None:
            indexed_rate, indexed_conflicts = check_rate(index, new[:200], insert=False)
            row.update(baseline_checks_per_second=baseline_rate, speedup=indexed_rate / baseline_rate,
                       baseline_agrees=indexed_conflicts == baseline_conflicts)
        report["runs"].append(row)
        print(f"{days} day(s), {args.stored * days} stored: build {build:.1f} s, insert-and-check "
              f"{rate:,.0f} checks/s; check only {check_only:,.0f}/s against STRtree {tree_single:,.0f}/s one query "
              f"per plan (x{check_only / tree_single:.2f}); batch {batch:,.0f}/s against STRtree bulk {tree_bulk:,.0f}/s "
              f"(x{batch / tree_bulk:.2f}); "
              f"{row['conflicts_per_check']:.2f} conflicts/check"
              + (f"; scan baseline {baseline_rate:,.0f} checks/s (x{row['speedup']:.0f}, "
                 f"same conflicts: {row['baseline_agrees']})" if baseline_rate is not None else ""), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
