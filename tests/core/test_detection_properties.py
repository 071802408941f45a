"""Property tests (hypothesis) of detection on random traffic."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from deconflict import States, detect, detect_all_pairs

settings.register_profile("deconflict", max_examples=60, deadline=None)
settings.load_profile("deconflict")


@st.composite
def traffic(draw, max_size=40):
    n = draw(st.integers(2, max_size))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    lat0 = draw(st.floats(-89.9, 89.9))
    lon0 = draw(st.floats(-180, 180))
    spread = draw(st.sampled_from([0.05, 0.3, 1.5]))  # degrees: from a tight cluster to a region
    lat = np.clip(lat0 + rng.normal(0, spread, n), -90, 90)
    lon = (lon0 + rng.normal(0, spread, n) + 180) % 360 - 180
    speed = rng.choice([0.0, 60.0, 230.0, 900.0], n) * rng.uniform(0.5, 1.0, n)
    track = rng.uniform(0, 360, n)
    level = rng.uniform(size=n) < 0.5
    altitude = np.where(level, rng.integers(0, 6, n) * 304.8 + 9000, rng.uniform(8000, 11000, n))
    vertrate = np.where(level, 0.0, rng.normal(0, 10, n))
    return States.from_arrays(icao24=[f"id{k:03d}" for k in range(n)], time=0.0, lat=lat, lon=lon, velocity=speed,
                              heading=track, vertrate=vertrate, altitude=altitude,
                              party=rng.choice(["", "x", "y"], n), at=0.0)


lookaheads = st.sampled_from([30.0, 300.0, 1200.0])


def rows(conflicts):
    return {(r["a"], r["b"]): (r["t_in"], r["t_out"], r["d_cpa"]) for r in conflicts}


@given(traffic(), lookaheads, st.randoms(use_true_random=False))
def test_input_order_does_not_matter(s, lookahead, random):
    permutation = np.array(random.sample(range(len(s)), len(s)))
    first, second = rows(detect(s, lookahead=lookahead)), rows(detect(s.take(permutation), lookahead=lookahead))
    assert first.keys() == second.keys()
    for pair, values in first.items():
        np.testing.assert_allclose(values, second[pair], rtol=1e-9, atol=1e-6)


@given(traffic(), lookaheads, st.data())
def test_a_subset_has_exactly_the_conflicts_among_its_members(s, lookahead, data):
    keep = np.array(data.draw(st.lists(st.booleans(), min_size=len(s), max_size=len(s))))
    subset = s.take(keep)
    members = set(subset.icao24.tolist())
    expected = {p for p in detect(s, lookahead=lookahead).pairs() if p[0] in members and p[1] in members}
    assert detect(subset, lookahead=lookahead).pairs() == expected


@given(traffic(), lookaheads)
def test_mirror_image_traffic_has_the_same_conflicts(s, lookahead):
    """Reflecting the world through the prime meridian (lon -> -lon, track -> -track) changes nothing."""
    mirrored = States.from_arrays(icao24=s.icao24, time=0.0, lat=s.lat, lon=-s.lon, velocity=s.velocity,
                                  heading=(360.0 - s.heading) % 360.0, vertrate=s.vertrate, altitude=s.altitude,
                                  at=0.0)
    original, reflected = rows(detect(s, lookahead=lookahead)), rows(detect(mirrored, lookahead=lookahead))
    assert original.keys() == reflected.keys()
    for pair, values in original.items():
        np.testing.assert_allclose(values, reflected[pair], rtol=1e-6, atol=1e-3)


@given(traffic(), lookaheads)
def test_swapping_the_roles_of_a_pair_gives_the_same_row(s, lookahead):
    reversed_ids = States.from_arrays(icao24=s.icao24[::-1].copy(), time=0.0, lat=s.lat, lon=s.lon,
                                      velocity=s.velocity, heading=s.heading, vertrate=s.vertrate,
                                      altitude=s.altitude, at=0.0)
    # same aircraft, names reversed: every pair is seen from the other side
    names = dict(zip(s.icao24.tolist(), reversed_ids.icao24.tolist()))
    original = rows(detect(s, lookahead=lookahead))
    renamed = rows(detect(reversed_ids, lookahead=lookahead))
    assert {tuple(sorted((names[a], names[b]))) for a, b in original} == set(renamed)
    for (a, b), values in original.items():
        np.testing.assert_allclose(values, renamed[tuple(sorted((names[a], names[b])))], rtol=1e-9, atol=1e-6)


@given(traffic(max_size=80), lookaheads, st.sampled_from([1000.0, 9260.0, 30000.0]))
def test_broad_phase_finds_every_pair_of_the_all_pairs_kernel(s, lookahead, hsep):
    assert detect(s, lookahead=lookahead, hsep=hsep).pairs() == detect_all_pairs(s, lookahead=lookahead,
                                                                                hsep=hsep).pairs()


@given(traffic(), lookaheads)
def test_more_lookahead_never_loses_a_conflict(s, lookahead):
    assert detect(s, lookahead=lookahead).pairs() <= detect(s, lookahead=lookahead * 1.5).pairs()
