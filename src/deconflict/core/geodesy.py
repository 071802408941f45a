"""Geodesy for detection: WGS84 surface positions and ground velocities as ECEF vectors.

Detection works in Earth-centred, Earth-fixed (ECEF) Cartesian coordinates so that the
antimeridian and the poles need no special case. Horizontal geometry uses points on the
ellipsoid surface (height 0): altitudes are compared separately, as SPEC §3 asks, so a
pair at FL390 is not "further apart" than the same pair at FL100.
"""

from __future__ import annotations

import numpy as np
from pyproj import Geod

WGS84_A = 6378137.0  # semi-major axis, m
WGS84_F = 1.0 / 298.257223563
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)  # first eccentricity squared
# Smallest radius of curvature of the WGS84 ellipsoid (meridional, at the equator), m.
# Used for conservative (never too small) bounds on the curvature of the surface.
WGS84_MIN_CURVATURE_RADIUS = WGS84_A * (1.0 - WGS84_E2)

_GEOD = Geod(ellps="WGS84")


def surface_ecef(lat_deg: np.ndarray, lon_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ECEF position (m) of the ellipsoid surface point below each aircraft, and its unit up-normal.

    Closed-form WGS84 geodetic -> ECEF at height 0. Written out rather than through a pyproj
    Transformer because it sits on the detection hot path (about 5x faster on 1M points);
    tests check it against pyproj to 1 mm.
    Returns ``(position, normal)``, each of shape (n, 3).
    """
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64))
    sin_lat, cos_lat = np.sin(lat), np.cos(lat)
    sin_lon, cos_lon = np.sin(lon), np.cos(lon)
    prime_vertical = WGS84_A / np.sqrt(1.0 - WGS84_E2 * sin_lat * sin_lat)
    normal = np.empty((lat.size, 3))
    normal[:, 0] = cos_lat * cos_lon
    normal[:, 1] = cos_lat * sin_lon
    normal[:, 2] = sin_lat
    position = normal * prime_vertical[:, None]
    position[:, 2] *= 1.0 - WGS84_E2
    return position, normal


def ground_velocity_ecef(
    lat_deg: np.ndarray, lon_deg: np.ndarray, speed: np.ndarray, track_deg: np.ndarray
) -> np.ndarray:
    """ECEF vector (m/s) of a ground velocity given as speed (m/s) and true track (deg, 0 = north).

    The vector lies in the local horizontal plane: speed * (sin(track) * east + cos(track) * north).
    At a pole "north" is taken along the meridian of the given longitude, which is the limit
    of the formula and keeps tracks there well defined.
    """
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64))
    track = np.radians(np.asarray(track_deg, dtype=np.float64))
    speed = np.asarray(speed, dtype=np.float64)
    sin_lat, cos_lat = np.sin(lat), np.cos(lat)
    sin_lon, cos_lon = np.sin(lon), np.cos(lon)
    v_east = speed * np.sin(track)
    v_north = speed * np.cos(track)
    velocity = np.empty((lat.size, 3))
    velocity[:, 0] = -sin_lon * v_east - sin_lat * cos_lon * v_north
    velocity[:, 1] = cos_lon * v_east - sin_lat * sin_lon * v_north
    velocity[:, 2] = cos_lat * v_north
    return velocity


def extrapolate_along_track(
    lat_deg: np.ndarray, lon_deg: np.ndarray, track_deg: np.ndarray, distance_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Move each point `distance_m` along the geodesic that leaves it on `track_deg`.

    Returns ``(lat, lon, track)`` at the end point, in degrees, the track being the
    geodesic's forward azimuth there (a great-circle route's heading changes as it goes).
    """
    lon2, lat2, back_azimuth = _GEOD.fwd(
        np.asarray(lon_deg, dtype=np.float64),
        np.asarray(lat_deg, dtype=np.float64),
        np.asarray(track_deg, dtype=np.float64),
        np.asarray(distance_m, dtype=np.float64),
    )
    track2 = np.mod(np.asarray(back_azimuth) + 180.0, 360.0)
    return np.asarray(lat2), np.asarray(lon2), track2


def geodesic_distance(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """WGS84 geodesic distance in metres (Karney's algorithm, via pyproj)."""
    _, _, distance = _GEOD.inv(lon1, lat1, lon2, lat2)
    return np.asarray(distance)
