"""The map in a real browser: log in, aircraft and a conflict appear, one party proposes, the other
accepts in a second browser context, and both see it in their audit record. Screenshots go to
test-artifacts/."""

from __future__ import annotations

import time

import httpx
from playwright.sync_api import expect

from tests.web.conftest import expect_settled, login, screenshot


def _push(live, party: str, rows: list[dict]) -> None:
    columns = {k: [r[k] for r in rows] for k in rows[0]}
    httpx.post(f"{live.url}/v1/tracks", json=columns,
               headers={"Authorization": f"Bearer {live.tokens[party]}"}).raise_for_status()


def _traffic(live) -> None:
    """alpha's ALPHA1 and bravo's BRAVO1 converge at FL300 (loss in ~4 min); bravo's BHIDE is far away."""
    now = time.time()
    base = {"time": now, "velocity": 200.0, "vertrate": 0.0, "baroaltitude": 9144.0}
    _push(live, "alpha", [{**base, "icao24": "a00001", "callsign": "ALPHA1", "lat": 45.0, "lon": 4.3, "heading": 90.0}])
    _push(live, "bravo", [{**base, "icao24": "b00001", "callsign": "BRAVO1", "lat": 45.0, "lon": 5.7, "heading": 270.0},
                          {**base, "icao24": "b0000f", "callsign": "BHIDE", "lat": 52.0, "lon": 12.0, "heading": 0.0}])


def _login(browser, live, who: str):
    return login(browser, live.url, live.tokens[who])


def test_conflict_proposal_and_acceptance_across_two_parties(browser, live_service):
    live = live_service
    _traffic(live)
    alpha_context, alpha, alpha_errors = _login(browser, live, "alpha")
    expect(alpha.locator("#conflicts li")).to_have_count(1, timeout=15_000)
    expect(alpha.locator("#aircraft-count")).to_have_text("2")  # its own and the intruder, not BHIDE
    assert alpha.evaluate("window.deconflictMap.countries()") > 200  # the offline basemap is drawn
    assert "BHIDE" not in alpha.content()
    expect(alpha.locator("#conflicts li").first).to_contain_text("ALPHA1")
    alpha.locator("#conflicts li").first.click()
    expect(alpha.locator("#thread-panel")).to_be_visible()
    expect(alpha.locator("#suggestions li").first).to_contain_text("suggested: a00001: heading")
    alpha.select_option("#proposal-action", "climb")  # the form starts from the suggestion (a heading)
    alpha.fill("#proposal-value", "FL320")
    alpha.fill("#proposal-text", "ALPHA1 climbs to FL320")
    alpha.click("#propose-button")
    expect(alpha.locator("#messages li").last).to_contain_text("pending")
    screenshot(alpha, "1-alpha-proposes")

    bravo_context, bravo, bravo_errors = _login(browser, live, "bravo")
    expect(bravo.locator("#conflicts li")).to_have_count(1, timeout=15_000)
    bravo.locator("#conflicts li").first.click()
    accept = bravo.locator("#messages button.accept")
    expect(accept).to_have_count(1)
    expect(bravo.locator("#messages")).to_contain_text("ALPHA1 climbs to FL320")
    accept.click()
    expect(bravo.locator("#messages")).to_contain_text("accepted")
    expect_settled(alpha, bravo)
    screenshot(bravo, "2-bravo-accepts")
    screenshot(alpha, "3-alpha-sees-acceptance")

    cell_context, cell, cell_errors = _login(browser, live, "cell")
    expect(cell.locator("#aircraft-count")).to_have_text("3", timeout=10_000)  # the cell sees all
    screenshot(cell, "4-cell")
    assert not (alpha_errors or bravo_errors or cell_errors)
    for context in (alpha_context, bravo_context, cell_context):
        context.close()


