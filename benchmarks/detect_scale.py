"""Scaling of tactical detection: time, conflicts and memory against an all-pairs numpy baseline.

Traffic: aircraft spread uniformly over the globe, or concentrated in a 1000 km box; N = 2k, 25k,
200k, 1M; look-ahead 5 and 20 min; 5 NM / 1000 ft. The baseline is BlueSky's method (every pair
in N x N numpy arrays, here in row blocks so that it fits in memory), run in the same process
where it finishes in reasonable time; the ratio baseline / deconflict is machine-independent.
Peak memory is the growth of the process's peak resident set (VmHWM) during `detect`.

    .venv/bin/python benchmarks/detect_scale.py [--sizes 2000,25000] [--baseline-max 25000]

Prints a table and writes benchmarks/results/detect_scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from deconflict import States, detect
from deconflict.core import _kernels

RESULTS = Path(__file__).resolve().parent / "results" / "detect_scale.json"
HSEP, VSEP = 9260.0, 304.8


def traffic(n: int, layout: str, seed: int = 0) -> States:
    """A snapshot of ``n`` airborne aircraft: 70 % level at flight levels, 30 % climbing or descending."""
    rng = np.random.default_rng(seed)
    if layout == "globe":
        lat = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
        lon = rng.uniform(-180.0, 180.0, n)
    else:  # 1000 km x 1000 km centred on 50N 10E
        lat = 50.0 + rng.uniform(-4.5, 4.5, n)
        lon = 10.0 + rng.uniform(-7.0, 7.0, n)
    level = rng.uniform(size=n) < 0.7
    altitude = np.where(level, rng.integers(100, 411, n) * 30.48, rng.uniform(300.0, 12500.0, n))
    vertrate = np.where(level, 0.0, rng.choice([-1.0, 1.0], n) * rng.uniform(2.0, 15.0, n))
    ids = np.char.mod("%06x", np.arange(n))
    return States.from_arrays(icao24=ids, time=0.0, lat=lat, lon=lon, velocity=rng.uniform(100.0, 260.0, n),
                              heading=rng.uniform(0.0, 360.0, n), vertrate=vertrate, altitude=altitude, at=0.0)


def all_pairs_numpy(s: States, lookahead: float, block: int = 512) -> int:
    """BlueSky-style state-based detection: every ordered pair as numpy arrays, in blocks of rows.

    Same geometry as SPEC §3 (midpoint tangent plane), so its count must equal deconflict's.
    """
    position, velocity, _ = _kernels.prepare(s.lat, s.lon, s.velocity, s.heading, s.vertrate, s.altitude,
                                             lookahead, HSEP, VSEP)
    normal_scale = np.array([1.0, 1.0, 1.0 / (1.0 - _kernels.WGS84_E2)])
    n, count = len(s), 0
    for start in range(0, n, block):
        rows = slice(start, min(start + block, n))
        mid = 0.5 * (position[rows, None, :] + position[None, :, :]) * normal_scale
        mid /= np.linalg.norm(mid, axis=2, keepdims=True)
        d = position[None, :, :] - position[rows, None, :]
        w = velocity[None, :, :] - velocity[rows, None, :]
        d -= (d * mid).sum(axis=2, keepdims=True) * mid
        w -= (w * mid).sum(axis=2, keepdims=True) * mid
        a = (w * w).sum(axis=2)
        b = (d * w).sum(axis=2)
        c = (d * d).sum(axis=2) - HSEP * HSEP
        with np.errstate(divide="ignore", invalid="ignore"):
            root = np.sqrt(np.maximum(b * b - a * c, 0.0))
            moving = a > 1e-12
            h_low = np.where(moving, (-b - root) / a, np.where(c < 0, -np.inf, np.inf))
            h_high = np.where(moving, (-b + root) / a, np.where(c < 0, np.inf, -np.inf))
            h_low = np.where(moving & (b * b - a * c <= 0), np.inf, h_low)
            dz = s.altitude[None, :] - s.altitude[rows, None]
            dvz = s.vertrate[None, :] - s.vertrate[rows, None]
            r1, r2 = (-VSEP - dz) / dvz, (VSEP - dz) / dvz
            still = dvz == 0
            inside = np.abs(dz) < VSEP - _kernels.VERTICAL_EPSILON
            v_low = np.where(still, np.where(inside, -np.inf, np.inf), np.minimum(r1, r2))
            v_high = np.where(still, np.where(inside, np.inf, -np.inf), np.maximum(r1, r2))
        low, high = np.maximum(h_low, v_low), np.minimum(h_high, v_high)
        hit = (low < high) & (low < lookahead) & (high > 0)
        upper = np.arange(rows.start, rows.stop)[:, None] < np.arange(n)[None, :]
        count += int((hit & upper).sum())
    return count


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def measure(s: States, lookahead: float, repeats: int) -> dict:
    detect(s, lookahead=lookahead)  # warm-up: compiled kernels loaded
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        conflicts = detect(s, lookahead=lookahead)
        times.append(time.perf_counter() - start)
    return {"seconds": min(times), "seconds_median": float(np.median(times)), "conflicts": len(conflicts)}


def measure_memory(s: States, lookahead: float) -> dict:
    """Peak memory of one `detect` in a fresh process (freed memory kept by malloc would hide it here)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "states.npz"
        np.savez(path, **{name: getattr(s, name) for name in ("icao24", "lat", "lon", "velocity", "heading",
                                                                "vertrate", "altitude")})
        probe = subprocess.run([sys.executable, __file__, "--memory-probe", str(path), str(lookahead)],
                               capture_output=True, text=True, check=True)
    return json.loads(probe.stdout)


