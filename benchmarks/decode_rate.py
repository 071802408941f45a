"""Station throughput on a real capture (a full flight, 57,793 frames, from the `traffic` package),
with both Mode-S decoders side by side: rs1090 (the default) and pyModeS (the baseline, in the same
process, on the same frames).

For each decoder:
- decode: `ModeSDecoder.decode_many` on every frame, 4,096 at a time, then track assembly (one core
  for pyModeS; rs1090 spreads a batch over the cores it finds);
- replay: `station --replay` end to end in-process (reading the JSON lines, decoding, tracks, and a
  picture with alerting every 1 s of recorded time: 4,778 pictures), and the same with a picture
  every 10 s, which shows what the per-picture cost weighs on a capture this sparse (12 messages per
  recorded second; a busy receiver hears 100 times more).
The Beast parser's rate is measured on the same frames re-encoded as Beast. Every received message
counts, decoded or skipped. Process start-up (about 0.4 s of imports) is not included.

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

from deconflict.io.mode_s import BACKENDS, ModeSDecoder
from deconflict.io.receivers import BeastParser
from deconflict.io.station import Station, replay
from deconflict.io.tracks import TrackTable

RESULTS = Path(__file__).resolve().parent / "results" / "decode_rate.json"
RECEIVER = (49.0, 2.55)


def capture_path() -> Path:
    spec = importlib.util.find_spec("traffic")
    if spec is None:
        sys.exit("the traffic package's recordings are needed: pip install --no-deps traffic==2.13 (make does it)")
    return Path(spec.submodule_search_locations[0]) / "data" / "samples" / "rs1090" / "full_flight_short.jsonl"


def decode_rate(frames: list[tuple[float, str]], backend: str) -> tuple[float, int]:
    decoder, tracks = ModeSDecoder(receiver=RECEIVER, backend=backend), TrackTable()
    start = time.perf_counter()
    positions = 0
    for offset in range(0, len(frames), 4096):
        for when, icao, fields in decoder.decode_many(frames[offset:offset + 4096]):
            tracks.update(icao, when, fields)
            positions += "lat" in fields
    return len(frames) / (time.perf_counter() - start), positions


def replay_rate(path: Path, backend: str, step: float, frames: int) -> tuple[float, int]:
    station = Station(receiver=RECEIVER, decoder=backend)
    start = time.perf_counter()
    pictures = sum(1 for _ in replay(station, path, "avr", step=step))
    return frames / (time.perf_counter() - start), pictures


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
    path = capture_path()
    frames = [(r["timestamp"], r["frame"]) for r in map(json.loads, path.read_text().splitlines())]
    figures: dict[str, dict[str, float]] = {}
    for backend in BACKENDS:
        decoded = [decode_rate(frames, backend) for _ in range(args.repeats)]
        every_second = [replay_rate(path, backend, 1.0, len(frames)) for _ in range(args.repeats)]
        every_ten = [replay_rate(path, backend, 10.0, len(frames)) for _ in range(args.repeats)]
        figures[backend] = {"decode_messages_per_second": max(r for r, _ in decoded),
                            "positions": decoded[0][1],
                            "replay_messages_per_second": max(r for r, _ in every_second),
                            "replay_pictures": every_second[0][1],
                            "replay_10s_messages_per_second": max(r for r, _ in every_ten)}
    fast, base = figures["rs1090"], figures["pymodes"]
    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
              "frames": len(frames), "decoders": figures,
              "decode_ratio": fast["decode_messages_per_second"] / base["decode_messages_per_second"],
              "replay_ratio": fast["replay_messages_per_second"] / base["replay_messages_per_second"],
              "beast_parser_frames_per_second": beast_rate(frames)}
    print(f"{len(frames)} frames from {path.name}")
    for backend, f in figures.items():
        print(f"  {backend:8} decode + tracks {f['decode_messages_per_second']:>9,.0f} msg/s ({f['positions']} positions); "
              f"replay {f['replay_messages_per_second']:>9,.0f} msg/s ({f['replay_pictures']} pictures), "
              f"{f['replay_10s_messages_per_second']:>9,.0f} msg/s with a picture every 10 s")
    print(f"  rs1090 / pyModeS: decode x{report['decode_ratio']:.2f}, replay x{report['replay_ratio']:.2f}; "
          f"Beast parsing {report['beast_parser_frames_per_second']:,.0f} frames/s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
