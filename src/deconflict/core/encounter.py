"""Relative geometry of aircraft pairs and the time intervals in which a protected volume is violated.

An `Encounter` holds, for m pairs (a, b), b's position and velocity relative to a in the plane
tangent to the Earth at the pair's midpoint (the geometry of SPEC §3) and the vertical offsets.
`violation_interval` then gives, per pair, the times at which a `ProtectedVolume` is violated under
straight-line prediction: the plain "distance < R and height < H" of SPEC §3, or DO-365's
"well clear" with modified tau (DAIDALUS's WCV_TAUMOD) and time to co-altitude.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deconflict.core import _kernels
from deconflict.core.geodesy import ground_velocity_ecef, surface_ecef


@dataclass(frozen=True)
class ProtectedVolume:
    """The volume around an aircraft that another one must not enter (SI units).

    ``hsep``: horizontal distance threshold (SPEC's R, DO-365's DMOD) in m; ``vsep``: vertical
    (H, ZTHR) in m; ``tau``: modified-tau threshold TTHR in s (0: distance only);
    ``hmd``: horizontal miss distance below which the tau test applies (m, default ``hsep``);
    ``tcoa``: time-to-co-altitude threshold in s (0: height only).
    """

    hsep: float
    vsep: float
    tau: float = 0.0
    hmd: float | None = None
    tcoa: float = 0.0

    def __post_init__(self) -> None:
        if not (self.hsep > 0 and self.vsep > 0 and self.tau >= 0 and self.tcoa >= 0):
            raise ValueError(f"protected volume needs hsep, vsep > 0 and tau, tcoa >= 0: {self}")
        if self.hmd is not None and not 0 < self.hmd <= self.hsep:
            raise ValueError(f"protected volume: hmd must be in (0, hsep], got {self.hmd}")

    @property
    def miss_distance(self) -> float:
        return self.hsep if self.hmd is None else self.hmd

    def horizontal_reach(self, closing_speed: float) -> float:
        """Largest horizontal distance (m) at which the volume can be violated at ``closing_speed`` (m/s).

        Inside the tau region |s| (|s| - tau |v|) <= hsep^2 ... gives |s| <= tau |v| + hsep.
        """
        return self.hsep + self.tau * closing_speed

    def vertical_reach(self, vertical_closing_speed: float) -> float:
        return self.vsep + self.tcoa * vertical_closing_speed


@dataclass(frozen=True)
class Encounter:
    """Pairs (a, b): b relative to a. Horizontal vectors are 3D but lie in the pair's tangent plane.

    ``position`` (m,3) m, ``velocity`` (m,3) m/s, ``dz`` altitude of b minus a (m),
    ``dvz`` vertical rate of b minus a (m/s), ``normal`` (m,3) the plane's unit up-normal.
    """

    position: np.ndarray
    velocity: np.ndarray
    dz: np.ndarray
    dvz: np.ndarray
    normal: np.ndarray

    @classmethod
    def between(cls, lat: np.ndarray, lon: np.ndarray, speed: np.ndarray, track: np.ndarray,
                vertrate: np.ndarray, altitude: np.ndarray, index_a: np.ndarray, index_b: np.ndarray) -> "Encounter":
        """Geometry of pairs ``(index_a[k], index_b[k])`` of aircraft given as arrays (deg, m/s, m)."""
        ecef, ground_velocity = surface_kinematics(lat, lon, speed, track)
        return cls.from_ecef(ecef, ground_velocity, vertrate, altitude, index_a, index_b)

    @classmethod
    def from_ecef(cls, ecef: np.ndarray, ground_velocity: np.ndarray, vertrate: np.ndarray, altitude: np.ndarray,
                  index_a: np.ndarray, index_b: np.ndarray) -> "Encounter":
        pa, pb = ecef[index_a], ecef[index_b]
        normal = 0.5 * (pa + pb)
        normal[:, 2] /= 1.0 - _kernels.WGS84_E2  # ellipsoid normal at the mean surface point
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        d = pb - pa
        w = ground_velocity[index_b] - ground_velocity[index_a]
        d -= np.einsum("ij,ij->i", d, normal)[:, None] * normal
        w -= np.einsum("ij,ij->i", w, normal)[:, None] * normal
        return cls(position=d, velocity=w, dz=altitude[index_b] - altitude[index_a],
                   dvz=vertrate[index_b] - vertrate[index_a], normal=normal)

    def take(self, rows: np.ndarray) -> "Encounter":
        """The pairs selected by an index."""
        return Encounter(self.position[rows], self.velocity[rows], self.dz[rows], self.dvz[rows], self.normal[rows])

    def __len__(self) -> int:
        return int(self.dz.size)

    @property
    def distance(self) -> np.ndarray:
        """Horizontal distance now (m)."""
        return np.linalg.norm(self.position, axis=1)

    @property
    def time_to_cpa(self) -> np.ndarray:
        """Time of horizontal closest approach (s, may be negative; 0 for equal velocities)."""
        a = np.einsum("ij,ij->i", self.velocity, self.velocity)
        b = np.einsum("ij,ij->i", self.position, self.velocity)
        return np.divide(-b, a, out=np.zeros_like(b), where=a > 1e-12)

    def at(self, t: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Horizontal distance (m) and absolute vertical distance (m) at time(s) ``t`` (s)."""
        t = np.broadcast_to(np.asarray(t, dtype=float), self.dz.shape)
        horizontal = np.linalg.norm(self.position + self.velocity * t[:, None], axis=1)
        return horizontal, np.abs(self.dz + self.dvz * t)