def test_observer_cannot_propose_and_a_bad_token_is_refused(browser, live_service):
    live = live_service
    live.tokens["watcher"] = live.service.add_member("watcher", "observer", "alpha")
    _traffic(live)
    context, page, errors = _login(browser, live, "watcher")
    expect(page.locator("#conflicts li")).to_have_count(1, timeout=15_000)
    page.locator("#conflicts li").first.click()
    expect(page.locator("#propose-button")).to_be_disabled()
    context.close()
    other = browser.new_context()
    page = other.new_page()
    page.goto(live.url + "/")
    page.fill("#token", "dcf_not_a_token")
    page.click("#login button")
    expect(page.locator("#error")).to_contain_text("401")
    other.close()


def test_plan_volumes_follow_the_time_slider(browser, live_service):
    from datetime import datetime, timedelta, timezone

    live = live_service
    start = datetime.now(timezone.utc) + timedelta(hours=2)
    document = {"id": "LATER", "volumes": [{"circle": {"lat": 45.0, "lon": 5.0, "radius": "20km"},
                "altitude": ["FL100", "FL200"], "time": [start.isoformat(), (start + timedelta(hours=1)).isoformat()]}]}
    httpx.post(f"{live.url}/v1/plans", json=document,
               headers={"Authorization": f"Bearer {live.tokens['alpha']}"}).raise_for_status()
    context, page, _ = _login(browser, live, "alpha")
    count = "Object.keys(window.deconflictMap.map._layers).length"
    layers_now = page.evaluate(count)
    page.locator("#plan-offset").fill("150")
    page.locator("#plan-offset").dispatch_event("input")
    expect(page.locator("#plan-time")).not_to_have_text("now")
    deadline = time.time() + 10  # polled with evaluate: wait_for_function's string predicate is eval, which the CSP refuses
    while page.evaluate(count) <= layers_now:
        assert time.time() < deadline, "the later plan volume was not drawn"
        page.wait_for_timeout(100)
    screenshot(page, "5-plan-volume-later")
    context.close()


def test_an_occurrence_is_listed_live_and_exported(browser, live_service):
    """Two aircraft 1 km apart at the same level: a loss of separation happening, listed at once for
    both parties (in red while it lasts), and the CSV button downloads it."""
    live = live_service
    now = time.time()
    base = {"time": now, "velocity": 200.0, "vertrate": 0.0, "baroaltitude": 9144.0, "heading": 90.0}
    _push(live, "alpha", [{**base, "icao24": "a00001", "callsign": "ALPHA1", "lat": 45.0, "lon": 5.0}])
    _push(live, "bravo", [{**base, "icao24": "b00001", "callsign": "BRAVO1", "lat": 45.0, "lon": 5.0127}])
    context, page, errors = _login(browser, live, "bravo")
    item = page.locator("#occurrences li.ongoing")
    expect(item).to_have_count(1, timeout=15_000)
    expect(item).to_contain_text("a00001")
    expect(item).to_contain_text("now")
    with page.expect_download() as download:
        page.click("#export-occurrences")
    text = open(download.value.path()).read()
    assert text.startswith("id,a,b,party_a,party_b") and "occurrence:1,a00001,b00001,alpha,bravo" in text
    expect(page.locator("#audit")).to_contain_text("occurrence.started")
    expect(page.locator("#audit")).not_to_contain_text("undefined")  # receipts carry no seq: the hash is shown
    screenshot(page, "6-occurrence")
    assert not errors
    context.close()


