"""MVP resolution: hand-made encounters, one-sided manoeuvres, and every isolated conflict resolved."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

from deconflict import States, detect
from deconflict.core.resolution import ResolutionError, mvp, resolve
from deconflict.core.units import FOOT, KNOT, NAUTICAL_MILE

GEOD = Geod(ellps="WGS84")
R, H = 5 * NAUTICAL_MILE, 1000 * FOOT


def pair(distance_nm: float, track_a: float, track_b: float | None = None, speed_kt=(250.0, 250.0),
         dz_ft: float = 0.0, vertrate=(0.0, 0.0), lat: float = 50.0, lon: float = 10.0,
         parties=("blue", "orange")) -> States:
    """a at (lat, lon) on ``track_a``; b ``distance_nm`` ahead of a on ``track_b`` (default: exactly head-on)."""
    lon_b, lat_b, back = GEOD.fwd(lon, lat, track_a, distance_nm * NAUTICAL_MILE)
    track_b = back if track_b is None else track_b
    return States.from_arrays(icao24=["a", "b"], time=0.0, lat=[lat, lat_b], lon=[lon, lon_b],
                              velocity=np.array(speed_kt) * KNOT, heading=[track_a, track_b], vertrate=list(vertrate),
                              altitude=[9000.0, 9000.0 + dz_ft * FOOT], party=list(parties), at=0.0)


def apply(s: States, manoeuvres) -> States:
    """The snapshot with the manoeuvring aircraft on their new velocities."""
    speed, track, vertrate = s.velocity.copy(), s.heading.copy(), s.vertrate.copy()
    speed[manoeuvres.index], track[manoeuvres.index], vertrate[manoeuvres.index] = (
        manoeuvres.speed, manoeuvres.track, manoeuvres.vertrate)
    return States.from_arrays(icao24=s.icao24, time=s.time, lat=s.lat, lon=s.lon, velocity=speed, heading=track,
                              vertrate=vertrate, altitude=s.altitude, party=s.party, at=s.at)


def test_head_on_both_turn_right_and_clear():
    s = pair(30.0, 90.0)
    m = resolve(s, hsep=R, vsep=H, margin=1.1)
    assert m.icao24.tolist() == ["a", "b"]
    turn = (m.track - s.heading + 180.0) % 360.0 - 180.0
    assert np.all(turn > 5.0)  # both to the right (clockwise)
    assert np.abs(m.delta_east).max() < 0.02 * np.abs(m.delta_north).max()  # a sideways push on an east-west pair
    assert len(detect(apply(s, m), hsep=R, vsep=H)) == 0


def test_one_sided_manoeuvre_takes_the_whole_change():
    s = pair(30.0, 90.0)
    both = resolve(s, hsep=R, vsep=H, margin=1.1)
    alone = resolve(s, hsep=R, vsep=H, margin=1.1, manoeuvres=np.array([True, False]))
    assert alone.icao24.tolist() == ["a"]
    assert alone.delta_north[0] == pytest.approx(2 * both.delta_north[0])
    assert len(detect(apply(s, alone), hsep=R, vsep=H)) == 0
    nobody = resolve(s, hsep=R, vsep=H, manoeuvres=np.array([False, False]))
    assert len(nobody) == 0


def test_vertical_resolution_moves_apart_by_the_minimum():
    # head-on, b 200 ft above: b climbs, a descends, 1000 ft x 1.1 apart when horizontal loss starts
    s = pair(30.0, 90.0, dz_ft=200.0)
    m = resolve(s, hsep=R, vsep=H, margin=1.1, dimensions="vertical")
    assert m.track == pytest.approx(s.heading) and m.speed == pytest.approx(s.velocity)
    assert m.vertrate[0] < 0.0 < m.vertrate[1]
    t_loss = (30.0 - 5.0 * 1.1) * NAUTICAL_MILE / (500 * KNOT)
    dz = 200 * FOOT + (m.vertrate[1] - m.vertrate[0]) * t_loss
    assert dz == pytest.approx(1.1 * H, rel=1e-3)
    assert len(detect(apply(s, m), hsep=R, vsep=H)) == 0


def test_speed_and_heading_only():
    s = pair(20.0, 45.0, 315.0)  # b crosses a's path ahead
    heading = resolve(s, hsep=R, vsep=H, dimensions="heading")
    assert heading.speed == pytest.approx(s.velocity[heading.index])
    speed = resolve(s, hsep=R, vsep=H, dimensions="speed", speed_limits=(100.0, 200.0))
    assert speed.track == pytest.approx(s.heading[speed.index])
    assert np.all((speed.speed >= 100.0) & (speed.speed <= 200.0))
    with pytest.raises(ResolutionError, match="dimensions"):
        resolve(s, dimensions="sideways")


@pytest.mark.parametrize("one_sided", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_every_isolated_conflict_is_resolved(seed, one_sided):
    """Pairs far from each other, each in conflict: after one MVP step none is left (margin 1.1)."""
    rng = np.random.default_rng(seed)
    k = 40
    lat_a, lon_a = rng.uniform(-60, 60, k), rng.uniform(-180, 180, k)  # pairs thousands of km apart
    speed = rng.uniform(100, 260, (k, 2))
    track_a = rng.uniform(0, 360, k)
    # b placed so that the pair's closest approach is within 0..4 NM after 120..280 s
    t_cpa = rng.uniform(120, 280, k)
    track_b = rng.uniform(0, 360, k)
    miss = rng.uniform(0, 4, k) * NAUTICAL_MILE
    meet_lon, meet_lat, _ = GEOD.fwd(lon_a, lat_a, track_a, speed[:, 0] * t_cpa)
    off_lon, off_lat, _ = GEOD.fwd(meet_lon, meet_lat, track_b + 90.0, miss)
    lon_b, lat_b, back = GEOD.fwd(off_lon, off_lat, track_b + 180.0, speed[:, 1] * t_cpa)
    track_b_now = np.asarray(back) % 360.0  # the way back to the meeting point
    dz = rng.uniform(-900, 900, k) * FOOT
    s = States.from_arrays(
        icao24=[f"{n:04d}" for n in range(2 * k)], time=0.0, lat=np.concatenate((lat_a, lat_b)),
        lon=np.concatenate((lon_a, lon_b)), velocity=np.concatenate((speed[:, 0], speed[:, 1])),
        heading=np.concatenate((track_a, track_b_now)), vertrate=0.0,
        altitude=np.concatenate((np.full(k, 9000.0), 9000.0 + dz)), at=0.0)
    before = detect(s, hsep=R, vsep=H)
    assert len(before) >= 0.8 * k
    # a pair already losing separation within 60 s may be beyond saving: keep the others
    soon = np.concatenate((before.index_a[before.t_in < 60.0], before.index_b[before.t_in < 60.0])) % k
    keep = np.setdiff1d(np.arange(k), soon)
    s = s.take(np.concatenate((keep, keep + k)))
    k = keep.size
    assert k >= 20
    can = np.ones(2 * k, dtype=bool)
    if one_sided:
        can[k:] = False
    m = resolve(s, hsep=R, vsep=H, margin=1.1, manoeuvres=can)
    if one_sided:
        assert np.all(m.index < k)
    after = detect(apply(s, m), hsep=R, vsep=H)
    assert len(after) == 0, after.to_pandas()


def test_mvp_without_conflicts_asks_nothing():
    s = pair(100.0, 0.0, 0.0)
    m = mvp(detect(s, hsep=R, vsep=H))
    assert len(m) == 0 and m.to_pandas().empty
