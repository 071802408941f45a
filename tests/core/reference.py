"""Brute-force reference for SPEC §3, independent of the detection code.

Every pair, with pyproj doing the geodesy: geodesic midpoint, ECEF through a pyproj
Transformer, a local east/north frame at the midpoint, velocities by finite differences
along the geodesic, then the analytic interval where both separations are lost.
Nothing here is shared with `deconflict.core`.
"""

from __future__ import annotations

import numpy as np
from pyproj import Geod, Transformer

GEOD = Geod(ellps="WGS84")
TO_ECEF = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)


def _ecef(lat, lon):
    x, y, z = TO_ECEF.transform(lon, lat, np.zeros_like(lat))
    return np.stack([x, y, z], axis=-1)


def pair_geometry(lat, lon, speed, track, i, j):
    """Relative position and velocity (m, m/s) of j seen from i, in the midpoint's east/north plane."""
    az, _, dist = GEOD.inv(lon[i], lat[i], lon[j], lat[j])
    mid_lon, mid_lat, _ = GEOD.fwd(lon[i], lat[i], az, dist / 2.0)
    phi, lam = np.radians(mid_lat), np.radians(mid_lon)
    east = np.stack([-np.sin(lam), np.cos(lam), np.zeros_like(lam)], axis=-1)
    north = np.stack([-np.sin(phi) * np.cos(lam), -np.sin(phi) * np.sin(lam), np.cos(phi)], axis=-1)
    dt = 0.5  # s
    ends = []
    for k in (i, j):
        lon2, lat2, _ = GEOD.fwd(lon[k], lat[k], track[k], speed[k] * dt)
        ends.append((_ecef(lat[k], lon[k]), (_ecef(lat2, lon2) - _ecef(lat[k], lon[k])) / dt))
    (pa, va), (pb, vb) = ends
    d, w = pb - pa, vb - va
    dxy = np.stack([(d * east).sum(-1), (d * north).sum(-1)], axis=-1)
    wxy = np.stack([(w * east).sum(-1), (w * north).sum(-1)], axis=-1)
    return dxy, wxy


def reference_pairs(lat, lon, speed, track, altitude, vertrate, lookahead, hsep, vsep, vtol=0.0, scale=1.0, pairs=None):
    """Set of index pairs (i < j) in conflict, with R, H and T all multiplied by ``scale``; ``pairs``:
    (i, j) arrays to look at (default every pair)."""
    n = len(lat)
    i, j = np.triu_indices(n, k=1) if pairs is None else (np.asarray(pairs[0]), np.asarray(pairs[1]))
    if i.size == 0:
        return set()
    R, H, T = hsep * scale, vsep * scale, lookahead * scale
    dxy, wxy = pair_geometry(lat, lon, speed, track, i, j)
    a = (wxy ** 2).sum(-1)
    b = (dxy * wxy).sum(-1)
    c = (dxy ** 2).sum(-1) - R * R
    with np.errstate(divide="ignore", invalid="ignore"):
        disc = b * b - a * c
        root = np.sqrt(np.maximum(disc, 0.0))
        moving = a > 1e-9
        h_low = np.where(moving, (-b - root) / a, np.where(c < 0, -np.inf, np.inf))
        h_high = np.where(moving, (-b + root) / a, np.where(c < 0, np.inf, -np.inf))
        h_ok = np.where(moving, disc > 0, c < 0)
        dz = altitude[j] - altitude[i]
        dvz = vertrate[j] - vertrate[i]
        still = dvz == 0
        r1, r2 = (-H - dz) / dvz, (H - dz) / dvz
        v_low = np.where(still, np.where(np.abs(dz) < H, -np.inf, np.inf), np.minimum(r1, r2))
        v_high = np.where(still, np.where(np.abs(dz) < H, np.inf, -np.inf), np.maximum(r1, r2))
    level_apart = (vtol > 0) & (np.abs(dz) >= vsep - vtol) & (np.abs(vertrate[i]) < 1) & (np.abs(vertrate[j]) < 1)
    low, high = np.maximum(h_low, v_low), np.minimum(h_high, v_high)
    hit = h_ok & ~level_apart & (low < high) & (low < T) & (high > 0)
    return set(zip(i[hit].tolist(), j[hit].tolist()))


def classify(lat, lon, speed, track, altitude, vertrate, lookahead, hsep, vsep, vtol=0.0):
    """(must, must_not): pairs certainly in conflict / certainly not, outside the 1 % borderline band."""
    args = (lat, lon, speed, track, altitude, vertrate, lookahead, hsep, vsep, vtol)
    must = reference_pairs(*args, scale=0.99)
    maybe = reference_pairs(*args, scale=1.01)
    return must, maybe


def well_clear_violated(lat, lon, speed, track, altitude, vertrate, horizon, dthr, zthr, tthr, hmd, tcoa,
                        scale=1.0, step=0.02):
    """Set of index pairs (i < j) that violate DO-365 well clear (DAIDALUS WCV_TAUMOD with TCOA) at some
    sampled time in [0, horizon], all thresholds and the horizon multiplied by ``scale``.

    Straight from the definitions, sampled every ``step`` s: horizontal WCV is |s| <= DTHR, or
    HMD <= hmd and 0 <= tau_mod = (DTHR^2 - |s|^2) / (s.v) <= TTHR when closing; vertical WCV is
    |sz| <= ZTHR, or 0 <= tcoa = -sz / vz <= TCOA when closing.
    """
    n = len(lat)
    i, j = np.triu_indices(n, k=1)
    if i.size == 0:
        return set()
    D, Z, TT, HM, TC = dthr * scale, zthr * scale, tthr * scale, hmd * scale, tcoa * scale
    dxy, wxy = pair_geometry(lat, lon, speed, track, i, j)
    dz0, dvz = altitude[j] - altitude[i], vertrate[j] - vertrate[i]
    a = (wxy ** 2).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_cpa = np.where(a > 1e-12, -(dxy * wxy).sum(-1) / a, 0.0)
    miss = np.linalg.norm(dxy + wxy * t_cpa[:, None], axis=-1)
    violated = np.zeros(i.size, dtype=bool)
    for t in np.arange(0.0, horizon * scale + step / 2, step):
        s = dxy + wxy * t
        s2 = (s ** 2).sum(-1)
        sv = (s * wxy).sum(-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            tau_mod = np.where(sv < 0, (D * D - s2) / sv, -1.0)
            sz = dz0 + dvz * t
            t_coa = np.where(sz * dvz < 0, -sz / dvz, -1.0)
        horizontal = (s2 <= D * D) | ((miss <= HM) & (tau_mod >= 0) & (tau_mod <= TT))
        vertical = (np.abs(sz) <= Z) | ((t_coa >= 0) & (t_coa <= TC))
        violated |= horizontal & vertical
    return set(zip(i[violated].tolist(), j[violated].tolist()))
