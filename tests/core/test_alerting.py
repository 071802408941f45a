"""Alert levels on hand-computed encounters, standards per pair of parties, and the alert filter."""

from __future__ import annotations

import numpy as np
import pytest

from deconflict import States
from deconflict.core.alerting import AlertFilter, alerts
from deconflict.core.encounter import Encounter, violation_interval
from deconflict.core.standards import STANDARDS, Standard, StandardError, StandardsByParties, standard
from deconflict.core.units import FOOT, KNOT, NAUTICAL_MILE
from tests.core.traffic import random_traffic

EARTH = 6378137.0


def head_on(distance_nm: float, speed_kt: float = 250.0, dz_ft: float = 0.0, parties=("", "")) -> States:
    """Two aircraft on the equator flying at each other, level."""
    return States.from_arrays(
        icao24=["a", "b"], time=0.0, lat=0.0, lon=[0.0, np.degrees(distance_nm * NAUTICAL_MILE / EARTH)],
        velocity=speed_kt * KNOT, heading=[90.0, 270.0], vertrate=0.0,
        altitude=[9000.0, 9000.0 + dz_ft * FOOT], party=list(parties), at=0.0)


# en-route, closing at 500 kt: loss of 5 NM after (d - 5) / 500 h
@pytest.mark.parametrize("distance_nm, level", [(50.0, 0), (45.0, 1), (22.0, 1), (21.0, 2), (20.0, 2), (13.0, 3), (4.0, 3)])
def test_en_route_levels_by_hand(distance_nm, level):
    found = alerts(head_on(distance_nm), "en-route")
    t_loss = max(distance_nm - 5.0, 0.0) / 500.0 * 3600.0
    if level == 0:
        assert len(found) == 0
        return
    assert found.level.tolist() == [level]
    assert found.level_name[0] == ("none", "preventive", "corrective", "warning")[level]
    assert found.t_in[0] == pytest.approx(t_loss, abs=0.01)
    # the closest approach within the look-ahead (SPEC §3): 300 s for en-route
    assert found.t_cpa[0] == pytest.approx(min(distance_nm / 500.0 * 3600.0, 300.0), abs=0.01)
    assert found.standard[0] == "en-route"


def test_terminal_standard_is_tighter():
    # 10 NM head-on at 500 kt: loss of 3 NM at 50.4 s (warning is 45 s: corrective) vs 5 NM at 36 s (warning)
    assert alerts(head_on(10.0), "terminal").level.tolist() == [2]
    assert alerts(head_on(10.0), "en-route").level.tolist() == [3]


def test_do365_levels_by_hand():
    # two drones at 100 kt each, head-on; 450 ft < 600 ft apart < 700 ft: only the preventive volume
    closing = 200 * KNOT
    dmod = 4000 * FOOT
    entry = (35 * closing + np.sqrt((35 * closing) ** 2 + 4 * dmod**2)) / 2  # modified tau = 35 s
    distance = entry + 40 * closing  # enters the tau region in 40 s: within 55 s, not 25 s
    s = head_on(distance / NAUTICAL_MILE, 100.0, dz_ft=600.0)
    found = alerts(s, "do-365")
    assert found.level.tolist() == [1] and found.t_in[0] == pytest.approx(40.0, abs=0.01)
    s = head_on(distance / NAUTICAL_MILE, 100.0, dz_ft=300.0)
    assert alerts(s, "do-365").level.tolist() == [2]
    s = head_on((entry + 20 * closing) / NAUTICAL_MILE, 100.0, dz_ft=300.0)
    assert alerts(s, "do-365").level.tolist() == [3]


def test_vtol_separates_level_pairs_at_adjacent_levels():
    s = head_on(8.0, dz_ft=950.0)  # reported 950 ft apart, really 1000 ft
    assert len(alerts(s, "en-route")) == 1
    assert len(alerts(s, "en-route", vtol=200 * FOOT)) == 0


