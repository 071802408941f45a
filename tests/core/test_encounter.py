"""Violation intervals of protected volumes: SPEC §3's plain volume against detection, DO-365's
well clear against a sampled brute force of DAIDALUS's definitions, and hand-computed encounters."""

from __future__ import annotations

import numpy as np
import pytest

from deconflict import States, detect
from deconflict.core.encounter import Encounter, ProtectedVolume, violation_interval
from deconflict.core.units import FOOT, KNOT, NAUTICAL_MILE
from tests.core.reference import classify, well_clear_violated
from tests.core.traffic import random_traffic

EARTH = 6378137.0


def all_pairs(s: States) -> tuple[np.ndarray, np.ndarray, Encounter]:
    i, j = np.triu_indices(len(s), k=1)
    return i, j, Encounter.between(s.lat, s.lon, s.velocity, s.heading, s.vertrate, s.altitude, i, j)


def head_on(distance: float, speed: float, altitude_b: float = 1000.0, vertrate_b: float = 0.0) -> Encounter:
    """Two aircraft on the equator ``distance`` m apart flying at each other at ``speed`` m/s."""
    s = States.from_arrays(icao24=["a", "b"], time=0.0, lat=0.0, lon=[0.0, np.degrees(distance / EARTH)],
                           velocity=speed, heading=[90.0, 270.0], vertrate=[0.0, vertrate_b],
                           altitude=[1000.0, altitude_b], at=0.0)
    return all_pairs(s)[2]


@pytest.mark.parametrize("seed", range(4))
def test_plain_volume_matches_detection(seed):
    s = random_traffic(seed, 120, radius_km=60.0)
    i, j, encounter = all_pairs(s)
    t_in, t_out = violation_interval(encounter, ProtectedVolume(9260.0, 304.8), 300.0)
    found = detect(s, lookahead=300.0)
    by_pair = {(a, b): k for k, (a, b) in enumerate(zip(i.tolist(), j.tolist()))}
    hits = {(a, b) for a, b, x, y in zip(i.tolist(), j.tolist(), t_in, t_out) if x <= y}
    must, maybe = classify(s.lat, s.lon, s.velocity, s.heading, s.altitude, s.vertrate, 300.0, 9260.0, 304.8)
    assert must <= hits <= maybe
    assert len(must) > 20
    for a, b, x, y in zip(found.index_a.tolist(), found.index_b.tolist(), found.t_in, found.t_out):
        k = by_pair[(min(a, b), max(a, b))]
        assert t_in[k] == pytest.approx(x, abs=1e-6) and t_out[k] == pytest.approx(y, abs=1e-6)


def low_level_traffic(seed: int, n: int) -> States:
    """Drones and light aircraft: within 8 km and 600 m of altitude, 20-150 m/s, climbing and descending."""
    rng = np.random.default_rng(seed)
    lat = 47.0 + rng.uniform(-1, 1, n) * 8000.0 / 111_000.0
    lon = 8.0 + rng.uniform(-1, 1, n) * 8000.0 / 75_800.0
    level = rng.uniform(size=n) < 0.5
    return States.from_arrays(icao24=[f"u{k:03d}" for k in range(n)], time=0.0, lat=lat, lon=lon,
                              velocity=rng.uniform(20.0, 150.0, n), heading=rng.uniform(0.0, 360.0, n),
                              vertrate=np.where(level, 0.0, rng.normal(0.0, 5.0, n)),
                              altitude=rng.uniform(100.0, 700.0, n), at=0.0)


