"""Guidance cost (issue 13): conflict bands of one aircraft against N others (instantaneous, and
kinematic: each value reached by a standard-rate turn or an acceleration), and the fixed cost of an
`alerts()` call on two aircraft.

Targets: bands against 1,000 others in 10 ms or less; a 2-aircraft `alerts()` in 50 us or less.
Baselines in this process: for bands, one `alerts()` over the same N + 1 aircraft (what deciding the
current levels costs); for the 2-aircraft call, the compiled exact pair test alone (`pair_conflict`),
which is all the geometry a pair needs, so the ratio is the call's overhead.

    .venv/bin/python benchmarks/guidance.py

Prints the figures and writes benchmarks/results/guidance.json.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from deconflict import States
from deconflict.core import _kernels
from deconflict.core.alerting import alerts
from deconflict.core.bands import Kinematics, bands
from deconflict.core.geodesy import ground_velocity_ecef, surface_ecef

RESULTS = Path(__file__).resolve().parent / "results" / "guidance.json"


def traffic(n: int, seed: int = 0) -> States:
    """The ownship and ``n`` aircraft within 100 km around it, FL250-FL390."""
    rng = np.random.default_rng(seed)
    count = n + 1
    return States.from_arrays(icao24=[f"a{k:05d}" for k in range(count)], time=0.0,
                              lat=50.0 + rng.uniform(-0.9, 0.9, count), lon=10.0 + rng.uniform(-1.4, 1.4, count),
                              velocity=rng.uniform(150, 250, count), heading=rng.uniform(0, 360, count),
                              vertrate=np.where(rng.uniform(size=count) < 0.8, 0.0, rng.normal(0, 8, count)),
                              altitude=rng.choice(np.arange(7620.0, 11887.0, 304.8), count), at=0.0)


def best(function, repeat: int) -> float:
    """Best of ``repeat`` timings of ``function()`` (s)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    figures = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "bands": [],
               "targets": {"bands_1000_ms": 10.0, "alerts_2_us": 50.0}}
    for n in (10, 100, 1000):
        s = traffic(n)
        bands(s, "a00000")
        cost = best(lambda: bands(s, "a00000"), 5)
        baseline = best(lambda: alerts(s, "en-route"), 5)
        kinematics = Kinematics()
        bands(s, "a00000", kinematics=kinematics)
        kinematic = best(lambda: bands(s, "a00000", kinematics=kinematics), 3)
        figures["bands"].append({"others": n, "bands_ms": round(cost * 1e3, 2), "alerts_ms": round(baseline * 1e3, 2),
                                 "ratio": round(cost / baseline, 1), "kinematic_bands_ms": round(kinematic * 1e3, 2),
                                 "kinematic_vs_instantaneous": round(kinematic / cost, 1)})
        print(f"bands against {n:5d} others: {cost * 1e3:8.2f} ms (alerts of the same traffic: {baseline * 1e3:.2f} ms); "
              f"kinematic {kinematic * 1e3:.1f} ms (x{kinematic / cost:.1f})")
    pair = traffic(1, seed=3)
    alerts(pair, "en-route")
    call = best(lambda: [alerts(pair, "en-route") for _ in range(200)], 3) / 200
    position, _ = surface_ecef(pair.lat, pair.lon)
    velocity = ground_velocity_ecef(pair.lat, pair.lon, pair.velocity, pair.heading)
    out = np.empty(5)
    _kernels.pair_conflict(position, velocity, pair.altitude, pair.vertrate, 0, 1, 300.0, 9260.0, 304.8, 0.0, out)
    kernel = best(lambda: [_kernels.pair_conflict(position, velocity, pair.altitude, pair.vertrate, 0, 1, 300.0,
                                                  9260.0, 304.8, 0.0, out) for _ in range(2000)], 3) / 2000
    figures["alerts_2"] = {"call_us": round(call * 1e6, 1), "pair_kernel_us": round(kernel * 1e6, 2),
                           "ratio": round(call / kernel)}
    print(f"alerts() on two aircraft: {call * 1e6:.1f} us (the compiled pair test alone: {kernel * 1e6:.2f} us)")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