def test_an_aircraft_off_its_plan_is_shown_to_its_owner_and_to_the_party_it_could_reach(browser, live_service):
    """alpha's a00001 flies 20 km outside the box its plan declares: after the 5 s confirmation its
    plan is Nonconforming; alpha's panel names the plan, bravo's (whose aircraft it could reach) shows
    the aircraft and what of bravo's it could reach, never alpha's plan."""
    from datetime import datetime, timedelta, timezone

    live = live_service
    now = datetime.now(timezone.utc)
    box = {"id": "BOX", "aircraft": ["a00001"], "volumes": [{
        "polygon": [[45.5, 5.0], [45.7, 5.0], [45.7, 5.4], [45.5, 5.4]], "altitude": ["FL280", "FL320"],
        "time": [(now - timedelta(minutes=10)).isoformat(), (now + timedelta(hours=1)).isoformat()]}]}
    httpx.post(f"{live.url}/v1/plans", json=box,
               headers={"Authorization": f"Bearer {live.tokens['alpha']}"}).raise_for_status()
    base = {"velocity": 5.0, "vertrate": 0.0, "baroaltitude": 9144.0, "heading": 90.0}
    _push(live, "bravo", [{**base, "time": time.time(), "icao24": "b00001", "callsign": "BRAVO1", "lat": 45.25,
                           "lon": 5.3}])  # 10.5 km away, abeam: within its reach, in no conflict
    for _ in range(2):  # two reports 5.5 s apart, both 20 km south of the box
        _push(live, "alpha", [{**base, "time": time.time(), "icao24": "a00001", "callsign": "ALPHA1", "lat": 45.32,
                               "lon": 5.2}])
        time.sleep(5.5)
    _push(live, "alpha", [{**base, "time": time.time(), "icao24": "a00001", "callsign": "ALPHA1", "lat": 45.32,
                           "lon": 5.2}])
    context, page, errors = _login(browser, live, "bravo")
    item = page.locator("#nonconformances li.ongoing")
    expect(item).to_have_count(1, timeout=15_000)
    expect(item).to_contain_text("a00001")
    expect(item).to_contain_text("b00001")
    expect(item).not_to_contain_text("BOX")
    screenshot(page, "7-off-plan")
    assert not errors
    context.close()
    context, page, errors = _login(browser, live, "alpha")
    expect(page.locator("#nonconformances li.ongoing")).to_contain_text("off BOX")
    assert not errors
    context.close()


def test_a_party_signs_its_proposal_and_answer_in_the_map_with_its_own_key(browser, live_service, tmp_path):
    """Each party loads its private key file into the page (registered on first load); the proposal and
    the acceptance go out signed (the service refuses them unsigned once a key is registered), and the
    record's party signatures verify."""
    import json

    from deconflict.store.audit import parse_records
    from deconflict.store.signatures import PartyKey, check_party_signatures

    live = live_service
    _traffic(live)
    keys = {}
    for party in ("alpha", "bravo"):
        keys[party] = PartyKey.generate()
        keys[party].save(tmp_path / f"{party}.pem")
    alpha_context, alpha, alpha_errors = _login(browser, live, "alpha")
    alpha.set_input_files("#key-file", str(tmp_path / "alpha.pem"))
    expect(alpha.locator("#key-status")).to_have_text(f"signing as {keys['alpha'].id} (registered now)")
    expect(alpha.locator("#conflicts li")).to_have_count(1, timeout=15_000)
    alpha.locator("#conflicts li").first.click()
    expect(alpha.locator("#suggestions li").first).to_contain_text("suggested")  # the form is prefilled from it
    alpha.select_option("#proposal-action", "climb")
    alpha.fill("#proposal-value", "FL320")
    alpha.fill("#proposal-text", "ALPHA1 climbs to FL320 — signed")
    alpha.click("#propose-button")
    expect(alpha.locator("#messages li").last).to_contain_text("pending")

    bravo_context, bravo, bravo_errors = _login(browser, live, "bravo")
    bravo.set_input_files("#key-file", str(tmp_path / "bravo.pem"))
    expect(bravo.locator("#key-status")).to_contain_text(keys["bravo"].id)
    expect(bravo.locator("#conflicts li")).to_have_count(1, timeout=15_000)
    bravo.locator("#conflicts li").first.click()
    bravo.locator("#messages button.accept").click()
    expect(bravo.locator("#messages")).to_contain_text("accepted")
    chain = httpx.get(f"{live.url}/v1/audit/chain", headers={"Authorization": f"Bearer {live.tokens['cell']}"}).text
    records, _ = parse_records(chain)
    bodies = [json.loads(r["body"]) for r in records]
    signed = [b["kind"] for b in bodies if "signed" in b["payload"]]
    assert signed == ["hotline.proposal", "hotline.accept"]
    assert check_party_signatures(bodies).verified == 2
    assert not (alpha_errors or bravo_errors)
    alpha_context.close()
    bravo_context.close()


