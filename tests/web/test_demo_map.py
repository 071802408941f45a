"""The demo in the browser, as a user would try it: `deconflict demo --hotline manual`, the two
parties of the scenario logged in on two browser contexts, north proposes on the tactical conflict
of its strike package with the cargo flight, south accepts, both see it in their audit record."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from playwright.sync_api import expect

from tests.servers import free_port
from tests.web.conftest import expect_settled, login, screenshot


def _start_demo(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "deconflict.cli", "demo", "--port", str(port), "--speed", "10", "--hotline", "manual",
         "--keep-serving", "--db", str(tmp_path / "demo.db")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "COLUMNS": "250"})
    tokens, deadline = {}, time.time() + 120
    while len(tokens) < 3 and time.time() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if found := re.search(r"token for (\w+): (\S+)", line):
            tokens[found.group(1)] = found.group(2)
    assert len(tokens) == 3, "the demo did not print its tokens"
    return process, f"http://127.0.0.1:{port}", tokens


def test_demo_on_the_map_north_proposes_south_accepts(browser, tmp_path):
    process, url, tokens = _start_demo(tmp_path)
    try:
        north_context, north, _ = login(browser, url, tokens["north"])
        south_context, south, _ = login(browser, url, tokens["south"])
        expect(north.locator("#aircraft-count")).not_to_have_text("0", timeout=30_000)
        assert north.evaluate("window.deconflictMap.countries()") > 200
        expect(north.locator("#strategic li")).not_to_have_count(0, timeout=30_000)  # strike plan vs cargo schedule
        conflict = north.locator("#conflicts li", has_text="VIPER")
        expect(conflict.first).to_be_visible(timeout=90_000)
        screenshot(north, "demo-1-north-conflict")
        conflict.first.click()
        expect(north.locator("#thread-panel")).to_be_visible()
        north.select_option("#proposal-action", "climb")
        north.fill("#proposal-value", "FL140")
        north.fill("#proposal-text", "VIPER climbs to FL140")
        north.click("#propose-button")
        expect(north.locator("#messages")).to_contain_text("pending")

        south.locator("#conflicts li", has_text="VIPER").first.click()
        expect(south.locator("#messages")).to_contain_text("VIPER climbs to FL140", timeout=10_000)
        south.locator("#messages button.accept").first.click()
        expect_settled(north, south)
        screenshot(south, "demo-2-south-accepts")
        screenshot(north, "demo-3-north-audit")
        north_context.close()
        south_context.close()
    finally:
        process.terminate()
        process.wait(20)
