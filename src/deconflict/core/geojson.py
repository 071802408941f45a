"""Polygon geometry as RFC 7946 asks (SPEC §5): [lon, lat] positions, exterior rings counter-clockwise,
a polygon crossing the antimeridian split into parts on either side, every part of a multi-part
shape kept (a MultiPolygon), and a ring around a pole closed along the pole.

Rings come in as (lat, lon) arrays, the project's order inside; shapely does the clipping and the
orientation. Coordinates are rounded to ``digits`` decimals (7: about 1 cm).
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import shapely
import shapely.affinity

DIGITS = 7


def polygon_geometry(rings: Iterable[np.ndarray], digits: int = DIGITS) -> dict[str, Any] | None:
    """A GeoJSON Polygon or MultiPolygon of the regions bounded by ``rings`` ((lat, lon) each, closed
    or not); None when there is none."""
    parts: list[shapely.Polygon] = []
    for ring in rings:
        parts.extend(_within_antimeridian(np.asarray(ring, dtype=float)))
    coordinates = []
    for part in parts:
        exterior = np.asarray(shapely.orient_polygons(part).exterior.coords)  # counter-clockwise
        coordinates.append([np.round(exterior, digits).tolist()])
    if not coordinates:
        return None
    if len(coordinates) == 1:
        return {"type": "Polygon", "coordinates": coordinates[0]}
    return {"type": "MultiPolygon", "coordinates": coordinates}


def _within_antimeridian(ring: np.ndarray) -> list[shapely.Polygon]:
    """The region of one (lat, lon) ring as polygons in lon/lat, each within [-180, 180]."""
    if len(ring) < 3:
        return []
    lat = ring[:, 0]
    lon = np.unwrap(ring[:, 1], period=360.0)  # continuous across the antimeridian
    closed = np.allclose(ring[0], ring[-1]) or abs(abs(ring[0, 1] - ring[-1, 1]) - 360.0) < 1e-9
    if not closed:
        lat, lon = np.append(lat, lat[0]), np.append(lon, lon[0] + np.round((lon[-1] - lon[0]) / 360.0) * 360.0)
    turns = np.round((lon[-1] - lon[0]) / 360.0)
    if turns != 0:  # the ring goes once round a pole: close it along the pole (east-west line at +-90)
        pole = 90.0 if np.mean(lat) > 0 else -90.0
        lat = np.concatenate((lat, [pole, pole]))
        lon = np.concatenate((lon, [lon[-1], lon[0]]))
    shape = shapely.Polygon(np.column_stack((lon, lat)))
    if turns == 0 and lon.min() >= -180.0 and lon.max() <= 180.0:
        return [shape]  # the common case: nothing to split
    if not shape.is_valid:
        shape = shapely.make_valid(shape)
    pieces = []
    for k in range(-2, 3):
        window = shapely.box(-180.0 + 360.0 * k, -90.0, 180.0 + 360.0 * k, 90.0)
        clipped = shapely.intersection(shape, window)
        for piece in getattr(clipped, "geoms", [clipped]):
            if piece.geom_type == "Polygon" and not piece.is_empty and piece.area > 0.0:
                pieces.append(shapely.affinity.translate(piece, xoff=-360.0 * k))
    return pieces
