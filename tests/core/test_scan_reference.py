"""Archive scans against an independent reference on designed encounters: tracks that end or pause
inside a grid step, encounters at the pole and across the antimeridian, pairs exactly at the
vertical minimum. The reference moves each aircraft along the pyproj geodesic between its reports
every 0.05 s and measures geodesic distances: nothing of the scan's own geometry."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

from deconflict import States
from deconflict.core.episodes import loss_episodes as scan_defaults


def loss_episodes(states, **options):
    """The scan's geometry alone: no vertical tolerance, no joining, every report kept."""
    return scan_defaults(states, **{"vtol": 0.0, "join": 1e-6, "plausible_only": False, **options})
from deconflict.core.units import FOOT, NAUTICAL_MILE

GEOD = Geod(ellps="WGS84")
HSEP, VSEP = 5 * NAUTICAL_MILE, 1000 * FOOT


def track(lat0, lon0, heading, speed, times, altitude=9000.0, vertrate=0.0):
    """Reports of an aircraft flying the geodesic from (lat0, lon0) at ``heading``, ``speed`` m/s."""
    times = np.asarray(times, dtype=float)
    lon, lat, _ = GEOD.fwd(np.full(times.size, lon0), np.full(times.size, lat0), np.full(times.size, heading),
                           speed * times)
    return times, np.asarray(lat), np.asarray(lon), altitude + vertrate * times


def states(*tracks, ids=("a", "b")) -> States:
    parts = [dict(icao24=[i] * t[0].size, time=t[0], lat=t[1], lon=t[2], altitude=t[3]) for i, t in zip(ids, tracks)]
    return States.from_arrays(icao24=np.concatenate([p["icao24"] for p in parts]),
                              time=np.concatenate([p["time"] for p in parts]),
                              lat=np.concatenate([p["lat"] for p in parts]), lon=np.concatenate([p["lon"] for p in parts]),
                              velocity=200.0, heading=0.0, vertrate=0.0,
                              altitude=np.concatenate([p["altitude"] for p in parts]))


def _interpolate(reports, t):
    times, lat, lon, alt = reports
    k = np.clip(np.searchsorted(times, t, side="right") - 1, 0, times.size - 2)
    f = (t - times[k]) / (times[k + 1] - times[k])
    azimuth, _, distance = GEOD.inv(lon[k], lat[k], lon[k + 1], lat[k + 1])
    plon, plat, _ = GEOD.fwd(lon[k], lat[k], azimuth, f * np.asarray(distance))
    return np.asarray(plat), np.asarray(plon), alt[k] + f * (alt[k + 1] - alt[k])


def reference(a, b, dt=0.05):
    """(start, end, closest distance) of the loss of separation between two report series, or None."""
    t = np.arange(max(a[0][0], b[0][0]), min(a[0][-1], b[0][-1]) + 1e-9, dt)
    la, lo, za = _interpolate(a, t)
    lb, lob, zb = _interpolate(b, t)
    _, _, distance = GEOD.inv(lo, la, lob, lb)
    distance = np.asarray(distance)
    inside = (distance < HSEP) & (np.abs(za - zb) < VSEP - 1e-6)
    if not inside.any():
        return None
    k = int(np.flatnonzero(inside)[np.argmin(distance[inside])])

    def at(moment: float) -> float:
        (p, q, _), (r, u, _) = _interpolate(a, np.array([moment])), _interpolate(b, np.array([moment]))
        return float(GEOD.inv(q, p, u, r)[2][0])

    low, high = t[max(k - 1, 0)], t[min(k + 1, t.size - 1)]
    for _ in range(60):  # golden-section search of the closest distance between the samples around it
        m1, m2 = high - 0.618 * (high - low), low + 0.618 * (high - low)
        if at(m1) < at(m2):
            high = m2
        else:
            low = m1
    return t[inside][0], t[inside][-1], min(at(0.5 * (low + high)), float(distance[k]))


def _one(episodes):
    frame = episodes.to_pandas()
    assert len(frame) == 1, frame
    return frame.iloc[0]


def test_a_loss_in_the_last_seconds_of_a_track_is_found():
    """One track ends 3.1 s into a grid step, inside the loss: the step was never searched."""
    a = track(0.0, 0.0, 90.0, 200.0, np.arange(0.0, 103.2, 4.0).tolist() + [103.1])
    b_lon = GEOD.fwd(0.0, 0.0, 90.0, HSEP + 400.0 * 101.0)[0]  # head-on: inside 5 NM from 101 s on
    b = track(0.0, b_lon, 270.0, 200.0, np.arange(0.0, 200.0, 4.0))
    expected = reference(a, b)
    assert expected is not None and expected[0] > 100.0  # the loss starts in the track's last step
    row = _one(loss_episodes(states(a, b), step=5.0))
    assert row.start == pytest.approx(expected[0], abs=0.1)
    assert row.end == pytest.approx(103.1, abs=0.01)
    assert row.min_distance == pytest.approx(expected[2], rel=0.002, abs=2.0)


