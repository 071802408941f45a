"""4D volumes (ASTM F3548-21 style): a footprint, an altitude band and a time window, and their exact overlap.

Footprints are circles (centre, geodesic radius) or polygons whose edges are geodesics. Overlap
is decided in an azimuthal equidistant frame centred on one of the two footprints, built from
geodesic distances and azimuths (pyproj's Karney geodesics): in that frame distances from the
centre are exact, so a circle centred there is an exact circle, and a polygon's geodesic edges
are followed by chords at most `EDGE_STEP` long, which stay within 5 mm of the true edge up to
thousands of km from the centre. Two footprints overlap when their intersection is more than
`PRECISION` thick (F3548 asks for 1 cm), or when they come closer than a margin if one is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Union

import numpy as np
import shapely
from pyproj import Geod

from deconflict.core.bounds import around_point, around_ring, grow, meet
from deconflict.core.geojson import polygon_geometry
from deconflict.errors import DeconflictError

_GEOD = Geod(ellps="WGS84")
EDGE_STEP = 500.0  # m, longest chord standing for a geodesic edge
PRECISION = 0.01  # m: an overlap thinner than this is not one
CIRCLE_SEGMENTS = 64  # per quarter circle, for circles drawn as polygons (output, index bounds)


class VolumeError(DeconflictError, ValueError):
    """A footprint, altitude band or time window that makes no sense; names the field."""


@dataclass(frozen=True)
class Circle:
    """Geodesic circle: centre (deg) and radius (m)."""

    lat: float
    lon: float
    radius: float

    def __post_init__(self) -> None:
        if not (-90.0 <= self.lat <= 90.0 and -180.0 <= self.lon <= 180.0):
            raise VolumeError(f"circle centre ({self.lat}, {self.lon}) is not a latitude/longitude")
        if not (np.isfinite(self.radius) and self.radius > 0.0):
            raise VolumeError(f"circle radius must be positive, got {self.radius}")

    @property
    def centre(self) -> tuple[float, float]:
        return self.lat, self.lon

    @cached_property
    def bounds(self) -> tuple[float, float, float, float]:
        """(south, west, north, east) degrees provably enclosing the circle (`deconflict.core.bounds`;
        west > east across the antimeridian, every longitude when it reaches a pole)."""
        return around_point(self.lat, self.lon, self.radius * (1.0 + 1e-12) + 0.001)


@dataclass(frozen=True)
class Polygon:
    """Polygon with geodesic edges: vertices as (lat, lon) degrees, not repeated at the end, simple."""

    vertices: tuple[tuple[float, float], ...]
    _densified: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        points = np.asarray(self.vertices, dtype=float)
        if points.ndim != 2 or points.shape[1] != 2:
            raise VolumeError("polygon vertices must be (lat, lon) pairs")
        if len(points) > 1 and np.allclose(points[0], points[-1]):
            points = points[:-1]
            object.__setattr__(self, "vertices", tuple(map(tuple, points.tolist())))
        if len(points) < 3:
            raise VolumeError(f"a polygon needs at least 3 distinct vertices, got {len(points)}")
        if np.any(np.abs(points[:, 0]) > 90.0) or np.any(np.abs(points[:, 1]) > 180.0):
            raise VolumeError("polygon vertex outside latitude [-90, 90] / longitude [-180, 180]")
        object.__setattr__(self, "_densified", _densify(points))
        plane = shapely.Polygon(aeqd(self._densified, *self.anchor))
        if not plane.is_valid:
            raise VolumeError(f"polygon is not simple ({shapely.is_valid_reason(plane).split('[')[0].lower()})")
        if plane.area <= PRECISION**2:
            raise VolumeError("polygon has no area")

    @property
    def anchor(self) -> tuple[float, float]:
        """A point of the polygon's neighbourhood used as frame centre (its first vertex)."""
        return self.vertices[0]

    def densified(self) -> np.ndarray:
        """Vertices (lat, lon) with points inserted along each geodesic edge every `EDGE_STEP` m at most."""
        return self._densified

    @cached_property
    def bounds(self) -> tuple[float, float, float, float]:
        """(south, west, north, east) degrees provably enclosing the polygon, edges bulging poleward
        included: every edge point is within EDGE_STEP / 2 of a cut point (`deconflict.core.bounds`)."""
        ring = self._densified
        return around_ring(ring[:, 0], ring[:, 1], EDGE_STEP, self._holds_pole)

    def _holds_pole(self, pole: float) -> bool:
        """Whether the polygon (the bounded region in its anchor's frame, as the overlap test sees it)
        holds the pole at latitude ``pole``."""
        plane = shapely.Polygon(aeqd(self._densified, *self.anchor))
        x, y = aeqd(np.array([[pole, 0.0]]), *self.anchor)[0]
        return bool(plane.contains(shapely.Point(x, y)))


