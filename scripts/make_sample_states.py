"""Generate the bundled demo snapshot `src/deconflict/data/sample_states.csv` (seeded, reproducible).

Two air forces ("blue", "orange") and scheduled cargo flights ("cargo") share the airspace
around an air base, with civil overflights of unknown party. Besides random traffic the file holds
encounters a user should see: a head-on pair of the two air forces, cargo descending through a
patrol's level, a formation flight already in loss of separation, traffic level exactly 1000 ft
apart (separated), a stale track, an aircraft on the ground, and a few bad rows.

    python scripts/make_sample_states.py
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from pyproj import Geod

GEOD = Geod(ellps="WGS84")
BASE = (35.41, 35.95)  # lat, lon of the air base
NOW = 1445320800.0  # 2015-10-20T06:00:00Z
FT = 0.3048
OUT = Path(__file__).resolve().parents[1] / "src" / "deconflict" / "data" / "sample_states.csv"
COLUMNS = ["time", "icao24", "lat", "lon", "velocity", "heading", "vertrate", "callsign", "onground",
           "baroaltitude", "geoaltitude", "party"]


def main() -> None:
    rng = np.random.default_rng(2015)
    aircraft = []  # (icao24, callsign, party, lat, lon, speed, track, vertrate, altitude, onground, last_seen_age)

    def place(bearing: float, distance_km: float) -> tuple[float, float]:
        lon, lat, _ = GEOD.fwd(BASE[1], BASE[0], bearing, distance_km * 1000.0)
        return lat, lon

    parties = {"blue": ("b", "BLU"), "orange": ("e", "ORG"), "cargo": ("c", "CGO"), "": ("4", "")}
    counts = {"blue": 60, "orange": 60, "cargo": 12, "": 110}
    serial = 0
    for party, count in counts.items():
        prefix, call = parties[party]
        for _ in range(count):
            serial += 1
            lat, lon = place(rng.uniform(0, 360), 300.0 * np.sqrt(rng.uniform()))
            level = rng.integers(100, 400) * 100 * FT if party != "cargo" else rng.integers(60, 250) * 100 * FT
            vertrate = 0.0 if rng.uniform() < 0.7 else rng.choice([-1, 1]) * rng.uniform(3, 15)
            callsign = f"{call}{serial:03d}" if call else f"CIV{rng.integers(100, 999)}"
            aircraft.append([f"{prefix}{serial:05x}", callsign, party, lat, lon, rng.uniform(110, 260),
                             rng.uniform(0, 360), vertrate, level, False, 0.0])

    def add(icao, callsign, party, bearing, dist_km, speed, track, vertrate, alt_ft, onground=False, age=0.0):
        lat, lon = place(bearing, dist_km)
        aircraft.append([icao, callsign, party, lat, lon, speed, track, vertrate, alt_ft * FT, onground, age])

    # head-on: blue and orange at FL250, 80 km apart, closing at 460 m/s
    add("b0e001", "BLU901", "blue", 0.0, 100.0, 230.0, 90.0, 0.0, 25000)
    lat, lon = aircraft[-1][3], aircraft[-1][4]
    lon2, lat2, _ = GEOD.fwd(lon, lat, 90.0, 80_000.0)
    aircraft.append(["e0e001", "ORG901", "orange", lat2, lon2, 230.0, 270.0, 0.0, 25000 * FT, False, 0.0])
    # cargo descending into the base through an orange patrol orbiting at FL120
    add("c0c001", "CGO77", "cargo", 200.0, 60.0, 150.0, 20.0, -10.0, 16000)
    add("e0e002", "ORG902", "orange", 200.0, 40.0, 120.0, 110.0, 0.0, 12000)
    # blue formation: 1 NM apart, same velocity: already in loss of separation
    add("b0f001", "BLU911", "blue", 120.0, 150.0, 200.0, 300.0, 0.0, 30000)
    lat, lon = aircraft[-1][3], aircraft[-1][4]
    lon2, lat2, _ = GEOD.fwd(lon, lat, 30.0, 1852.0)
    aircraft.append(["b0f002", "BLU912", "blue", lat2, lon2, 200.0, 300.0, 0.0, 30000 * FT, False, 0.0])
    # level traffic exactly 1000 ft apart on crossing tracks: separated
    add("40a001", "CIV501", "", 300.0, 120.0, 220.0, 0.0, 0.0, 33000)
    add("e0a001", "ORG931", "orange", 300.0, 120.5, 220.0, 180.0, 0.0, 34000)
    # stale: last heard 3 minutes ago, would conflict with BLU901 otherwise
    add("e0d001", "ORG990", "orange", 0.0, 105.0, 0.0, 0.0, 0.0, 25000, age=180.0)
    # on the ground at the base
    add("c0c002", "CGO78", "cargo", 0.0, 0.5, 5.0, 90.0, 0.0, 0, onground=True)

    rows = []
    for icao, callsign, party, lat, lon, speed, track, vertrate, alt, onground, age in aircraft:
        period = rng.uniform(4.0, 12.0)
        for back in np.arange(age, 61.0 + age, period)[::-1]:
            # position `back` seconds before NOW, flying the reciprocal track backwards
            lon_b, lat_b, azimuth = GEOD.fwd(lon, lat, (track + 180.0) % 360.0, speed * back)
            track_b = (azimuth + 180.0) % 360.0 if back > 0 else track
            baro = alt - vertrate * back
            rows.append([round(NOW - back, 2), icao, round(lat_b, 6), round(lon_b, 6), round(speed, 2),
                         round(track_b, 2), round(vertrate, 2), callsign, onground,
                         round(baro, 1), round(baro + rng.normal(150, 20), 1), party])
    rows.sort(key=lambda r: r[0])
    # bad rows, as a real feed has them
    bad = [
        [NOW - 30, "4bad01", 95.0, 36.0, 200.0, 10.0, 0.0, "BAD1", False, 9000.0, 9100.0, ""],
        [NOW - 20, "4bad02", 35.0, 36.0, "", 10.0, 0.0, "BAD2", False, 9000.0, 9100.0, ""],
        [NOW - 10, "", 35.2, 36.1, 200.0, 10.0, 0.0, "BAD3", False, 9000.0, 9100.0, ""],
    ]
    for offset, row in zip((40, 400, 1200), bad):
        rows.insert(offset, row)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows for {len(aircraft)} aircraft to {OUT}")


if __name__ == "__main__":
    main()
