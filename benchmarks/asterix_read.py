"""ASTERIX reading rate on one core: CAT021 ADS-B reports (and CAT062 system tracks) encoded by
libasterix, read into state vectors by `io.asterix.decode`.

The baseline, in the same process, is libasterix alone on the same bytes: datablocks framed and
every record parsed (`cv_uap.parse`), no item read. It is what the library allows: the rest of
`decode` is reading seven items per record through the library's typed accessors. The issue's
target is 100,000 CAT021 records/s on one core.

    .venv/bin/python benchmarks/asterix_read.py [--records 20000] [--repeats 3]

Prints the figures and writes benchmarks/results/asterix_read.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from deconflict.core.states import States
from deconflict.io.asterix import CAT021_EDITION, CAT062_EDITION, _spec, decode, encode_cat021, encode_cat062

RESULTS = Path(__file__).resolve().parent / "results" / "asterix_read.json"
DAY = 1_800_000_000.0 - 1_800_000_000.0 % 86400.0


def traffic(n: int) -> States:
    rng = np.random.default_rng(1)
    return States.from_arrays(icao24=[f"{k + 1:06x}" for k in range(n)], callsign=[f"TST{k}" for k in range(n)],
                              time=DAY + rng.uniform(0, 86000, n), lat=rng.uniform(40, 50, n), lon=rng.uniform(0, 10, n),
                              velocity=rng.uniform(100, 250, n), heading=rng.uniform(0, 360, n),
                              vertrate=rng.uniform(-10, 10, n), altitude=rng.uniform(1000, 12000, n))


def library_only(data: bytes, edition: str) -> int:
    from asterix.base import Bits, RawDatablock

    spec, count = _spec(edition), 0
    for block in RawDatablock.parse(Bits.from_bytes(data)):
        count += len(spec.cv_uap.parse(block.get_raw_records()))
    return count


def rate(run, n: int, repeats: int) -> float:  # noqa: ANN001
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        assert run() == n
        best = min(best, time.perf_counter() - start)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    states = traffic(args.records)
    figures = {}
    for name, encode, edition in (("CAT021", encode_cat021, CAT021_EDITION), ("CAT062", encode_cat062, CAT062_EDITION)):
        data = encode(states)
        ours = rate(lambda: len(decode(data, DAY).states), args.records, args.repeats)
        library = rate(lambda: library_only(data, edition), args.records, args.repeats)
        figures[name] = {"bytes": len(data), "records_per_second": ours, "library_parse_records_per_second": library,
                         "share_of_library_rate": ours / library}
        print(f"{name}: {args.records:,} records ({len(data):,} bytes): read into state vectors {ours:,.0f}/s; "
              f"libasterix parsing alone {library:,.0f}/s (we reach {ours / library:.0%} of it)")
    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
              "records": args.records, "categories": figures}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
