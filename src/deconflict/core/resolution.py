"""Cooperative resolution of all conflicts at once: the Modified Voltage Potential (MVP).

MVP (Hoekstra et al. 2002, as in BlueSky): for each conflicting pair, the relative position at
the horizontal closest point of approach (CPA) is pushed out to the protected radius (times a
margin) by the time of CPA; the needed change of relative velocity is shared between the two
aircraft, and each aircraft sums its shares over all its conflicts. Vertically, the relative
altitude at the start of the horizontal loss is pushed out to the vertical minimum likewise.

Sharing: ``cooperative`` splits each pair's change half and half; an aircraft that does not
manoeuvre (``manoeuvres[k]`` False: the other party may not cooperate) takes none, and the
other aircraft of the pair takes all of it (one-sided resolution). Head-on pairs (miss
distance under 10 m) both turn right, as the rules of the air ask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deconflict.core.detection import Conflicts, detect
from deconflict.core.encounter import Encounter, horizontal_interval, ProtectedVolume
from deconflict.core.geodesy import surface_ecef
from deconflict.core.states import States
from deconflict.errors import DeconflictError

DIMENSIONS = ("horizontal", "heading", "speed", "vertical", "both")
MIN_SOLVE_TIME = 1.0  # s: a manoeuvre has at least this long to act (keeps near-CPA pairs finite)
HEAD_ON_MISS = 10.0  # m: below this miss distance the CPA direction is taken perpendicular (turn right)


class ResolutionError(DeconflictError, ValueError):
    """Resolution options that make no sense."""


@dataclass(frozen=True, eq=False)
class Manoeuvres:
    """New velocity targets for the aircraft that must manoeuvre (rows ``index`` of the snapshot).

    ``track`` (deg true), ``speed`` (m/s ground speed), ``vertrate`` (m/s) after limits;
    ``delta_east``, ``delta_north``, ``delta_up``: the velocity change asked for (m/s).
    """

    index: np.ndarray
    track: np.ndarray
    speed: np.ndarray
    vertrate: np.ndarray
    delta_east: np.ndarray
    delta_north: np.ndarray
    delta_up: np.ndarray
    states: States

    def __len__(self) -> int:
        return int(self.index.size)

    @property
    def icao24(self) -> np.ndarray:
        return self.states.icao24[self.index]

    def to_pandas(self):  # noqa: ANN201 - pandas only imported for conversion
        import pandas as pd

        return pd.DataFrame({"icao24": self.icao24, "track": self.track, "speed": self.speed,
                             "vertrate": self.vertrate, "delta_east": self.delta_east,
                             "delta_north": self.delta_north, "delta_up": self.delta_up})


def resolve(
    states: States,
    lookahead: float = 300.0,
    hsep: float = 9260.0,
    vsep: float = 304.8,
    margin: float = 1.1,
    dimensions: str = "horizontal",
    manoeuvres: np.ndarray | None = None,
    speed_limits: tuple[np.ndarray | float, np.ndarray | float] | None = None,
    vertrate_limit: np.ndarray | float = 15.0,
) -> Manoeuvres:
    """Detect conflicts of the minima times ``margin`` within ``lookahead`` s and resolve them by MVP."""
    snapshot = states if states.is_snapshot else states.snapshot()
    conflicts = detect(snapshot, lookahead=lookahead, hsep=hsep * margin, vsep=vsep * margin)
    return mvp(conflicts, hsep=hsep * margin, vsep=vsep * margin, dimensions=dimensions, manoeuvres=manoeuvres,
               speed_limits=speed_limits, vertrate_limit=vertrate_limit)


def mvp(
    conflicts: Conflicts,
    hsep: float | None = None,
    vsep: float | None = None,
    dimensions: str = "horizontal",
    manoeuvres: np.ndarray | None = None,
    speed_limits: tuple[np.ndarray | float, np.ndarray | float] | None = None,
    vertrate_limit: np.ndarray | float = 15.0,
    encounter: Encounter | None = None,
) -> Manoeuvres:
    """MVP velocity targets that resolve every pair of ``conflicts`` (its snapshot's aircraft).

    ``hsep``/``vsep`` (m): the distances to restore (default: the minima the conflicts were found
    with). ``dimensions``: ``horizontal`` (track and speed), ``heading`` (track only), ``speed``,
    ``vertical`` or ``both``. ``manoeuvres``: per aircraft of the snapshot, whether it may
    manoeuvre (default all). ``speed_limits``: (min, max) ground speed, m/s, per aircraft or
    scalars; ``vertrate_limit``: largest |vertical rate| (m/s). ``encounter``: the pairs' geometry,
    when the caller has it already.
    """
    if dimensions not in DIMENSIONS:
        raise ResolutionError(f"dimensions must be one of {', '.join(DIMENSIONS)}, got {dimensions!r}")
    s = conflicts.states
    n = len(s)
    hsep = conflicts.hsep if hsep is None else hsep
    vsep = conflicts.vsep if vsep is None else vsep
    can = np.ones(n, dtype=bool) if manoeuvres is None else np.asarray(manoeuvres, dtype=bool)
    i, j = conflicts.index_a, conflicts.index_b
    share_a, share_b = _shares(can[i], can[j])
    if encounter is None:
        encounter = Encounter.between(s.lat, s.lon, s.velocity, s.heading, s.vertrate, s.altitude, i, j)

    change = np.zeros((i.size, 3))  # relative (b - a) velocity change in ECEF, horizontal part
    vertical = np.zeros(i.size)
    if dimensions != "vertical":
        change = _horizontal_change(encounter, hsep)
    if dimensions in ("vertical", "both"):
        vertical = _vertical_change(encounter, hsep, vsep)

    delta = np.zeros((n, 3))
    delta_up = np.zeros(n)
    for axis in range(3):
        delta[:, axis] = (np.bincount(j, share_b * change[:, axis], n) - np.bincount(i, share_a * change[:, axis], n))
    delta_up = np.bincount(j, share_b * vertical, n) - np.bincount(i, share_a * vertical, n)

    moving = np.flatnonzero((np.abs(delta).sum(axis=1) > 0.0) | (delta_up != 0.0))
    east, north = _local_axes(s.lat[moving], s.lon[moving])
    d_east = np.einsum("ij,ij->i", delta[moving], east)
    d_north = np.einsum("ij,ij->i", delta[moving], north)
    heading = np.radians(s.heading[moving])
    v_east = s.velocity[moving] * np.sin(heading) + d_east
    v_north = s.velocity[moving] * np.cos(heading) + d_north
    track = np.degrees(np.arctan2(v_east, v_north)) % 360.0
    speed = np.hypot(v_east, v_north)
    if dimensions == "heading":
        speed = s.velocity[moving].copy()
    elif dimensions == "speed":
        track = s.heading[moving].copy()
        speed = s.velocity[moving] + d_east * np.sin(heading) + d_north * np.cos(heading)
    elif dimensions == "vertical":
        track, speed = s.heading[moving].copy(), s.velocity[moving].copy()
    if speed_limits is not None:
        low, high = (np.broadcast_to(np.asarray(v, dtype=float), (n,))[moving] for v in speed_limits)
        speed = np.clip(speed, low, high)
    speed = np.maximum(speed, 0.0)
    limit = np.broadcast_to(np.asarray(vertrate_limit, dtype=float), (n,))[moving]
    vertrate = np.clip(s.vertrate[moving] + delta_up[moving], -limit, limit)
    return Manoeuvres(index=moving, track=track, speed=speed, vertrate=vertrate, delta_east=d_east,
                      delta_north=d_north, delta_up=delta_up[moving], states=s)


def _shares(can_a: np.ndarray, can_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Part of each pair's relative change taken by a and by b."""
    both = can_a & can_b
    share_a = np.where(both, 0.5, np.where(can_a, 1.0, 0.0))
    share_b = np.where(both, 0.5, np.where(can_b, 1.0, 0.0))
    return share_a, share_b


def _horizontal_change(encounter: Encounter, hsep: float) -> np.ndarray:
    """Relative velocity change (m/s, ECEF, in each pair's plane) moving the CPA out to ``hsep``."""
    s, v = encounter.position, encounter.velocity
    t_cpa = encounter.time_to_cpa
    closing = t_cpa > 0.0
    cpa = s + v * t_cpa[:, None]
    miss = np.linalg.norm(cpa, axis=1)
    distance = np.linalg.norm(s, axis=1)
    # head-on: put b's relative CPA on a's left of the line of sight (normal x s): both turn right
    head_on = miss < HEAD_ON_MISS
    if head_on.any():
        side = np.cross(encounter.normal[head_on], s[head_on])
        side /= np.maximum(np.linalg.norm(side, axis=1, keepdims=True), 1e-9)
        cpa[head_on] = side * HEAD_ON_MISS
        miss[head_on] = HEAD_ON_MISS
    intrusion = hsep - miss
    # while still farther apart than hsep, turning the relative velocity rotates the line of relative
    # motion about the current relative position, not about the CPA: BlueSky's correction pushes the
    # CPA to hsep / cos(angle error) so that the new line is tangent to the hsep circle
    outside = (hsep < distance) & (miss < distance)
    ratio_h = np.clip(hsep / np.maximum(distance, 1e-9), -1.0, 1.0)
    ratio_m = np.clip(miss / np.maximum(distance, 1e-9), -1.0, 1.0)
    erratum = np.cos(np.arcsin(ratio_h) - np.arcsin(ratio_m))
    intrusion = np.where(outside, hsep / np.maximum(erratum, 1e-3) - miss, intrusion)
    act = closing & (intrusion > 0.0)
    scale = np.where(act, intrusion / (np.maximum(t_cpa, MIN_SOLVE_TIME) * miss), 0.0)
    return cpa * scale[:, None]


def _vertical_change(encounter: Encounter, hsep: float, vsep: float) -> np.ndarray:
    """Relative vertical rate change (m/s) putting ``vsep`` between the pair when horizontal loss begins."""
    h_in, h_out = horizontal_interval(encounter.position, encounter.velocity, ProtectedVolume(hsep, vsep))
    ahead = h_out > 0.0
    t = np.maximum(np.where(np.isfinite(h_in), h_in, 0.0), MIN_SOLVE_TIME)
    dz = encounter.dz + encounter.dvz * t
    side = np.where(dz != 0.0, np.sign(dz), np.where(encounter.dz != 0.0, np.sign(encounter.dz), 1.0))
    needed = np.where(ahead & (np.abs(dz) < vsep), (side * vsep - dz) / t, 0.0)
    return needed


def _local_axes(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit east and north vectors (ECEF) at each point."""
    _, up = surface_ecef(lat, lon)
    lam = np.radians(lon)
    east = np.column_stack((-np.sin(lam), np.cos(lam), np.zeros_like(lam)))
    north = np.cross(up, east)
    return east, north
