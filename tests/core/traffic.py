"""Seeded random traffic for tests: snapshots in a region, with clustered close pairs."""

from __future__ import annotations

import numpy as np
from pyproj import Geod

from deconflict import States

GEOD = Geod(ellps="WGS84")


def random_traffic(seed: int, n: int, center=(45.0, 10.0), radius_km: float = 150.0, party_count: int = 3,
                   fast_fraction: float = 0.0) -> States:
    """Aircraft scattered within ``radius_km`` of ``center`` (lat, lon); some levelled at flight levels,
    some climbing or descending; a fraction re-placed close to another one so that near-conflicts abound."""
    rng = np.random.default_rng(seed)
    az = rng.uniform(0, 360, n)
    dist = radius_km * 1000.0 * np.sqrt(rng.uniform(0, 1, n))
    lon, lat, _ = GEOD.fwd(np.full(n, center[1]), np.full(n, center[0]), az, dist)
    # a third of the aircraft start near another one: borderline geometries
    near = rng.uniform(size=n) < 0.33
    partners = rng.integers(0, n, n)
    lon2, lat2, _ = GEOD.fwd(lon[partners], lat[partners], rng.uniform(0, 360, n), rng.uniform(0, 25000, n))
    lon, lat = np.where(near, lon2, lon), np.where(near, lat2, lat)
    speed = rng.uniform(0, 280, n)
    speed[rng.uniform(size=n) < fast_fraction] = rng.uniform(600, 1500)
    track = rng.uniform(0, 360, n)
    level = rng.uniform(size=n) < 0.5
    altitude = np.where(level, rng.integers(20, 40, n) * 304.8, rng.uniform(0, 12000, n))
    altitude = np.where(near, altitude[partners] + rng.normal(0, 300, n), altitude)
    vertrate = np.where(level, 0.0, rng.normal(0, 8, n))
    party = rng.choice(["", "blue", "orange", "green"][: party_count + 1], n)
    return States.from_arrays(
        icao24=[f"{k:06x}" for k in rng.permutation(n)], time=0.0, lat=lat, lon=lon, velocity=speed,
        heading=track, vertrate=vertrate, altitude=altitude, party=party, at=0.0,
    )