def test_standards_agreed_between_parties():
    wide = Standard.minima(10 * NAUTICAL_MILE, 2000 * FOOT, "blue-orange")
    table = StandardsByParties.of(standard("en-route"), [("orange", "blue", wide)])
    s = head_on(30.0, parties=("blue", "orange"))  # closing at 500 kt: loss of 10 NM at 144 s (5 NM at 180 s)
    found = alerts(s, table)
    assert found.standard.tolist() == ["blue-orange"] and found.t_in[0] == pytest.approx(144.0, abs=0.01)
    s = head_on(30.0, parties=("blue", "green"))
    assert alerts(s, table).standard.tolist() == ["en-route"]
    s = head_on(30.0, dz_ft=1500, parties=("orange", "blue"))  # vertically separated under en-route only
    assert len(alerts(s, table)) == 1 and len(alerts(s, "en-route")) == 0


@pytest.mark.parametrize("name", sorted(STANDARDS))
def test_every_alert_is_a_real_violation_and_none_is_missed(name):
    """On random traffic, alerts agree with each level's volume evaluated on every pair."""
    s = random_traffic(3, 150, radius_km=40.0)
    agreed = standard(name)
    found = alerts(s, agreed)
    got = {tuple(sorted(p)): k for p, k in zip(zip(found.index_a.tolist(), found.index_b.tolist()), found.level.tolist())}
    i, j = np.triu_indices(len(s), k=1)
    encounter = Encounter.between(s.lat, s.lon, s.velocity, s.heading, s.vertrate, s.altitude, i, j)
    expected = np.zeros(i.size, dtype=int)
    for level in agreed.levels:
        t_in, t_out = violation_interval(encounter, level.volume, level.alerting_time)
        expected[t_in <= t_out] = level.number
    want = {(a, b): k for a, b, k in zip(i.tolist(), j.tolist(), expected.tolist()) if k}
    assert got == want
    assert len(want) >= 5


def test_unknown_standard_is_named():
    with pytest.raises(StandardError, match="unknown separation standard 'oceanic'.*en-route"):
        standard("oceanic")


def test_alert_filter_m_of_n_and_hysteresis():
    f = AlertFilter(m=2, n=3, hysteresis=5.0)
    shown = []
    raw = [1, 0, 1, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0]
    for t, level in enumerate(raw):
        changes = f.update(float(t), ["b"] if level else [], ["a"] if level else [], [level] if level else [])
        shown.append(f.levels().get(("a", "b"), 0))
        if t == 2:
            assert changes.a.tolist() == ["a"] and changes.b.tolist() == ["b"]
            assert changes.previous.tolist() == [0] and changes.current.tolist() == [1]
    # a single update is not enough; two of three raise; a drop waits 5 s below
    assert shown == [0, 0, 1, 1, 2, 2, 2, 2, 2, 2, 2, 0, 0]


def test_alert_filter_shows_warnings_at_first_sight_and_confirms_the_rest():
    f = AlertFilter(m=2, n=3, hysteresis=5.0, immediate=3)
    first = f.update(0.0, ["a", "c"], ["b", "d"], [3, 2])
    assert first.a.tolist() == ["a"] and first.current.tolist() == [3]  # the warning at once, corrective waits
    f.update(1.0, ["a", "c"], ["b", "d"], [1, 2])
    assert f.levels() == {("a", "b"): 3, ("c", "d"): 2}  # the warning is held by hysteresis; corrective confirmed
    f.update(7.0, ["a"], ["b"], [1])
    assert f.levels() == {("a", "b"): 1, ("c", "d"): 2}


def test_alert_filter_immediate_and_independent_pairs():
    f = AlertFilter(m=1, n=1, hysteresis=0.0)
    changes = f.update(0.0, ["x", "p"], ["y", "q"], [3, 1])
    assert sorted(zip(changes.a.tolist(), changes.current.tolist())) == [("p", 1), ("x", 3)]
    f.update(1.0, ["q"], ["p"], [2])  # same pair, other order; x-y cleared at once
    assert f.levels() == {("p", "q"): 2}
    with pytest.raises(ValueError, match="m <= n"):
        AlertFilter(m=3, n=2)


