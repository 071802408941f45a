"""Conformance monitoring cost (issue 15): one cycle's assessment of N monitored aircraft, each named by
its own plan (a 20 km circle, FL200-FL300, one hour), against the detection cycle it rides on:
`alerts()` over the same N aircraft (the baseline, in this process). Also: a party that names one
aircraft in 1,000 plans (a flood of declarations) against a party that names it in one.

    .venv/bin/python benchmarks/conformance.py

Prints the figures and writes benchmarks/results/conformance.json.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from deconflict import States
from deconflict.core.alerting import alerts
from deconflict.core.conformance import Tolerance, assess
from deconflict.core.plans import Plan, PlanIndex
from deconflict.core.standards import standard
from deconflict.core.volumes import Circle, Volume4D
from guidance import best  # benchmarks/ is the script's folder: on sys.path

RESULTS = Path(__file__).resolve().parent / "results" / "conformance.json"
T0 = 1_800_000_000.0


def picture(n: int, seed: int = 0) -> tuple[States, PlanIndex]:
    """``n`` aircraft over Europe, each named by one plan around where it is (a tenth of them 30 km off it)."""
    rng = np.random.default_rng(seed)
    lat, lon = rng.uniform(40.0, 60.0, n), rng.uniform(-10.0, 30.0, n)
    ids = [f"a{k:05d}" for k in range(n)]
    index = PlanIndex()
    off = rng.uniform(size=n) < 0.1
    for k in range(n):
        centre = (lat[k] + (0.27 if off[k] else 0.0), lon[k])
        index.add(Plan(f"alpha/P{k}", "alpha", (Volume4D(Circle(*centre, 20_000.0), 6096.0, 9144.0, T0, T0 + 3600),),
                       aircraft=(ids[k],)))
    states = States.from_arrays(icao24=ids, time=T0 + 600, lat=lat, lon=lon, velocity=rng.uniform(150, 250, n),
                                heading=rng.uniform(0, 360, n), vertrate=0.0, altitude=7620.0, party="alpha",
                                at=T0 + 600)
    return states, index


def assess_all(states: States, index: PlanIndex, tolerance: Tolerance) -> int:
    outside = 0
    for k in range(len(states)):
        verdict = assess(index.flown_by("alpha", str(states.icao24[k])), float(states.lat[k]), float(states.lon[k]),
                         float(states.altitude[k]), float(states.time[k]), tolerance)
        outside += not verdict.conforming
    return outside


def main() -> None:
    tolerance, en_route = Tolerance(), standard("en-route")
    figures = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "cycles": []}
    for n in (100, 1_000, 10_000):
        states, index = picture(n)
        snapshot = states.snapshot(T0 + 600)
        alerts(snapshot, en_route)
        baseline = best(lambda: alerts(snapshot, en_route), 3)
        outside = assess_all(states, index, tolerance)
        cost = best(lambda: assess_all(states, index, tolerance), 3)
        row = {"aircraft": n, "outside": outside, "conformance_s": round(cost, 5), "alerts_s": round(baseline, 5),
               "ratio_to_alerts": round(cost / baseline, 2)}
        figures["cycles"].append(row)
        print(f"{n:>6} monitored aircraft ({outside} off plan): conformance {cost * 1e3:8.1f} ms, "
              f"alerts {baseline * 1e3:8.1f} ms, ratio {cost / baseline:6.2f}")
    states, index = picture(1)
    flooded = PlanIndex()
    for k in range(1_000):
        flooded.add(Plan(f"alpha/F{k}", "alpha", (Volume4D(Circle(float(states.lat[0]) + 1.0, float(states.lon[0]), 5_000.0),
                                                           6096.0, 9144.0, T0 + k * 7200.0, T0 + k * 7200.0 + 3600),),
                         aircraft=("a00000",)))
    one = best(lambda: assess_all(states, index, tolerance), 5)
    many = best(lambda: assess_all(states, flooded, tolerance), 5)
    figures["flood"] = {"plans_naming_one_aircraft": 1000, "one_plan_s": round(one, 6), "thousand_plans_s": round(many, 6),
                        "ratio": round(many / one, 1)}
    print(f"one aircraft named by 1,000 plans: {many * 1e3:.2f} ms per cycle vs {one * 1e3:.3f} ms by one ({many / one:.0f}x)")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
