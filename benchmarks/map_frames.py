"""Map frame-time benchmark: the map page in headless Chromium (Debian's, software rendering)
drawing N aircraft of four parties over Europe, dead-reckoned every frame, with trails and
decluttered labels on (as a user has them by default).

Measures, for 1,000 aircraft (the baseline, same browser and page) and ``--aircraft`` (10,000):
the time to draw one frame of the traffic canvas (p50/p95), the frame rate the browser reached,
and the time to fetch and unpack one picture update (/v1/tracks + /v1/conflicts). Smooth means a
frame well under 16.7 ms (60 fps).

    .venv/bin/python benchmarks/map_frames.py [--aircraft 10000] [--seconds 8]

Writes benchmarks/results/map_frames.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from deconflict.service.app import create_app
from deconflict.service.background import BackgroundServer
from deconflict.service.deconfliction import Deconfliction
from deconflict.service.settings import ServiceSettings

RESULTS = Path(__file__).resolve().parent / "results" / "map_frames.json"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def traffic(n: int, seed: int = 3) -> dict:
    rng = np.random.default_rng(seed)
    now = time.time()
    return {"time": [now] * n, "icao24": [f"{k:06x}" for k in range(n)],
            "callsign": [f"T{k:05d}" for k in range(n)],
            "party": [["north", "south", "east", "west"][k % 4] for k in range(n)],
            "lat": (47.0 + rng.uniform(-8, 8, n)).tolist(), "lon": (8.0 + rng.uniform(-12, 12, n)).tolist(),
            "velocity": rng.uniform(150, 250, n).tolist(), "heading": rng.uniform(0, 360, n).tolist(),
            "vertrate": [0.0] * n, "baroaltitude": rng.choice(np.arange(6096.0, 12192.0, 304.8), n).tolist()}


def measure(browser, url: str, token: str, seconds: float, zoom: int | None = None) -> dict:
    page = browser.new_page(viewport={"width": 1600, "height": 900})
    page.goto(url + "/")
    page.fill("#token", token)
    page.click("#login button")
    deadline = time.time() + 60  # polled from here: the page's CSP forbids the eval wait_for_function uses
    while int(page.locator("#aircraft-count").text_content() or 0) == 0:
        if time.time() > deadline:
            raise RuntimeError("no aircraft on the map after 60 s")
        time.sleep(0.2)
    if zoom is not None:
        page.evaluate(f"window.deconflictMap.map.setView([47, 8], {zoom}, {{animate: false}}) && null")
    time.sleep(1.0)
    page.evaluate("window.deconflictMap.resetFrames()")
    started = page.evaluate("performance.now()")
    time.sleep(seconds)
    stats = page.evaluate("window.deconflictMap.frameStats()")
    elapsed = (page.evaluate("performance.now()") - started) / 1000
    shown = int(page.inner_text("#aircraft-count"))
    conflicts = int(page.inner_text("#conflict-count"))
    trail_dots, labels = page.evaluate("window.deconflictMap.trailPoints()"), page.evaluate("window.deconflictMap.labels()")
    page.close()
    return {"aircraft": shown, "conflicts": conflicts, "trail_dots": trail_dots, "labels": labels,
            "frames_per_second": round(stats["draw"]["count"] / elapsed, 1),
            "draw_ms_p50": round(stats["draw"]["p50"], 2), "draw_ms_p95": round(stats["draw"]["p95"], 2),
            "draw_ms_max": round(stats["draw"]["max"], 2),
            "update_ms_p50": round(stats["refresh"]["p50"], 1) if stats["refresh"]["count"] else None}


def run(aircraft: int, seconds: float, browser, folder: str) -> tuple[dict, dict]:
    service = Deconfliction(ServiceSettings(database=os.path.join(folder, f"map{aircraft}.db"),
                                            key_file=os.path.join(folder, "map.key"), max_age=3600))
    token = service.add_member("bench cell", "cell", None)
    for party in ("east", "north", "south", "west"):
        service.add_party(party)
    server = BackgroundServer(create_app(service), port=8600 + aircraft % 97)
    url = server.start()
    httpx.post(f"{url}/v1/tracks", json=traffic(aircraft), headers={"Authorization": f"Bearer {token}"},
               timeout=60).raise_for_status()
    try:
        whole = measure(browser, url, token, seconds, zoom=5)
        close = measure(browser, url, token, seconds, zoom=8)  # a few hundred in view, with labels
    finally:
        server.stop()
        service.engine.dispose()
    return whole, close


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aircraft", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    folder = tempfile.mkdtemp(prefix="deconflict-map-")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=FLAGS)
        base_whole, base_close = run(1000, args.seconds, browser, folder)
        whole, close = run(args.aircraft, args.seconds, browser, folder)
        version = browser.version
        browser.close()
    figures = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "chromium": version,
                    "rendering": "headless, --disable-gpu (software canvas)"},
        "baseline_1000": {"whole_europe": base_whole, "zoomed_in": base_close},
        f"aircraft_{args.aircraft}": {"whole_europe": whole, "zoomed_in": close},
        "draw_p95_ratio": round(whole["draw_ms_p95"] / max(base_whole["draw_ms_p95"], 1e-3), 2),
    }
    print(json.dumps(figures, indent=2))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
