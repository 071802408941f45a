"""State vectors as arrays (SPEC §2): a surveillance snapshot or a history of many aircraft.

`States` wraps one numpy array per column, SI units, degrees only for lat/lon/heading.
It does no I/O: files are read by `deconflict.io` (`deconflict.read_states`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from deconflict.core.geodesy import extrapolate_along_track

FLOAT_COLUMNS = ("time", "lat", "lon", "velocity", "heading", "vertrate", "altitude")
TEXT_COLUMNS = ("icao24", "callsign", "party")


@dataclass(frozen=True, eq=False)
class States:
    """One row per state vector; arrays of equal length.

    ``altitude`` (m) is the altitude used for separation: barometric, or geometric where no
    barometric altitude is known (SPEC §1). ``party`` is ``""`` when unknown.
    ``at`` is set on a snapshot: one row per airborne aircraft, all extrapolated to time ``at``
    (UNIX s); detection needs a snapshot and takes one itself when given a history.
    """

    icao24: np.ndarray
    time: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    velocity: np.ndarray
    heading: np.ndarray
    vertrate: np.ndarray
    altitude: np.ndarray
    callsign: np.ndarray
    party: np.ndarray
    onground: np.ndarray
    at: float | None = None

    @classmethod
    def from_arrays(
        cls,
        icao24: Any,
        time: Any,
        lat: Any,
        lon: Any,
        velocity: Any,
        heading: Any,
        vertrate: Any,
        altitude: Any = None,
        callsign: Any = None,
        party: Any = None,
        onground: Any = None,
        at: float | None = None,
        copy: bool = True,
        baroaltitude: Any = None,
        geoaltitude: Any = None,
    ) -> "States":
        """Build from array-likes, broadcasting scalars; text columns default to empty strings.

        The file's column names work too (SPEC §2): ``States.from_arrays(**columns)`` with
        ``baroaltitude`` and/or ``geoaltitude`` instead of ``altitude`` (barometric where known).
        ``copy=False`` keeps arrays that already have the right type and length instead of copying
        them (for readers that built them fresh).
        """
        if altitude is None:
            if baroaltitude is None and geoaltitude is None:
                raise TypeError("States.from_arrays needs altitude, baroaltitude or geoaltitude")
            baro = np.asarray(baroaltitude if baroaltitude is not None else np.nan, dtype=np.float64)
            geo = np.asarray(geoaltitude if geoaltitude is not None else np.nan, dtype=np.float64)
            altitude = np.where(np.isnan(baro), geo, baro)
        ids = np.asarray(icao24)
        if ids.dtype.kind != "U":
            ids = ids.astype(str)
        elif copy:
            ids = ids.copy()
        n = ids.size

        def column(values: Any, dtype: Any) -> np.ndarray:
            array = np.asarray(values, dtype=dtype)
            if array.shape == (n,):
                return array.copy() if copy and array is values else array
            return np.broadcast_to(array, (n,)).copy()

        floats = {name: column(values, np.float64)
                  for name, values in zip(FLOAT_COLUMNS, (time, lat, lon, velocity, heading, vertrate, altitude))}

        def text(values: Any) -> np.ndarray:
            if values is None:
                return np.full(n, "", dtype="U1")
            array = np.asarray(values)
            return column(array if array.dtype.kind == "U" else array.astype(str), None)

        ground = np.zeros(n, dtype=bool) if onground is None else column(onground, bool)
        return cls(icao24=ids, callsign=text(callsign), party=text(party), onground=ground, at=at, **floats)

    def __len__(self) -> int:
        return int(self.icao24.size)

    @property
    def is_snapshot(self) -> bool:
        return self.at is not None

    def take(self, index: np.ndarray | slice) -> "States":
        """Rows selected by an integer or boolean index (copies) or a slice (views), same columns."""
        arrays = {f.name: getattr(self, f.name)[index] for f in fields(self) if f.name != "at"}
        return replace(self, **arrays)

    @classmethod
    def concat(cls, parts: list["States"]) -> "States":
        """The rows of several tables one after the other (``at`` of the first; the first itself if alone)."""
        if len(parts) == 1:
            return parts[0]
        arrays = {f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls) if f.name != "at"}
        return cls(**arrays, at=parts[0].at)

    def snapshot(self, at: float | None = None, max_age: float = 60.0) -> "States":
        """Each airborne aircraft's latest state at or before ``at``, extrapolated to ``at``.

        ``at`` defaults to the latest time in the data. States older than ``max_age`` seconds
        at ``at`` are stale and dropped, as are aircraft on the ground (SPEC §3). Positions move
        along the geodesic of the reported track; altitudes by the vertical rate.
        """
        if len(self) == 0:
            return replace(self, at=float("nan") if at is None else float(at))
        when = float(np.max(self.time)) if at is None else float(at)
        candidates = np.flatnonzero(self.time <= when)
        rows = candidates[latest_rows(self.icao24[candidates], self.time[candidates], self.party[candidates])]
        return self.take(rows).extrapolated(when, max_age)

    def extrapolated(self, at: float, max_age: float = 60.0) -> "States":
        """`snapshot` of a table that already holds one row per aircraft (a track table's latest states):
        stale and on-ground rows dropped, the rest extrapolated to ``at``; a row later than ``at`` (a
        receiver clock ahead of the caller's) is kept as reported rather than hidden."""
        keep = (at - self.time <= max_age) & ~self.onground
        latest = self if keep.all() else self.take(keep)
        age = at - latest.time
        moving = age > 0.0
        lat, lon, heading, altitude = latest.lat.copy(), latest.lon.copy(), latest.heading.copy(), latest.altitude.copy()
        if moving.any():
            lat[moving], lon[moving], heading[moving] = extrapolate_along_track(
                lat[moving], lon[moving], heading[moving], latest.velocity[moving] * age[moving]
            )
            altitude[moving] += latest.vertrate[moving] * age[moving]
        return replace(latest, lat=lat, lon=lon, heading=heading, altitude=altitude,
                       time=np.full(len(latest), at), at=at)

    def to_pandas(self) -> Any:
        """A pandas DataFrame with one column per field (``at`` left out)."""
        import pandas as pd  # conversion only: core stays free of pandas at import time

        return pd.DataFrame({f.name: getattr(self, f.name) for f in fields(self) if f.name != "at"})


def latest_rows(icao24: np.ndarray, time: np.ndarray, party: np.ndarray | None = None) -> np.ndarray:
    """Row of each aircraft's latest state (the last of its latest time), in (icao24, party) order.

    An aircraft is identified by (party, icao24) (SPEC §2): one party's reports never replace
    another party's track of the same address. Without ``party`` the address alone identifies it.
    """
    if party is None:
        order = np.lexsort((time, icao24))
        ids = icao24[order]
        last = np.ones(ids.size, dtype=bool)
        last[:-1] = ids[1:] != ids[:-1]
        return order[last]
    order = np.lexsort((time, party, icao24))
    ids, owners = icao24[order], party[order]
    last = np.ones(ids.size, dtype=bool)
    last[:-1] = (ids[1:] != ids[:-1]) | (owners[1:] != owners[:-1])
    return order[last]


def by_aircraft(ids: np.ndarray, time: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row order by aircraft then time, each sorted row's aircraft code, and the distinct ids in order.

    One stable sort of the packed ids (see `_factorize`) when the rows are already in time order
    (archives are), instead of a unique and a two-key sort.
    """
    packed = _packed(ids)
    in_time = ids.size < 2 or bool(np.all(time[1:] >= time[:-1]))
    if packed is None or not in_time:
        distinct, code = factorize(ids)
        order = np.lexsort((time, code))
        return order, code[order], distinct
    order = np.argsort(packed, kind="stable")
    keys = packed[order]
    new = np.empty(keys.size, dtype=bool)
    new[:1] = True
    new[1:] = keys[1:] != keys[:-1]
    return order, np.cumsum(new) - 1, ids[order[new]]


def _packed(ids: np.ndarray) -> np.ndarray | None:
    """Ids of up to 8 characters below U+0100 packed big-endian into integers that sort like the text."""
    width = ids.dtype.itemsize // 4 if ids.dtype.kind == "U" else 0
    if not (0 < width <= 8 and ids.size):
        return None
    chars = np.ascontiguousarray(ids).view(np.uint32).reshape(ids.size, width)
    if int(chars.max()) >= 256:
        return None
    packed = np.zeros(ids.size, dtype=np.uint64)
    for k in range(width):
        packed |= chars[:, k].astype(np.uint64) << np.uint64(8 * (7 - k))
    return packed


def factorize(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct ids and each row's index among them, as ``np.unique(..., return_inverse=True)``,
    faster through packed integers when the ids allow it."""
    packed = _packed(ids)
    if packed is None:
        return np.unique(ids, return_inverse=True)
    _, first, code = np.unique(packed, return_index=True, return_inverse=True)
    return ids[first], code
