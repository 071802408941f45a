"""4D volume overlap: 1 cm decisions, geodesic edges, exact circles, the antimeridian and the poles."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

from deconflict.core.volumes import Circle, Polygon, Volume4D, VolumeError, footprint_overlap, overlap

GEOD = Geod(ellps="WGS84")
T0 = 1445320800.0


def meets(a, b, margin=0.0) -> bool:
    return footprint_overlap(a, b, margin) is not None


def point(lat, lon, azimuth, distance):
    lon2, lat2, _ = GEOD.fwd(lon, lat, azimuth, distance)
    return float(lat2), float(lon2)


@pytest.mark.parametrize("lat", [0.0, 47.0, -80.0])
def test_circles_decided_at_one_centimetre(lat):
    other = point(lat, 10.0, 63.0, 5000.0)
    _, _, distance = GEOD.inv(10.0, lat, other[1], other[0])
    a = Circle(lat, 10.0, 2000.0)
    assert meets(a, Circle(*other, distance - 2000.0 + 0.02))
    assert not meets(a, Circle(*other, distance - 2000.0 + 0.005))  # 5 mm: below the 1 cm precision
    assert not meets(a, Circle(*other, distance - 2000.0 - 0.02))


def distance_to_meridian(lat, lon, meridian) -> float:
    """Brute force: the shortest geodesic from a point to a meridian, by sampling it densely."""
    lats = np.linspace(lat - 0.2, lat + 0.2, 400_001)
    _, _, d = GEOD.inv(np.full(lats.size, lon), np.full(lats.size, lat), np.full(lats.size, meridian), lats)
    return float(np.min(d))


def test_circle_against_polygon_edge_at_one_centimetre():
    lat, lon = 50.0, 10.0
    edge = 10.02
    square = Polygon(((49.9, edge), (49.9, edge + 0.1), (50.1, edge + 0.1), (50.1, edge)))
    d = distance_to_meridian(lat, lon, edge)
    assert meets(Circle(lat, lon, d + 0.02), square)
    assert not meets(Circle(lat, lon, d - 0.02), square)


def test_no_sliver_is_missed_between_polygon_vertices():
    # a corner poking 5 cm into a 1 km circle midway between the vertices any 64-gon would have
    corner = point(50.0, 10.0, 2.8125, 999.95)
    far = [point(50.0, 10.0, az, 3000.0) for az in (-20.0, 25.0)]
    triangle = Polygon((corner, far[1], far[0]))
    assert meets(Circle(50.0, 10.0, 1000.0), triangle)
    assert not meets(Circle(50.0, 10.0, 999.9), triangle)


def test_polygon_edges_are_geodesics():
    # the northern edge from (60N, 10E) to (60N, 0E) bulges north of the parallel by about 0.095 deg
    box = Polygon(((59.0, 0.0), (59.0, 10.0), (60.0, 10.0), (60.0, 0.0)))
    _, bulge = GEOD.npts(0.0, 60.0, 10.0, 60.0, 1)[0]
    assert bulge > 60.09
    assert meets(Circle(60.08, 5.0, 100.0), box)  # north of the parallel, south of the geodesic edge: inside
    assert not meets(Circle(bulge + 0.01, 5.0, 100.0), box)


def test_polygons_touching_do_not_conflict_overlapping_do():
    west = Polygon(((50.0, 9.9), (50.0, 10.0), (50.1, 10.0), (50.1, 9.9)))
    east = Polygon(((50.0, 10.0), (50.0, 10.1), (50.1, 10.1), (50.1, 10.0)))
    assert not meets(west, east)
    push = 0.03 / 71_700.0  # 3 cm of longitude at 50N
    overlapping = Polygon(((50.0, 10.0 - push), (50.0, 10.1), (50.1, 10.1), (50.1, 10.0 - push)))
    assert meets(west, overlapping)
    assert meets(west, east, margin=1.0)  # touching is within a 1 m margin


def test_across_the_antimeridian_and_over_a_pole():
    across = Polygon(((-17.0, 179.9), (-17.0, -179.9), (-16.9, -179.9), (-16.9, 179.9)))
    south, west, north, east = across.bounds
    assert west > 0 > east  # bounds cross the antimeridian
    assert meets(across, Circle(-16.95, -179.95, 500.0))
    assert meets(across, Circle(-16.95, 179.95, 500.0))
    assert not meets(across, Circle(-16.95, 179.7, 500.0))
    polar = Circle(89.99, 0.0, 5000.0)  # contains the pole
    assert polar.bounds[2] == 90.0
    assert meets(polar, Circle(89.99, 180.0, 1000.0))  # 2.2 km away across the pole


def test_margin_reports_the_separation():
    a = Circle(50.0, 10.0, 1000.0)
    b = Circle(*point(50.0, 10.0, 90.0, 2030.0), 1000.0)
    assert not meets(a, b)
    found = footprint_overlap(a, b, margin=50.0)
    assert found is not None and found[1] == pytest.approx(30.0, abs=0.01)


def test_volume_overlap_window_band_and_ring():
    a = Volume4D(Circle(50.0, 10.0, 1000.0), 0.0, 120.0, T0, T0 + 1800)
    b = Volume4D(Circle(50.0, 10.01, 1000.0), 100.0, 200.0, T0 + 600, T0 + 3600)
    found = overlap(a, b)
    assert (found.time_start, found.time_end) == (T0 + 600, T0 + 1800)
    assert (found.altitude_lower, found.altitude_upper) == (100.0, 120.0)
    (ring,) = found.rings
    assert np.allclose(ring[0], ring[-1]) and len(ring) > 20
    assert np.all(np.abs(ring[:, 0] - 50.0) < 0.01) and np.all((ring[:, 1] > 9.99) & (ring[:, 1] < 10.02))
    touching_band = Volume4D(b.footprint, 120.0, 200.0, T0, T0 + 3600)
    touching_time = Volume4D(b.footprint, 0.0, 200.0, T0 + 1800, T0 + 3600)
    assert overlap(a, touching_band) is None and overlap(a, touching_time) is None


@pytest.mark.parametrize("make, message", [
    (lambda: Polygon(((0, 0), (1, 1), (0, 1), (1, 0))), "not simple"),
    (lambda: Polygon(((0, 0), (1, 1))), "at least 3"),
    (lambda: Circle(50.0, 10.0, 0.0), "radius must be positive"),
    (lambda: Circle(91.0, 10.0, 10.0), "not a latitude"),
    (lambda: Volume4D(Circle(50, 10, 10), 100.0, 50.0, T0, T0 + 1), "altitude band inverted"),
    (lambda: Volume4D(Circle(50, 10, 10), 0.0, 50.0, T0, T0), "time window inverted or empty"),
])
def test_bad_volumes_say_what_is_wrong(make, message):
    with pytest.raises(VolumeError, match=message):
        make()
