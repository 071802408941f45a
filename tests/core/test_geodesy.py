import numpy as np
import pytest
from pyproj import Geod, Transformer

from deconflict.core.geodesy import extrapolate_along_track, geodesic_distance, ground_velocity_ecef, surface_ecef

rng = np.random.default_rng(0)
LAT = np.concatenate([rng.uniform(-90, 90, 2000), [90.0, -90.0, 0.0]])
LON = np.concatenate([rng.uniform(-180, 180, 2000), [0.0, 45.0, 180.0]])


def test_surface_positions_match_pyproj_to_a_millimetre():
    x, y, z = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True).transform(LON, LAT, np.zeros_like(LAT))
    position, normal = surface_ecef(LAT, LON)
    np.testing.assert_allclose(position, np.stack([x, y, z], axis=1), atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(normal, axis=1), 1.0)


def test_ground_velocity_is_tangent_and_matches_a_geodesic_step():
    speed, track = rng.uniform(0, 300, LAT.size), rng.uniform(0, 360, LAT.size)
    velocity = ground_velocity_ecef(LAT, LON, speed, track)
    _, normal = surface_ecef(LAT, LON)
    np.testing.assert_allclose((velocity * normal).sum(axis=1), 0.0, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(velocity, axis=1), speed)
    inside = np.abs(LAT) < 89.0
    lon2, lat2, _ = Geod(ellps="WGS84").fwd(LON[inside], LAT[inside], track[inside], speed[inside] * 0.01)
    step = (surface_ecef(lat2, lon2)[0] - surface_ecef(LAT[inside], LON[inside])[0]) / 0.01
    np.testing.assert_allclose(step, velocity[inside], atol=1e-2)


def test_extrapolation_moves_along_the_geodesic():
    lat, lon, track = extrapolate_along_track(np.array([0.0]), np.array([179.9]), np.array([90.0]), np.array([50_000.0]))
    assert lon[0] < -179.0 and track[0] == pytest.approx(90.0)
    assert geodesic_distance(0.0, 179.9, lat, lon)[0] == pytest.approx(50_000.0)


@pytest.mark.parametrize("distance", [1_000.0, 50_000.0, 300_000.0])
def test_chord_agrees_with_geodesic_within_spec_tolerance(distance):
    """SPEC §3: tangent-plane distances within 0.1 % of the geodesic up to 300 km."""
    lat, lon = rng.uniform(-80, 80, 200), rng.uniform(-180, 180, 200)
    lon2, lat2, _ = Geod(ellps="WGS84").fwd(lon, lat, rng.uniform(0, 360, 200), np.full(200, distance))
    chord = np.linalg.norm(surface_ecef(lat2, lon2)[0] - surface_ecef(lat, lon)[0], axis=1)
    np.testing.assert_allclose(chord, distance, rtol=1e-3)
