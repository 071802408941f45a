"""Guidance that never leads into a conflict (SPEC §6), proved by flying it: on random multi-aircraft
encounters and on the defects found (issue 13), every value the bands recommend (and every flight
level) is flown by an independent geodesic flight (`tests.core.flight`) against every aircraft over
the standard's whole look-ahead: it must not enter the loss volume (the 1 % borderline band forgiven).
Recovery recommendations must keep every lost intruder outside the shrunk volume they claim and be
out of the loss volume by the end of the look-ahead."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

from deconflict import States
from deconflict.core.bands import BandRanges, bands, flown_level
from deconflict.core.standards import standard as named_standard
from deconflict.core.units import FOOT, KNOT
from tests.core.flight import fly, inside_loss

GEOD = Geod(ellps="WGS84")
RANGES = BandRanges()


def encounter(rng: np.random.Generator, n: int, name: str) -> States:
    """The ownship (row 0) and ``n`` aircraft heading for it from anywhere around, meeting it within the
    look-ahead give or take, at levels near its own; some climbing or descending."""
    lookahead = named_standard(name).lookahead
    scale = 1.0 if name != "do-365" else 0.35  # UAS: slower, closer
    lat0, lon0 = float(rng.uniform(-70, 70)), float(rng.uniform(-180, 180))
    own_speed = float(rng.uniform(150, 260)) * scale
    lat, lon = [lat0], [lon0]
    speed, heading = [own_speed], [float(rng.uniform(0, 360))]
    altitude, rate = [9000.0], [float(rng.choice([0.0, 0.0, rng.uniform(-10, 10)]))]
    for _ in range(n):
        meet = float(rng.uniform(10.0, lookahead * 1.1))
        own_lon, own_lat, _ = GEOD.fwd(lon0, lat0, heading[0], own_speed * meet)
        track = float(rng.uniform(0, 360))
        v = float(rng.uniform(120, 260)) * scale
        miss = float(rng.uniform(0, 6000)) * scale
        start_lon, start_lat, _ = GEOD.fwd(own_lon, own_lat, track + 180.0, v * meet)
        start_lon, start_lat, _ = GEOD.fwd(start_lon, start_lat, track + 90.0, miss)
        lat.append(float(start_lat))
        lon.append(float(start_lon))
        speed.append(v)
        heading.append(track)
        altitude.append(9000.0 + float(rng.choice([-1, 0, 1])) * float(rng.uniform(0, 1200)))
        rate.append(float(rng.choice([0.0, 0.0, rng.uniform(-8, 8)])))
    return States.from_arrays(icao24=["own"] + [f"i{k}" for k in range(n)], time=0.0, lat=lat, lon=lon,
                              velocity=speed, heading=heading, vertrate=rate, altitude=altitude, at=0.0)


def _loss_volume(name: str):
    loss = named_standard(name).loss
    return dict(hsep=loss.hsep, vsep=loss.vsep, tau=loss.tau, hmd=loss.hmd)


def _clear_when_flown(s: States, name: str, variable: str, value: float) -> bool:
    standard = named_standard(name)
    t, east, north, dz = fly(s, 0, variable, value, seconds=standard.lookahead)
    return not inside_loss(t, east, north, dz, shrink=0.99, **_loss_volume(name)).any()


@pytest.mark.parametrize("name", ["en-route", "terminal", "do-365"])
@pytest.mark.parametrize("seed", range(4))
def test_every_recommended_manoeuvre_flown_stays_out_of_the_loss_volume(name, seed):
    rng = np.random.default_rng(1000 * seed + len(name))
    offered = checked = 0
    for _ in range(110):
        s = encounter(rng, int(rng.integers(1, 6)), name)
        result = bands(s, "own", name)
        if result.recovery:
            continue
        choices = [(v, result.recommended[v]) for v in ("track", "ground_speed", "vertical_speed", "altitude")]
        choices.append(("altitude", result.recommended_level))
        for variable, value in choices:
            if value is None:
                continue
            offered += 1
            assert _clear_when_flown(s, name, variable, value), (name, seed, variable, value, s.to_pandas().to_dict())
            level, loss = flown_level(s, "own", name, variable, value)
            assert level <= 1 and not loss
            checked += 1
    assert checked > 300 and offered == checked


@pytest.mark.parametrize("name", ["en-route", "do-365"])
def test_recovery_recommendations_restore_separation_when_flown(name):
    rng = np.random.default_rng(7 + len(name))
    standard = named_standard(name)
    recovered = 0
    for _ in range(150):
        s = encounter(rng, int(rng.integers(1, 4)), name)
        # put the first intruder inside the loss volume now
        lon, lat, _ = GEOD.fwd(s.lon[0], s.lat[0], float(rng.uniform(0, 360)), float(rng.uniform(0.1, 0.9)) * standard.loss.hsep)
        s = States.from_arrays(icao24=s.icao24, time=0.0, lat=np.r_[s.lat[0], lat, s.lat[2:]],
                               lon=np.r_[s.lon[0], lon, s.lon[2:]], velocity=s.velocity, heading=s.heading,
                               vertrate=s.vertrate,
                               altitude=np.r_[s.altitude[0], s.altitude[0] + float(rng.uniform(-0.9, 0.9)) * standard.loss.vsep,
                                              s.altitude[2:]], at=0.0)
        result = bands(s, "own", name)
        if not result.recovery:
            continue
        for variable in ("track", "ground_speed", "vertical_speed"):
            value = result.recommended[variable]
            if value is None:
                continue
            t, east, north, dz = fly(s, 0, variable, value, seconds=standard.lookahead)
            volume = _loss_volume(name)
            lost = inside_loss(t, east, north, dz, **volume)[:, 0]
            # kept out of the shrunk volume it claims (1 % forgiven), and out of the loss volume at the end
            assert not inside_loss(t, east[lost], north[lost], dz[lost], shrink=result.recovery_factor[variable] * 0.99,
                                   **volume).any(), (variable, value)
            assert not inside_loss(t, east[lost], north[lost], dz[lost], shrink=0.99, **volume)[:, -1].any(), (variable, value)
            recovered += 1
    assert recovered > 30


def test_recovery_while_separating_vertically_does_not_call_every_track_clear():
    """351 m and 36 ft apart, separating vertically at 10.7 m/s (DO-365): every track was 'clear'
    because the pair opened vertically whatever the track; turning to 132 deg closed to 189 m / 114 ft."""
    lon, lat, _ = GEOD.fwd(10.0, 50.0, 60.0, 351.0)
    s = States.from_arrays(icao24=["own", "intruder"], time=0.0, lat=[50.0, lat], lon=[10.0, lon],
                           velocity=[40.0, 45.0], heading=[209.0, 250.0], vertrate=[0.0, 10.7],
                           altitude=[1000.0, 1000.0 + 36 * FOOT], at=0.0)
    result = bands(s, "own", "do-365")
    assert result.recovery
    clear = [(low, high) for low, high, level in result.bands["track"] if level == 0]
    covered = sum((high - low) % 360.0 for low, high in clear)
    assert 0 < covered < 359.0  # some tracks recover, not all
    for low, high in clear:  # every recovering track keeps the intruder outside the recovery volume
        for value in np.linspace(low, high if high >= low else high + 360.0, 7) % 360.0:
            t, east, north, dz = fly(s, 0, "track", float(value), seconds=180.0)
            assert not inside_loss(t, east, north, dz, shrink=result.recovery_factor["track"] * 0.99,
                                   **_loss_volume("do-365")).any(), value


def test_a_track_meeting_the_intruder_after_the_early_alerting_time_is_not_clear():
    """DO-365: a recommended track entered well clear at 78 s, beyond the 75 s early alerting time,
    and passed 326 m / 160 ft at 131 s: within the 180 s look-ahead, it must not be offered."""
    own_lon, own_lat = 10.0, 50.0
    meet = 131.0
    for track in range(0, 360, 10):
        end_lon, end_lat, _ = GEOD.fwd(own_lon, own_lat, track, 35.0 * meet)
        start_lon, start_lat, _ = GEOD.fwd(end_lon, end_lat, track + 90.0, 35.0 * meet)
        start_lon, start_lat, _ = GEOD.fwd(start_lon, start_lat, track + 180.0, 326.0)
        s = States.from_arrays(icao24=["own", "intruder"], time=0.0, lat=[own_lat, start_lat], lon=[own_lon, start_lon],
                               velocity=[35.0, 35.0], heading=[(track + 90) % 360, (track + 270) % 360], vertrate=0.0,
                               altitude=[1000.0, 1000.0 + 160 * FOOT], at=0.0)
        result = bands(s, "own", "do-365")
        assert result.level_at("track", float(track)) >= 1, track  # meets it inside 180 s: never NONE
        best = result.recommended["track"]
        assert best is None or _clear_when_flown(s, "do-365", "track", best)


def test_altitude_bands_see_a_level_aircraft_1000_ft_below_the_target():
    """The other party at FL290 5 km ahead on the same track: 'descend FL290' was proposed."""
    lon, lat, _ = GEOD.fwd(10.0, 50.0, 90.0, 5000.0)
    s = States.from_arrays(icao24=["own", "other"], time=0.0, lat=[50.0, lat], lon=[10.0, lon],
                           velocity=[230.0, 210.0], heading=[90.0, 90.0], vertrate=0.0,
                           altitude=[30000 * FOOT, 29000 * FOOT], at=0.0)
    found = bands(s, "own", "en-route")
    assert found.level_at("altitude", 29000 * FOOT) >= 1 and found.level_at("altitude", 29500 * FOOT) >= 1
    for value in (found.recommended["altitude"], found.recommended_level):
        assert value is None or _clear_when_flown(s, "en-route", "altitude", value)
    assert found.recommended_level != 29000 * FOOT


@pytest.mark.parametrize("name", ["en-route", "terminal", "do-365"])
@pytest.mark.parametrize("seed", range(2))
def test_every_kinematic_recommendation_flown_with_its_turn_or_acceleration_stays_out_of_the_loss_volume(name, seed):
    """Kinematic bands: each recommended track, speed and vertical speed is flown as a standard-rate turn
    or an acceleration by an independent step-by-step geodesic flight; none enters the loss volume."""
    from deconflict.core.bands import Kinematics
    from tests.core.flight import fly_kinematic

    rng = np.random.default_rng(7000 + 100 * seed + len(name))
    standard = named_standard(name)
    checked = 0
    for _ in range(40):
        s = encounter(rng, int(rng.integers(1, 5)), name)
        result = bands(s, "own", name, kinematics=Kinematics())
        if result.recovery:
            continue
        for variable in ("track", "ground_speed", "vertical_speed"):
            value = result.recommended[variable]
            if value is None:
                continue
            t, east, north, dz = fly_kinematic(s, 0, variable, value, seconds=standard.lookahead)
            assert not inside_loss(t, east, north, dz, shrink=0.99, **_loss_volume(name)).any(), \
                (name, seed, variable, value, s.to_pandas().to_dict())
            level, loss = flown_level(s, "own", name, variable, value, kinematics=Kinematics())
            assert level <= 1 and not loss
            checked += 1
    assert checked > 40


def test_a_turn_that_is_clear_at_once_can_be_a_conflict_when_flown_at_standard_rate():
    """Why kinematic bands: an intruder close on the right; the instantaneous bands call a hard right turn
    clear, but flown at 3 deg/s the turn passes through the intruder's volume; kinematic bands do not
    offer it, and what they offer is clear when flown."""
    from deconflict.core.bands import Kinematics
    from tests.core.flight import fly_kinematic

    rng = np.random.default_rng(11)
    found = 0
    for _ in range(400):
        s = encounter(rng, int(rng.integers(1, 4)), "en-route")
        instant = bands(s, "own", "en-route")
        if instant.recovery or instant.recommended["track"] is None:
            continue
        value = instant.recommended["track"]
        t, east, north, dz = fly_kinematic(s, 0, "track", value, seconds=300.0)
        if inside_loss(t, east, north, dz, shrink=0.99, **_loss_volume("en-route")).any():
            found += 1
            kinematic = bands(s, "own", "en-route", kinematics=Kinematics())
            assert kinematic.level_at("track", value) > 0  # not offered as clear
            if kinematic.recommended["track"] is not None:
                t, east, north, dz = fly_kinematic(s, 0, "track", kinematic.recommended["track"], seconds=300.0)
                assert not inside_loss(t, east, north, dz, shrink=0.99, **_loss_volume("en-route")).any()
        if found >= 3:
            break
    assert found >= 1, "no instantaneous recommendation failed when flown: the test shows nothing"
