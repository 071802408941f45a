"""The live picture: every party's latest state of each of its tracks, fed by committed track batches.

A track is identified by (party, icao24) (SPEC §2): one party's reports never replace, age out or
hide another party's track of the same address, whatever time they carry. Batches are queued as
they arrive (cheap under load) and folded into the latest-state table when the picture is read,
with one sort over the queued rows and the table. Memory is O(live tracks + queued rows).
"""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np

from deconflict.core.states import States, latest_rows

TRACK_SEPARATOR = "/"  # party ids hold no "/": "party/icao24" is unambiguous


def track_ids(states: States) -> np.ndarray:
    """``party/icao24`` per row: the identity of a track across parties."""
    if len(states) == 0:
        return np.empty(0, dtype=str)
    return np.char.add(np.char.add(states.party, TRACK_SEPARATOR), states.icao24)


class Picture:
    def __init__(self) -> None:
        self._latest: States | None = None
        self._pending: list[States] = []
        self._lock = threading.Lock()

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
        """Fold the queued batches into the latest states (the caller holds the lock)."""
        pending, self._pending = self._pending, []
        if pending:
            merged = States.concat(([self._latest] if self._latest is not None else []) + pending)
            self._latest = merged.take(latest_rows(merged.icao24, merged.time, merged.party))
        return self._latest

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
                self._latest = latest.take(np.flatnonzero(latest.time >= time))
