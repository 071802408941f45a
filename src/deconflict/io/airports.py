"""Airports for the map, from the `airportsdata` package (about 28,000 airports with an ICAO code,
MIT-licensed, shipped inside the package: nothing is fetched at run time)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

MAX_AIRPORTS = 2000  # in one answer: the map asks for what its view holds


@lru_cache(maxsize=1)
def _table() -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Latitudes, longitudes and records of every airport, read once."""
    import airportsdata

    records = list(airportsdata.load("ICAO").values())
    return (np.array([r["lat"] for r in records], dtype=float), np.array([r["lon"] for r in records], dtype=float),
            records)


def airports_in(south: float, west: float, north: float, east: float, limit: int = MAX_AIRPORTS) -> list[dict]:
    """Airports inside the box (degrees; ``west`` > ``east`` across the antimeridian), at most ``limit``,
    the largest first (by how often an IATA code marks a commercial field, then by ICAO code)."""
    lat, lon, records = _table()
    inside_lon = (lon >= west) & (lon <= east) if west <= east else (lon >= west) | (lon <= east)
    rows = np.flatnonzero((lat >= south) & (lat <= north) & inside_lon)
    chosen = sorted(rows.tolist(), key=lambda k: (records[k]["iata"] == "", records[k]["icao"]))[:limit]
    return [{"icao": records[k]["icao"], "iata": records[k]["iata"], "name": records[k]["name"],
             "lat": records[k]["lat"], "lon": records[k]["lon"], "elevation_ft": records[k]["elevation"]}
            for k in chosen]
