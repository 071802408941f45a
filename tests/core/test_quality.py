"""Held positions: a feed that repeats an aircraft's last position with new times (what recorders and
aggregators do when position messages stop) must not pin a moving aircraft in place."""

from __future__ import annotations

import numpy as np

from deconflict.core.geodesy import geodesic_distance
from deconflict.core.quality import FROZEN_MIN_SPEED, FROZEN_SHARE, HELD_WINDOW, held_positions


def _reference(same, time, lat, lon, speed) -> np.ndarray:
    """Brute force: each report against its track's last report that brought a position."""
    fresh = np.ones(time.size, dtype=bool)
    last = None
    for k in range(time.size):
        if not same[k]:
            last = None
        if last is not None and speed[k] >= FROZEN_MIN_SPEED:
            moved = float(geodesic_distance(lat[last], lon[last], lat[k], lon[k]))
            if moved < FROZEN_SHARE * speed[k] * min(max(time[k] - time[last], 1.0), HELD_WINDOW):
                fresh[k] = False
                continue
        last = k
    return fresh


def test_a_position_repeated_for_minutes_is_held_from_its_first_repeat():
    time = np.arange(0.0, 600.0, 5.0)
    lat = np.full(time.size, 48.7)
    lon = 2.3 + np.minimum(time, 60.0) * 200.0 / 73_500.0  # moves for 60 s at 200 m/s, then repeats
    speed = np.full(time.size, 200.0)
    same = np.ones(time.size, dtype=bool)
    same[0] = False
    fresh = held_positions(same, time, lat, lon, speed)
    assert fresh[time <= 60.0].all() and not fresh[time > 60.0].any()


def test_slow_reports_and_other_tracks_are_never_held():
    time = np.array([0.0, 10.0, 20.0, 0.0, 10.0])
    lat = np.full(5, 45.0)
    lon = np.full(5, 5.0)
    speed = np.array([200.0, 5.0, 5.0, 200.0, 200.0])  # a hover; then a second track at the same point
    same = np.array([False, True, True, False, True])
    fresh = held_positions(same, time, lat, lon, speed)
    assert fresh.tolist() == [True, True, True, True, False]


def test_held_positions_agree_with_a_brute_force_reference_on_random_feeds():
    rng = np.random.default_rng(7)
    for _ in range(50):
        n = int(rng.integers(2, 80))
        same = rng.random(n) < 0.85
        same[0] = False
        time = np.cumsum(rng.choice([0.0, 0.4, 1.0, 5.0, 30.0], n))
        step = rng.choice([0.0, 1e-5, 1e-3, 2e-2], n)  # degrees: repeated, crawling, moving
        lat = np.clip(np.cumsum(step) + rng.uniform(-89.0, 89.0), -89.9, 89.9)
        lon = rng.uniform(-180.0, 180.0) + np.cumsum(step)
        speed = rng.choice([0.0, 5.0, 15.0, 250.0], n)
        got = held_positions(same, time, lat, lon, speed)
        assert got.tolist() == _reference(same, time, lat, lon, speed).tolist()


def test_an_aircraft_departing_near_where_it_was_last_seen_an_hour_ago_is_believed():
    """A landed aircraft's last report, then an hour later the same aircraft rolling 300 m from it."""
    same = np.array([False, True])
    fresh = held_positions(same, np.array([0.0, 3600.0]), np.array([45.0, 45.0]),
                           np.array([5.0, 5.0 + 300.0 / 78_850.0]), np.array([70.0, 80.0]))
    assert fresh.tolist() == [True, True]
