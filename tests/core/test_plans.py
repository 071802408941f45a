"""Plans: priorities, versions, lazy recurrences, corridors, and the index against a brute-force check."""

from __future__ import annotations

from datetime import date, datetime, timezone

import numpy as np
import pytest
from pyproj import Geod

from deconflict.core.plans import Plan, PlanError, PlanIndex, PlanState, Recurrence, corridor
from deconflict.core.volumes import Circle, Polygon, Volume4D, VolumeError, overlap

GEOD = Geod(ellps="WGS84")
T0 = datetime(2015, 10, 20, 6, tzinfo=timezone.utc).timestamp()


def circle_plan(plan_id, lat, lon, radius=1000.0, start=T0, end=T0 + 3600, low=0.0, high=120.0, priority=0,
                party="p") -> Plan:
    return Plan(plan_id, party, (Volume4D(Circle(lat, lon, radius), low, high, start, end),), priority=priority)


def test_priorities_and_equal_priority_policies():
    index = PlanIndex()
    index.add(circle_plan("high", 50.0, 10.0, priority=5))
    index.add(circle_plan("low", 50.0, 10.02, priority=1))
    new = circle_plan("new", 50.0, 10.01, priority=3)
    result = index.check(new)
    verdicts = {c.other: (c.blocking, c.reason) for c in result.conflicts}
    assert verdicts == {"high": (True, "higher priority"), "low": (False, "lower priority")}
    assert not result.accepted
    equal = circle_plan("equal", 50.0, 10.02, priority=1)
    rejecting, accepting = PlanIndex(equal_priority="reject"), PlanIndex(equal_priority="accept")
    for index in (rejecting, accepting):
        index.add(circle_plan("first", 50.0, 10.0, priority=1))
    assert not rejecting.submit(equal).accepted and "equal" not in rejecting
    assert accepting.submit(equal).accepted and "equal" in accepting
    with pytest.raises(PlanError, match="equal-priority policy"):
        PlanIndex(equal_priority="coin-toss")


def test_version_changes_on_every_edit():
    plan = circle_plan("a", 50.0, 10.0)
    edited = plan.edited(state=PlanState.ACTIVATED)
    back = edited.edited(state=PlanState.ACCEPTED)
    assert len({plan.version, edited.version, back.version}) == 3
    assert back.revision == 2 and circle_plan("a", 50.0, 10.0).version == plan.version


def test_replacing_and_removing_plans():
    index = PlanIndex()
    index.add(circle_plan("a", 50.0, 10.0))
    probe = circle_plan("probe", 50.0, 10.01)
    assert [c.other for c in index.check(probe).conflicts] == ["a"]
    index.add(circle_plan("a", 51.0, 10.0))  # a new version, elsewhere
    assert index.check(probe).conflicts == () and len(index) == 1
    index.remove("a")
    assert len(index) == 0
    with pytest.raises(PlanError, match="no stored plan 'a'"):
        index.remove("a")
    # a plan is not in conflict with its own older version
    index.add(circle_plan("b", 50.0, 10.0))
    assert index.check(circle_plan("b", 50.0, 10.001)).conflicts == ()


def test_recurrence_expands_only_inside_the_window():
    recurrence = Recurrence((6 * 3600.0, 18 * 3600.0), date(2015, 9, 1), date(2015, 12, 31),
                            weekdays=frozenset({0, 1, 2, 3, 4}))
    day = datetime(2015, 10, 20, tzinfo=timezone.utc).timestamp()  # a Tuesday
    assert recurrence.departures(day, day + 86400).tolist() == [day + 6 * 3600, day + 18 * 3600]
    saturday = datetime(2015, 10, 24, tzinfo=timezone.utc).timestamp()
    assert recurrence.departures(saturday, saturday + 86400).size == 0
    assert recurrence.departures(day + 365 * 86400, day + 366 * 86400).size == 0  # after its last day
    plan = Plan("cargo", "c", (Volume4D(Circle(50.0, 10.0, 800.0), 0.0, 300.0, 0.0, 3600.0),), recurrence=recurrence)
    occurrences = list(plan.occurrences(day + 6.5 * 3600, day + 6.6 * 3600))
    assert [d for d, _ in occurrences] == [day + 6 * 3600]
    assert occurrences[0][1][0].time_start == day + 6 * 3600
    with pytest.raises(VolumeError, match="ends"):
        Recurrence((0.0,), date(2015, 9, 2), date(2015, 9, 1))


def test_recurring_plans_conflict_on_their_days_only():
    recurrence = Recurrence((6 * 3600.0,), date(2015, 10, 1), date(2015, 10, 31))
    index = PlanIndex()
    index.add(Plan("daily", "cargo", (Volume4D(Circle(50.0, 10.0, 800.0), 0.0, 300.0, 0.0, 1800.0),),
                   recurrence=recurrence, priority=9))
    on = circle_plan("on", 50.0, 10.0, start=T0 + 600, end=T0 + 900)  # 2015-10-20 06:10
    off = circle_plan("off", 50.0, 10.0, start=T0 + 86400 * 30, end=T0 + 86400 * 30 + 600)  # 2015-11-19
    result = index.check(on)
    assert [(c.other, c.departure) for c in result.conflicts] == [("daily", T0)] and not result.accepted
    assert index.check(off).accepted
    # a new recurring plan is checked over its whole life against single plans
    index2 = PlanIndex()
    index2.add(on)
    weekly = Plan("weekly", "x", (Volume4D(Circle(50.0, 10.0, 500.0), 0.0, 300.0, 0.0, 3600.0),),
                  recurrence=Recurrence((6 * 3600.0,), date(2015, 9, 1), date(2015, 12, 31), frozenset({1})))
    assert [c.other for c in index2.check(weekly).conflicts] == ["on"]  # 2015-10-20 is a Tuesday