def test_episodes_end_where_the_loss_ends_and_report_the_true_closest_distance():
    """A track that pauses (a gap over max_gap) inside a loss: the episode runs to its last report."""
    times_a = np.concatenate((np.arange(0.0, 61.0, 3.0), [62.7], np.arange(130.0, 300.0, 3.0)))
    a = track(45.0, 10.0, 90.0, 230.0, times_a)
    b = track(45.0, 10.3, 270.0, 230.0, np.arange(0.0, 300.0, 3.0), altitude=9100.0)
    ends = loss_episodes(states(a, b), step=5.0, max_gap=60.0).to_pandas()
    first = ends.iloc[0]
    pause = (a[0][a[0] <= 62.7], a[1][a[0] <= 62.7], a[2][a[0] <= 62.7], a[3][a[0] <= 62.7])
    expected = reference(pause, b)
    assert first.end == pytest.approx(62.7, abs=0.01)
    assert first.start == pytest.approx(expected[0], abs=0.1)
    assert first.min_distance == pytest.approx(expected[2], rel=0.002, abs=2.0)


@pytest.mark.parametrize("lat0, lon0", [(89.98, 0.0), (-89.98, 120.0), (0.0, 179.99), (65.0, -179.995)])
def test_tracks_are_interpolated_on_the_ellipsoid_at_the_pole_and_the_antimeridian(lat0, lon0):
    """Reports 20 s apart passing 2 km from the pole: linear lat/lon put the closest approach 60 m off."""
    times = np.arange(0.0, 241.0, 20.0)
    start_lon, start_lat, _ = GEOD.fwd(lon0, lat0, 180.0, 200.0 * 120.0)
    toward = GEOD.inv(start_lon, start_lat, lon0, lat0)[0]
    a = track(start_lat, start_lon, toward, 200.0, times)
    b_lon, b_lat, _ = GEOD.fwd(lon0, lat0, 90.0, 550.0)
    b = track(b_lat, b_lon, 0.0, 0.0, times, altitude=9050.0)  # holding still, 550 m off the first's path
    expected = reference(a, b)
    row = _one(loss_episodes(states(a, b), step=5.0))
    assert row.min_distance == pytest.approx(expected[2], rel=0.01, abs=5.0)
    assert row.start == pytest.approx(expected[0], abs=0.5) and row.end == pytest.approx(expected[1], abs=0.5)


def test_level_pairs_exactly_at_the_vertical_minimum_are_separated():
    times = np.arange(0.0, 200.0, 4.0)
    a = track(45.0, 10.0, 90.0, 200.0, times, altitude=30000 * FOOT)
    b = track(45.0, 10.2, 270.0, 200.0, times, altitude=31000 * FOOT)
    assert len(loss_episodes(states(a, b), step=5.0)) == 0
    # climbing together 1000 ft apart (interpolated altitudes carry float noise): separated too
    c = track(45.0, 10.0, 90.0, 200.0, times + 0.7, altitude=30000 * FOOT, vertrate=7.3)
    d = track(45.0, 10.2, 270.0, 200.0, times + 2.3, altitude=31000 * FOOT + 2.3 * 7.3 - 0.7 * 7.3, vertrate=7.3)
    assert len(loss_episodes(states(c, d), step=5.0)) == 0
    e = track(45.0, 10.2, 270.0, 200.0, times, altitude=31000 * FOOT - 0.01)  # 1 cm inside: a loss
    assert len(loss_episodes(states(a, e), step=5.0)) == 1


@pytest.mark.parametrize("seed", range(6))
def test_random_designed_encounters_match_the_reference(seed):
    rng = np.random.default_rng(seed)
    lat0 = float(rng.choice([0.0, 45.0, 70.0, -60.0, 85.0]))
    lon0 = float(rng.choice([0.0, 179.95, -179.95, 30.0]))
    report_a, report_b = float(rng.uniform(1.0, 9.0)), float(rng.uniform(1.0, 9.0))
    end_a = float(rng.uniform(80.0, 200.0))
    a = track(lat0, lon0, float(rng.uniform(0, 360)), float(rng.uniform(100, 250)),
              np.append(np.arange(0.0, end_a, report_a), end_a))
    meet_lon, meet_lat, _ = GEOD.fwd(a[2][0], a[1][0], GEOD.inv(a[2][0], a[1][0], a[2][-1], a[1][-1])[0],
                                     float(rng.uniform(0.3, 0.9)) * GEOD.inv(a[2][0], a[1][0], a[2][-1], a[1][-1])[2])
    heading = float(rng.uniform(0, 360))
    speed = float(rng.uniform(100, 250))
    back_lon, back_lat, _ = GEOD.fwd(meet_lon, meet_lat, heading + 180.0, speed * 60.0)
    offset_lon, offset_lat, _ = GEOD.fwd(back_lon, back_lat, heading + 90.0, float(rng.uniform(0, 8000)))
    b = track(float(offset_lat), float(offset_lon), heading, speed, np.arange(float(rng.uniform(0, 5)), 240.0, report_b),
              altitude=9000.0 + float(rng.uniform(-250, 250)))
    expected = reference(a, b)
    found = loss_episodes(states(a, b), step=5.0, max_gap=60.0).to_pandas()
    if expected is None:
        assert found.empty or (found.min_distance > HSEP * 0.99).all()
        return
    assert len(found) == 1, found
    row = found.iloc[0]
    assert row.start == pytest.approx(expected[0], abs=0.15) and row.end == pytest.approx(expected[1], abs=0.15)
    assert row.min_distance == pytest.approx(expected[2], rel=0.003, abs=3.0)