def memory_probe(path: str, lookahead: float) -> None:
    detect(traffic(100, "box"), lookahead=lookahead)  # load the compiled kernels first
    data = np.load(path)
    s = States.from_arrays(time=0.0, at=0.0, **{name: data[name] for name in data.files})
    del data
    before = _status("VmRSS")
    if not _reset_peak():
        print(json.dumps({"peak_bytes": None, "conflict_table_bytes": 0}))
        return
    conflicts = detect(s, lookahead=lookahead)
    peak = _status("VmHWM") - before
    # the table as held: two row indices and five floats per conflict (ids are read on demand)
    row_bytes = sum(getattr(conflicts, name).itemsize for name in
                    ("index_a", "index_b", "t_in", "t_out", "t_cpa", "d_cpa", "dz_cpa"))
    print(json.dumps({"peak_bytes": peak, "conflict_table_bytes": len(conflicts) * row_bytes}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,25000,200000,1000000")
    parser.add_argument("--layouts", default="globe,box")
    parser.add_argument("--lookaheads", default="300,1200")
    parser.add_argument("--baseline-max", type=int, default=25000, help="largest N for the all-pairs baseline")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-probe", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_probe:
        memory_probe(args.memory_probe[0], float(args.memory_probe[1]))
        return
    sizes = [int(v) for v in args.sizes.split(",")]
    results = []
    print(f"{'layout':6} {'N':>8} {'T':>5} {'time s':>8} {'conflicts':>10} {'B/aircraft':>10} "
          f"{'baseline s':>10} {'ratio':>7}")
    for layout in args.layouts.split(","):
        for n in sizes:
            s = traffic(n, layout)
            for lookahead in (float(v) for v in args.lookaheads.split(",")):
                # the dense box at 1M aircraft gives ~1e8 conflicts: too many to hold, skip the long look-ahead
                if layout == "box" and n >= 1_000_000 and lookahead > 300:
                    continue
                row = {"layout": layout, "n": n, "lookahead": lookahead, **measure(s, lookahead, args.repeats),
                       **measure_memory(s, lookahead)}
                extra = row["peak_bytes"]
                row["bytes_per_aircraft"] = None if extra is None else extra / n
                row["bytes_per_aircraft_excluding_table"] = (
                    None if extra is None else max(extra - row["conflict_table_bytes"], 0) / n)
                if n <= args.baseline_max:
                    start = time.perf_counter()
                    baseline_count = all_pairs_numpy(s, lookahead)
                    row["baseline_seconds"] = time.perf_counter() - start
                    row["baseline_conflicts"] = baseline_count
                    row["speedup"] = row["baseline_seconds"] / row["seconds"]
                results.append(row)
                save(results)
                print(f"{layout:6} {n:>8} {lookahead:>5.0f} {row['seconds']:>8.3f} {row['conflicts']:>10} "
                      f"{row['bytes_per_aircraft_excluding_table'] if extra is not None else float('nan'):>10.0f} "
                      f"{row.get('baseline_seconds', float('nan')):>10.2f} {row.get('speedup', float('nan')):>7.0f}"
                      + ("" if row.get("baseline_conflicts", row["conflicts"]) == row["conflicts"]
                         else f"  MISMATCH baseline={row['baseline_conflicts']}"), flush=True)
    print(f"saved {RESULTS}")


def save(rows: list[dict]) -> None:
    """Merge ``rows`` into the results file, replacing earlier rows of the same (layout, N, look-ahead).

    Saved after every row, so a partial run (``--sizes 1000000``) keeps what it measured and the rest.
    """
    key = lambda row: (row["layout"], row["n"], row["lookahead"])  # noqa: E731
    merged = {}
    if RESULTS.exists():
        merged = {key(row): row for row in json.loads(RESULTS.read_text()).get("results", [])}
    merged.update({key(row): row for row in rows})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "hsep_m": HSEP, "vsep_m": VSEP,
        "results": sorted(merged.values(), key=lambda row: (row["layout"] != "globe", row["n"], row["lookahead"])),
    }, indent=2))


if __name__ == "__main__":
    main()
