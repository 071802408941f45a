"""Resolution benchmark: how many losses of separation MVP removes, what it costs, and how fast it all runs.

1. Dense random traffic, 200 km x 200 km over 1 h, FL200-FL400, 500 flights an hour (the
   target: >= 95 % of the losses of separation of the same traffic flown without resolution
   removed), and denser traffic (1000, 2000 flights an hour; three seeds at 2,000) to show where
   resolution degrades: losses at the minima and at the minima widened by 1 %, flights completed
   against the same traffic without resolution, mean delay, aircraft still airborne at the end,
   extra distance, and whether issue 13's goal at 2,000 flights/h is met (>= 95 % removed at the
   widened minima, <= 5 % fewer flights completed, <= 10 % extra distance), and completed flights
   more than 200 ft off their final planned level. Three resolvers on the same traffic: the MVP
   baseline ("MVP": back to the route once past the closest approach, as BlueSky; climbs as
   planned), "route" (MVP, back to the route as soon as that route is clear) and deconflict's
   default ("+level": route, and a climb or descent held at its level while it would raise a new
   conflict within 2 minutes).
2. Simulator speed with about 1000 aircraft airborne (target >= 100x faster than real time).
3. Resolution cost against detection on the same snapshot: 25k aircraft in a 1000 km box
   (~32k conflicts); resolving must not take longer than detecting (ratio <= 1).

    .venv/bin/python benchmarks/simulate_mvp.py [--quick]

Prints a table and writes benchmarks/results/simulate_mvp.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from deconflict import detect
from deconflict.core.generated_traffic import CrossingTraffic
from deconflict.core.resolution import mvp
from deconflict.core.simulation import Resolver, SimulationSettings, simulate
from deconflict.core.units import FOOT, KNOT
from deconflict.io.simulation_report import metrics

sys.path.insert(0, str(Path(__file__).resolve().parent))
from detect_scale import traffic  # noqa: E402  (same generator as the detection benchmark)

RESULTS = Path(__file__).resolve().parent / "results" / "simulate_mvp.json"


def _against(without: dict, run: dict) -> dict:
    """A resolved run's figures against the same traffic flown without resolution, and issue 13's goal
    at 2,000 flights/h: >= 95 % removed (widened minima), <= 5 % fewer flights completed, <= 10 % extra
    distance."""
    removed = 1.0 - run["losses"] / without["losses"] if without["losses"] else None
    widened = without["losses_widened_minima"]
    removed_widened = 1.0 - run["losses_widened_minima"] / widened if widened else None
    completed = run["flights_completed"] / without["flights_completed"] if without["flights_completed"] else None
    return {"losses_removed": removed, "losses_removed_widened_minima": removed_widened,
            "flights_completed_vs_no_resolution": completed,
            "meets_goal": bool(removed_widened is not None and removed_widened >= 0.95 and completed is not None
                               and completed >= 0.95 and run["extra_distance_fraction"] <= 0.10)}


def losses_removed(flights_per_hour: float, duration: float, seed: int) -> dict:
    """The same traffic flown without resolution, with the MVP baseline (back to the route past the
    closest approach, as BlueSky; climbs as planned), with MVP back to the route as soon as the route is
    clear (``resume="route"``), and with deconflict's resolver, which also holds a climb or descent at
    its level while it would raise a new conflict within 2 minutes (``hold_level``; the defaults)."""
    flights = CrossingTraffic(flights_per_hour=flights_per_hour, duration=duration, lat=50.0, lon=10.0, size=200e3,
                              altitude_range=(20000 * FOOT, 40000 * FOOT), speed_range=(250 * KNOT, 480 * KNOT),
                              climbing=0.2, seed=seed).flights()
    settings = SimulationSettings(duration=duration, resolver=Resolver(method="mvp", delay=5.0))
    without = metrics(simulate(flights, replace(settings, resolver=Resolver(method="none"))))
    row = {"flights_per_hour": flights_per_hour, "duration_s": duration, "seed": seed, "flights": len(flights),
           "no_resolution": without}
    for name, resume, hold in (("mvp", "cpa", False), ("route", "route", False), ("deconflict", "route", True)):
        resolver = replace(settings.resolver, resume=resume, hold_level=hold)
        run = metrics(simulate(flights, replace(settings, resolver=resolver)))
        row[name] = {**run, **_against(without, run)}
    return row


def _print_row(row: dict) -> None:
    none = row["no_resolution"]
    for name, label in (("mvp", "MVP"), ("route", "route"), ("deconflict", "+level")):
        run = row[name]
        print(f"{row['flights_per_hour']:>9.0f} {row['seed']:>4} {label:>6} {none['mean_airborne']:>8.0f} {none['losses']:>8} "
              f"{run['losses']:>6} {100 * (run['losses_removed'] or 0):>7.1f}% "
              f"{100 * (run['losses_removed_widened_minima'] or 0):>9.1f}% "
              f"{100 * (run['flights_completed_vs_no_resolution'] or 0):>8.1f}% {run['mean_delay_s']:>5.0f}s "
              f"{none['airborne_at_end']:>5}/{run['airborne_at_end']:<5} "
              f"{100 * run['extra_distance_fraction']:>9.1f}% {none['flights_off_final_level']:>4}/{run['flights_off_final_level']:<4} "
              f"{'yes' if run['meets_goal'] else 'no':>5}", flush=True)


def simulator_speed(airborne_target: int, duration: float) -> dict:
    """About ``airborne_target`` aircraft at once: flights an hour = airborne / mean crossing time."""
    size = 800e3
    mean_crossing = 0.75 * size / (365 * KNOT)
    flights = CrossingTraffic(flights_per_hour=airborne_target * 3600 / mean_crossing, duration=duration, lat=50.0,
                              lon=10.0, size=size, speed_range=(250 * KNOT, 480 * KNOT), seed=2).flights()
    settings = SimulationSettings(duration=duration, resolver=Resolver(method="mvp"))
    simulate(flights, replace(settings, duration=30.0))  # compiled kernels loaded
    result = metrics(simulate(flights, settings))
    return {"duration_s": duration, **{k: result[k] for k in ("mean_airborne", "conflicts", "wall_seconds", "speedup")}}


def resolution_cost(n: int, repeats: int = 5) -> dict:
    s = traffic(n, "box")
    conflicts = detect(s)
    mvp(conflicts)
    detect_times, resolve_times = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        conflicts = detect(s)
        middle = time.perf_counter()
        manoeuvres = mvp(conflicts)
        detect_times.append(middle - start)
        resolve_times.append(time.perf_counter() - middle)
    return {"aircraft": n, "conflicts": len(conflicts), "manoeuvring": len(manoeuvres),
            "detect_seconds": min(detect_times), "resolve_seconds": min(resolve_times),
            "resolve_over_detect": min(resolve_times) / min(detect_times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="15 simulated minutes instead of an hour")
    args = parser.parse_args()
    duration = 900.0 if args.quick else 3600.0
    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}}

    print(f"{'flights/h':>9} {'seed':>4} {'run':>6} {'airborne':>8} {'LoS none':>8} {'LoS':>6} {'removed':>8} "
          f"{'+1% minima':>10} {'completed':>9} {'delay':>6} {'at end':>11} {'extra dist':>10} {'off level':>9} {'goal':>5}")
    report["density"] = []
    for rate, seed in ((500, 1), (1000, 1), (2000, 1)) + (() if args.quick else ((2000, 2), (2000, 3))):
        row = losses_removed(rate, duration, seed=seed)
        report["density"].append(row)
        _print_row(row)

    speed = simulator_speed(1000, 600.0 if args.quick else 1200.0)
    report["speed"] = speed
    print(f"simulator: {speed['mean_airborne']:.0f} aircraft airborne on average, MVP on, "
          f"{speed['speedup']:.0f}x faster than real time", flush=True)

    cost = resolution_cost(25_000)
    report["resolution_cost"] = cost
    print(f"resolution: {cost['conflicts']} conflicts among {cost['aircraft']} aircraft: detect "
          f"{1000 * cost['detect_seconds']:.0f} ms, MVP {1000 * cost['resolve_seconds']:.0f} ms "
          f"(ratio {cost['resolve_over_detect']:.2f})")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)))
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