def test_the_hotline_form_is_prefilled_acknowledgement_counts_and_closed_threads_are_read_only(browser, live_service):
    """The proposal form starts from the service's checked suggestion; the title counts threads waiting
    for the party's acknowledgement; once the conflict clears, the thread takes no more proposals or
    acknowledgements. The audit list shows track batches as a count, and a nautical-mile scale is drawn."""
    live = live_service
    _traffic(live)
    context, page, errors = _login(browser, live, "alpha")
    expect(page.locator("#conflicts li")).to_have_count(1, timeout=15_000)
    expect(page).to_have_title("(1) deconflict — live map", timeout=10_000)
    page.locator("#conflicts li").first.click()
    first = page.locator("#suggestions li").first
    expect(first).to_contain_text("suggested: a00001: heading")
    suggested = first.inner_text().split("heading")[1].split()[0]
    expect(page.locator("#proposal-action")).to_have_value("heading")
    expect(page.locator("#proposal-value")).to_have_value(suggested)
    page.select_option("#proposal-action", "climb")  # the person edits the form ...
    page.fill("#proposal-value", "FL330")
    page.evaluate("window.deconflictMap.state.prefilledSuggestion = null")  # ... then a suggestion comes late
    page.wait_for_timeout(3500)  # the thread (and its suggestions) reload every 3 s
    expect(page.locator("#proposal-action")).to_have_value("climb")  # the person's edit stays
    expect(page.locator("#proposal-value")).to_have_value("FL330")
    page.click("#acknowledge")
    expect(page.locator("#acknowledge")).to_be_hidden()
    expect(page).to_have_title("deconflict — live map", timeout=10_000)
    expect(page.locator("#audit-batches")).to_contain_text("track batches")
    expect(page.locator("#audit")).not_to_contain_text("tracks.received")
    expect(page.locator(".nm-scale")).to_contain_text("NM")
    now = time.time()  # ALPHA1 turns away and climbs: the conflict clears and its thread closes
    _push(live, "alpha", [{"time": now, "velocity": 200.0, "vertrate": 0.0, "baroaltitude": 12000.0, "icao24": "a00001",
                           "callsign": "ALPHA1", "lat": 45.0, "lon": 3.5, "heading": 270.0}])
    expect(page.locator("#thread-status")).to_contain_text("closed", timeout=20_000)
    expect(page.locator("#propose")).to_be_hidden()
    screenshot(page, "8-closed-thread")
    assert not errors
    context.close()


def test_data_block_search_filters_trails_theme_and_warning_flash(browser, live_service):
    """The display tools a controller expects: hover or search shows the full data block (speed,
    vertical rate, party, the conflict's time to loss); filters hide; trails accumulate; the dark
    scope theme switches; a new warning flashes in the list."""
    live = live_service
    now = time.time()  # two aircraft 3 km apart at one level: a warning at once
    base = {"time": now, "velocity": 200.0, "vertrate": 0.0, "baroaltitude": 9144.0, "heading": 90.0}
    _push(live, "alpha", [{**base, "icao24": "a00001", "callsign": "ALPHA1", "lat": 45.0, "lon": 5.0}])
    _push(live, "bravo", [{**base, "icao24": "b00001", "callsign": "BRAVO1", "lat": 45.0, "lon": 5.038}])
    context, page, errors = _login(browser, live, "cell")
    expect(page.locator("#conflicts li")).to_have_count(1, timeout=15_000)
    expect(page.locator("#conflicts li.flash")).to_have_count(1, timeout=10_000)  # a warning: new, flashing
    page.fill("#search", "ALPHA1")
    page.press("#search", "Enter")
    block = page.locator("#datablock")
    expect(block).to_be_visible()
    expect(block).to_contain_text("a00001")
    expect(block).to_contain_text("alpha")
    expect(block).to_contain_text("GS 389 kt")  # 200 m/s
    expect(block).to_contain_text("conflict with BRAVO1")
    deadline = time.time() + 15
    while page.evaluate("window.deconflictMap.trailPoints()") < 4 and time.time() < deadline:
        time.sleep(0.2)  # 2 aircraft, a trail dot each a second
    assert page.evaluate("window.deconflictMap.trailPoints()") >= 4
    page.check("#filter-alerting")
    assert page.evaluate("window.deconflictMap.state.filters.alerting") is True
    page.click("#theme")
    expect(page.locator("body")).to_have_class("dark")
    screenshot(page, "9-dark-scope")
    page.click("#theme")
    expect(page.locator("body")).not_to_have_class("dark")
    page.locator("#legend span[data-party='bravo']").click()
    expect(page.locator("#legend span[data-party='bravo']")).to_have_class("off")
    assert not errors
    context.close()