def random_volumes(rng, n, region):
    lat0, lon0 = region
    volumes = []
    for _ in range(n):
        lat = float(np.clip(lat0 + rng.uniform(-0.05, 0.05), -89.999, 89.999))
        lon = float((lon0 + rng.uniform(-0.08, 0.08) + 180.0) % 360.0 - 180.0)
        start = T0 + rng.uniform(0, 6 * 3600)
        times = (start, start + rng.uniform(300, 3 * 3600))
        low = rng.uniform(0, 100)
        band = (low, low + rng.uniform(10, 100))
        if rng.uniform() < 0.6:
            footprint = Circle(lat, lon, rng.uniform(50, 2500))
        else:
            d = rng.uniform(300, 3000)
            corners = [GEOD.fwd(lon, lat, az + rng.uniform(-20, 20), d * rng.uniform(0.5, 1.5))[:2]
                       for az in (0, 90, 180, 270)]
            footprint = Polygon(tuple((la, lo) for lo, la in corners))
        volumes.append(Volume4D(footprint, *band, *times))
    return volumes


@pytest.mark.parametrize("region", [(50.0, 10.0), (-16.95, 179.97), (89.97, 0.0), (0.0, 0.0)],
                         ids=["europe", "antimeridian", "north-pole", "equator"])
@pytest.mark.parametrize("margin", [0.0, 200.0])
def test_index_finds_exactly_what_brute_force_finds(region, margin):
    rng = np.random.default_rng(abs(hash(region)) % 2**32)
    stored = [Plan(f"s{k}", "x", (v,)) for k, v in enumerate(random_volumes(rng, 150, region))]
    index = PlanIndex(margin=margin)
    for plan in stored:
        index.add(plan)
    total = 0
    for k, volume in enumerate(random_volumes(rng, 60, region)):
        new = Plan(f"n{k}", "y", (volume,))
        found = {c.other for c in index.check(new).conflicts}
        expected = {p.id for p in stored if overlap(volume, p.volumes[0], margin) is not None}
        assert found == expected
        total += len(expected)
    assert total >= 20


def test_corridor_covers_the_route_with_buffers():
    lat, lon = np.array([50.0, 50.3, 50.3]), np.array([8.0, 8.5, 9.2])
    altitude = np.array([3000.0, 3000.0, 4000.0])
    times = np.array([T0, T0 + 600.0, T0 + 1200.0])
    volumes = corridor(lat, lon, altitude, times, lateral=1852.0, vertical=150.0, time_buffer=120.0)
    assert len(volumes) == 2
    assert (volumes[1].altitude_lower, volumes[1].altitude_upper) == (2850.0, 4150.0)
    assert (volumes[0].time_start, volumes[0].time_end) == (T0 - 120.0, T0 + 720.0)
    # a point 1.8 km abeam the middle of the first leg is inside; 1.9 km is not
    mid_lon, mid_lat = GEOD.npts(8.0, 50.0, 8.5, 50.3, 1)[0]
    azimuth, _, _ = GEOD.inv(8.0, 50.0, 8.5, 50.3)
    for offset, inside in ((1800.0, True), (1900.0, False)):
        lon2, lat2, _ = GEOD.fwd(mid_lon, mid_lat, azimuth + 90.0, offset)
        probe = Volume4D(Circle(lat2, lon2, 1.0), 3000.0, 3001.0, T0, T0 + 60)
        assert (overlap(volumes[0], probe) is not None) == inside, offset
    with pytest.raises(VolumeError, match="increase"):
        corridor(lat, lon, altitude, times[::-1], 1000.0, 0.0, 0.0)


def test_active_volumes_at_a_time_include_recurring_occurrences():
    from datetime import date

    from deconflict.core.plans import Plan, PlanIndex, Recurrence
    from deconflict.core.volumes import Circle, Volume4D

    day = 1_795_046_400.0  # 2026-11-19T00:00:00Z
    index = PlanIndex()
    index.add(Plan("once", "a", (Volume4D(Circle(45, 5, 1000), 0, 100, day + 3600, day + 7200),
                                 Volume4D(Circle(45, 6, 1000), 0, 100, day + 7200, day + 9000))))
    index.add(Plan("daily", "b", (Volume4D(Circle(46, 5, 1000), 0, 100, 0, 1800),),
                   recurrence=Recurrence((6 * 3600.0,), date(2026, 11, 18), date(2026, 11, 20))))
    names = lambda at: sorted((p.id, k) for p, k, _ in index.active(at))  # noqa: E731
    assert names(day + 5000) == [("once", 0)]
    assert names(day + 7200) == [("once", 0), ("once", 1)]
    assert names(day + 6 * 3600 + 900) == [("daily", 0)]
    assert [v.time_start for p, _, v in index.active(day + 86400 + 6 * 3600 + 60)] == [day + 86400 + 6 * 3600]
    assert names(day + 12 * 3600) == []
    index.remove("once")
    assert names(day + 5000) == []
