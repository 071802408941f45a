"""Latitude/longitude boxes that provably contain a footprint (and its margin) anywhere on the ellipsoid.

The plan index and the scan keep candidates by such boxes, so a box that is too small hides a
conflict. Each bound here follows from two facts about the WGS84 ellipsoid, with no sampling:

1. On the ellipsoid, ``ds^2 = M(lat)^2 dlat^2 + p(lat)^2 dlon^2``, with ``M`` the meridional radius
   of curvature (at least ``M_MIN = a (1 - e^2)``, its value at the equator) and ``p(lat) =
   N(lat) cos(lat)`` the radius of the parallel. So any curve of length ``L`` changes latitude by at
   most ``L / M_MIN`` radians: a point within geodesic distance ``r`` of a point at ``lat0`` lies in
   ``lat0 +- r / M_MIN``.
2. Along such a curve every point is within ``r`` of the start, so it stays in that latitude band,
   where ``p >= p_min`` (``p`` falls with ``|lat|``: its least value is at the band's largest
   ``|lat|``). So longitude changes by at most ``r / p_min`` radians. A band that reaches a pole
   gives every longitude (and the pole).

A polygon's edges are geodesics cut into chords of at most `EDGE_STEP` (`volumes._densify`): every
point of an edge is within ``EDGE_STEP / 2`` of a cut point, so the boundary lies in the union of the
cut points' boxes of that radius. A simple polygon that contains no pole has every interior point's
longitude on its boundary (the meridian from the point to a pole outside the polygon crosses the
boundary), so the boundary's box holds the polygon; one whose boundary winds round the pole axis
contains exactly one pole, and its box reaches that pole with every longitude. The winding is read
from the boundary's longitude steps, which are unambiguous once no cut point is within
``1.5 EDGE_STEP`` of a pole (a chord cannot pass over it); nearer than that, the box takes the pole
and every longitude. A margin ``m`` grows a box as a circle of radius ``m`` grows a point (fact 1 and
2 again). Boxes are ``(south, west, north, east)`` in degrees, ``west > east`` across the antimeridian,
``(-180, 180)`` for every longitude.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from deconflict.core.geodesy import WGS84_A, WGS84_E2, WGS84_MIN_CURVATURE_RADIUS

M_MIN = WGS84_MIN_CURVATURE_RADIUS  # m: least meridional radius of curvature (equator)
SLACK = 1e-9  # degrees added on every side against rounding
Box = tuple[float, float, float, float]


def parallel_radius(lat_deg: float) -> float:
    """Radius of the parallel at ``lat_deg`` (m): the distance from the axis, ``N cos(lat)``."""
    lat = math.radians(min(abs(lat_deg), 90.0))
    return WGS84_A * math.cos(lat) / math.sqrt(1.0 - WGS84_E2 * math.sin(lat) ** 2)


def around_point(lat: float, lon: float, radius: float) -> Box:
    """Box of every point within geodesic distance ``radius`` (m) of (lat, lon)."""
    return grow((lat, lon, lat, lon), radius)


def grow(box: Box, margin: float) -> Box:
    """Box of every point within ``margin`` m of a point of ``box``'s region (facts 1 and 2)."""
    south, west, north, east = box
    dlat = math.degrees(margin / M_MIN) + SLACK
    south, north = south - dlat, north + dlat
    if north >= 90.0 or south <= -90.0:  # the band reaches a pole: every longitude
        return max(south, -90.0), -180.0, min(north, 90.0), 180.0
    if _full(west, east):
        return south, -180.0, north, 180.0
    p_min = parallel_radius(max(abs(south), abs(north)))
    dlon = math.degrees(margin / p_min) + SLACK
    width = (east - west) % 360.0
    if width + 2.0 * dlon >= 360.0:
        return south, -180.0, north, 180.0
    return south, _wrap(west - dlon), north, _wrap(east + dlon)