def _alpha_pair(browser, live, callsigns: tuple[str, str], second: tuple[float, float], velocity: float):
    """Two alpha aircraft at FL300 heading east, the first at 45 N 5 E; alpha logged in once both show."""
    base = {"time": time.time(), "velocity": velocity, "vertrate": 0.0, "baroaltitude": 9144.0, "heading": 90.0}
    _push(live, "alpha", [{**base, "icao24": "a00001", "callsign": callsigns[0], "lat": 45.0, "lon": 5.0},
                          {**base, "icao24": "a00002", "callsign": callsigns[1], "lat": second[0], "lon": second[1]}])
    context, page, errors = _login(browser, live, "alpha")
    expect(page.locator("#aircraft-count")).to_have_text("2", timeout=15_000)
    return context, page, errors


def test_labels_of_aircraft_close_together_do_not_overlap(browser, live_service):
    """Two fighters in formation 300 m apart (the patrol pair whose labels overlapped at every zoom):
    both labels are drawn, apart; the page reports how many it placed."""
    live = live_service
    context, page, errors = _alpha_pair(browser, live, ("HAWK1", "HAWK2"), (45.0027, 5.0), velocity=200.0)
    deadline = time.time() + 10
    while page.evaluate("window.deconflictMap.labels()") < 2 and time.time() < deadline:
        time.sleep(0.2)
    assert page.evaluate("window.deconflictMap.labels()") == 2
    slots = page.evaluate("[...window.deconflictMap.state.labelSlots.values()]")
    assert len(set(slots)) == 2  # not the same place beside two aircraft one pixel apart
    screenshot(page, "10-formation-labels")
    assert not errors
    context.close()


def test_range_rings_and_the_bearing_range_line(browser, live_service):
    """Shift-click puts range rings round a point; alt-click two aircraft gives the bearing and range
    between them (due east, 1.6 NM for two aircraft 3 km apart on a parallel)."""
    live = live_service
    context, page, errors = _alpha_pair(browser, live, ("ALPHA1", "ALPHA2"), (45.0, 5.038), velocity=5.0)
    page.evaluate("window.deconflictMap.map.setView([45.0, 5.019], 11, {animate: false}) && null")
    time.sleep(0.5)

    def point(lat: float, lon: float) -> dict:
        xy = page.evaluate(f"(() => {{ const p = window.deconflictMap.map.latLngToContainerPoint([{lat}, {lon}]);"
                           f" return [p.x, p.y]; }})()")
        box = page.locator("#map").bounding_box()
        return {"x": box["x"] + xy[0], "y": box["y"] + xy[1]}

    page.keyboard.down("Shift")
    page.mouse.click(**point(45.1, 5.0))
    page.keyboard.up("Shift")
    expect(page.locator(".ring-label")).to_have_count(5)
    page.keyboard.down("Alt")
    page.mouse.click(**point(45.0, 5.0))
    page.mouse.click(**point(45.0, 5.038))
    page.keyboard.up("Alt")
    expect(page.locator("#measure")).to_contain_text("090° / 1.6 NM")
    screenshot(page, "11-range-rings")
    assert not errors
    context.close()


