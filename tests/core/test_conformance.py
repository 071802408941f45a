"""Conformance geometry: the lateral distance outside a footprint against a brute-force geodesic
reference (a dense boundary), at the equator, the antimeridian and a pole; in-force spans."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

from deconflict.core.conformance import Tolerance, assess, lateral_outside
from deconflict.core.plans import Plan
from deconflict.core.volumes import Circle, Polygon, Volume4D

GEOD = Geod(ellps="WGS84")


def _boundary(vertices: list[tuple[float, float]], step: float = 20.0) -> np.ndarray:
    """Points every ``step`` m along each geodesic edge (lat, lon)."""
    points = []
    for (lat1, lon1), (lat2, lon2) in zip(vertices, vertices[1:] + vertices[:1]):
        _, _, length = GEOD.inv(lon1, lat1, lon2, lat2)
        count = max(2, int(length / step))
        middle = GEOD.npts(lon1, lat1, lon2, lat2, count)
        points += [(lat1, lon1)] + [(la, lo) for lo, la in middle]
    return np.array(points)


@pytest.mark.parametrize("vertices", [
    [(0.0, 10.0), (0.5, 10.0), (0.5, 10.6), (0.0, 10.6)],  # equator
    [(10.0, 179.8), (10.3, 179.8), (10.3, -179.7), (10.0, -179.7)],  # across the antimeridian
    [(88.0, 0.0), (88.0, 90.0), (88.0, 180.0), (88.0, -90.0)],  # around the north pole
])
def test_lateral_distance_outside_a_polygon_matches_a_dense_geodesic_boundary(vertices):
    footprint = Polygon(tuple(vertices))
    volume = Volume4D(footprint, 0.0, 1000.0, 0.0, 60.0)
    boundary = _boundary(vertices)
    lat0, lon0 = np.mean(boundary[:, 0]), boundary[0, 1]
    rng = np.random.default_rng(3)
    for _ in range(40):
        azimuth, distance = rng.uniform(0, 360), rng.uniform(0, 150_000)
        lon, lat, _ = GEOD.fwd(lon0, lat0, azimuth, distance)
        got = lateral_outside(volume, lat, lon)
        _, _, to_edge = GEOD.inv(np.full(len(boundary), lon), np.full(len(boundary), lat), boundary[:, 1], boundary[:, 0])
        if got > 0.0:  # outside: the distance to the boundary, to within the chords' sag (metres)
            assert got == pytest.approx(to_edge.min(), abs=30.0)
        else:  # inside: never when the point is clearly outside the reference boundary
            assert to_edge.min() < 30.0 or _inside(vertices, lat, lon)


def _inside(vertices, lat: float, lon: float) -> bool:
    import shapely

    from deconflict.core.volumes import aeqd

    ring = _boundary(vertices)
    plane = shapely.Polygon(aeqd(ring, lat, lon))
    return bool(plane.contains(shapely.Point(0.0, 0.0)))


def test_lateral_distance_outside_a_circle_is_the_geodesic_less_the_radius():
    volume = Volume4D(Circle(89.9, 0.0, 20_000.0), 0.0, 1000.0, 0.0, 60.0)  # holds the pole
    assert lateral_outside(volume, 90.0, 0.0) == 0.0
    lon, lat, _ = GEOD.fwd(0.0, 89.9, 180.0, 25_000.0)
    assert lateral_outside(volume, lat, lon) == pytest.approx(5_000.0, abs=0.01)


def test_a_plan_is_monitored_from_before_its_start_to_an_hour_after_its_end():
    tolerance = Tolerance()
    volume = Volume4D(Circle(45.0, 5.0, 10_000.0), 0.0, 3000.0, 1000.0, 2000.0)
    plan = Plan("p", "alpha", (volume,), aircraft=("a1",))
    inside = (45.0, 5.0, 1000.0)
    assert not assess([plan], *inside, 1000.0 - 61.0, tolerance).monitored  # too early: not yet
    assert assess([plan], *inside, 1000.0 - 59.0, tolerance).conforming  # a minute early is within tolerance
    late = assess([plan], *inside, 2000.0 + 61.0, tolerance)
    assert late.monitored == ("p",) and not late.conforming and late.responsible == ("p",)  # overrun
    assert not assess([plan], *inside, 2000.0 + 3601.0, tolerance).monitored
    outside = assess([plan], 45.0, 5.2, 1000.0, 1500.0, tolerance)
    assert not outside.conforming and outside.nearest.lateral == pytest.approx(5_750.0, rel=0.01)