def around_points(lat: np.ndarray, lon: np.ndarray, radius: float) -> Box:
    """Box of every point within ``radius`` m of the points (lat, lon)."""
    west, east = _smallest_arc(lon)
    return grow((float(lat.min()), west, float(lat.max()), east), radius)


def around_ring(lat: np.ndarray, lon: np.ndarray, step: float, pole_inside) -> Box:  # noqa: ANN001
    """Box of a polygon whose boundary is the closed ring of cut points (lat, lon), in order, no chord
    longer than ``step`` m (fact 1 and 2 with radius ``step / 2``; module docstring).
    ``pole_inside(pole)`` says whether the polygon holds the pole at latitude ``pole`` (+-90): asked
    when the boundary winds round the axis."""
    radius = step / 2.0
    dlat = math.degrees(radius / M_MIN)
    near = math.degrees(3.0 * radius / M_MIN) + dlat  # a cut point within 1.5 step of a pole
    low, high, winding, west, east = _ring_extent(np.ascontiguousarray(lat, dtype=np.float64),
                                                  np.ascontiguousarray(lon, dtype=np.float64))
    if high + near >= 90.0:
        return max(low - dlat, -90.0) - SLACK, -180.0, 90.0, 180.0
    if low - near <= -90.0:
        return -90.0, -180.0, min(high + dlat, 90.0) + SLACK, 180.0
    if winding != 0:  # the boundary goes round the axis: one pole is inside
        if pole_inside(90.0):
            return max(low - dlat, -90.0) - SLACK, -180.0, 90.0, 180.0
        return -90.0, -180.0, min(high + dlat, 90.0) + SLACK, 180.0
    if east - west >= 360.0:
        return grow((low, -180.0, high, 180.0), radius)
    return grow((low, _wrap(west), high, _wrap(east)), radius)


@njit(cache=True, nogil=True)
def _ring_extent(lat, lon):
    """Lowest and highest latitude of a closed ring, how many times it winds round the axis, and the
    west and east of its longitudes unwrapped along it (each chord's step taken in (-180, 180])."""
    low, high = lat[0], lat[0]
    total = 0.0
    position = lon[0]
    west, east = position, position
    n = lat.size
    for k in range(n):
        low = min(low, lat[k])
        high = max(high, lat[k])
        nxt = lon[(k + 1) % n]
        delta = (nxt - lon[k] + 180.0) % 360.0 - 180.0
        total += delta
        if k < n - 1:
            position += delta
            west = min(west, position)
            east = max(east, position)
    return low, high, round(total / 360.0), west, east


def _smallest_arc(lon: np.ndarray) -> tuple[float, float]:
    """West and east of the smallest arc holding every longitude (west > east across the antimeridian)."""
    values = np.sort(np.mod(lon + 180.0, 360.0) - 180.0)
    gaps = np.diff(np.append(values, values[0] + 360.0))
    k = int(np.argmax(gaps))
    east, west = float(values[k]), float(values[(k + 1) % values.size])
    return west, east


def _full(west: float, east: float) -> bool:
    return west <= -180.0 and east >= 180.0


def _wrap(lon: float) -> float:
    """Longitude into [-180, 180)."""
    return (lon + 180.0) % 360.0 - 180.0


def meet(a: Box, b: Box) -> bool:
    """Whether two boxes share a point."""
    if a[0] > b[2] or b[0] > a[2]:
        return False
    if _full(a[1], a[3]) or _full(b[1], b[3]):
        return True
    width_a, width_b = (a[3] - a[1]) % 360.0, (b[3] - b[1]) % 360.0
    return (b[1] - a[1]) % 360.0 <= width_a or (a[1] - b[1]) % 360.0 <= width_b


def contains(box: Box, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Whether each point lies in ``box`` (for tests and assertions)."""
    south, west, north, east = box
    inside_lat = (lat >= south) & (lat <= north)
    if _full(west, east):
        return inside_lat
    width = (east - west) % 360.0
    return inside_lat & (np.mod(lon - west, 360.0) <= width)
