"""The plan index's compiled search: its circle/polygon decisions never contradict the exact overlap
test (at the poles, across the antimeridian, at the equator, margins 0-100 km), the batch check
answers what one check per plan answers, and the key table survives removals and rebuilds."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from pyproj import Geod

from deconflict.core._footprint_proofs import circle_polygon, polygon_polygon, ecef, surface_ring
from deconflict.core.plans import Plan, PlanIndex, Recurrence
from deconflict.core.volumes import Circle, Polygon, Volume4D, footprint_overlap, overlap

GEOD = Geod(ellps="WGS84")
T0 = 1_800_000_000.0
PLACES = [(90.0, 0.0), (-89.99, 45.0), (88.0, 180.0), (80.0, 10.0), (0.0, 180.0), (0.0, -179.99), (45.0, 179.9),
          (-60.0, -180.0), (0.0, 0.0), (50.0, 10.0)]


def _polygon(rng, lat0, lon0, size):
    corners = np.array([45.0, 135.0, 225.0, 315.0]) + rng.uniform(-25, 25, 4)
    lon, lat, _ = GEOD.fwd(np.full(4, lon0), np.full(4, lat0), corners, size * rng.uniform(0.6, 1.4, 4))
    return Polygon(tuple(zip(lat.tolist(), lon.tolist())))


def _distance_to_boundary(polygon, lat, lon, spacing=2.0):
    """Least geodesic distance (m) from (lat, lon) to points every ``spacing`` m along the edges (pyproj)."""
    vertices = list(polygon.vertices) + [polygon.vertices[0]]
    best = np.inf
    for (la1, lo1), (la2, lo2) in zip(vertices[:-1], vertices[1:]):
        _, _, length = GEOD.inv(lo1, la1, lo2, la2)
        points = np.array(GEOD.npts(lo1, la1, lo2, la2, max(int(length / spacing), 1), initial_idx=0, terminus_idx=0))
        _, _, d = GEOD.inv(np.full(len(points), lon), np.full(len(points), lat), points[:, 0], points[:, 1])
        best = min(best, float(np.min(d)))
    return best


@pytest.mark.parametrize("place", PLACES, ids=[f"{la},{lo}" for la, lo in PLACES])
def test_circle_polygon_decisions_never_contradict_the_exact_test(place):
    rng = np.random.default_rng(abs(hash(place)) % 2**32)
    decided = far = 0
    for trial in range(100):
        size = float(rng.choice([300.0, 3_000.0, 40_000.0]))
        try:
            polygon = _polygon(rng, *place, size)
        except Exception:  # a draw that is not simple
            continue
        lon, lat, _ = GEOD.fwd(place[1], place[0], rng.uniform(0, 360), rng.uniform(0, 2.0) * size)
        to_edge = _distance_to_boundary(polygon, lat, lon, spacing=size / 500.0)
        # radii on both sides of the boundary: most within a few metres of it, some far
        radius = max(to_edge + rng.uniform(-3.0, 3.0) if trial % 2 else to_edge * rng.uniform(0.3, 1.7), 1.0)
        margin = float(rng.choice([0.0, 0.0, 50.0, 5_000.0, 100_000.0]))
        circle = Circle(lat, lon, radius)
        state = circle_polygon(*ecef(lat, lon), radius, surface_ring(polygon), margin)
        exact = footprint_overlap(circle, polygon, margin)
        if state == 1:
            assert exact is not None and exact[1] == 0.0, (place, size, radius, to_edge, margin)
        elif state == -1:
            assert exact is None, (place, size, radius, to_edge, margin)
        decided += state != 0
        far += abs(radius - to_edge) > 1.0 and margin == 0.0
    assert decided >= 0.5 * far, (decided, far)  # the compiled path decides most clear cases


@pytest.mark.parametrize("place", PLACES, ids=[f"{la},{lo}" for la, lo in PLACES])
def test_polygon_polygon_decisions_never_contradict_the_exact_test(place):
    rng = np.random.default_rng(abs(hash(place)) % 2**31 + 5)
    decided = overlapping = apart = 0
    for trial in range(100):
        size = float(rng.choice([300.0, 3_000.0, 40_000.0]))
        try:
            a = _polygon(rng, *place, size)
            lon, lat, _ = GEOD.fwd(place[1], place[0], rng.uniform(0, 360), rng.uniform(0.0, 3.0) * size)
            b = _polygon(rng, lat, lon, size * rng.uniform(0.3, 1.5))
        except Exception:  # a draw that is not simple
            continue
        margin = float(rng.choice([0.0, 0.0, 50.0, 5_000.0, 100_000.0]))
        for first, second in ((a, b), (b, a)):
            state = polygon_polygon(surface_ring(first), surface_ring(second), margin)
            exact = footprint_overlap(first, second, margin)
            if state == 1:
                assert exact is not None and exact[1] == 0.0, (place, size, margin)
            elif state == -1:
                assert exact is None, (place, size, margin)
            decided += state != 0
            overlapping += state == 1
            apart += state == -1
    assert overlapping >= 20 and apart >= 20, (overlapping, apart)  # both kinds of decision are taken


@pytest.mark.parametrize("place", PLACES[:6], ids=[f"{la},{lo}" for la, lo in PLACES[:6]])
def test_polygon_polygon_decisions_hold_when_the_gap_is_about_the_margin(place):
    """A polygon and copies of it slid away in small steps: gaps pass through 0 and through each margin."""
    rng = np.random.default_rng(abs(hash(place)) % 2**31 + 9)
    a = _polygon(rng, *place, 300.0)
    azimuth = rng.uniform(0, 360)
    for step in range(60):
        lon, lat, _ = GEOD.fwd(place[1], place[0], azimuth, 12.5 * step)
        b = _polygon(np.random.default_rng(int(rng.integers(2**31))), lat, lon, 300.0)
        for margin in (0.0, 50.0, 500.0):
            state = polygon_polygon(surface_ring(a), surface_ring(b), margin)
            exact = footprint_overlap(a, b, margin)
            assert state == 0 or (state == 1) == (exact is not None and exact[1] == 0.0), (step, margin)
            assert state != -1 or exact is None, (step, margin)


def test_a_circle_inside_a_polygon_is_proved_and_one_far_away_is_dropped():
    polygon = _polygon(np.random.default_rng(1), 50.0, 10.0, 5_000.0)
    ring = surface_ring(polygon)
    assert circle_polygon(*ecef(50.0, 10.0), 200.0, ring, 0.0) == 1
    assert circle_polygon(*ecef(50.5, 10.0), 200.0, ring, 0.0) == -1
    assert circle_polygon(*ecef(50.5, 10.0), 200.0, ring, 100_000.0) == 0  # within the margin: exact test


def _random_plans(rng, n, prefix, recurring=False):
    plans = []
    for k in range(n):
        lat, lon = 50.0 + rng.uniform(-0.2, 0.2), 10.0 + rng.uniform(-0.3, 0.3)
        start = T0 + rng.uniform(0, 6 * 3600)
        footprint = Circle(lat, lon, rng.uniform(100, 3000)) if rng.uniform() < 0.5 else _polygon(rng, lat, lon, 2000.0)
        volume = Volume4D(footprint, 0.0, 100.0, start, start + rng.uniform(600, 7200))
        recurrence = (Recurrence((rng.uniform(0, 86400.0),), date(2027, 1, 10), date(2027, 1, 20))
                      if recurring and k % 3 == 0 else None)
        if recurrence is not None:
            volume = Volume4D(footprint, 0.0, 100.0, 0.0, rng.uniform(600, 7200))
        plans.append(Plan(f"{prefix}{k}", f"party{k % 3}", (volume,), recurrence=recurrence))
    return plans


@pytest.mark.parametrize("margin", [0.0, 500.0])
def test_a_batch_check_answers_what_single_checks_answer(margin):
    rng = np.random.default_rng(7)
    index = PlanIndex(margin=margin, equal_priority="accept")
    for plan in _random_plans(rng, 400, "s", recurring=True):
        index.add(plan)
    new = _random_plans(rng, 150, "n", recurring=True)
    batch = index.check_many(new)

    def key(check):
        return [(c.other, c.volume, c.other_volume, c.departure, c.blocking) for c in check.conflicts]

    assert [key(c) for c in batch] == [key(index.check(plan)) for plan in new]
    assert sum(len(c.conflicts) for c in batch) >= 50
    assert index.check_many([]) == []


def test_removals_and_table_rebuilds_keep_every_conflict():
    rng = np.random.default_rng(11)
    index = PlanIndex(equal_priority="accept")
    plans = _random_plans(rng, 3000, "s")
    for plan in plans:
        index.add(plan)
    before = index._table.count
    kept = plans[::10]
    for plan in plans:
        if plan not in kept:
            index.remove(plan.id)
    assert index._table.count < before  # rebuilt without the removed volumes' entries
    for plan in _random_plans(rng, 60, "n"):
        found = {c.other for c in index.check(plan).conflicts}
        expected = {p.id for p in kept if overlap(plan.volumes[0], p.volumes[0]) is not None}
        assert found == expected


@pytest.mark.parametrize("stored", [0, 1, 200])
def test_a_restored_snapshot_takes_new_plans_and_finds_their_conflicts(stored):
    rng = np.random.default_rng(stored)
    plans = [p for p in _random_plans(rng, stored + 150, "s") if isinstance(p.volumes[0].footprint, Circle)]
    index = PlanIndex(equal_priority="accept")
    for plan in plans[:stored]:
        index.add(plan)
    restored = PlanIndex(equal_priority="accept")
    restored.restore_into(PlanIndex.encode(index.frozen()))  # copies without spare room
    for plan in plans[stored:] + _random_plans(rng, 20, "poly"):
        restored.add(plan)
    probe = _random_plans(rng, 40, "n")
    stored_plans = [restored.get(key) for key in restored._plans]
    for plan in probe:
        found = {c.other for c in restored.check(plan).conflicts}
        assert found == {p.id for p in stored_plans if overlap(plan.volumes[0], p.volumes[0]) is not None}
    assert len(restored) == len(plans) + 20
