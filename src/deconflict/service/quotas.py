"""Fair shares: what one party may make the service do per second, so that a hostile or broken party
cannot stall the others (their writes, their track pushes, detection).

A token bucket per party and kind of work: ``capacity`` units at most, refilled at ``per_second``.
A request that needs more units than the bucket holds is refused with 429 and the seconds after
which it would fit (``Retry-After``); nothing of it is done. The cell is not limited (it runs the
service's own feeds). Units: plans written, strategic conflicts raised, state vectors pushed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from deconflict.service.errors import TooManyRequests


@dataclass(frozen=True)
class Rate:
    capacity: float
    per_second: float


# defaults (docs/service.md, "Fair shares"); each well above what a party's normal use needs
REQUESTS = Rate(capacity=200.0, per_second=50.0)  # API requests of any kind, all of a party's members together
PLAN_WRITES = Rate(capacity=2000.0, per_second=100.0)  # plans submitted, edited or deleted
CONFLICTS_RAISED = Rate(capacity=50.0, per_second=5.0)  # strategic conflicts one party's plans raise
STATE_VECTORS = Rate(capacity=300_000.0, per_second=100_000.0)  # track rows pushed


class Quota:
    def __init__(self, what: str, rate: Rate, clock=time.monotonic) -> None:  # noqa: ANN001
        self.what, self.rate, self.clock = what, rate, clock
        self._buckets: dict[str, tuple[float, float]] = {}  # party -> (units, at)
        self._lock = threading.Lock()

    def _level(self, party: str, now: float) -> float:
        units, at = self._buckets.get(party, (self.rate.capacity, now))
        return min(self.rate.capacity, units + (now - at) * self.rate.per_second)

    def check(self, party: str | None, amount: float) -> None:
        """Raise `TooManyRequests` when ``party`` has not ``amount`` units now (takes nothing)."""
        if party is None or amount <= 0:
            return
        with self._lock:
            now = self.clock()
            level = self._level(party, now)
        if amount > level:
            wait = (min(amount, self.rate.capacity) - level) / self.rate.per_second
            raise TooManyRequests(f"{party} is over its share of {self.what} ({self.rate.per_second:g}/s, "
                                  f"{self.rate.capacity:g} at once): try again in {wait:.1f} s", retry_after=wait)

    def take(self, party: str | None, amount: float) -> None:
        """Take ``amount`` units of ``party``'s bucket, or raise `TooManyRequests` taking nothing."""
        if party is None or amount <= 0:
            return
        self.check(party, amount)
        with self._lock:
            now = self.clock()
            self._buckets[party] = (self._level(party, now) - amount, now)
