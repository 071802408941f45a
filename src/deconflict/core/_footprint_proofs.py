"""Compiled proofs that two footprints overlap, or are apart by a margin, from their ECEF surface
points: what lets the plan index (`_plan_index`) settle most candidate pairs without the exact test.

Every answer is conservative: -1 (apart) only when the footprints are provably further apart than the
margin, 1 (overlap) only when they provably overlap by more than `PRECISION`, and 0 (the exact test
decides) whenever either answer is within `TOLERANCE`, so that these answers never contradict
`volumes.footprint_overlap` (tested at the poles, across the antimeridian and on the equator).

Circles against polygons (`circle_polygon`) use the polygon's cut points as ECEF surface points:

* The boundary between two cut points is a geodesic at most `EDGE_STEP` long whose curvature in
  space is at most 1 / rho (rho: the least radius of curvature of the ellipsoid), so it stays within
  ``SAG = rho (1 - cos(L / 2 rho))`` (5 mm) of the straight chord between them (a curve of bounded
  curvature lies within the sagitta of the circular arc of the same length: Schur's comparison).
  So the geodesic distance from the circle's centre C to the boundary is at least the least 3D
  distance from C to the chords, minus SAG (and a geodesic is never shorter than its chord); it is at
  most ``2 rho asin(c / 2 rho)`` for c the chord to the nearest cut point (as for circles).
* Whether C lies inside: the chords, projected from the Earth's centre onto the plane through C
  normal to OC, form a plane polygon (central projection keeps straight lines straight), and C's
  crossing number in it equals its crossing number in the true polygon when C is further than SAG
  from every chord (the true boundary can be moved onto the chords without passing C).

Polygons against polygons (`polygon_polygon`) are apart when a plane through the Earth's centre
separates their chords with room for the margin and twice SAG, and overlap when a point lies
inside both by more than PRECISION / 2 (its docstring gives the argument).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from deconflict.core.geodesy import WGS84_A, WGS84_E2, WGS84_MIN_CURVATURE_RADIUS, surface_ecef
from deconflict.core.volumes import EDGE_STEP, PRECISION, Polygon

RHO = WGS84_MIN_CURVATURE_RADIUS  # m: least radius of curvature of the ellipsoid (meridional, equator)
SAG = RHO * (1.0 - math.cos(EDGE_STEP / (2.0 * RHO)))  # m: furthest a geodesic edge piece strays from its chord
TOLERANCE = 0.05  # m: a compiled decision this close to the answer's edge is left to the exact test


def surface_ring(polygon: Polygon) -> np.ndarray:
    """The polygon's cut points as ECEF surface points, shape (3, n), m (cached on the polygon)."""
    ring = polygon.__dict__.get("_surface_ring")
    if ring is None:
        points = polygon.densified()
        ring = np.ascontiguousarray(surface_ecef(points[:, 0], points[:, 1])[0].T)
        polygon.__dict__["_surface_ring"] = ring  # frozen dataclass: a cache beside its fields, as cached_property does
    return ring


def ecef(lat: float, lon: float) -> tuple[float, float, float]:
    """Surface point (ECEF m) of one latitude/longitude, in scalar math (numpy costs 10 us a call)."""
    la, lo = math.radians(lat), math.radians(lon)
    n = WGS84_A / math.sqrt(1.0 - WGS84_E2 * math.sin(la) ** 2)
    return n * math.cos(la) * math.cos(lo), n * math.cos(la) * math.sin(lo), n * (1.0 - WGS84_E2) * math.sin(la)


@njit(cache=True, nogil=True)
def _basis(nx, ny, nz):
    """Two unit vectors spanning the plane normal to the unit vector n."""
    if abs(nz) < 0.9:
        ax, ay, az = 0.0, 0.0, 1.0
    else:
        ax, ay, az = 1.0, 0.0, 0.0
    e1x, e1y, e1z = ay * nz - az * ny, az * nx - ax * nz, ax * ny - ay * nx
    length = math.sqrt(e1x * e1x + e1y * e1y + e1z * e1z)
    e1x, e1y, e1z = e1x / length, e1y / length, e1z / length
    return e1x, e1y, e1z, ny * e1z - nz * e1y, nz * e1x - nx * e1z, nx * e1y - ny * e1x