def meeting(speed_a_kt, track_a, speed_b_kt, track_b, t_meet, altitude_a=9000.0, altitude_b=9000.0,
            vertrate_a=0.0, along_b=None):
    """a and b both reach the point 50N 10E after ``t_meet`` s (b ``along_b`` m behind it if given)."""
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    lon_a, lat_a, back_a = geod.fwd(10.0, 50.0, track_a + 180.0, speed_a_kt * KNOT * t_meet)
    distance_b = speed_b_kt * KNOT * t_meet if along_b is None else along_b
    lon_b, lat_b, back_b = geod.fwd(10.0, 50.0, track_b + 180.0, distance_b)
    return States.from_arrays(icao24=["a", "b"], time=0.0, lat=[lat_a, lat_b], lon=[lon_a, lon_b],
                              velocity=[speed_a_kt * KNOT, speed_b_kt * KNOT], heading=[back_a % 360, back_b % 360],
                              vertrate=[vertrate_a, 0.0], altitude=[altitude_a, altitude_b], at=0.0)


@pytest.mark.parametrize("name, states, t_loss, level", [
    # crossing at 90 deg, 250 kt each, meeting in 200 s: closing at 250 sqrt(2) kt, 5 NM earlier
    ("crossing", lambda: meeting(250, 0, 250, 90, 200), 200 - 5 / (250 * np.sqrt(2)) * 3600, 1),
    # overtaking: 450 kt catching 300 kt, together in 200 s: closing at 150 kt, 5 NM earlier
    ("overtaking", lambda: meeting(450, 90, 300, 90, 200, along_b=300 * KNOT * 200), 200 - 5 / 150 * 3600, 2),
    # climbing at 2000 ft/min from 2000 ft below a level aircraft, crossing at 90 deg in 100 s: inside
    # 1000 ft from 30 s to 90 s, inside 5 NM from 100 - 5 / (280 sqrt(2)) h: the later start counts
    ("climbing", lambda: meeting(280, 0, 280, 90, 100, altitude_a=9000.0 - 2000 * FOOT, vertrate_a=2000 * FOOT / 60),
     100 - 5 / (280 * np.sqrt(2)) * 3600, 3),
])
def test_encounter_alert_times_by_hand(name, states, t_loss, level):
    found = alerts(states(), "en-route")
    assert found.level.tolist() == [level], name
    assert found.t_in[0] == pytest.approx(t_loss, abs=0.05), name


def test_filter_keys_do_not_alias_whatever_the_ids_hold():
    f = AlertFilter(m=1, n=1, hysteresis=0.0)
    # with a separator joining the ids, ("a\x1fb", "c") and ("a", "b\x1fc") were one pair
    changes = f.update(0.0, np.array(["a\x1fb", "a", "1:x"]), np.array(["c", "b\x1fc", "y"]), np.array([3, 2, 1]))
    assert sorted(zip(changes.a.tolist(), changes.b.tolist(), changes.current.tolist())) == [
        ("1:x", "y", 1), ("a", "b\x1fc", 2), ("a\x1fb", "c", 3)]
    assert f.levels() == {("a\x1fb", "c"): 3, ("a", "b\x1fc"): 2, ("1:x", "y"): 1}


def test_restore_offers_again_a_raise_that_was_not_displayed():
    f = AlertFilter(m=2, n=3, hysteresis=5.0)
    f.update(0.0, np.array(["a"]), np.array(["b"]), np.array([2]))
    raised = f.update(1.0, np.array(["a"]), np.array(["b"]), np.array([2]))
    assert raised.current.tolist() == [2]
    f.restore({})  # the caller failed to store it: nothing is displayed
    again = f.update(2.0, np.array(["a"]), np.array(["b"]), np.array([2]))
    assert (again.a.tolist(), again.previous.tolist(), again.current.tolist()) == (["a"], [0], [2])
    f.restore({("a", "b"): 2, ("c", "d"): 3})  # displayed, though this filter never saw c/d
    assert f.levels() == {("a", "b"): 2, ("c", "d"): 3}
    held = f.update(3.0, np.array(["a"]), np.array(["b"]), np.array([2]))
    assert held.a.size == 0  # c/d is lowered only after the hysteresis
    cleared = f.update(9.0, np.array(["a"]), np.array(["b"]), np.array([2]))
    assert (cleared.a.tolist(), cleared.current.tolist()) == (["c"], [0])


