"""The private plan check end to end in one process (issue 15): a conflict is found and located, only
the volumes in shared cells are revealed, count-only mode gives a number, and a peer that lies
(fishing for volumes, answering outside the cells asked, offering a forged cover) is caught."""

from __future__ import annotations

import pytest

from deconflict.core.cover import CoverGrid
from deconflict.core.plans import Plan
from deconflict.core.volumes import Circle, Volume4D, overlap
from deconflict.io.private_check import (CoverHolder, PrivateCheckError, PrivateChecker, cover_commitment,
                                         volume_to_wire)

T0 = 1_800_000_000.0
GRID = CoverGrid(margin=1000.0)


def _plan(plan_id: str, party: str, lat: float, lon: float, start: float = 0.0, radius: float = 10_000.0) -> Plan:
    return Plan(plan_id, party, (Volume4D(Circle(lat, lon, radius), 3000.0, 6000.0, T0 + start, T0 + start + 3600),))


@pytest.fixture(scope="module")
def bravo():
    plans = [_plan("B-NEAR", "bravo", 45.0, 5.25), _plan("B-FAR", "bravo", 50.0, 10.0),
             _plan("B-LATER", "bravo", 45.0, 5.0, start=86_400.0), _plan("B-POLE", "bravo", 89.95, 180.0)]
    return plans, CoverHolder(plans, GRID, T0 - 3600, T0 + 7 * 86_400)


def test_a_conflict_is_found_and_only_the_volumes_in_shared_cells_are_revealed(bravo):
    plans, holder = bravo
    checker = PrivateChecker(holder.offer())
    mine = _plan("A-1", "alpha", 45.0, 5.0)
    result = checker.check(mine, holder)
    assert result.conflicting and result.shared > 0
    [(volume, theirs, found)] = result.conflicts
    assert theirs["circle"]["lon"] == 5.25  # B-NEAR, and nothing of B-FAR, B-LATER or B-POLE
    assert result.revealed == 1
    assert found is not None and overlap(mine.volumes[0], plans[0].volumes[0], GRID.margin) is not None
    assert result.bytes_sent > 0 and result.bytes_received > 0


def test_no_shared_cell_means_nothing_revealed_and_count_only_gives_a_number(bravo):
    _, holder = bravo
    checker = PrivateChecker(holder.offer())
    away = _plan("A-2", "alpha", 30.0, -40.0)
    result = checker.check(away, holder)
    assert (result.shared, result.revealed, result.conflicts) == (0, 0, [])
    count = checker.check(_plan("A-1", "alpha", 45.0, 5.0), holder, count_only=True)
    assert count.shared > 0 and count.revealed == 0 and not count.conflicts


def test_a_conflict_at_the_pole_across_the_antimeridian_is_found(bravo):
    _, holder = bravo
    result = PrivateChecker(holder.offer()).check(_plan("A-3", "alpha", 89.96, -179.0), holder)
    assert result.conflicting


def test_a_plan_outside_the_peers_window_is_refused(bravo):
    _, holder = bravo
    with pytest.raises(PrivateCheckError, match="outside the window"):
        PrivateChecker(holder.offer()).check(_plan("A-4", "alpha", 45.0, 5.0, start=30 * 86_400.0), holder)


def test_a_party_fishing_for_volumes_in_cells_it_does_not_occupy_is_refused(bravo):
    _, holder = bravo
    near = sorted(t for t in holder._by_token)[:3]  # tokens of B's it has learned nothing about
    decoy = volume_to_wire(_plan("A-5", "alpha", -30.0, 100.0).volumes[0])
    with pytest.raises(PrivateCheckError, match="held by none of your volumes"):
        holder.reveal(near, [decoy])


