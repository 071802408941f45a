"""Private plan check (issue 15): two parties with 10,000 plans each; one new plan of A checked
privately against B's 10,000 (PSI over conservative covers, then the exact test on what the shared
cells reveal). Target: one check in 1 s or less. Baseline in this process: the same plan checked in
the clear by a `PlanIndex` holding B's plans (what the service does when it may see both).

    .venv/bin/python benchmarks/private_check.py

Prints the figures (times, bytes exchanged, tokens) and writes benchmarks/results/private_check.json.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from deconflict.core.cover import CoverGrid
from deconflict.core.plans import Plan, PlanIndex
from deconflict.core.volumes import Circle, Volume4D
from deconflict.io.private_check import CoverHolder, PrivateChecker

RESULTS = Path(__file__).resolve().parent / "results" / "private_check.json"
T0 = 1_800_000_000.0
PLANS = 10_000


def plans(party: str, n: int, seed: int) -> list[Plan]:
    """``n`` one-hour plans over western Europe in one day: circles of 5-30 km, 1-3 km deep."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        low = float(rng.uniform(0, 9000))
        start = T0 + float(rng.uniform(0, 86_400 - 3600))
        out.append(Plan(f"{party}/{k}", party, (Volume4D(Circle(float(rng.uniform(43, 52)), float(rng.uniform(-4, 15)),
                                                                   float(rng.uniform(5000, 30000))),
                                                            low, low + float(rng.uniform(1000, 3000)), start,
                                                            start + 3600),)))
    return out


def main() -> None:
    grid = CoverGrid()
    bravo, alpha = plans("bravo", PLANS, 1), plans("alpha", PLANS, 2)
    started = time.perf_counter()
    holder = CoverHolder(bravo, grid, T0 - 3600, T0 + 2 * 86_400)
    setup_time = time.perf_counter() - started
    offer = holder.offer()
    setup_bytes = len(offer["setup"]) * 3 // 4
    checker = PrivateChecker(offer)
    index = PlanIndex(margin=grid.margin, equal_priority="accept")
    for plan in bravo:
        index.add(plan)
    private, clear, sent, received, shared, conflicts, agree = [], [], [], [], [], [], 0
    for plan in alpha[:40]:
        begun = time.perf_counter()
        result = checker.check(plan, holder)
        private.append(time.perf_counter() - begun)
        begun = time.perf_counter()
        plain = index.check(plan)
        clear.append(time.perf_counter() - begun)
        sent.append(result.bytes_sent)
        received.append(result.bytes_received)
        shared.append(result.shared)
        conflicts.append(len(result.conflicts))
        agree += len(result.conflicts) == len(plain.conflicts)
    figures = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "plans_each": PLANS, "grid": grid.name, "bravo_tokens": offer["tokens"],
        "setup_s": round(setup_time, 2), "setup_bytes": setup_bytes,
        "check_s_median": round(statistics.median(private), 4), "check_s_max": round(max(private), 4),
        "clear_check_s_median": round(statistics.median(clear), 5),
        "ratio_private_to_clear": round(statistics.median(private) / statistics.median(clear), 1),
        "bytes_per_check_median": int(statistics.median([a + b for a, b in zip(sent, received)])),
        "shared_tokens_median": statistics.median(shared), "conflicts_found": sum(conflicts),
        "checks_agreeing_with_the_clear_check": f"{agree}/{len(private)}", "target_check_s": 1.0,
    }
    print(f"bravo: {PLANS} plans, {offer['tokens']} tokens; setup {setup_time:.1f} s once, {setup_bytes / 1e6:.1f} MB "
          f"sent once to alpha")
    print(f"one new plan checked privately: median {figures['check_s_median'] * 1e3:.0f} ms, max "
          f"{figures['check_s_max'] * 1e3:.0f} ms (target 1 s); in the clear {figures['clear_check_s_median'] * 1e3:.2f} ms "
          f"({figures['ratio_private_to_clear']}x); {figures['bytes_per_check_median']} bytes exchanged per check")
    print(f"conflicts found privately {sum(conflicts)}; checks agreeing with the clear check: {agree}/{len(private)}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