def test_closest_approach_of_a_co_moving_pair_is_within_the_look_ahead():
    """A formation ~1 NM apart, one a hair faster: the closest approach was 25 h away (d_cpa 0.07 m)."""
    from deconflict.core.detection import detect

    s = States.from_arrays(["f1", "f2"], 0.0, [50.0, 50.0], [10.0, 10.0 + 1852.0 / 71_700.0], [200.0, 200.02],
                           [270.0, 270.0], 0.0, 9000.0, at=0.0)
    for table, horizon in ((alerts(s, "en-route"), 300.0), (detect(s, lookahead=300.0), 300.0)):
        assert len(table) == 1
        assert 0.0 <= table.t_cpa[0] <= horizon
        assert table.d_cpa[0] == pytest.approx(1852.0, rel=0.02)  # the distance then, not 25 h later


@pytest.mark.parametrize("name", ["en-route", "terminal", "do-365"])
def test_small_snapshots_decide_as_the_general_path(name, monkeypatch):
    """Up to 32 aircraft alerts() takes one compiled call over every pair: the same table as the broad
    phase and numpy intervals give."""
    import deconflict.core.alerting as alerting

    compared = 0
    for seed in range(12):
        s = random_traffic(seed, 30, radius_km=30.0 if name != "do-365" else 2.0)
        for vtol in (0.0, 60.96):
            fast = alerts(s, name, vtol=vtol)
            monkeypatch.setattr(alerting, "SMALL", 0)
            general = alerts(s, name, vtol=vtol)
            monkeypatch.setattr(alerting, "SMALL", 32)
            compared += len(general)
            for column in ("a", "b", "level", "standard"):
                assert getattr(fast, column).tolist() == getattr(general, column).tolist(), column
            for column in ("t_in", "t_out", "t_cpa", "d_cpa", "dz_cpa"):
                assert np.allclose(getattr(fast, column), getattr(general, column), rtol=1e-9, atol=1e-6), column
    assert compared >= 10  # the comparison saw alerts, not two empty tables


@pytest.mark.parametrize("name, vtol", [("en-route", 0.0), ("terminal", 60.96)])
def test_losses_now_are_every_pair_inside_the_minima_by_brute_force(name, vtol):
    """`losses` (occurrences) against every pair's geodesic distance and height difference now."""
    from pyproj import Geod

    from deconflict.core.alerting import LEVEL_VERTRATE, losses

    geod = Geod(ellps="WGS84")
    chosen = standard(name)
    hsep, vsep = chosen.loss.hsep, chosen.loss.vsep
    seen = 0
    for seed in range(8):
        s = random_traffic(seed, 60, radius_km=40.0).snapshot(0.0)
        found = alerts(s, chosen, vtol=vtol)
        inside, horizontal, vertical = losses(found, chosen, vtol)
        listed = {tuple(sorted((a, b))) for a, b in zip(found.a[inside].tolist(), found.b[inside].tolist())}
        n = len(s)
        i, j = np.triu_indices(n, 1)
        _, _, distance = geod.inv(s.lon[i], s.lat[i], s.lon[j], s.lat[j])
        dz = np.abs(s.altitude[j] - s.altitude[i])
        level = (np.abs(s.vertrate[i]) < LEVEL_VERTRATE) & (np.abs(s.vertrate[j]) < LEVEL_VERTRATE)
        separated_by_vtol = level & (dz >= vsep - vtol) if vtol > 0 else np.zeros(i.size, bool)
        for k in range(i.size):
            pair = tuple(sorted((s.icao24[i[k]], s.icao24[j[k]])))
            clearly_in = distance[k] < hsep * 0.999 and dz[k] < vsep - 0.01 and not separated_by_vtol[k]
            clearly_out = distance[k] > hsep * 1.001 or dz[k] > vsep + 0.01 or separated_by_vtol[k]
            if clearly_in:
                assert pair in listed, (seed, pair, distance[k], dz[k])
                seen += 1
            if clearly_out:
                assert pair not in listed, (seed, pair, distance[k], dz[k])
        assert np.all(horizontal[inside] <= hsep * 1.001) and np.all(vertical[inside] <= vsep + 0.01)
    assert seen >= 10


def test_a_standard_whose_warning_does_not_cover_its_loss_volume_is_refused():
    from deconflict.core.encounter import ProtectedVolume
    from deconflict.core.standards import AlertLevel

    small = ProtectedVolume(hsep=1000.0, vsep=100.0)
    with pytest.raises(StandardError, match="contain the loss volume"):
        Standard("odd", (AlertLevel(3, small, 30.0, 30.0),), loss=ProtectedVolume(hsep=2000.0, vsep=100.0))