def test_the_traffic_table_sorts_and_an_airspace_file_is_drawn(browser, live_service, tmp_path):
    import json

    live = live_service
    now = time.time()
    base = {"time": now, "velocity": 100.0, "vertrate": 0.0, "heading": 90.0}
    _push(live, "alpha", [{**base, "icao24": f"a0000{k}", "callsign": f"ALPHA{k}", "lat": 40.0 + k, "lon": 5.0,
                           "baroaltitude": 3000.0 + 1000.0 * k} for k in range(3)])
    area = tmp_path / "restricted.geojson"
    area.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"name": "R-99 RANGE", "lower": "GND", "upper": "FL250"},
        "geometry": {"type": "Polygon", "coordinates": [[[4.0, 44.0], [6.0, 44.0], [6.0, 45.0], [4.0, 45.0], [4.0, 44.0]]]}}]}))
    context, page, errors = _login(browser, live, "alpha")
    expect(page.locator("#aircraft-count")).to_have_text("3", timeout=15_000)
    page.check("#table-toggle")
    rows = page.locator("#traffic-table tbody tr")
    expect(rows).to_have_count(3)
    page.click("#traffic-table th[data-key='fl']")
    page.click("#traffic-table th[data-key='fl']")  # twice: highest first
    expect(rows.first).to_contain_text("ALPHA2")
    page.set_input_files("#airspace-file", str(area))
    expect(page.locator("#airspace-status")).to_have_text("1 areas from restricted.geojson")
    bad = tmp_path / "bad.geojson"
    bad.write_text("{}")
    page.set_input_files("#airspace-file", str(bad))
    expect(page.locator("#error")).to_contain_text("bad.geojson: not GeoJSON")
    openair = tmp_path / "areas.txt"
    openair.write_text("""* restricted areas, OpenAir
AC R
AN R-99 RANGE
AL GND
AH FL250
DP 44:00:00 N 004:00:00 E
DP 44:00:00 N 006:00:00 E
DP 45:00:00 N 006:00:00 E
DP 45:00:00 N 004:00:00 E

AC D
AN D-12 CIRCLE
AL 2000ft AMSL
AH FL100
V X=43:30:00 N 005:00:00 E
DC 10

AC P
AN P-3 ARC
AL SFC
AH 5000ft
V X=42:00:00 N 005:00:00 E
DP 42:10:00 N 005:00:00 E
V D=+
DB 42:10:00 N 005:00:00 E, 42:00:00 N 005:13:28 E
""")
    page.set_input_files("#airspace-file", str(openair))
    expect(page.locator("#airspace-status")).to_have_text("3 areas from areas.txt")
    rings = page.evaluate("window.deconflictMap.airspaceRings()")
    assert [len(r) > 3 for r in rings] == [True, True, True]
    circle = rings[1]  # 10 NM around 43.5 N 5 E: every point 10 NM (18.52 km) away on the sphere
    import math
    for lon, lat in circle:
        p1, p2, dl = math.radians(43.5), math.radians(lat), math.radians(lon - 5.0)
        central = 2 * math.asin(math.sqrt(math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2))
        assert abs(central * 6371008.8 - 18520.0) < 1.0
    broken = tmp_path / "broken.txt"
    broken.write_text("AC R\nAN X\nDP 95:00:00 N 004:00:00 E\n")
    page.set_input_files("#airspace-file", str(broken))
    expect(page.locator("#error")).to_contain_text("broken.txt: line 3:")
    assert not errors
    context.close()


