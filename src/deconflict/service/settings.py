"""Service settings: where the data lives, the agreed standard, how often detection runs."""

from __future__ import annotations

import hashlib
import os
import time as _time
from dataclasses import dataclass, field
from pathlib import Path

from deconflict.core.conformance import Tolerance
from deconflict.service.quotas import CONFLICTS_RAISED, PLAN_WRITES, REQUESTS, STATE_VECTORS, Rate

DEFAULT_DATABASE = "deconflict.db"


@dataclass(frozen=True)
class ServiceSettings:
    """Everything the service needs to start. Times in seconds, distances in metres (SPEC §1).

    ``database``: SQLite file or SQLAlchemy URL (``DECONFLICT_DATABASE_URL`` overrides the default).
    ``key_file``: the Ed25519 audit key (created on first start beside the SQLite file).
    ``standard``: alert standard for live surveillance; ``vtol`` 200 ft as SPEC §3 says for the service.
    ``alert_m``/``alert_n``/``alert_hysteresis``: the `AlertFilter` (M-of-N to raise, hysteresis to
    lower); levels from ``alert_immediate`` up (warnings) are shown at first sight.
    ``detection_period``: longest time between two detection runs (a track batch triggers one sooner,
    at most every ``detection_min_interval``). ``max_age``: tracks older than this are dropped.
    ``acknowledge_within``: a conflict thread not acknowledged by every party within this escalates
    to the cell; ``proposal_deadline``: default answer time of a proposal.
    ``clock_origin``/``clock_speed``: accelerated time (demo): service time = origin + speed x elapsed.
    ``token_cache``: seconds a checked token is trusted before the database is asked again (a
    revocation by another process takes effect within this, open event streams included).
    ``requests``/``plan_writes``/``conflicts_raised``/``state_vectors``: each party's fair share (`quotas.Rate`).
    ``advertise``: this node's URL, shown by standbys to clients that reach them (issue 18).
    ``conformance``: how far outside its plans an aircraft may fly, and for how long (`Tolerance`).
    ``events_kept``: the newest stored events kept for resumption (``Last-Event-ID``).
    """

    database: str = field(default_factory=lambda: os.environ.get("DECONFLICT_DATABASE_URL", DEFAULT_DATABASE))
    key_file: str | None = None
    standard: str = "en-route"
    vtol: float = 60.96
    plan_margin: float = 0.0
    equal_priority: str = "accept"
    detection_period: float = 1.0
    detection_min_interval: float = 0.1
    max_age: float = 60.0
    alert_m: int = 2
    alert_n: int = 3
    alert_hysteresis: float = 5.0
    alert_immediate: int | None = 3
    acknowledge_within: float = 120.0
    proposal_deadline: float = 300.0
    clock_origin: float | None = None
    clock_speed: float = 1.0
    token_cache: float = 30.0
    requests: Rate = REQUESTS
    plan_writes: Rate = PLAN_WRITES
    conflicts_raised: Rate = CONFLICTS_RAISED
    state_vectors: Rate = STATE_VECTORS
    advertise: str = ""
    conformance: Tolerance = field(default_factory=Tolerance)
    events_kept: int = 100_000

    @property
    def witness_path(self) -> Path:
        """Where the audit witness of this database lives: beside the key, named after the database
        (one key may serve several databases, e.g. in tests)."""
        digest = hashlib.sha256(self.database.encode()).hexdigest()[:12]
        key = self.key_path
        return key.with_name(f"{key.stem}.{digest}.witness")

    @property
    def snapshot_path(self) -> Path:
        """Where the plan index snapshot of this database lives (beside the witness; `Plans.save_snapshot`)."""
        return self.witness_path.with_suffix(".plans")

    @property
    def key_path(self) -> Path:
        if self.key_file:
            return Path(self.key_file)
        if "://" not in self.database:
            return Path(self.database).expanduser().with_suffix(".key")
        return Path("deconflict-service.key")


class Clock:
    """Service time in UNIX seconds: real time, or accelerated from an origin (demo, replays)."""

    def __init__(self, origin: float | None = None, speed: float = 1.0) -> None:
        if not speed > 0:
            raise ValueError(f"clock speed must be > 0, got {speed}")
        self._anchor = (_time.time() if origin is None else float(origin), _time.monotonic(), float(speed))
        self._real = origin is None and speed == 1.0

    @property
    def speed(self) -> float:
        return self._anchor[2]

    def now(self) -> float:
        if self._real:
            return _time.time()
        origin, started, speed = self._anchor  # one tuple: a concurrent `set_speed` is seen whole or not at all
        return origin + (_time.monotonic() - started) * speed

    def set_speed(self, speed: float) -> None:
        """Run on at ``speed`` from now, without a jump (the demo slows to real time around a conflict)."""
        if not speed > 0:
            raise ValueError(f"clock speed must be > 0, got {speed}")
        if self._real:
            raise ValueError("a real-time clock keeps its speed")
        self._anchor = (self.now(), _time.monotonic(), float(speed))

    def real_seconds(self, service_seconds: float) -> float:
        """Wall-clock seconds that ``service_seconds`` of service time take."""
        return service_seconds / self.speed
