"""The running service: one facade over the use cases, each in its own module sharing one unit of work.

    unit_of_work.py  the serialised transaction, its audit entries, events and in-memory follow-ups
    parties.py       parties, members, tokens, suspension
    plans.py         plans and strategic conflicts (the plan index)
    tactical.py      track batches, the live picture, detection cycles, suggested resolutions
    hotline.py       threads, messages, proposals, escalation
    audit_trail.py   record downloads and the start-up check of the chain

`Deconfliction` builds them, checks the audit chain, rebuilds the plan index, and runs detection
on a background thread (on a timer and soon after each track batch). One instance per process;
no globals.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Iterator

from sqlalchemy import Engine, select

from deconflict.core.alerting import alerts
from deconflict.core.plans import Plan, PlanIndex
from deconflict.core.standards import standard as named_standard
from deconflict.core.states import States
from deconflict.service.audit_trail import AuditTrail
from deconflict.service.auth import Principal
from deconflict.service.hotline import Hotline
from deconflict.service.parties import Parties
from deconflict.service.plans import Plans
from deconflict.service.settings import Clock, ServiceSettings
from deconflict.service.tactical import IngestResult, Tactical
from deconflict.service.unit_of_work import SERVICE_ACTOR, UnitOfWork
from deconflict.store.audit import AuditLog, ServiceKey, Witness
from deconflict.store.database import checkpoint, open_engine
from deconflict.store.schema import TacticalConflict

__all__ = ["Deconfliction", "IngestResult"]
LOG = logging.getLogger("deconflict")
CHECKPOINT_EVERY = 1.0  # s


class Deconfliction:
    """The service's state and operations."""

    def __init__(self, settings: ServiceSettings, engine: Engine | None = None, clock: Clock | None = None,
                 serving: bool = True) -> None:
        """``serving`` False (admin commands): the database and audit key only; the plan index is not
        rebuilt, the chain not walked, and the conflicts a running service displays are left as they are."""
        self.settings = settings
        self.standard = named_standard(settings.standard)  # a bad name fails before anything is created
        self.engine = engine or open_engine(settings.database)
        self.key = ServiceKey.load_or_create(settings.key_path)
        self.work = UnitOfWork(self.engine, AuditLog(self.key, Witness(settings.witness_path)),
                               clock or Clock(settings.clock_origin, settings.clock_speed))
        self.audit = AuditTrail(self.work)
        self.party_book = Parties(self.work, settings.token_cache, settings.requests)
        self.hotline = Hotline(self.work, settings.acknowledge_within, settings.proposal_deadline)
        self.plan_book = Plans(self.work, self.hotline, settings.plan_margin, settings.equal_priority,
                               settings.plan_writes, settings.conflicts_raised)
        self.tactical = Tactical(self.work, self.hotline, self.party_book, settings, self.standard)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if serving:
            self.audit.check()
            self.plan_book.load()
            self._close_left_open()

    # -- shared pieces, as the app, the demo and the tests reach them ---------------------------

    @property
    def clock(self) -> Clock:
        return self.work.clock

    @property
    def events(self):
        return self.work.events

    @property
    def Session(self):
        return self.work.Session

    @property
    def picture(self):
        return self.tactical.picture

    @property
    def plans(self) -> PlanIndex:
        return self.plan_book.index

    @property
    def detections(self) -> int:
        return self.tactical.detections

    def _close_left_open(self) -> None:
        """Tactical conflicts left open by a stop are closed (the picture starts empty)."""
        with self.work.write() as session:
            for row in session.scalars(select(TacticalConflict).where(TacticalConflict.cleared.is_(None))):
                row.cleared = self.clock.now()
                self.work.record(session, "conflict.cleared", SERVICE_ACTOR, (row.party_a, row.party_b),
                                 {"conflict": f"tactical:{row.id}", "reason": "service restarted"})

    # -- detection thread -----------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the compiled kernels (plan filter, detection) before the first request needs them."""
        from deconflict.core.volumes import Circle, Volume4D

        index = PlanIndex()
        volume = Volume4D(Circle(0.0, 0.0, 1000.0), 0.0, 100.0, 0.0, 60.0)
        index.add(Plan("warm/1", "warm", (volume,)))
        index.check(Plan("warm/2", "warm", (volume,)))
        pair = States.from_arrays(["w1", "w2"], 0.0, 0.0, [0.0, 0.01], 200.0, [90.0, 270.0], 0.0, 9000.0)
        alerts(pair.snapshot(0.0), self.standard, vtol=self.settings.vtol)

    def start(self) -> None:
        """Start the detection thread (after loading the compiled kernels)."""
        self.warm_up()
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="detection", daemon=True)
            self._thread.start()
            self._checkpointer = threading.Thread(target=self._checkpoints, name="checkpoint", daemon=True)
            self._checkpointer.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _checkpoints(self) -> None:
        """The SQLite WAL copied into the database every second, outside any write."""
        while not self._stop.wait(CHECKPOINT_EVERY):
            try:
                checkpoint(self.engine)
            except Exception as error:  # a failed checkpoint is retried; commits go on into the WAL
                LOG.warning("checkpoint failed: %s", str(error).splitlines()[0])

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.settings.detection_period)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.detect_now()
                self.escalate_overdue()
            except Exception as error:  # keep detecting: a failed cycle must not end the fail-safe loop
                LOG.error("detection cycle failed (retried next cycle): %s", str(error).splitlines()[0])
            self._stop.wait(self.settings.detection_min_interval)

    # -- parties --------------------------------------------------------------------------------

    def authenticate(self, token: str | None) -> Principal:
        return self.party_book.authenticate(token)

    def admit(self, token: str | None) -> Principal:
        return self.party_book.admit(token)

    def revoke_member(self, member: int) -> str:
        return self.party_book.revoke_member(member)

    def members(self) -> list[dict[str, Any]]:
        return self.party_book.members()

    def add_party(self, party: str, title: str = "") -> None:
        self.party_book.add_party(party, title)

    def add_member(self, name: str, role: str, party: str | None) -> str:
        return self.party_book.add_member(name, role, party)

    def parties(self) -> list[dict[str, Any]]:
        return self.party_book.parties()

    def set_suspended(self, who: Principal, party: str, suspended: bool) -> dict[str, Any]:
        """A party suspends (or resumes) participation. Detection and alerting of the others go on;
        its open threads escalate to the cell at once."""
        self.party_book.set_suspended(who, party, suspended)
        if suspended:
            self.hotline.escalate_overdue(force_party=party)
        return {"id": party, "suspended": suspended}

    # -- plans ----------------------------------------------------------------------------------

    def submit_plan(self, who: Principal, document: dict[str, Any]) -> dict[str, Any]:
        return self.plan_book.submit(who, [document], single=True)[0]

    def submit_plans(self, who: Principal, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self.plan_book.submit(who, documents)

    def update_plan(self, who: Principal, party: str, plan_id: str, document: dict[str, Any],
                    version: int | None) -> dict[str, Any]:
        return self.plan_book.update(who, party, plan_id, document, version)

    def delete_plan(self, who: Principal, party: str, plan_id: str, version: int | None) -> None:
        self.plan_book.delete(who, party, plan_id, version)

    def list_plans(self, who: Principal) -> list[dict[str, Any]]:
        return self.plan_book.list(who)

    def get_plan(self, who: Principal, party: str, plan_id: str) -> dict[str, Any]:
        return self.plan_book.get(who, party, plan_id)

    def plan_volumes(self, who: Principal, at: float | None = None) -> dict[str, Any]:
        return self.plan_book.volumes(who, at)

    def strategic_conflicts(self, who: Principal) -> list[dict[str, Any]]:
        return self.plan_book.strategic_conflicts(who)

    # -- tracks and tactical detection ----------------------------------------------------------

    def ingest(self, who: Principal, columns: dict[str, Any], source: bytes) -> IngestResult:
        result = self.tactical.ingest(who, columns, source)
        self._wake.set()
        return result

    def detect_now(self) -> None:
        self.tactical.detect_now()

    def tracks(self, who: Principal, columns: bool = False):
        return self.tactical.tracks(who, columns)

    def clashes(self, who: Principal) -> list[dict[str, Any]]:
        return self.tactical.clashes(who)

    def tactical_conflicts(self, who: Principal) -> list[dict[str, Any]]:
        return self.tactical.conflicts(who)

    def resolutions(self, who: Principal, conflict_id: str) -> list[dict[str, Any]]:
        return self.tactical.resolutions(who, conflict_id)

    # -- hotline --------------------------------------------------------------------------------

    def create_thread(self, who: Principal, parties: list[str], subject: str) -> dict[str, Any]:
        return self.hotline.create_thread(who, parties, subject)

    def threads(self, who: Principal) -> list[dict[str, Any]]:
        return self.hotline.threads(who)

    def thread(self, who: Principal, thread_id: int) -> dict[str, Any]:
        return self.hotline.thread(who, thread_id)

    def post(self, who: Principal, thread_id: int, kind: str, text: str = "", proposal: dict[str, Any] | None = None,
             reply_to: int | None = None, answer_within: float | None = None) -> dict[str, Any]:
        return self.hotline.post(who, thread_id, kind, text, proposal, reply_to, answer_within)

    def escalate_overdue(self, force_party: str | None = None) -> int:
        return self.hotline.escalate_overdue(force_party)

    # -- audit ----------------------------------------------------------------------------------

    def audit_records(self, who: Principal, whole: bool = False, tail: int | None = None) -> Iterator[dict[str, Any]]:
        return self.audit.records(who, whole, tail)