def test_a_map_opened_on_a_standby_points_to_the_leader(browser, tmp_path):
    """Two nodes on one database: the map served by the standby says it does not lead and links to the
    leader it names (issue 18: clients follow the leader)."""
    from deconflict.service.app import create_app
    from deconflict.service.background import BackgroundServer
    from deconflict.service.deconfliction import Deconfliction
    from deconflict.service.settings import ServiceSettings
    from tests.servers import free_port

    ports = (free_port(), free_port())
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    settings = dict(database=str(tmp_path / "two.db"), key_file=str(tmp_path / "two.key"))
    leader = Deconfliction(ServiceSettings(**settings, advertise=urls[0]))
    leader.add_party("alpha")
    token = leader.add_member("alice", "operator", "alpha")
    standby = Deconfliction(ServiceSettings(**settings, advertise=urls[1]))
    assert standby.role == "standby"
    try:
        with BackgroundServer(create_app(leader, run_detection=False), port=ports[0]), \
                BackgroundServer(create_app(standby, run_detection=False), port=ports[1]):
            context = browser.new_context(viewport={"width": 1400, "height": 850})
            page = context.new_page()
            page.goto(urls[1] + "/")
            page.fill("#token", token)
            page.click("#login button")
            banner = page.locator("#leader-banner")
            expect(banner).to_be_visible(timeout=10_000)
            expect(banner.locator("a")).to_have_attribute("href", urls[0] + "/")
            context.close()
    finally:
        standby.close()
        leader.close()


def test_airports_appear_from_zoom_7_with_their_codes(browser, live_service):
    """Airports from the offline airportsdata package, asked of the service for the map's view."""
    context, page, errors = _login(browser, live_service, "alpha")
    page.evaluate("window.deconflictMap.map.setView([49.0, 2.5], 9) && 0")
    deadline = time.time() + 15
    while "LFPG" not in page.evaluate("window.deconflictMap.airports()"):
        assert time.time() < deadline, "no airports around Paris"
        page.wait_for_timeout(200)
    expect(page.locator(".airport-label", has_text="LFPG")).to_be_visible()
    page.evaluate("window.deconflictMap.map.setView([49.0, 2.5], 5) && 0")
    deadline = time.time() + 15
    while page.evaluate("window.deconflictMap.airports()"):
        assert time.time() < deadline, "airports still drawn at zoom 5"
        page.wait_for_timeout(200)
    assert not errors
    context.close()


def test_a_crowded_view_keeps_trails_and_decluttered_labels(browser, live_service):
    """4,000 aircraft in view (a picture of the whole of Europe's traffic): trails used to stop above
    3,000 aircraft and labels above 400 in view. Now every aircraft keeps its trail, and labels are
    placed, one candidate per screen cell, without overlap; the frame stays cheap (drawn from a layer
    redrawn once per picture)."""
    import numpy as np

    live = live_service
    n, rng = 4000, np.random.default_rng(5)
    now = time.time()
    rows = [{"time": now, "icao24": f"a{k:05x}", "callsign": f"T{k:04d}", "lat": float(45 + rng.uniform(-6, 6)),
             "lon": float(5 + rng.uniform(-9, 9)), "velocity": 220.0, "heading": float(rng.uniform(0, 360)),
             "vertrate": 0.0, "baroaltitude": float(rng.choice(np.arange(6096.0, 12192.0, 304.8)))} for k in range(n)]
    _push(live, "alpha", rows)
    context, page, errors = _login(browser, live, "alpha")
    expect(page.locator("#aircraft-count")).to_have_text(str(n), timeout=30_000)
    page.evaluate("window.deconflictMap.map.setView([45, 5], 5, {animate: false}) && null")
    deadline = time.time() + 20
    while page.evaluate("window.deconflictMap.trailPoints()") < 2 * n and time.time() < deadline:
        time.sleep(0.3)  # a dot per aircraft per picture
    assert page.evaluate("window.deconflictMap.trailPoints()") >= 2 * n
    labels = page.evaluate("window.deconflictMap.labels()")
    assert 20 <= labels < n  # decluttered: some, never all
    boxes = page.evaluate("window.deconflictMap.labelBoxes()")
    assert len(boxes) == labels
    for k, (x0, y0, x1, y1) in enumerate(boxes):  # no two labels overlap
        for a0, b0, a1, b1 in boxes[k + 1:]:
            assert x1 < a0 or x0 > a1 or y1 < b0 or y0 > b1
    frames = page.evaluate("window.deconflictMap.state.frameTimes.slice(-60)")
    assert sorted(frames)[len(frames) // 2] < 12  # ms, median frame draw with trails and labels on
    screenshot(page, "12-crowded")
    assert not errors
    context.close()