def test_a_peer_answering_outside_the_cells_asked_is_caught(bravo):
    plans, holder = bravo

    class Liar:
        def answer(self, request, reveal):
            return holder.answer(request, reveal)

        def reveal(self, tokens, volumes):
            return [volume_to_wire(plans[1].volumes[0])]  # B-FAR: not in any cell asked

    with pytest.raises(PrivateCheckError, match="outside every cell asked"):
        PrivateChecker(holder.offer()).check(_plan("A-1", "alpha", 45.0, 5.0), Liar())


def test_a_forged_cover_is_proved_against_the_plans_later_shown(bravo):
    """B offers a cover without B-NEAR (to hide it): A's check misses it, but B's offered digest is not
    the one its plans give, which the cell proves when the plans are shown in a dispute."""
    plans, _ = bravo
    forged = CoverHolder(plans[1:], GRID, T0 - 3600, T0 + 7 * 86_400)
    assert not PrivateChecker(forged.offer()).check(_plan("A-1", "alpha", 45.0, 5.0), forged).conflicting
    honest = cover_commitment(plans, GRID, T0 - 3600, T0 + 7 * 86_400)
    assert forged.offer()["digest"] != honest
    assert CoverHolder(plans, GRID, T0 - 3600, T0 + 7 * 86_400).offer()["digest"] == honest


def test_two_parties_check_privately_over_http_with_the_cli(tmp_path):
    """`plans private-serve` on one side, `plans private-check` on the other, as two parties would run
    them: the conflict is found, its time and levels printed, exit 1; a plan far away: exit 0."""
    import os
    import subprocess
    import sys
    import time as clock

    import httpx

    from tests.servers import free_port

    now = clock.time()

    def plan_file(name: str, plan_id: str, lat: float, lon: float) -> str:
        from datetime import datetime, timezone

        iso = lambda t: datetime.fromtimestamp(t, tz=timezone.utc).isoformat()  # noqa: E731
        path = tmp_path / name
        path.write_text(f"plans:\n  - id: {plan_id}\n    volumes:\n      - circle: {{lat: {lat}, lon: {lon}, radius: 10km}}\n"
                        f"        altitude: [FL100, FL200]\n        time: ['{iso(now + 3600)}', '{iso(now + 7200)}']\n")
        return str(path)

    port = free_port()
    serving = subprocess.Popen([sys.executable, "-m", "deconflict.cli", "plans", "private-serve",
                                plan_file("bravo.yaml", "B-1", 45.0, 5.2), "--port", str(port)],
                               stderr=subprocess.PIPE, text=True, env={**os.environ})
    try:
        deadline = clock.time() + 60
        while clock.time() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/v1/private/offer").raise_for_status()
                break
            except httpx.HTTPError:
                clock.sleep(0.2)
        near = subprocess.run([sys.executable, "-m", "deconflict.cli", "plans", "private-check",
                               plan_file("alpha.yaml", "A-1", 45.0, 5.0), "--peer", f"http://127.0.0.1:{port}"],
                              capture_output=True, text=True, timeout=120)
        assert near.returncode == 1, near.stderr
        assert "A-1:" in near.stdout and "1 conflicts" in near.stdout and "10000-20000 ft" in near.stdout
        assert "bytes sent" in near.stderr and "Traceback" not in near.stderr
        far = subprocess.run([sys.executable, "-m", "deconflict.cli", "plans", "private-check",
                              plan_file("far.yaml", "A-2", 20.0, 5.0), "--peer", f"http://127.0.0.1:{port}",
                              "--count-only"], capture_output=True, text=True, timeout=120)
        assert far.returncode == 0 and "A-2: 0 shared cells: no conflict" in far.stdout
    finally:
        serving.terminate()
        serving.wait(timeout=10)
    down = subprocess.run([sys.executable, "-m", "deconflict.cli", "plans", "private-check",
                           str(tmp_path / "alpha.yaml"), "--peer", f"http://127.0.0.1:{port}"],
                          capture_output=True, text=True, timeout=60)
    assert down.returncode == 2 and down.stderr.count("\n") == 1 and "peer" in down.stderr
