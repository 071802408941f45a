"""Station decoding throughput on one core: a real capture (a full flight, 57,793 frames, from the
`traffic` package) through frame filtering, pyModeS's streaming decoder and track assembly.

Target: >= 50,000 messages/s (every received message counts, decoded or skipped). The baseline,
in the same process, hands every frame to pyModeS's PipeDecoder, as a station that does not
filter would. The Beast parser's rate is measured on the same frames re-encoded as Beast.

    .venv/bin/python benchmarks/decode_rate.py [--repeats 3]

Prints the figures and writes benchmarks/results/decode_rate.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path

from pyModeS import PipeDecoder

from deconflict.io.mode_s import ModeSDecoder
from deconflict.io.receivers import BeastParser
from deconflict.io.tracks import TrackTable

RESULTS = Path(__file__).resolve().parent / "results" / "decode_rate.json"


def capture() -> list[tuple[float, str]]:
    spec = importlib.util.find_spec("traffic")
    if spec is None:
        sys.exit("the traffic package's recordings are needed: pip install --no-deps traffic==2.13 (make does it)")
    path = Path(spec.submodule_search_locations[0]) / "data" / "samples" / "rs1090" / "full_flight_short.jsonl"
    return [(r["timestamp"], r["frame"]) for r in map(json.loads, path.read_text().splitlines())]


def station_rate(frames: list[tuple[float, str]]) -> float:
    decoder, tracks = ModeSDecoder(receiver=(49.0, 2.55)), TrackTable()
    start = time.perf_counter()
    for when, frame in frames:
        out = decoder.decode(frame, when)
        if out is not None:
            tracks.update(out[0], when, out[1])
    return len(frames) / (time.perf_counter() - start)


def pipe_rate(frames: list[tuple[float, str]]) -> float:
    pipe = PipeDecoder(surface_ref=(49.0, 2.55))
    start = time.perf_counter()
    for when, frame in frames:
        pipe.decode(frame, timestamp=when)
    return len(frames) / (time.perf_counter() - start)


def beast_rate(frames: list[tuple[float, str]]) -> float:
    stream = bytearray()
    for k, (_, frame) in enumerate(frames):
        body = (k * 12_000).to_bytes(6, "big") + b"\x80" + bytes.fromhex(frame)
        stream += bytes([0x1A, 0x33 if len(frame) == 28 else 0x32]) + body.replace(b"\x1a", b"\x1a\x1a")
    parser = BeastParser(clock_origin=0.0)
    start = time.perf_counter()
    count = 0
    for offset in range(0, len(stream), 1 << 16):
        count += sum(1 for _ in parser.feed(bytes(stream[offset:offset + (1 << 16)])))
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    frames = capture()
    station = max(station_rate(frames) for _ in range(args.repeats))
    baseline = max(pipe_rate(frames) for _ in range(args.repeats))
    beast = max(beast_rate(frames) for _ in range(args.repeats))
    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
              "frames": len(frames), "station_messages_per_second": station,
              "pymodes_pipe_messages_per_second": baseline, "ratio": station / baseline,
              "beast_parser_frames_per_second": beast}
    print(f"{len(frames)} frames: station {station:,.0f} msg/s (decode + tracks, one core); pyModeS on every "
          f"frame {baseline:,.0f} msg/s (x{station / baseline:.2f}); Beast parsing {beast:,.0f} frames/s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
