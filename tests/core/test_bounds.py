"""Footprint boxes are conservative everywhere on the ellipsoid: at the poles, across the antimeridian
and at the equator, with margins from 0 to 100 km, checked against points placed by pyproj geodesics
(an independent reference); and the plan index finds every pair the exact overlap test finds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from pyproj import Geod

from deconflict.core.bounds import contains, grow
from deconflict.core.plans import Plan, PlanIndex
from deconflict.core.volumes import Circle, Polygon, Volume4D, overlap

GEOD = Geod(ellps="WGS84")
T0 = 1_800_000_000.0

# where footprints are put: on and near both poles, across the antimeridian, on the equator
PLACES = st.sampled_from([(90.0, 0.0), (-90.0, 0.0), (89.99, 45.0), (-89.95, -170.0), (88.0, 180.0), (80.0, 10.0),
                          (0.0, 180.0), (0.0, -179.99), (45.0, 179.9), (-60.0, -180.0), (0.0, 0.0), (10.0, 20.0)])


def _moved(lat, lon, azimuth, distance):
    lon2, lat2, _ = GEOD.fwd(np.broadcast_to(lon, np.shape(azimuth)), np.broadcast_to(lat, np.shape(azimuth)),
                             azimuth, distance)
    return np.asarray(lat2), np.asarray(lon2)


def _within(lat, lon, margin, rng, n=400):
    """Points within ``margin`` of the given points (random azimuth and distance, and the extremes)."""
    k = rng.integers(0, lat.size, n)
    azimuth = np.concatenate((rng.uniform(0, 360, n), [0.0, 90.0, 180.0, 270.0] * (n // 4)))
    distance = np.concatenate((rng.uniform(0, 1, n) * margin, np.full(4 * (n // 4), margin)))
    k = np.concatenate((k, rng.integers(0, lat.size, 4 * (n // 4))))
    return _moved(lat[k], lon[k], azimuth, distance)


@settings(max_examples=150, deadline=None)
@given(PLACES, st.floats(1.0, 1_000_000.0), st.floats(0.0, 100_000.0), st.integers(0, 2**31))
def test_circle_box_holds_every_point_of_the_circle_and_its_margin(place, radius, margin, seed):
    rng = np.random.default_rng(seed)
    circle = Circle(*place, radius)
    azimuth = np.concatenate((rng.uniform(0, 360, 2000), np.arange(0, 360, 0.25)))
    distance = np.concatenate((np.sqrt(rng.uniform(0, 1, 2000)) * radius, np.full(1440, radius)))
    lat, lon = _moved(circle.lat, circle.lon, azimuth, distance)
    box = circle.bounds
    assert contains(box, lat, lon).all(), (box, lat[~contains(box, lat, lon)][:3], lon[~contains(box, lat, lon)][:3])
    edge = distance == radius
    mlat, mlon = _within(lat[edge], lon[edge], margin, rng)
    assert contains(grow(box, margin), mlat, mlon).all()


def _polygon_near(place, size, shape, rng):
    """A polygon of about ``size`` m around ``place``: a quad, a triangle, or one round the pole."""
    lat0, lon0 = place
    if shape == "cap":  # a ring of vertices round the nearest pole
        pole = 90.0 if lat0 >= 0 else -90.0
        ring_lat = pole - np.sign(pole) * np.degrees(size / 6.36e6)
        lons = np.sort(rng.uniform(-180, 180, 7))
        return Polygon(tuple((float(ring_lat), float(x)) for x in lons))
    corners = {"quad": [45.0, 135.0, 225.0, 315.0], "triangle": [10.0, 130.0, 250.0]}[shape]
    azimuth = np.array(corners) + rng.uniform(-20, 20, len(corners))
    lat, lon = _moved(lat0, lon0, azimuth, np.full(len(corners), size))
    return Polygon(tuple(zip(lat.tolist(), lon.tolist())))


def _edge_points(polygon: Polygon, spacing: float = 20.0):
    """Points along every geodesic edge every ``spacing`` m (pyproj npts: the reference edge)."""
    vertices = list(polygon.vertices) + [polygon.vertices[0]]
    lats, lons = [], []
    for (la1, lo1), (la2, lo2) in zip(vertices[:-1], vertices[1:]):
        _, _, length = GEOD.inv(lo1, la1, lo2, la2)
        points = GEOD.npts(lo1, la1, lo2, la2, max(int(length / spacing), 1))
        lats += [la1, *[p[1] for p in points]]
        lons += [lo1, *[p[0] for p in points]]
    return np.array(lats), np.array(lons)


@settings(max_examples=80, deadline=None)
@given(PLACES, st.floats(200.0, 300_000.0), st.sampled_from(["quad", "triangle", "cap"]),
       st.floats(0.0, 100_000.0), st.integers(0, 2**31))
def test_polygon_box_holds_every_edge_its_bulge_and_its_margin(place, size, shape, margin, seed):
    rng = np.random.default_rng(seed)
    try:
        polygon = _polygon_near(place, size, shape, rng)
    except Exception:  # a degenerate draw (not simple): nothing to check
        return
    lat, lon = _edge_points(polygon)
    box = polygon.bounds
    outside = ~contains(box, lat, lon)
    assert not outside.any(), (box, lat[outside][:3], lon[outside][:3])
    mlat, mlon = _within(lat, lon, margin, rng)
    assert contains(grow(box, margin), mlat, mlon).all()


def test_a_circle_holding_the_pole_reaches_it_with_every_longitude():
    """The defect: the pole inside, r < 2 x the pole distance; the box missed the far side."""
    circle = Circle(89.9, 0.0, 15_000.0)
    assert circle.bounds[2] == 90.0 and circle.bounds[1] == -180.0 and circle.bounds[3] == 180.0


def test_circle_east_west_extent_is_not_short_at_high_latitude():
    """The defect: the extent came from azimuths 90/270, short of the true extreme longitude."""
    for lat in (80.0, 88.0):
        circle = Circle(lat, 10.0, 50_000.0)
        azimuth = np.arange(0, 360, 0.01)
        plat, plon = _moved(lat, 10.0, azimuth, np.full(azimuth.size, 50_000.0))
        assert contains(circle.bounds, plat, plon).all()


def _index_pairs(volumes, margin):
    index = PlanIndex(margin=margin, equal_priority="accept")
    found = set()
    for k, volume in enumerate(volumes):
        plan = Plan(f"p/{k}", f"party{k % 2}", (volume,))
        found |= {tuple(sorted((k, int(c.other.split("/")[1])))) for c in index.check(plan).conflicts}
        index.add(plan)
    return found


@pytest.mark.parametrize("margin", [0.0, 1000.0, 100_000.0])
def test_the_index_finds_every_polar_and_antimeridian_overlap_the_exact_test_finds(margin):
    rng = np.random.default_rng(3)
    volumes = []
    for place in [(89.9, 0.0), (89.95, 180.0), (-89.97, 90.0), (-89.9, -90.0), (0.0, 179.99), (0.01, -179.99),
                  (85.0, 179.5), (85.1, -179.5), (89.0, 30.0), (88.95, -150.0)]:
        for shape in ("circle", "quad", "cap"):
            size = float(rng.uniform(5_000, 60_000))
            if shape == "circle":
                footprint = Circle(*place, size)
            else:
                try:
                    footprint = _polygon_near(place, size, shape, rng)
                except Exception:
                    continue
            volumes.append(Volume4D(footprint, 0.0, 1000.0, T0, T0 + 3600))
    exact = {(i, j) for i in range(len(volumes)) for j in range(i + 1, len(volumes))
             if overlap(volumes[i], volumes[j], margin) is not None}
    assert exact, "the designed cases overlap somewhere"
    assert _index_pairs(volumes, margin) == exact  # every one, and nothing the exact test does not find