def surface_kinematics(lat: np.ndarray, lon: np.ndarray, speed: np.ndarray, track: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ECEF positions on the WGS84 surface (m) and ECEF ground velocities (m/s) of aircraft."""
    return surface_ecef(lat, lon)[0], ground_velocity_ecef(lat, lon, speed, track)


def violation_interval(encounter: Encounter, volume: ProtectedVolume, lookahead: float) -> tuple[np.ndarray, np.ndarray]:
    """Per pair, ``(t_in, t_out)`` within [0, lookahead] (s) during which ``volume`` is violated.

    Pairs that never violate it get ``t_in = inf, t_out = -inf``; test with ``t_in <= t_out``.
    Closed conditions (<=) as DO-365; with tau = tcoa = 0 the interval equals SPEC §3's up to
    its boundary points.
    """
    h_in, h_out = horizontal_interval(encounter.position, encounter.velocity, volume)
    v_in, v_out = vertical_interval(encounter.dz, encounter.dvz, volume)
    t_in = np.maximum(np.maximum(h_in, v_in), 0.0)
    t_out = np.minimum(np.minimum(h_out, v_out), lookahead)
    never = t_in > t_out
    t_in[never], t_out[never] = np.inf, -np.inf
    return t_in, t_out


def horizontal_interval(s: np.ndarray, v: np.ndarray, volume: ProtectedVolume) -> tuple[np.ndarray, np.ndarray]:
    """Times (s, unbounded) at which the horizontal part of ``volume`` is violated.

    Distance part: |s + t v| <= hsep. Tau part (DAIDALUS WCV_TAUMOD): closing ((s + t v).v < 0),
    miss distance <= hmd and modified tau (hsep^2 - |p|^2) / (p.v) <= tau, i.e. the quadratic
    |p|^2 + tau p.v - hsep^2 <= 0; it begins before the distance part and ends at the closest
    approach, which lies inside the distance part, so the union is one interval.
    """
    a = np.einsum("ij,ij->i", v, v)
    b = np.einsum("ij,ij->i", s, v)
    c = np.einsum("ij,ij->i", s, s)
    r2 = volume.hsep**2
    moving = a > 1e-12
    safe_a = np.where(moving, a, 1.0)
    miss2 = np.maximum(c - b * b / safe_a, 0.0)
    # distance part: roots of a t^2 + 2 b t + (c - r2)
    disc = b * b - a * (c - r2)
    root = np.sqrt(np.maximum(disc, 0.0))
    hit = moving & (disc >= 0.0)
    d_in = np.where(hit, (-b - root) / safe_a, np.inf)
    d_out = np.where(hit, (-b + root) / safe_a, -np.inf)
    still_inside = ~moving & (c <= r2)
    d_in[still_inside], d_out[still_inside] = -np.inf, np.inf
    if volume.tau > 0.0:
        # tau part: a t^2 + (2 b + tau a) t + (c + tau b - r2) <= 0 with t < t_cpa
        qb = 2.0 * b + volume.tau * a
        qc = c + volume.tau * b - r2
        q_disc = qb * qb - 4.0 * a * qc
        q_in = (-qb - np.sqrt(np.maximum(q_disc, 0.0))) / (2.0 * safe_a)
        # miss distance <= hmd <= hsep: the distance part is entered and contains t_cpa, where the
        # quadratic is miss^2 - hsep^2 <= 0, so q_in <= t_cpa lies on the same interval
        tau_applies = moving & (miss2 <= volume.miss_distance**2) & (q_disc >= 0.0)
        d_in = np.where(tau_applies, np.minimum(d_in, q_in), d_in)
    return d_in, d_out


def vertical_interval(dz: np.ndarray, dvz: np.ndarray, volume: ProtectedVolume) -> tuple[np.ndarray, np.ndarray]:
    """Times (s, unbounded) at which |dz + t dvz| <= vsep, or co-altitude comes within ``tcoa``.

    A pair exactly ``vsep`` apart is separated, as SPEC §3 says (``<``; adjacent flight levels are
    exactly the minimum apart), with the same 1 micrometre allowance for rounding as detection,
    level or not (interpolated altitudes carry float noise).
    """
    moving = dvz != 0.0
    safe = np.where(moving, dvz, 1.0)
    inner = volume.vsep - _kernels.VERTICAL_EPSILON
    r1, r2 = (-inner - dz) / safe, (inner - dz) / safe
    level_inside = np.abs(dz) < inner
    v_in = np.where(moving, np.minimum(r1, r2), np.where(level_inside, -np.inf, np.inf))
    v_out = np.where(moving, np.maximum(r1, r2), np.where(level_inside, np.inf, -np.inf))
    if volume.tcoa > 0.0:
        co_altitude = -dz / safe
        v_in = np.where(moving, np.minimum(v_in, co_altitude - volume.tcoa), v_in)
    return v_in, v_out
