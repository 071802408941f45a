"""The live picture: every party's latest state of each of its tracks, fed by committed track batches.

A track is identified by (party, icao24) (SPEC §2): one party's reports never replace, age out or
hide another party's track of the same address, whatever time they carry. Batches are queued as
they arrive (cheap under load) and folded into the latest-state table when the picture is read,
with one sort over the queued rows and the table. Memory is O(live tracks + queued rows).
"""

from __future__ import annotations

import io
import threading
from dataclasses import fields, replace

import numpy as np

from deconflict.core.quality import held_positions
from deconflict.core.states import States, latest_rows

TRACK_SEPARATOR = "/"  # party ids hold no "/": "party/icao24" is unambiguous
GONE_MEMORY = 3600.0  # s: how long the last position of a dropped track is remembered (see `_merged`)


def track_ids(states: States) -> np.ndarray:
    """``party/icao24`` per row: the identity of a track across parties."""
    if len(states) == 0:
        return np.empty(0, dtype=str)
    return np.char.add(np.char.add(states.party, TRACK_SEPARATOR), states.icao24)


class Picture:
    def __init__(self) -> None:
        self._latest: States | None = None
        self._pending: list[States] = []
        self._gone: States | None = None  # last reports of tracks dropped as stale (`GONE_MEMORY`)
        self._lock = threading.Lock()
        self.held = 0  # reports that repeated a held position (counted, not applied)

    def add(self, batch: States) -> None:
        """Queue a batch of state vectors (validated, party stamped, and committed to the record)."""
        if len(batch):
            with self._lock:
                self._pending.append(batch)

    def latest(self) -> States | None:
        """One row per track: its most recent state vector (not extrapolated)."""
        with self._lock:
            return self._merged()

    def _merged(self) -> States | None:
        """Fold the queued batches into the latest states (the caller holds the lock). Reports that
        only repeat a held position (`core.quality.held_positions`: a feed repeating an aircraft's last
        position with new times, as recorders and aggregators do when its position messages stop) are
        not applied: the track keeps the time of its last real position, is predicted from there and
        ages out, instead of standing still on a runway and "colliding" with every aircraft landing
        through it. A track dropped as stale that comes back with the same position stays dropped."""
        pending, self._pending = self._pending, []
        if pending:
            batch = States.concat(pending)
            ghosts = self._ghosts(batch)
            parts = ([self._latest] if self._latest is not None else []) + ([ghosts] if ghosts is not None else [])
            merged = States.concat(parts + [batch])
            ghost = np.zeros(len(merged), dtype=bool)
            if ghosts is not None:
                start = len(self._latest) if self._latest is not None else 0
                ghost[start:start + len(ghosts)] = True
            order = np.lexsort((merged.time, merged.icao24, merged.party))
            same = np.zeros(order.size, dtype=bool)
            same[1:] = (merged.icao24[order][1:] == merged.icao24[order][:-1]) & \
                       (merged.party[order][1:] == merged.party[order][:-1])
            fresh = held_positions(same, merged.time[order], merged.lat[order], merged.lon[order],
                                   merged.velocity[order])
            self.held += int(order.size - np.count_nonzero(fresh))
            kept = np.sort(order[fresh])
            merged = merged.take(kept[~ghost[kept]])
            self._latest = merged.take(latest_rows(merged.icao24, merged.time, merged.party))
        return self._latest

    def _ghosts(self, batch: States) -> States | None:
        """The remembered last reports of dropped tracks that ``batch`` reports again."""
        if self._gone is None or not len(self._gone):
            return None
        back = np.isin(track_ids(self._gone), track_ids(batch))
        return self._gone.take(np.flatnonzero(back)) if back.any() else None

    def snapshot(self, at: float, max_age: float) -> States:
        """Airborne tracks seen within ``max_age`` s before ``at``, extrapolated to ``at`` (SPEC §3).

        A report stamped after ``at`` (a reporting clock a little ahead: ingest refuses more than a few
        seconds) counts as a report of now. A file's snapshot ignores reports after its time; the live
        picture keeps only the latest report of a track, so ignoring it would hide the track."""
        latest = self.latest()
        if latest is None:
            return States.from_arrays([], [], [], [], [], [], [], []).snapshot(at)
        ahead = latest.time > at
        if ahead.any():
            latest = replace(latest, time=np.where(ahead, at, latest.time))
        return latest.snapshot(at, max_age=max_age)

    def forget_older_than(self, time: float) -> None:
        """Drop tracks last seen before ``time`` (no snapshot would show them): memory follows the
        live traffic, not every aircraft ever seen."""
        with self._lock:
            latest = self._merged()
            if latest is not None:
                alive = latest.time >= time
                self._latest = latest.take(np.flatnonzero(alive))
                gone = [latest.take(np.flatnonzero(~alive))] if not alive.all() else []
                if self._gone is not None:
                    remembered = self._gone.take(np.flatnonzero((self._gone.time >= time - GONE_MEMORY) & ~np.isin(
                        track_ids(self._gone), track_ids(self._latest))))  # back with a real position: forgotten
                    gone.insert(0, remembered)
                if gone:
                    table = States.concat(gone)
                    self._gone = table.take(latest_rows(table.icao24, table.time, table.party))

    def to_bytes(self) -> bytes | None:
        """The latest state of every track as numpy ``.npz`` (for a hot standby), None when empty."""
        latest = self.latest()
        if latest is None or not len(latest):
            return None
        out = io.BytesIO()
        np.savez(out, **{f.name: getattr(latest, f.name) for f in fields(latest) if f.name != "at"})
        return out.getvalue()

    def load_bytes(self, data: bytes) -> None:
        """Replace the picture with a copy written by `to_bytes` (no pickles are read: a database
        row cannot run code here). A malformed copy raises ValueError and changes nothing."""
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            columns = {name: arrays[name] for name in arrays.files}
        states = States.from_arrays(**columns)
        with self._lock:
            self._pending, self._latest = [], states