@njit(cache=True, nogil=True)
def _point_and_ring(cx, cy, cz, ring):
    """Where the surface point C (ECEF m) stands against a polygon's boundary (cut points ``ring``, ECEF
    3 x n): (usable, inside, least, most) with ``least`` <= geodesic distance to the boundary <= ``most``
    (m); ``inside`` is trustworthy when ``least`` > `TOLERANCE`. Not usable when the polygon reaches the
    far side of the Earth from C (module docstring)."""
    norm = math.sqrt(cx * cx + cy * cy + cz * cz)
    nx, ny, nz = cx / norm, cy / norm, cz / norm
    e1x, e1y, e1z, e2x, e2y, e2z = _basis(nx, ny, nz)
    n = ring.shape[1]
    nearest_segment, nearest_point = np.inf, np.inf
    crossings = 0
    for k in range(n):
        ax, ay, az = ring[0, k], ring[1, k], ring[2, k]
        m = (k + 1) % n
        bx, by, bz = ring[0, m], ring[1, m], ring[2, m]
        # 3D distance from C to the chord [a, b] and to the cut point a
        ux, uy, uz = bx - ax, by - ay, bz - az
        wx, wy, wz = cx - ax, cy - ay, cz - az
        uu = ux * ux + uy * uy + uz * uz
        t = 0.0 if uu == 0.0 else min(max((wx * ux + wy * uy + wz * uz) / uu, 0.0), 1.0)
        px, py, pz = wx - t * ux, wy - t * uy, wz - t * uz
        nearest_segment = min(nearest_segment, math.sqrt(px * px + py * py + pz * pz))
        nearest_point = min(nearest_point, math.sqrt(wx * wx + wy * wy + wz * wz))
        # central projection of a and b onto the plane through C normal to n, then the crossing test
        da, db = nx * ax + ny * ay + nz * az, nx * bx + ny * by + nz * bz
        if da <= 0.0 or db <= 0.0:
            return False, False, 0.0, 0.0
        sa, sb = norm / da, norm / db
        qax, qay, qaz = ax * sa - cx, ay * sa - cy, az * sa - cz
        qbx, qby, qbz = bx * sb - cx, by * sb - cy, bz * sb - cz
        ua, va = e1x * qax + e1y * qay + e1z * qaz, e2x * qax + e2y * qay + e2z * qaz
        ub, vb = e1x * qbx + e1y * qby + e1z * qbz, e2x * qbx + e2y * qby + e2z * qbz
        if (va > 0.0) != (vb > 0.0):
            if ua + (0.0 - va) * (ub - ua) / (vb - va) > 0.0:
                crossings += 1
    most = 2.0 * RHO * math.asin(min(nearest_point / (2.0 * RHO), 1.0))
    return True, crossings % 2 == 1, nearest_segment - SAG, most


@njit(cache=True, nogil=True)
def circle_polygon(cx, cy, cz, radius, ring, margin):
    """1 when the circle (ECEF surface centre, radius m) provably overlaps the polygon (cut points
    ``ring``, ECEF 3 x n), -1 when it is provably further than ``margin`` from it, 0 when only the
    exact test can tell (module docstring)."""
    usable, inside, least, most = _point_and_ring(cx, cy, cz, ring)
    if not usable or least <= TOLERANCE:
        return 0
    if inside:
        return 1  # the centre is inside: the exact test's gap is -(radius + distance to edge)
    if most <= radius - PRECISION - TOLERANCE:
        return 1
    if least - radius >= margin + TOLERANCE:
        return -1
    return 0


@njit(cache=True, nogil=True)
def polygon_polygon(ring_a, ring_b, margin):
    """1 when two polygons (cut points, ECEF 3 x n) provably overlap by more than `PRECISION`, -1 when
    they are provably further apart than ``margin``, 0 when only the exact test can tell.

    Both rings are projected from the Earth's centre onto the plane tangent at A's first cut point.
    Apart: a line separating the projections (across the axis joining their centroids) is a plane
    through the Earth's centre separating the chords; each polygon lies on its side (a linear function
    on the ellipsoid has no minimum inside a region that does not hold its global minimum), its
    boundary within SAG of its chords, so the gap is at least the two least distances of the cut
    points to the plane, less SAG each. Overlap: the centroid of either projection, or their midpoint,
    taken back to the surface, lies inside both by more than PRECISION / 2 (then a disc of that
    radius lies in both, as the exact test asks).
    """
    cx, cy, cz = ring_a[0, 0], ring_a[1, 0], ring_a[2, 0]
    norm = math.sqrt(cx * cx + cy * cy + cz * cz)
    frame = (cx, cy, cz, norm, cx / norm, cy / norm, cz / norm, *_basis(cx / norm, cy / norm, cz / norm))
    usable_a, ua, va = _projected_centroid(ring_a, frame)
    usable_b, ub, vb = _projected_centroid(ring_b, frame)
    if not (usable_a and usable_b):
        return 0
    # apart: separated across the axis joining the centroids
    au, av = ub - ua, vb - va
    length = math.sqrt(au * au + av * av)
    if length > 0.0:
        au, av = au / length, av / length
        _, high_a = _extent_along(ring_a, frame, au, av)
        low_b, _ = _extent_along(ring_b, frame, au, av)
        if high_a < low_b:
            gx, gy, gz = _separating_plane(frame, au, av, 0.5 * (high_a + low_b))
            least_a = -_highest_side(ring_a, gx, gy, gz)
            least_b = _lowest_side(ring_b, gx, gy, gz)
            if least_a > 0.0 and least_b > 0.0 and least_a + least_b - 2.0 * SAG >= margin + TOLERANCE:
                return -1
    # overlap: a point deep inside both
    for pick in range(3):
        u, v = (ua, va) if pick == 0 else (ub, vb) if pick == 1 else (0.5 * (ua + ub), 0.5 * (va + vb))
        x, y, z = _to_surface(frame, u, v)
        usable, inside, least, _ = _point_and_ring(x, y, z, ring_a)
        if not (usable and inside and least >= PRECISION / 2.0 + TOLERANCE):
            continue
        usable, inside, least, _ = _point_and_ring(x, y, z, ring_b)
        if usable and inside and least >= PRECISION / 2.0 + TOLERANCE:
            return 1
    return 0