Footprint = Union[Circle, Polygon]


@dataclass(frozen=True)
class Volume4D:
    """A footprint, an altitude band (m, ``lower`` < ``upper``) and a time window (UNIX s, ``start`` < ``end``)."""

    footprint: Footprint
    altitude_lower: float
    altitude_upper: float
    time_start: float
    time_end: float

    def __post_init__(self) -> None:
        if not self.altitude_lower < self.altitude_upper:
            raise VolumeError(f"altitude band inverted or empty: lower {self.altitude_lower} m >= upper {self.altitude_upper} m")
        if not self.time_start < self.time_end:
            raise VolumeError(f"time window inverted or empty: start {self.time_start} >= end {self.time_end}")

    def shifted(self, seconds: float) -> "Volume4D":
        """The same volume ``seconds`` later."""
        return Volume4D(self.footprint, self.altitude_lower, self.altitude_upper, self.time_start + seconds,
                        self.time_end + seconds)


@dataclass(frozen=True)
class Overlap:
    """Where two volumes overlap: time window (UNIX s), altitude band (m), and the footprint overlap as
    closed (lat, lon) ``rings`` (one per part: two footprints can overlap in several places), drawn on
    first use (deciding needs no drawing). ``separation``: metres between footprints that only come
    within the margin (no rings), else 0."""

    time_start: float
    time_end: float
    altitude_lower: float
    altitude_upper: float
    separation: float
    draw: Callable[[], list[np.ndarray]] = field(repr=False, compare=False)

    @cached_property
    def rings(self) -> list[np.ndarray]:
        return self.draw()


def overlap(a: Volume4D, b: Volume4D, margin: float = 0.0) -> Overlap | None:
    """The overlap of two volumes, or None: altitude and time must overlap with positive length, footprints
    in more than `PRECISION` or, with ``margin`` > 0 (m), come closer than the margin."""
    lower, upper = max(a.altitude_lower, b.altitude_lower), min(a.altitude_upper, b.altitude_upper)
    start, end = max(a.time_start, b.time_start), min(a.time_end, b.time_end)
    if not (lower < upper and start < end):
        return None
    found = footprint_overlap(a.footprint, b.footprint, margin)
    if found is None:
        return None
    draw, separation = found
    return Overlap(start, end, lower, upper, separation, draw)


def footprint_overlap(a: Footprint, b: Footprint, margin: float = 0.0
                      ) -> tuple[Callable[[], list[np.ndarray]], float] | None:
    """``(draw, separation)`` when the footprints overlap by more than `PRECISION` (or, with ``margin`` > 0,
    come within ``margin`` m of each other), else None. ``draw()`` gives the overlap as closed (lat, lon)
    rings, one per part (none when they only come within the margin)."""
    if not meet(grow(a.bounds, margin) if margin > 0.0 else a.bounds, b.bounds):
        return None  # provably apart (and far-apart footprints would not project well into one frame)
    if isinstance(b, Circle) and not isinstance(a, Circle):
        a, b = b, a  # the frame is centred on a circle when there is one: distances from it are exact
    centre = a.centre if isinstance(a, Circle) else a.anchor
    if isinstance(a, Circle):
        # exact: how far the circle reaches past the other footprint's edge
        if isinstance(b, Circle):
            _, _, distance = _GEOD.inv(a.lon, a.lat, b.lon, b.lat)
            gap = float(distance) - a.radius - b.radius
        else:
            plane_b = _plane(b, centre)
            origin = shapely.Point(0.0, 0.0)
            inside = plane_b.contains(origin)
            to_edge = float(shapely.distance(origin, plane_b.exterior))
            gap = -(a.radius + to_edge) if inside else to_edge - a.radius
        if gap <= -PRECISION:
            return (lambda: latlon_rings(shapely.intersection(_plane(a, centre), _plane(b, centre)), centre)), 0.0
        if margin > 0.0 and gap < margin:
            return _nothing, max(gap, 0.0)
        return None
    shape_a, shape_b = _plane(a, centre), _plane(b, centre)
    common = shapely.intersection(shape_a, shape_b)
    if not common.is_empty and common.area > 0.0 and _thicker_than_precision(common):
        return (lambda: latlon_rings(common, centre)), 0.0
    if margin > 0.0:
        gap = float(shapely.distance(shape_a, shape_b))
        if gap < margin:
            return _nothing, gap
    return None


def _nothing() -> list[np.ndarray]:
    return []


