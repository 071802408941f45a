"""Output geometry follows RFC 7946 (SPEC §5): counter-clockwise exteriors, split at the antimeridian,
every part of a multi-part overlap kept; checked on overlaps of designed plans."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from deconflict.core.geojson import polygon_geometry
from deconflict.core.plans import Plan, PlanIndex
from deconflict.core.volumes import Circle, Polygon, Volume4D, overlap

T0 = 1_800_000_000.0


def _exteriors(geometry):
    parts = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    return [np.array(part[0]) for part in parts]


def _signed_area(ring):
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.sum(x[:-1] * y[1:] - x[1:] * y[:-1]))


def _overlap_feature(a, b):
    index = PlanIndex(equal_priority="accept")
    index.add(Plan("x/a", "x", (Volume4D(a, 0.0, 100.0, T0, T0 + 60),)))
    (conflict,) = index.check(Plan("y/b", "y", (Volume4D(b, 0.0, 100.0, T0, T0 + 60),))).conflicts
    return conflict.geojson()


@pytest.mark.parametrize("a, b", [
    (Circle(50.0, 10.0, 5000.0), Circle(50.0, 10.05, 5000.0)),
    (Polygon(((50.0, 10.0), (50.0, 10.1), (50.1, 10.1), (50.1, 10.0))), Circle(50.05, 10.1, 3000.0)),
    (Polygon(((50.1, 10.0), (50.1, 10.1), (50.0, 10.1), (50.0, 10.0))), Circle(50.05, 10.0, 3000.0)),  # clockwise in
])
def test_exteriors_are_counter_clockwise(a, b):
    for ring in _exteriors(_overlap_feature(a, b)["geometry"]):
        assert _signed_area(ring) > 0.0 and np.allclose(ring[0], ring[-1])


def test_an_overlap_across_the_antimeridian_is_split_into_a_multipolygon():
    feature = _overlap_feature(Circle(10.0, 179.99, 5000.0), Circle(10.0, -179.98, 5000.0))
    geometry = feature["geometry"]
    assert geometry["type"] == "MultiPolygon"
    rings = _exteriors(geometry)
    assert all(((r[:, 0] >= -180.0) & (r[:, 0] <= 180.0)).all() for r in rings)
    assert {np.sign(r[:, 0].mean()) for r in rings} == {-1.0, 1.0}
    assert all(_signed_area(r) > 0.0 for r in rings)


def test_every_part_of_a_multi_part_overlap_is_kept():
    """A U-shaped polygon and a bar across its arms overlap in two places: both are kept."""
    u = Polygon(((50.0, 10.0), (50.0, 10.3), (50.2, 10.3), (50.2, 10.2), (50.05, 10.2), (50.05, 10.1),
                 (50.2, 10.1), (50.2, 10.0)))
    bar = Polygon(((50.12, 9.95), (50.12, 10.35), (50.15, 10.35), (50.15, 9.95)))
    found = overlap(Volume4D(u, 0, 100, T0, T0 + 60), Volume4D(bar, 0, 100, T0, T0 + 60))
    assert len(found.rings) == 2
    geometry = _overlap_feature(u, bar)["geometry"]
    assert geometry["type"] == "MultiPolygon" and len(geometry["coordinates"]) == 2
    total = shape(geometry).area
    arms = [shapely.Polygon(r[:, ::-1]).area for r in found.rings]
    assert total == pytest.approx(sum(arms), rel=1e-3)  # nothing dropped (the largest-part-only answer lost one)


def test_a_ring_round_a_pole_closes_along_the_pole():
    ring = np.column_stack((np.full(12, 85.0), np.linspace(-180, 180, 13)[:-1]))
    geometry = polygon_geometry([ring])
    (exterior,) = _exteriors(geometry)
    assert exterior[:, 1].max() == 90.0 and _signed_area(exterior) > 0.0
