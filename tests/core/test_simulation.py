"""The fast-time simulator: textbook encounters flown with and without MVP, losses timed by hand."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from deconflict.core.generated_traffic import CrossingTraffic
from deconflict.core.simulation import Flights, Resolver, SimulationSettings, simulate
from deconflict.core.units import FOOT, KNOT, NAUTICAL_MILE
from deconflict.io.scenario import load_scenario

NM = NAUTICAL_MILE


@pytest.fixture(scope="module")
def encounters():
    return load_scenario("encounters")


def run(scenario, **resolver):
    settings = scenario.settings
    return simulate(scenario.flights, replace(settings, resolver=replace(settings.resolver, **resolver)))


def test_losses_without_resolution_start_when_computed_by_hand(encounters):
    result = run(encounters, method="none")
    start = dict(zip(zip(result.losses.a.tolist(), result.losses.b.tolist()), result.losses.start.tolist()))
    # every pair meets 480 s after the start; loss of 5 NM begins 5 NM / closing speed earlier
    expected = {
        ("BLU101", "ORG201"): 480 - 5 / 500 * 3600,  # head-on, 2 x 250 kt
        ("BLU102", "ORG202"): 480 - 5 / (250 * np.sqrt(2)) * 3600,  # crossing at 90 degrees
        ("BLU103", "ORG203"): 480 - 5 / 150 * 3600,  # overtaking, 450 kt behind 300 kt
        ("BLU104", "ORG204"): 480 - 5 / (280 * np.sqrt(2)) * 3600,  # crossing while climbing through FL300
    }
    assert set(start) == set(expected)
    for pair, when in expected.items():
        assert when <= start[pair] <= when + 1.0 + 1.0, pair  # first whole step inside, at 1 s steps
    assert np.all(result.losses.min_distance < 0.05 * NM)
    assert result.completed.all()
    assert abs(result.extra_distance) < 0.001 * result.route_length.sum()


def test_mvp_removes_every_loss_of_the_textbook_encounters(encounters):
    result = run(encounters, method="mvp")
    assert len(result.losses) == 0
    assert result.completed.all()
    assert 0 < result.extra_distance < 0.01 * result.route_length.sum()


def test_one_sided_resolution_leaves_the_other_party_on_its_plan(encounters):
    result = run(encounters, method="mvp", manoeuvring=frozenset({"blue"}))
    assert len(result.losses) == 0
    orange = np.char.startswith(encounters.flights.icao24, "ORG")
    extra = result.distance_flown - result.route_length
    assert np.all(np.abs(extra[orange]) < 100.0)
    assert extra[~orange].sum() > 1000.0


def test_climb_through_resolved_vertically(encounters):
    result = run(encounters, method="mvp", dimensions="vertical")
    assert len(result.losses) == 0


def test_entry_waits_until_clear():
    """Two flights due at the same point and time: the second enters once it keeps separation."""
    route = np.array([[50.0, 8.0, 9000.0], [50.0, 9.0, 9000.0]])
    flights = Flights.from_routes(["a", "b"], ["A", "B"], ["", ""], [0.0, 10.0], [200.0, 200.0], [route, route])
    result = simulate(flights, SimulationSettings(duration=600.0, resolver=Resolver(method="none")))
    assert len(result.losses) == 0
    assert result.completed.all()
    assert result.airborne[20] == 1  # b still waiting for 5 NM of room
    assert result.airborne[60] == 2  # a is 5 NM ahead after 46 s, plus the 60 s clearance is kept


def test_generated_traffic_starts_separated_at_the_requested_rate():
    traffic = CrossingTraffic(flights_per_hour=600, duration=3600.0, lat=50.0, lon=10.0, size=200e3, seed=3,
                              parties=("blue", "orange"))
    flights = traffic.flights()
    started = (flights.start > 0).sum()
    assert 500 <= started <= 700
    first = flights.route_start[:-1]
    present = np.flatnonzero(flights.start == 0)
    from deconflict import States, detect

    s = States.from_arrays(icao24=flights.icao24[present], time=0.0, lat=flights.waypoint_lat[first[present]],
                           lon=flights.waypoint_lon[first[present]], velocity=0.0, heading=0.0, vertrate=0.0,
                           altitude=flights.waypoint_altitude[first[present]], at=0.0)
    assert len(detect(s, lookahead=1.0)) == 0
    assert set(flights.party.tolist()) == {"blue", "orange"}
    altitude = flights.waypoint_altitude
    assert np.all((altitude >= 20000 * FOOT - 1e-6) & (altitude <= 40000 * FOOT + 1e-6))


def test_mvp_removes_most_losses_in_dense_traffic():
    """A quarter of an hour of the dense scenario: the 95 % target of the benchmark, on a shorter run."""
    scenario = load_scenario("dense")
    settings = replace(scenario.settings, duration=900.0)
    flights = CrossingTraffic(flights_per_hour=500, duration=900.0, lat=50.0, lon=10.0, size=200e3,
                              speed_range=(250 * KNOT, 480 * KNOT), seed=5).flights()
    without = simulate(flights, replace(settings, resolver=Resolver(method="none")))
    with_mvp = simulate(flights, settings)
    assert len(without.losses) >= 20
    assert len(with_mvp.losses) <= 0.05 * len(without.losses)
    assert with_mvp.extra_distance < 0.05 * with_mvp.route_length[with_mvp.completed].sum()


def test_widened_minima_keep_level_pairs_at_adjacent_levels_separated_but_not_a_pair_passing_the_boundary():
    """Minima widened by 1 % catch a resolver that leaves aircraft on the boundary; they must not call
    every crossing at adjacent flight levels a loss (RVSM levels are exactly 1000 ft apart: at 2,000
    flights an hour that was 3,452 of the 6,383 widened losses, whatever the resolver did). So a
    level pair at least the nominal vertical minimum apart stays separated (SPEC §3's level-pair
    rule), while a climbing aircraft passing within 1010 ft of another is a widened loss."""
    route = lambda lat1, lon1, lat2, lon2, alt1, alt2: np.array([[lat1, lon1, alt1], [lat2, lon2, alt2]])  # noqa: E731
    level = Flights.from_routes(["A", "B"], ["A", "B"], ["x", "y"], [0.0, 0.0], [230.0, 230.0],
                                [route(50.0, 9.0, 50.0, 11.0, 30000 * FOOT, 30000 * FOOT),
                                 route(49.4, 10.0, 50.6, 10.0, 31000 * FOOT, 31000 * FOOT)])
    result = simulate(level, SimulationSettings(duration=1200.0, resolver=Resolver(method="none")))
    assert len(result.losses) == 0 and result.widened_losses == 0
    assert result.completed.all()
    assert np.all(np.abs(result.delay) < 5.0)  # no wait, no manoeuvre: on time to a step or two
    # B climbs from 905 to 1105 ft above A's level across the crossing: never within 1000 ft while the
    # two are close, but within 1010 ft while climbing: separated at the minima, not at the widened ones
    climbing = Flights.from_routes(["A", "B"], ["A", "B"], ["x", "y"], [0.0, 0.0], [230.0, 230.0],
                                   [route(50.0, 9.0, 50.0, 11.0, 30000 * FOOT, 30000 * FOOT),
                                    route(49.4, 10.0, 50.6, 10.0, 30905 * FOOT, 31105 * FOOT)])
    result = simulate(climbing, SimulationSettings(duration=1200.0, resolver=Resolver(method="none")))
    assert len(result.losses) == 0 and result.widened_losses == 1


def test_report_gives_completions_delay_airborne_at_the_end_and_widened_losses(encounters):
    from deconflict.io.simulation_report import metrics

    figures = metrics(run(encounters, method="mvp"))
    assert figures["flights_completed"] == len(encounters.flights) and figures["airborne_at_end"] == 0
    assert 0.0 <= figures["mean_delay_s"] < 60.0  # the manoeuvres cost seconds, not minutes
    assert figures["losses_widened_minima"] >= figures["losses"] == 0
    short = metrics(simulate(encounters.flights, replace(encounters.settings, duration=300.0,
                                                         resolver=Resolver(method="none"))))
    assert short["airborne_at_end"] == len(encounters.flights) and short["flights_completed"] == 0


def test_mvp_does_not_resolve_level_pairs_a_standard_1000_ft_apart():
    """The defect behind MVP's collapse at 2,000 flights/h (41 % fewer flights completed): its 1.1 margin
    applied to the vertical minimum too, so every crossing at adjacent flight levels (separated by
    design) was a conflict pushed apart horizontally. Two flights crossing level 1000 ft apart are
    now left alone, and dense traffic keeps flowing."""
    route = lambda lat1, lon1, lat2, lon2, alt: np.array([[lat1, lon1, alt], [lat2, lon2, alt]])  # noqa: E731
    flights = Flights.from_routes(["A", "B"], ["A", "B"], ["x", "y"], [0.0, 0.0], [230.0, 230.0],
                                  [route(50.0, 9.0, 50.0, 11.0, 30000 * FOOT), route(49.4, 10.0, 50.6, 10.0, 31000 * FOOT)])
    alone = simulate(flights, SimulationSettings(duration=1200.0, resolver=Resolver(method="none"))).extra_distance
    result = simulate(flights, SimulationSettings(duration=1200.0, resolver=Resolver(method="mvp")))
    assert abs(result.extra_distance - alone) < 1.0  # nobody manoeuvred
    # even with a vertical margin (what the old default did: a detour for a separated pair), a level pair at
    # least the nominal minimum apart is left alone: the margin is for aircraft climbing or descending
    margin = simulate(flights, SimulationSettings(duration=1200.0, resolver=Resolver(method="mvp", vertical_margin=1.1)))
    assert abs(margin.extra_distance - alone) < 1.0

    dense = CrossingTraffic(flights_per_hour=2000, duration=1200.0, lat=50.0, lon=10.0, size=200e3,
                            altitude_range=(20000 * FOOT, 40000 * FOOT), speed_range=(250 * KNOT, 480 * KNOT),
                            climbing=0.2, seed=3).flights()
    settings = SimulationSettings(duration=1200.0, resolver=Resolver(method="mvp"))
    without = simulate(dense, replace(settings, resolver=Resolver(method="none")))
    with_mvp = simulate(dense, settings)
    assert len(with_mvp.losses) <= 0.05 * len(without.losses)
    assert with_mvp.completed.sum() >= 0.9 * without.completed.sum()


def test_a_flight_handed_over_on_the_widened_boundary_waits_until_clear_of_it():
    """Most widened losses left at 2,000 flights an hour (180 of 229) began within a minute of a flight
    appearing: the hand-over rule kept entries 5 NM clear, exactly the boundary the widened count
    watches, where no resolver could do anything. An entry 5.02 NM abeam another aircraft, turning away
    from it, now waits until it would appear clear of the widened minima."""
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    a_lon, a_lat, _ = geod.fwd(9.0, 50.0, 90.0, 230.0 * 10.0)  # where A is when B is due (10 s)
    b_lon, b_lat, _ = geod.fwd(a_lon, a_lat, 0.0, 5.02 * NAUTICAL_MILE)
    b_end_lon, b_end_lat, _ = geod.fwd(b_lon, b_lat, 0.0, 150e3)  # due north, away from A
    route = lambda lat1, lon1, lat2, lon2: np.array([[lat1, lon1, 30000 * FOOT], [lat2, lon2, 30000 * FOOT]])  # noqa: E731
    flights = Flights.from_routes(["A", "B"], ["A", "B"], ["x", "y"], [0.0, 10.0], [230.0, 230.0],
                                  [route(50.0, 9.0, 50.0, 11.5), route(b_lat, b_lon, b_end_lat, b_end_lon)])
    result = simulate(flights, SimulationSettings(duration=1500.0, resolver=Resolver(method="none")))
    assert len(result.losses) == 0 and result.widened_losses == 0
    assert 0.0 < result.delay[1] < 60.0  # B waited for A to draw clear


def test_a_slow_descent_through_an_adjacent_level_is_resolved():
    """The resolver left a pair alone when both were "level" (below 1 m/s) and 1000 ft or more apart,
    even when the slow one would pass through the other's level: 21 of the 38 losses left by MVP at
    2,000 flights an hour. B descends at 0.9 m/s (level by that rule), 1,755 ft above A when they are
    5 minutes apart and 900 ft above at the crossing: it must be resolved, and no separation lost."""
    rate = 0.9  # m/s
    b_route = 133.4e3  # m, 49.4 to 50.6 deg N
    at_crossing = 900 * FOOT + 30000 * FOOT
    crossing_time = 66.7e3 / 230.0
    top = at_crossing + rate * crossing_time
    bottom = top - rate * b_route / 230.0
    flights = Flights.from_routes(["A", "B"], ["A", "B"], ["x", "y"], [0.0, 0.0], [230.0, 230.0],
                                  [np.array([[50.0, 9.0, 30000 * FOOT], [50.0, 11.0, 30000 * FOOT]]),
                                   np.array([[49.4, 10.0 + 0.008, top], [50.6, 10.0 + 0.008, bottom]])])
    alone = simulate(flights, SimulationSettings(duration=1200.0, resolver=Resolver(method="none")))
    assert len(alone.losses) == 1 and alone.losses.min_distance[0] < 0.5 * 9260.0  # the encounter is real
    result = simulate(flights, SimulationSettings(duration=1200.0, resolver=Resolver(method="mvp")))
    assert len(result.losses) == 0
    assert result.extra_distance > 100.0  # someone manoeuvred


def test_back_to_route_costs_less_than_waiting_for_the_closest_approach(encounters):
    """``resume="route"`` (the default) sends an aircraft back to its route as soon as that route is
    clear; the MVP baseline (``cpa``) keeps it on its resolution heading until every pair it resolved is
    past its closest approach. B climbs to FL290 across A's route at FL300: on its climb rate it would
    cross A's level there, so both turn; once B has levelled off 1000 ft below, A's route is clear and
    both go back to it, where the baseline kept them turned away until the closest approach."""
    route = lambda *points: np.array(points)  # noqa: E731
    flights = Flights.from_routes(["A", "B"], ["A", "B"], ["x", "y"], [0.0, 0.0], [230.0, 230.0],
                                  [route([50.0, 9.0, 30000 * FOOT], [50.0, 11.0, 30000 * FOOT]),
                                   route([49.4, 10.0, 27000 * FOOT], [49.8, 10.0, 29000 * FOOT],
                                         [50.6, 10.0, 29000 * FOOT])])
    fly = lambda resume: simulate(flights, SimulationSettings(  # noqa: E731
        duration=1200.0, resolver=Resolver(method="mvp", resume=resume)))
    baseline, early = fly("cpa"), fly("route")
    assert len(early.losses) == early.widened_losses == 0 and early.completed.all()

    def a_off_route(result, t):  # m south of A's route (50 deg N) at t s (tracks sampled every 30 s)
        a = result.tracks[result.tracks[:, 0] == 0]
        return (50.0 - a[int(t // 30), 1]) * 111e3

    assert a_off_route(baseline, 120.0) > 500.0  # both turned away...
    assert abs(a_off_route(early, 120.0) - a_off_route(baseline, 120.0)) < 1.0  # ... alike
    # at 300 s the baseline is still turned away (closest approach not passed), A is on its way back
    assert a_off_route(baseline, 300.0) > a_off_route(baseline, 210.0)
    assert a_off_route(early, 300.0) < 0.5 * a_off_route(baseline, 300.0)
    assert early.distance_flown[0] < baseline.distance_flown[0]
    # and on the textbook encounters, where no route clears before the closest approach, nothing is lost
    textbook = run(encounters, method="mvp", resume="route")
    assert len(textbook.losses) == textbook.widened_losses == 0 and textbook.completed.all()


def test_an_aircraft_goes_back_to_its_route_only_when_that_route_is_clear():
    """Every release back to the route in dense traffic, checked by brute force (tests/core/reference.py,
    nothing shared with the simulator): flying direct to its next waypoint at its planned speed and
    climb, against everyone else's velocity (and the route of anyone released with it), it raises no
    conflict at the horizontal minimum times the margin times the hysteresis within the look-ahead."""
    from pyproj import Geod

    from deconflict.core import simulation
    from tests.core.reference import reference_pairs

    releases = []

    class Recording(simulation._Run):
        def _route_blocked(self, flights, row_of, snapshot):
            blocked = super()._route_blocked(flights, row_of, snapshot)
            releases.append((flights[~blocked].copy(), row_of.copy(), snapshot, self.next_waypoint.copy(),
                             self.altitude.copy()))
            return blocked

    dense = CrossingTraffic(flights_per_hour=1500, duration=900.0, lat=50.0, lon=10.0, size=200e3,
                            altitude_range=(20000 * FOOT, 40000 * FOOT), speed_range=(250 * KNOT, 480 * KNOT),
                            climbing=0.3, seed=4).flights()
    settings = SimulationSettings(duration=900.0, resolver=Resolver(method="mvp", resume="route"))
    Recording(dense, settings).run(None, 0.0)
    geod, f, cfg = Geod(ellps="WGS84"), dense, settings
    checked = 0
    for released, row_of, s, next_waypoint, altitude in releases:
        if not released.size:
            continue
        local, wp = row_of[released], next_waypoint[released]
        azimuth, _, to_go = geod.inv(s.lon[local], s.lat[local], f.waypoint_lon[wp], f.waypoint_lat[wp])
        track, speed, vertrate = s.heading.copy(), s.velocity.copy(), s.vertrate.copy()
        track[local], speed[local] = azimuth % 360.0, f.speed[released]
        vertrate[local] = np.clip((f.waypoint_altitude[wp] - altitude[released])
                                  / np.maximum(to_go / f.speed[released], 10.0), -15.0, 15.0)
        others = np.arange(s.lat.size)
        i = np.repeat(local, others.size)
        j = np.tile(others, local.size)
        keep = i != j
        hits = reference_pairs(s.lat, s.lon, speed, track, s.altitude, vertrate, cfg.lookahead * 0.99,
                               cfg.hsep * cfg.resolver.margin * simulation.RESUME_HYSTERESIS * 0.99,
                               cfg.vsep - 0.01, pairs=(i[keep], j[keep]))
        assert not hits, f"released onto a route in conflict: {hits}"
        checked += released.size
    assert checked >= 50  # the rule was exercised


def test_a_climb_into_a_conflict_is_held_at_its_level():
    """Resolution in level: B, level at FL290 under A's FL300, is planned to climb to FL310 from 5.6 km
    before its crossing with A. Climbing as planned, the climb meets A within a minute: MVP turns both
    (3.4 km extra each) and separation is still lost. Held at FL290 until the climb is clear, nobody
    turns, nothing is lost, and B still ends its route at its planned level."""
    flights = Flights.from_routes(["A", "B"], ["A", "B"], ["x", "y"], [0.0, 0.0], [230.0, 230.0],
                                  [np.array([[50.0, 9.0, 30000 * FOOT], [50.0, 11.0, 30000 * FOOT]]),
                                   np.array([[49.4, 10.0, 29000 * FOOT], [49.95, 10.0, 29000 * FOOT],
                                             [50.6, 10.0, 31000 * FOOT]])])
    fly = lambda hold: simulate(flights, SimulationSettings(  # noqa: E731
        duration=1200.0, resolver=Resolver(method="mvp", hold_level=hold)))
    as_planned, held = fly(False), fly(True)
    assert len(as_planned.losses) == 1 and as_planned.extra_distance > 1000.0
    assert len(held.losses) == held.widened_losses == 0 and held.completed.all()
    assert np.all(held.distance_flown - held.route_length < 1.0)  # nobody turned
    assert np.all(np.abs(held.final_level_error) < 200 * FOOT)


def test_a_climb_starts_only_when_clear_for_two_minutes():
    """Every climb or descent that begins from level flight in dense traffic, checked by brute force
    (tests/core/reference.py): at the autopilot's rate, against everyone's velocity, it raises no new
    conflict (one not already being resolved) at the horizontal minimum times the margin within
    `CLIMB_HOLD_HORIZON`; and climbs were held."""
    from pyproj import Geod

    from deconflict.core import simulation
    from tests.core.reference import reference_pairs

    starts, held = [], [0]

    class Recording(simulation._Run):
        def _hold_climbs(self, rows, snapshot, current):
            super()._hold_climbs(rows, snapshot, current)
            level = np.abs(snapshot.vertrate) < simulation.HELD_LEVEL_VERTRATE
            held[0] += int(self.climb_held[rows].sum())
            starts.append((rows.copy(), snapshot, current.copy(), level & ~self.climb_held[rows],
                           self.next_waypoint[rows].copy()))

    dense = CrossingTraffic(flights_per_hour=1500, duration=600.0, lat=50.0, lon=10.0, size=200e3,
                            altitude_range=(20000 * FOOT, 40000 * FOOT), speed_range=(250 * KNOT, 480 * KNOT),
                            climbing=0.5, seed=5).flights()
    settings = SimulationSettings(duration=600.0, resolver=Resolver(method="mvp"))
    Recording(dense, settings).run(None, 0.0)
    geod, f, cfg = Geod(ellps="WGS84"), dense, settings
    checked = 0
    for rows, s, current, free, wp in starts:
        _, _, to_go = geod.inv(s.lon, s.lat, f.waypoint_lon[wp], f.waypoint_lat[wp])
        wanted = np.clip((f.waypoint_altitude[wp] - s.altitude) / np.maximum(to_go / np.maximum(s.velocity, 1.0), 10.0),
                         -15.0, 15.0)
        climbing = np.flatnonzero(free & (np.abs(wanted) > simulation.CLIMB_START_VERTRATE))
        if not climbing.size:
            continue
        vertrate = s.vertrate.copy()
        vertrate[climbing] = wanted[climbing]
        i = np.repeat(climbing, s.lat.size)
        j = np.tile(np.arange(s.lat.size), climbing.size)
        keep = i != j
        hits = reference_pairs(s.lat, s.lon, s.velocity, s.heading, s.altitude, vertrate,
                               simulation.CLIMB_HOLD_HORIZON * 0.99, cfg.hsep * cfg.resolver.margin * 0.99,
                               cfg.vsep - 0.01, pairs=(i[keep], j[keep]))
        resolving = {(min(a, b), max(a, b)) for a, b in zip((current // len(f)).tolist(), (current % len(f)).tolist())}
        new = {(a, b) for a, b in hits if (min(rows[a], rows[b]), max(rows[a], rows[b])) not in resolving}
        assert not new, f"a climb began into a conflict: {new}"
        checked += climbing.size
    assert checked >= 20 and held[0] > 0  # climbs began, and some were held


@pytest.mark.parametrize("pole", [89.0, -89.0])
def test_a_head_on_over_a_pole_is_resolved(pole):
    """Two aircraft head-on across a pole, one climbing through the other's level. Commands were true
    tracks, kept five seconds for the pilot and held while flown: near the pole a true track a few
    seconds old points tens of degrees away, and MVP's head-on ended 9.19 km apart, a loss, where the
    same encounter at the equator is resolved. Commands are now carried along their great circle."""
    route = lambda *points: np.array(points)  # noqa: E731
    flights = Flights.from_routes(["A", "B"], ["A", "B"], ["x", "y"], [0.0, 0.0], [230.0, 230.0],
                                  [route([pole, 0.0, 30000 * FOOT], [pole, 180.0, 30000 * FOOT]),
                                   route([pole, 180.0, 29000 * FOOT], [pole, 0.0, 31000 * FOOT])])
    alone = simulate(flights, SimulationSettings(duration=1500.0, resolver=Resolver(method="none")))
    assert len(alone.losses) == 1 and alone.losses.min_distance[0] < 1000.0  # they meet over the pole
    for resume, hold in (("cpa", False), ("route", True)):
        result = simulate(flights, SimulationSettings(duration=1500.0, resolver=Resolver(resume=resume, hold_level=hold)))
        assert len(result.losses) == result.widened_losses == 0 and result.completed.all()