def _thicker_than_precision(shape: shapely.Geometry) -> bool:
    """Whether some point of ``shape`` lies more than PRECISION / 2 inside it.

    A region whose points are all within d of its boundary has area <= 2 d * perimeter, so an
    area above PRECISION * perimeter settles it without the (slower) inward buffer.
    """
    if shape.area > PRECISION * shape.length:
        return True
    return not shape.buffer(-PRECISION / 2).is_empty


def footprint_ring(footprint: Footprint) -> np.ndarray:
    """Closed (lat, lon) ring drawing the footprint (circles as a fine circumscribed polygon)."""
    centre = footprint.centre if isinstance(footprint, Circle) else footprint.anchor
    return latlon_ring(_plane(footprint, centre), centre)


def footprint_geometry(footprint: Footprint) -> dict:
    """The footprint as RFC 7946 GeoJSON geometry (split at the antimeridian, closed over a pole)."""
    return polygon_geometry([footprint_ring(footprint)])


def _plane(footprint: Footprint, centre: tuple[float, float]) -> shapely.Geometry:
    """The footprint in the azimuthal equidistant frame at ``centre`` (m)."""
    if isinstance(footprint, Circle):
        if footprint.centre == centre:
            # circumscribed polygon: never smaller than the circle, at most 0.01 % larger
            segments = CIRCLE_SEGMENTS
            grow = 1.0 / np.cos(np.pi / (4 * segments))
            return shapely.Point(0.0, 0.0).buffer(footprint.radius * grow, quad_segs=segments)
        return _offset_circle(footprint, centre)
    return shapely.Polygon(aeqd(footprint.densified(), *centre))


def _offset_circle(circle: Circle, centre: tuple[float, float]) -> shapely.Geometry:
    """A circle not at the frame centre: its boundary points, placed by geodesics, every EDGE_STEP at most."""
    count = int(max(4 * CIRCLE_SEGMENTS, np.ceil(2 * np.pi * circle.radius / EDGE_STEP)))
    azimuth = np.linspace(0.0, 360.0, count, endpoint=False)
    grow = 1.0 / np.cos(np.pi / count)  # circumscribed: chords never cut into the circle
    lon, lat, _ = _GEOD.fwd(np.full(count, circle.lon), np.full(count, circle.lat), azimuth,
                            np.full(count, circle.radius * grow))
    return shapely.Polygon(aeqd(np.column_stack((lat, lon)), *centre))


def aeqd(points: np.ndarray, lat0: float, lon0: float) -> np.ndarray:
    """(lat, lon) points to azimuthal equidistant x east, y north (m) about (lat0, lon0)."""
    n = len(points)
    azimuth, _, distance = _GEOD.inv(np.full(n, lon0), np.full(n, lat0), points[:, 1], points[:, 0])
    azimuth = np.radians(np.asarray(azimuth))
    distance = np.asarray(distance)
    return np.column_stack((distance * np.sin(azimuth), distance * np.cos(azimuth)))


def latlon_rings(shape: shapely.Geometry, centre: tuple[float, float]) -> list[np.ndarray]:
    """Exterior of every polygon part of a planar shape back to (lat, lon) (parts of an intersection
    of simple polygons have no holes)."""
    parts = [shape] if shape.geom_type == "Polygon" else [g for g in getattr(shape, "geoms", [])
                                                          if g.geom_type == "Polygon"]
    return [latlon_ring(part, centre) for part in parts if not part.is_empty]


def latlon_ring(shape: shapely.Geometry, centre: tuple[float, float]) -> np.ndarray:
    """Exterior of a planar polygon back to (lat, lon)."""
    xy = np.asarray(shape.exterior.coords)
    azimuth = np.degrees(np.arctan2(xy[:, 0], xy[:, 1]))
    distance = np.hypot(xy[:, 0], xy[:, 1])
    lon, lat, _ = _GEOD.fwd(np.full(len(xy), centre[1]), np.full(len(xy), centre[0]), azimuth, distance)
    return np.column_stack((lat, lon))


def _densify(points: np.ndarray) -> np.ndarray:
    """Insert points along each geodesic edge so that no chord is longer than EDGE_STEP."""
    closed = np.vstack((points, points[:1]))
    _, _, length = _GEOD.inv(closed[:-1, 1], closed[:-1, 0], closed[1:, 1], closed[1:, 0])
    out = []
    for k, edge in enumerate(np.asarray(length)):
        out.append(closed[k])
        extra = int(np.ceil(edge / EDGE_STEP)) - 1
        if extra > 0:
            middle = _GEOD.npts(closed[k, 1], closed[k, 0], closed[k + 1, 1], closed[k + 1, 0], extra)
            out.extend((lat, lon) for lon, lat in middle)
    return np.asarray(out, dtype=float)
