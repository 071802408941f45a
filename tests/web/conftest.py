"""Browser fixtures: Debian's Chromium driven by Playwright (no browser download).

Chromium is installed by the test set-up under CI (``apt-get install chromium`` when missing);
elsewhere a missing Chromium skips these tests with the reason. The map's assets must be built
(``make test`` does it first).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from deconflict.service.app import create_app
from deconflict.service.background import BackgroundServer
from deconflict.service.deconfliction import Deconfliction
from deconflict.service.settings import ServiceSettings
from deconflict.web import VENDOR
from tests.servers import UNDER_CI, free_port

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]


def _chromium() -> str | None:
    return shutil.which("chromium") or (os.path.exists("/usr/bin/chromium") and "/usr/bin/chromium") or None


def _skip_or_fail(message: str) -> None:
    if UNDER_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser():
    path = _chromium()
    if path is None and UNDER_CI and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], env=env, capture_output=True)
        path = _chromium()
    if path is None:
        _skip_or_fail("Chromium not installed (apt-get install chromium); the browser tests run under CI")
    if not (VENDOR / "leaflet.js").exists():
        _skip_or_fail("map assets not built (make test builds them: web-assets -> src/deconflict/web/static/vendor)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@dataclass
class Live:
    service: Deconfliction
    url: str
    tokens: dict[str, str]


@pytest.fixture
def live_service(tmp_path):
    """The service on a free loopback port, real time, detection running; parties alpha and bravo."""
    service = Deconfliction(ServiceSettings(database=str(tmp_path / "web.db"), key_file=str(tmp_path / "web.key")))
    for party in ("alpha", "bravo"):
        service.add_party(party)
    tokens = {"alpha": service.add_member("alice", "operator", "alpha"),
              "bravo": service.add_member("bruno", "operator", "bravo"),
              "cell": service.add_member("cecile", "cell", None)}
    with BackgroundServer(create_app(service), port=free_port()) as url:
        yield Live(service, url, tokens)
    service.close()


def login(browser, url: str, token: str):
    """A new browser context logged in with ``token``: (context, page, page errors seen)."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 850})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url + "/")
    page.fill("#token", token)
    page.click("#login button")
    expect(page.locator("#who")).not_to_have_text("")
    return context, page, errors


def expect_settled(proposer, accepter) -> None:
    """Both parties' pages show the proposal accepted, and both audit records hold the proposal and the acceptance."""
    from playwright.sync_api import expect

    expect(accepter.locator("#thread-status")).to_contain_text("settled")
    for page in (proposer, accepter):
        expect(page.locator("#audit")).to_contain_text("hotline.proposal", timeout=10_000)
        expect(page.locator("#audit")).to_contain_text("hotline.accept", timeout=10_000)
    expect(proposer.locator("#messages")).to_contain_text("accepted", timeout=10_000)


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
