"""An independent flight of a manoeuvre (the reference for guidance tests): each aircraft moves along
its pyproj geodesic at its ground speed, the manoeuvring one with the new track, speed or vertical
rate, or climbing or descending at a rate to a target altitude and level there; the pair's geometry
is measured every ``dt`` seconds with geodesic distances, and the loss volume is tested on it with
the standard's definition (distance and height; DO-365: DAIDALUS's WCV_TAUMOD with modified tau and
horizontal miss distance). Nothing of deconflict's own geometry is used."""

from __future__ import annotations

import numpy as np
from pyproj import Geod

from deconflict import States

GEOD = Geod(ellps="WGS84")


def fly(s: States, own: int, variable: str | None = None, value: float | None = None, seconds: float = 300.0,
        dt: float = 0.5, climb_rate: float = 2000 * 0.3048 / 60) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Times (t,), and per other aircraft (m, t): east and north offset of it from the ownship (m, in the
    ownship's local frame) and vertical distance (m, other minus own)."""
    t = np.arange(0.0, seconds + 1e-9, dt)
    track, speed, rate = float(s.heading[own]), float(s.velocity[own]), float(s.vertrate[own])
    altitude = float(s.altitude[own]) + rate * t
    if variable == "track":
        track = value
    elif variable == "ground_speed":
        speed = value
    elif variable == "vertical_speed":
        rate = value
        altitude = float(s.altitude[own]) + rate * t
    elif variable == "altitude":
        change = value - float(s.altitude[own])
        t_level = abs(change) / climb_rate
        altitude = float(s.altitude[own]) + np.sign(change) * climb_rate * np.minimum(t, t_level)
    own_lon, own_lat, _ = GEOD.fwd(np.full(t.size, s.lon[own]), np.full(t.size, s.lat[own]), np.full(t.size, track),
                                   speed * t)
    return _seen_from(s, own, t, np.asarray(own_lon), np.asarray(own_lat), altitude)


def _seen_from(s: States, own: int, t: np.ndarray, own_lon: np.ndarray, own_lat: np.ndarray,
               own_altitude: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The other aircraft, each flying its geodesic, seen from the ownship's positions at times ``t``."""
    east, north, dz = [], [], []
    for k in (k for k in range(len(s)) if k != own):
        lon, lat, _ = GEOD.fwd(np.full(t.size, s.lon[k]), np.full(t.size, s.lat[k]), np.full(t.size, s.heading[k]),
                               s.velocity[k] * t)
        azimuth, _, distance = GEOD.inv(own_lon, own_lat, lon, lat)
        azimuth = np.radians(np.asarray(azimuth))
        east.append(np.asarray(distance) * np.sin(azimuth))
        north.append(np.asarray(distance) * np.cos(azimuth))
        dz.append(s.altitude[k] + s.vertrate[k] * t - own_altitude)
    return t, np.array(east), np.array(north), np.array(dz)


def inside_loss(t, east, north, dz, hsep: float, vsep: float, tau: float = 0.0, hmd: float | None = None,
                shrink: float = 1.0) -> np.ndarray:
    """(m, t): whether each pair is inside the loss volume at each time (the volume scaled by ``shrink``)."""
    hsep, vsep, tau = hsep * shrink, vsep * shrink, tau * shrink
    hmd = hsep if hmd is None else hmd * shrink
    r2 = east**2 + north**2
    horizontal = r2 <= hsep**2
    if tau > 0.0:
        dt = t[1] - t[0]
        ve, vn = np.gradient(east, dt, axis=1), np.gradient(north, dt, axis=1)
        sv = east * ve + north * vn
        vv = np.maximum(ve**2 + vn**2, 1e-12)
        t_cpa = np.maximum(-sv / vv, 0.0)
        miss2 = (east + ve * t_cpa)**2 + (north + vn * t_cpa)**2
        closing = sv < 0.0
        tau_mod = np.where(closing, (hsep**2 - r2) / np.where(closing, sv, -1.0), np.inf)
        horizontal |= closing & (tau_mod <= tau) & (miss2 <= hmd**2)
    return horizontal & (np.abs(dz) <= vsep)


def fly_kinematic(s: States, own: int, variable: str, value: float, turn_rate: float = 3.0,
                  acceleration: float = 1.0, vertical_acceleration: float = 0.980665, seconds: float = 300.0,
                  dt: float = 0.25) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`fly`, the ownship reaching ``value`` by a turn at ``turn_rate`` (deg/s, the short way round) or
    an acceleration (m/s^2), integrated step by step along pyproj geodesics (midpoint heading, speed
    and rate in each step): the reference for kinematic bands."""
    t = np.arange(0.0, seconds + 1e-9, dt)
    track, speed, rate = float(s.heading[own]), float(s.velocity[own]), float(s.vertrate[own])
    lon, lat, altitude = float(s.lon[own]), float(s.lat[own]), float(s.altitude[own])
    own_lon, own_lat, own_alt = [lon], [lat], [altitude]
    turn = (value - track + 180.0) % 360.0 - 180.0 if variable == "track" else 0.0

    def state_at(time: float) -> tuple[float, float, float]:
        heading, v, r = track, speed, rate
        if variable == "track":
            heading = track + np.sign(turn) * min(turn_rate * time, abs(turn))
        elif variable == "ground_speed":
            v = speed + np.sign(value - speed) * min(acceleration * time, abs(value - speed))
        elif variable == "vertical_speed":
            r = rate + np.sign(value - rate) * min(vertical_acceleration * time, abs(value - rate))
        return heading, v, r

    for k in range(1, t.size):
        middle = 0.5 * (t[k - 1] + t[k])
        heading, v, r = state_at(middle)  # exact for the piecewise-linear speed and rate; 1e-3 deg for the turn
        lon, lat, _ = GEOD.fwd(lon, lat, heading, v * dt)
        altitude += r * dt
        own_lon.append(lon)
        own_lat.append(lat)
        own_alt.append(altitude)
    return _seen_from(s, own, t, np.array(own_lon), np.array(own_lat), np.array(own_alt))