@njit(cache=True, nogil=True)
def _project(frame, x, y, z):
    """Central projection of an ECEF point onto the frame's tangent plane: (usable, u, v)."""
    cx, cy, cz, norm, nx, ny, nz, e1x, e1y, e1z, e2x, e2y, e2z = frame
    d = nx * x + ny * y + nz * z
    if d <= 0.0:
        return False, 0.0, 0.0
    scale = norm / d
    qx, qy, qz = x * scale - cx, y * scale - cy, z * scale - cz
    return True, e1x * qx + e1y * qy + e1z * qz, e2x * qx + e2y * qy + e2z * qz


@njit(cache=True, nogil=True)
def _projected_centroid(ring, frame):
    """Area centroid (u, v) of the ring's central projection; not usable when a cut point faces away."""
    n = ring.shape[1]
    area2, su, sv = 0.0, 0.0, 0.0
    ok, u0, v0 = _project(frame, ring[0, n - 1], ring[1, n - 1], ring[2, n - 1])
    if not ok:
        return False, 0.0, 0.0
    for k in range(n):
        ok, u, v = _project(frame, ring[0, k], ring[1, k], ring[2, k])
        if not ok:
            return False, 0.0, 0.0
        cross = u0 * v - u * v0
        area2 += cross
        su += (u0 + u) * cross
        sv += (v0 + v) * cross
        u0, v0 = u, v
    if area2 == 0.0:
        return False, 0.0, 0.0
    return True, su / (3.0 * area2), sv / (3.0 * area2)


@njit(cache=True, nogil=True)
def _extent_along(ring, frame, au, av):
    """Least and greatest of the projected cut points along the unit axis (au, av)."""
    low, high = np.inf, -np.inf
    for k in range(ring.shape[1]):
        _, u, v = _project(frame, ring[0, k], ring[1, k], ring[2, k])
        low, high = min(low, au * u + av * v), max(high, au * u + av * v)
    return low, high


@njit(cache=True, nogil=True)
def _separating_plane(frame, au, av, middle):
    """Unit normal of the plane through the Earth's centre whose projection is the line across the axis
    (au, av) at ``middle``, oriented so that points beyond the line (the greater side) are positive."""
    cx, cy, cz, norm, nx, ny, nz, e1x, e1y, e1z, e2x, e2y, e2z = frame
    ux, uy, uz = au * e1x + av * e2x, au * e1y + av * e2y, au * e1z + av * e2z  # the axis in space
    px, py, pz = cx + middle * ux, cy + middle * uy, cz + middle * uz  # a point of the line
    lx, ly, lz = ny * uz - nz * uy, nz * ux - nx * uz, nx * uy - ny * ux  # the line's direction
    gx, gy, gz = py * lz - pz * ly, pz * lx - px * lz, px * ly - py * lx
    g = math.sqrt(gx * gx + gy * gy + gz * gz)
    if gx * ux + gy * uy + gz * uz < 0.0:
        g = -g
    return gx / g, gy / g, gz / g


@njit(cache=True, nogil=True)
def _highest_side(ring, gx, gy, gz):
    best = -np.inf
    for k in range(ring.shape[1]):
        best = max(best, gx * ring[0, k] + gy * ring[1, k] + gz * ring[2, k])
    return best


@njit(cache=True, nogil=True)
def _lowest_side(ring, gx, gy, gz):
    best = np.inf
    for k in range(ring.shape[1]):
        best = min(best, gx * ring[0, k] + gy * ring[1, k] + gz * ring[2, k])
    return best


@njit(cache=True, nogil=True)
def _to_surface(frame, u, v):
    """The surface point (ECEF m) on the ray from the Earth's centre through the plane point (u, v)."""
    cx, cy, cz, norm, nx, ny, nz, e1x, e1y, e1z, e2x, e2y, e2z = frame
    x, y, z = cx + u * e1x + v * e2x, cy + u * e1y + v * e2y, cz + u * e1z + v * e2z
    scale = 1.0 / math.sqrt((x * x + y * y) / (WGS84_A * WGS84_A) + z * z / (WGS84_A * WGS84_A * (1.0 - WGS84_E2)))
    return x * scale, y * scale, z * scale
