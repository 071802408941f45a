"""The merged live picture: every party's latest state per aircraft, fed by track batches.

Batches are queued as they arrive (cheap under load) and folded into the latest-state table when
the picture is read, with one sort over the queued rows and the table.
"""

from __future__ import annotations

import threading

import numpy as np

from deconflict.core.states import States


class Picture:
    def __init__(self) -> None:
        self._latest: States | None = None
        self._pending: list[States] = []
        self._lock = threading.Lock()
        self.received = 0

    def add(self, batch: States) -> None:
        """Queue a batch of state vectors (already validated, party stamped)."""
        if len(batch):
            with self._lock:
                self._pending.append(batch)
                self.received += len(batch)

    def latest(self) -> States | None:
        """One row per aircraft: its most recent state vector (not extrapolated)."""
        with self._lock:
            pending, self._pending = self._pending, []
            if pending:
                parts = ([self._latest] if self._latest is not None else []) + pending
                merged = States.concat(parts) if len(parts) > 1 else parts[0]
                order = np.lexsort((merged.time, merged.icao24))
                ids = merged.icao24[order]
                last = np.ones(ids.size, dtype=bool)
                last[:-1] = ids[1:] != ids[:-1]
                self._latest = merged.take(order[last])
            return self._latest

    def snapshot(self, at: float, max_age: float) -> States:
        """Airborne aircraft seen within ``max_age`` s before ``at``, extrapolated to ``at`` (SPEC §3)."""
        latest = self.latest()
        if latest is None:
            return States.from_arrays([], [], [], [], [], [], [], []).snapshot(at)
        return latest.snapshot(at, max_age=max_age)

    def forget_older_than(self, time: float) -> None:
        latest = self.latest()
        if latest is not None:
            with self._lock:
                self._latest = latest.take(np.flatnonzero(latest.time >= time))
