"""Conflict bands on encounters whose band edges can be computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

from deconflict import States
from deconflict.core.bands import BandRanges, BandsError, bands
from deconflict.core.standards import standard as named_standard
from deconflict.core.units import FOOT, KNOT, NAUTICAL_MILE

GEOD = Geod(ellps="WGS84")


def two(distance_nm: float, bearing: float, own=(250.0, 90.0, 0.0, 9000.0), intruder=(0.0, 0.0, 0.0, 9000.0)) -> States:
    """Ownship at 0N 0E with (speed kt, track, vertrate m/s, altitude m); intruder ``distance_nm`` away on ``bearing``."""
    lon, lat, _ = GEOD.fwd(0.0, 0.0, bearing, distance_nm * NAUTICAL_MILE)
    return States.from_arrays(icao24=["own", "other"], time=0.0, lat=[0.0, lat], lon=[0.0, lon],
                              velocity=[own[0] * KNOT, intruder[0] * KNOT], heading=[own[1], intruder[1]],
                              vertrate=[own[2], intruder[2]], altitude=[own[3], intruder[3]], at=0.0)


def test_track_band_around_a_hovering_intruder():
    # intruder still, 10 NM east: tracks within asin(5/10) = 30 deg of east lead to a loss of 5 NM
    result = bands(two(10.0, 90.0), "own", "en-route")
    conflict = [(low, high, level) for low, high, level in result.bands["track"] if level]
    assert conflict[0][0] == pytest.approx(61.0, abs=1.0) and conflict[-1][1] == pytest.approx(119.0, abs=1.0)
    # straight at it: loss after (10 - 5) NM at 250 kt = 72 s: corrective (120 s), not warning (60 s)
    assert result.level_at("track", 90.0) == 2
    # 29 deg off: the line of flight cuts the 5 NM circle (10 cos 29 - sqrt(25 - (10 sin 29)^2)) NM ahead: 108 s
    entry = (10 * np.cos(np.radians(29)) - np.sqrt(25 - (10 * np.sin(np.radians(29))) ** 2)) / 250 * 3600
    assert 60 < entry < 120 and result.level_at("track", 61.0) == 2
    assert bands(two(20.0, 90.0), "own").level_at("track", 90.0) == 1  # 15 NM to go: 216 s
    assert bands(two(7.0, 90.0), "own").level_at("track", 90.0) == 3  # 2 NM to go: 29 s
    assert result.level_at("track", 180.0) == 0
    assert result.recommended["track"] in (pytest.approx(60.0, abs=1.0), pytest.approx(120.0, abs=1.0))
    assert not result.recovery and result.intruders == ["other"]


def test_ground_speed_band_when_overtaking():
    # intruder 10 NM ahead at 250 kt on the same track: a loss of 5 NM within 300 s needs 60 kt more
    result = bands(two(10.0, 90.0, own=(250.0, 90.0, 0.0, 9000.0), intruder=(250.0, 90.0, 0.0, 9000.0)), "own")
    clear = [(low, high) for low, high, level in result.bands["ground_speed"] if level == 0]
    assert clear[0][1] / KNOT == pytest.approx(310.0, abs=5.0)
    assert result.level_at("ground_speed", 400 * KNOT) >= 1
    assert result.recommended["ground_speed"] == pytest.approx(250 * KNOT, abs=0.01)  # current speed is clear


def test_vertical_speed_band_under_an_intruder():
    # same place and velocity, intruder 2000 ft above: climbing at v closes 1000 ft in 1000 ft / v
    own = (250.0, 90.0, 0.0, 9000.0)
    intruder = (250.0, 90.0, 0.0, 9000.0 + 2000 * FOOT)
    result = bands(two(0.0001, 90.0, own=own, intruder=intruder), "own")
    fpm = FOOT / 60
    assert result.level_at("vertical_speed", 100 * fpm) == 0
    assert result.level_at("vertical_speed", 300 * fpm) == 1  # 1000 ft in 200 s: within 300 s
    assert result.level_at("vertical_speed", 600 * fpm) == 2  # 100 s: within 120 s
    assert result.level_at("vertical_speed", 1100 * fpm) == 3  # 55 s: within 60 s
    assert result.level_at("vertical_speed", -3000 * fpm) == 0
    edges = [high for low, high, level in result.bands["vertical_speed"] if level == 0 and high < 1000 * fpm]
    assert edges[-1] / fpm == pytest.approx(200.0, abs=100.0)


def test_altitude_band_through_a_formation_partner():
    # intruder alongside at FL300, ownship at FL250: every target above FL290 means climbing through it
    own = (250.0, 90.0, 0.0, 25000 * FOOT)
    intruder = (250.0, 90.0, 0.0, 30000 * FOOT)
    result = bands(two(0.0001, 90.0, own=own, intruder=intruder), "own",
                   ranges=BandRanges(altitude=(20000 * FOOT, 40000 * FOOT, 100 * FOOT)))
    assert result.level_at("altitude", 29000 * FOOT) == 0
    assert result.level_at("altitude", 29100 * FOOT) > 0
    assert result.level_at("altitude", 39000 * FOOT) > 0
    assert result.level_at("altitude", 21000 * FOOT) == 0
    assert result.recommended["altitude"] == pytest.approx(25000 * FOOT)


def test_recovery_bands_in_loss_of_separation():
    # intruder 2 NM east, same level, flying east like us: in loss; recovery = tracks that open the distance
    result = bands(two(2.0, 90.0, own=(250.0, 90.0, 0.0, 9000.0), intruder=(250.0, 90.0, 0.0, 9000.0)), "own")
    assert result.recovery
    assert result.level_at("track", 270.0) == 0  # turning away opens the distance
    assert result.level_at("track", 90.0) == 3  # same velocity: not diverging
    assert result.recommended["track"] is not None
    assert any("warning" in line for line in result.describe())


def test_unknown_aircraft():
    with pytest.raises(BandsError, match="'ghost' is not in the snapshot"):
        bands(two(10.0, 90.0), "ghost")


def test_current_values_carry_the_alert_level_of_the_aircraft():
    """Against many intruders: the band holding each current value has the aircraft's highest alert level."""
    from deconflict.core.alerting import alerts
    from tests.core.traffic import random_traffic

    s = random_traffic(4, 150, radius_km=40.0)
    # put every aircraft on sampled values so that the bands hold its current state exactly
    s = States.from_arrays(icao24=s.icao24, time=0.0, lat=s.lat, lon=s.lon, velocity=np.round(s.velocity / 2.0) * 2.0,
                           heading=np.round(s.heading) % 360.0, vertrate=np.round(s.vertrate * 2.0) / 2.0,
                           altitude=s.altitude, at=0.0)
    found = alerts(s, "en-route")
    worst = {}
    for a, b, level in zip(found.a.tolist(), found.b.tolist(), found.level.tolist()):
        for ident in (a, b):
            worst[ident] = max(worst.get(ident, 0), level)
    ranges = BandRanges(ground_speed=(0.0, 300.0, 2.0), vertical_speed=(-20.0, 20.0, 0.5))
    checked = 0
    for ident in sorted(worst)[:8] + [i for i in s.icao24.tolist() if i not in worst][:3]:
        result = bands(s, ident, "en-route", ranges=ranges)
        if result.recovery:
            continue
        k = int(np.flatnonzero(s.icao24 == ident)[0])
        for variable, value in (("track", s.heading[k]), ("ground_speed", s.velocity[k]),
                                ("vertical_speed", s.vertrate[k])):
            assert result.level_at(variable, value) == worst.get(ident, 0), (ident, variable)
        checked += 1
    assert checked >= 5 and len({worst.get(i, 0) for i in s.icao24.tolist()}) >= 3


@pytest.mark.parametrize("name", ["en-route", "terminal", "do-365"])
def test_the_compiled_band_levels_equal_the_numpy_reference(name):
    """The kernel behind `bands` decides every value exactly as the numpy intervals do."""
    from deconflict.core.bands import Geometry, _grid, _nearby
    from tests.core.traffic import random_traffic

    for seed in range(3):
        s = random_traffic(seed, 60, radius_km=40.0 if name != "do-365" else 8.0)
        for own in (0, 7, 21):
            geometry = Geometry(s, own, named_standard(name), BandRanges().climb_rate,
                                _nearby(s, own, named_standard(name), BandRanges()))
            for variable, values in (("track", _grid(0.0, 359.0, 1.0)), ("ground_speed", _grid(50.0, 300.0, 2.5)),
                                     ("vertical_speed", _grid(-30.0, 30.0, 0.5)), ("altitude", _grid(0.0, 15000.0, 30.48))):
                assert geometry.levels(variable, values).tolist() == geometry.levels_reference(variable, values).tolist()