@pytest.mark.parametrize("seed", range(3))
def test_well_clear_matches_sampled_definition(seed):
    s = low_level_traffic(seed, 60)
    volume = ProtectedVolume(hsep=4000 * FOOT, vsep=450 * FOOT, tau=35.0, hmd=4000 * FOOT, tcoa=20.0)
    _, _, encounter = all_pairs(s)
    i, j = np.triu_indices(len(s), k=1)
    t_in, t_out = violation_interval(encounter, volume, 55.0)
    hits = {(a, b) for a, b, x, y in zip(i.tolist(), j.tolist(), t_in, t_out) if x <= y}
    args = (s.lat, s.lon, s.velocity, s.heading, s.altitude, s.vertrate, 55.0, volume.hsep, volume.vsep,
            volume.tau, volume.miss_distance, volume.tcoa)
    must, maybe = well_clear_violated(*args, scale=0.99), well_clear_violated(*args, scale=1.01)
    missed, spurious = must - hits, hits - maybe
    assert not missed, f"missed well-clear violations {sorted(missed)[:5]}"
    assert not spurious, f"spurious well-clear violations {sorted(spurious)[:5]}"
    assert len(must) > 30 and len(maybe - must) < 0.2 * len(must)


def test_modified_tau_head_on_by_hand():
    # closing at V, tau_mod = (D^2 - r^2) / (-r V) <= 35 s from r = (35 V + sqrt((35 V)^2 + 4 D^2)) / 2
    dmod, closing, distance = 4000 * FOOT, 200 * KNOT, 3 * NAUTICAL_MILE
    entry = (35 * closing + np.sqrt((35 * closing) ** 2 + 4 * dmod**2)) / 2
    volume = ProtectedVolume(hsep=dmod, vsep=450 * FOOT, tau=35.0)
    t_in, t_out = violation_interval(head_on(distance, closing / 2), volume, 120.0)
    assert t_in[0] == pytest.approx((distance - entry) / closing, abs=1e-3)
    assert t_out[0] == pytest.approx((distance + dmod) / closing, abs=1e-3)  # leaves the DMOD disc


def test_tau_needs_a_small_miss_distance():
    # parallel offset tracks: miss distance just above / below HMD
    volume = ProtectedVolume(hsep=4000 * FOOT, vsep=450 * FOOT, tau=35.0, hmd=3000 * FOOT)
    for offset, expected in ((3100 * FOOT, "disc only"), (2900 * FOOT, "tau")):
        lat_b = np.degrees(offset / EARTH)
        s = States.from_arrays(icao24=["a", "b"], time=0.0, lat=[0.0, lat_b], lon=[0.0, np.degrees(8000 / EARTH)],
                               velocity=100.0, heading=[90.0, 270.0], vertrate=0.0, altitude=1000.0, at=0.0)
        t_in, _ = violation_interval(all_pairs(s)[2], volume, 120.0)
        disc_entry = (8000 - np.sqrt((4000 * FOOT) ** 2 - offset**2)) / 200.0
        if expected == "tau":
            assert t_in[0] < disc_entry - 5.0
        else:
            assert t_in[0] == pytest.approx(disc_entry, abs=0.05)


def test_time_to_co_altitude_extends_the_vertical_interval():
    # same place, b 1000 ft above descending at 5 m/s: |dz| <= 450 ft from t = 550 ft / 5 m/s;
    # co-altitude at 1000 ft / 5 m/s, within tcoa = 40 s from 40 s before it
    encounter = head_on(1.0, 0.0, altitude_b=1000.0 + 1000 * FOOT, vertrate_b=-5.0)
    plain = violation_interval(encounter, ProtectedVolume(1000.0, 450 * FOOT), 300.0)[0][0]
    with_tcoa = violation_interval(encounter, ProtectedVolume(1000.0, 450 * FOOT, tcoa=40.0), 300.0)[0][0]
    assert plain == pytest.approx(550 * FOOT / 5.0)
    assert with_tcoa == pytest.approx(1000 * FOOT / 5.0 - 40.0)
    assert with_tcoa < plain


def test_volume_rejects_nonsense():
    with pytest.raises(ValueError, match="hsep"):
        ProtectedVolume(0.0, 300.0)
    with pytest.raises(ValueError, match="hmd"):
        ProtectedVolume(1000.0, 300.0, hmd=2000.0)
