"""The running service: one facade over the use cases, each in its own module sharing one unit of work.

    unit_of_work.py  the serialised transaction, its audit entries, events and in-memory follow-ups
    parties.py       parties, members, tokens, suspension
    plans.py         plans and strategic conflicts (the plan index)
    tactical.py      track batches, the live picture, detection cycles, suggested resolutions
    conformance.py   live tracks held to their party's plans (Nonconforming), and who is told
    hotline.py       threads, messages, proposals, escalation
    audit_trail.py   record downloads and the start-up check of the chain

`Deconfliction` builds them, checks the audit chain, rebuilds the plan index, and runs detection
on a background thread (on a timer and soon after each track batch). One instance per process;
no globals.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Iterator

from sqlalchemy import Engine, func, select

from deconflict.core.alerting import alerts
from deconflict.core.plans import Plan, PlanIndex
from deconflict.core.standards import standard as named_standard
from deconflict.core.states import States
from deconflict.service.audit_trail import AuditTrail
from deconflict.service.auth import Principal
from deconflict.service.conformance import Conformance
from deconflict.service.errors import BadRequest, NotLeading
from deconflict.service.hotline import Hotline
from deconflict.service.metrics import ServiceMetrics
from deconflict.service.keys import PartyKeys
from deconflict.service.parties import Parties
from deconflict.service.plans import Plans
from deconflict.service.settings import Clock, ServiceSettings
from deconflict.service.tactical import IngestResult, Tactical
from deconflict.service.unit_of_work import UnitOfWork
from deconflict.store.schema import StrategicConflict
from deconflict.store.audit import AuditError, AuditLog, ServiceKey, Witness
from deconflict.store.database import checkpoint, open_engine
from deconflict.store.leadership import Lease

__all__ = ["Deconfliction", "IngestResult"]
LOG = logging.getLogger("deconflict")
CHECKPOINT_EVERY = 1.0  # s
SNAPSHOT_EVERY = 600.0  # s: the plan index snapshot is rewritten this often when plans changed
LEASE_CHECK = 0.5  # s: a standby tries for the lease, a leader checks its lock, this often
PICTURE_COPY_EVERY = 1.0  # s (wall clock): the leader copies its live picture for the standbys this often (or
# 20 times the last copy's duration when that is longer: a huge picture costs detection at most 5 %)
ROLE_LEADER, ROLE_STANDBY, ROLE_DEPOSED, ROLE_ADMIN = "leader", "standby", "deposed", "admin"


class Deconfliction:
    """The service's state and operations."""

    def __init__(self, settings: ServiceSettings, engine: Engine | None = None, clock: Clock | None = None,
                 serving: bool = True) -> None:
        """``serving`` False (admin commands): the database and audit key only; the plan index is not
        rebuilt, the chain not walked, and the conflicts a running service displays are left as they are.
        ``serving`` True: this node leads if no other node holds the database's lease (then the chain is
        checked, the plan index rebuilt, open conflicts taken over); otherwise it is a standby that
        answers 503 and takes the lead when the leader's lease lapses (`start` runs the watch)."""
        self.settings = settings
        self.standard = named_standard(settings.standard)  # a bad name fails before anything is created
        self.engine = engine or open_engine(settings.database)
        self.key = ServiceKey.load_or_create(settings.key_path)
        self.work = UnitOfWork(self.engine, AuditLog(self.key, Witness(settings.witness_path)),
                               clock or Clock(settings.clock_origin, settings.clock_speed))
        self.work.events_kept = settings.events_kept
        self.audit = AuditTrail(self.work)
        self.party_book = Parties(self.work, settings.token_cache, settings.requests)
        self.keys = PartyKeys(self.work)
        self.hotline = Hotline(self.work, settings.acknowledge_within, settings.proposal_deadline, self.keys)
        self.plan_book = Plans(self.work, self.hotline, settings.plan_margin, settings.equal_priority,
                               settings.plan_writes, settings.conflicts_raised)
        self.tactical = Tactical(self.work, self.hotline, self.party_book, settings, self.standard)
        self.metrics = ServiceMetrics()
        self.conformance = Conformance(self.work, self.plan_book.index, self.standard, settings.conformance)
        self.tactical.conformance = self.conformance
        self.plan_book.nonconforming = self.conformance.nonconforming_plans
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch: threading.Thread | None = None
        self.lease = Lease(self.engine, settings.advertise) if serving else None
        self.role = ROLE_ADMIN if not serving else ROLE_STANDBY
        self.on_deposed: Callable[[str], None] = lambda reason: None  # `serve` exits: a supervisor restarts it
        self.work.on_lost_lead = self._depose
        self._leader_hint = ""
        self.took_lead_at: float | None = None
        self._snapshot_changes, self._snapshot_at = 0, time.monotonic()
        self._snapshot_lock = threading.Lock()
        self._snapshot_thread: threading.Thread | None = None
        self._snapshot_due = False
        self._picture_copy_due = float("-inf")
        if serving and not self._try_lead():
            self._leader_hint = self.lease.leader()[0]
            LOG.warning("another node leads this database (%s): standing by", self._leader_hint or "address unknown")
            self.audit.check()  # a hot standby: the chain checked and the plan index built now, followed
            self._load_plans()  # from then on (`check_lease`), so that taking over reads only the tail

    def _try_lead(self) -> bool:
        """Take the lease if it is free, then load what a leader needs from the committed state."""
        if not self.lease.try_acquire(self.clock.now()):
            return False
        self.work.lease = self.lease
        try:
            self.audit.check()  # from the last entry this node checked: the whole chain at first
            if self.plan_book.synced or len(self.plan_book.index):
                self.plan_book.follow()  # a hot standby: only what the old leader wrote since
            else:
                self._load_plans()
            self.tactical.follow_picture()  # the old leader's last copy: detection resumes with its traffic
            self.tactical.resume()
        except BaseException:
            self.work.lease = None
            self.lease.release()
            raise
        self.took_lead_at = self.clock.now()
        self.role = ROLE_LEADER
        if self._snapshot_due:  # only a leader writes it: a standby's index moves outside the write lock
            self._snapshot_due = False
            self._snapshot_thread = threading.Thread(target=self.save_snapshot, name="plan-snapshot", daemon=True)
            self._snapshot_thread.start()
        return True

    def _load_plans(self) -> None:
        """The plan index from its snapshot and the plans written since (a restart: under 2 s with 100,000
        plans), or else from every stored plan (then a snapshot is written, on a thread)."""
        if self.plan_book.restore_snapshot(self.settings.snapshot_path, self._snapshot_secret):
            LOG.info("plan index restored from its snapshot (%d plans)", len(self.plan_book.index))
            return
        self.plan_book.load()
        self._snapshot_due = len(self.plan_book.index) > 0  # written once this node leads (`_try_lead`)

    @property
    def _snapshot_secret(self) -> bytes:
        return self.key.derive("deconflict plan index snapshot")

    def save_snapshot(self) -> None:
        """Write the plan index snapshot now (after a full load, every `SNAPSHOT_EVERY` s when plans
        changed, and at a clean stop); a failure is logged, never fatal: the next start rebuilds."""
        if self.role != ROLE_LEADER:  # a standby's index moves outside the write lock: never snapshot it
            return
        changes = self.plan_book.changes
        try:
            with self._snapshot_lock:
                self.plan_book.save_snapshot(self.settings.snapshot_path, self._snapshot_secret)
            self._snapshot_changes, self._snapshot_at = changes, time.monotonic()
        except Exception as error:
            LOG.warning("plan index snapshot not written: %s", str(error).splitlines()[0])

    def _depose(self, reason: str) -> None:
        """Another node leads (or may): stop detecting and writing; `on_deposed` says so to the process."""
        if self.role != ROLE_LEADER:
            return
        self.role = ROLE_DEPOSED
        self._stop.set()
        self._wake.set()
        if self.lease is not None:
            self.lease.release()
        LOG.critical("this node lost the lead: %s", reason)
        self.on_deposed(reason)

    def close(self) -> None:
        """Stop, write the plan index snapshot (leading), give the lead up and close the database
        connections (a clean stop)."""
        self.stop()
        if self._snapshot_thread is not None:
            self._snapshot_thread.join(timeout=60)
        if self.role == ROLE_LEADER and len(self.plan_book.index) and self.plan_book.changes != self._snapshot_changes:
            self.save_snapshot()
        if self.lease is not None:
            self.lease.release()
        self.engine.dispose()

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
        """Start the detection thread (it loads the compiled kernels first, so that the node answers at
        once) and the lease watch."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="detection", daemon=True)
            self._thread.start()
            self._checkpointer = threading.Thread(target=self._checkpoints, name="checkpoint", daemon=True)
            self._checkpointer.start()
            if self.lease is not None:
                self._watch = threading.Thread(target=self._watch_lease, name="lease", daemon=True)
                self._watch.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for thread in (self._thread, self._watch):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=10)
        self._thread = self._watch = None

    def _watch_lease(self) -> None:
        while not self._stop.wait(LEASE_CHECK):
            self.check_lease()

    def check_lease(self) -> None:
        """A standby tries for the lease (and leads if it gets it); a leader checks it still holds it.
        Run every `LEASE_CHECK` by `start`."""
        try:
            if self.role == ROLE_STANDBY:
                if self._try_lead():
                    LOG.warning("this node leads now (epoch %s)", self.lease.epoch)
                    self._wake.set()
                else:
                    self._leader_hint = self.lease.leader()[0]
                    self.audit.check()  # the entries the leader appended since, verified
                    self.plan_book.follow()
                    self.tactical.follow_picture()  # the traffic the leader sees, about a second old
            elif self.role == ROLE_LEADER and not self.lease.alive():
                self._depose("the connection holding the database lock was lost")
        except AuditError as error:  # a standby must not lead on a broken record
            LOG.critical("%s", error)
            self._depose_standby(str(error))
        except Exception as error:  # the database away: try again next time
            LOG.error("lease check failed (retried): %s", str(error).splitlines()[0])

    def _depose_standby(self, reason: str) -> None:
        self.role = ROLE_DEPOSED
        self._stop.set()
        self.on_deposed(reason)

    def leading(self) -> None:
        """Raise `NotLeading` (503, with the leader's URL) unless this node leads."""
        if self.role == ROLE_LEADER:
            return
        if self.role == ROLE_DEPOSED:
            raise NotLeading("this node lost the lead and is stopping; retry on the leading node", self._leader_hint)
        raise NotLeading("this node is a standby; retry on the leading node"
                         + (f" ({self._leader_hint})" if self._leader_hint else ""), self._leader_hint)

    def node(self) -> dict[str, Any]:
        """This node's part in the cluster (for /healthz)."""
        return {"role": self.role, "epoch": self.lease.epoch if self.lease is not None else None,
                "leader": self.settings.advertise if self.role == ROLE_LEADER else self._leader_hint}

    def _checkpoints(self) -> None:
        """The SQLite WAL copied into the database every second, outside any write."""
        while not self._stop.wait(CHECKPOINT_EVERY):
            try:
                checkpoint(self.engine)
            except Exception as error:  # a failed checkpoint is retried; commits go on into the WAL
                LOG.warning("checkpoint failed: %s", str(error).splitlines()[0])
            if self.role == ROLE_LEADER and self.plan_book.changes != self._snapshot_changes \
                    and time.monotonic() - self._snapshot_at > SNAPSHOT_EVERY:
                self.save_snapshot()

    def _run(self) -> None:
        try:
            self.warm_up()
        except Exception as error:  # detection compiles what it needs on its first cycle instead
            LOG.warning("warm-up failed: %s", str(error).splitlines()[0])
        while not self._stop.is_set():
            self._wake.wait(self.settings.detection_period)
            self._wake.clear()
            if self._stop.is_set():
                break
            if self.role != ROLE_LEADER:
                continue
            try:
                self.detect_now()
                self.escalate_overdue()
                if time.monotonic() >= self._picture_copy_due:
                    started = time.monotonic()
                    self.copy_picture()
                    # at most 5 % of the time on copies, however large the picture
                    self._picture_copy_due = started + max(PICTURE_COPY_EVERY, 20.0 * (time.monotonic() - started))
            except Exception as error:  # keep detecting: a failed cycle must not end the fail-safe loop
                LOG.error("detection cycle failed (retried next cycle): %s", str(error).splitlines()[0])
            self._stop.wait(self.settings.detection_min_interval)

    # -- parties --------------------------------------------------------------------------------

    def authenticate(self, token: str | None) -> Principal:
        return self.party_book.authenticate(token)

    def admit(self, token: str | None) -> Principal:
        """The caller of an API request: only the leading node answers (`leading`)."""
        self.leading()
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

    def submit_plan(self, who: Principal, document: dict[str, Any], signature: str | None = None) -> dict[str, Any]:
        return self.plan_book.submit(who, [_plans_file(document)], single=True, signatures=[signature])[0]

    def submit_plans(self, who: Principal, documents: list[dict[str, Any]],
                     signatures: list[str | None] | None = None) -> list[dict[str, Any]]:
        return self.plan_book.submit(who, [_plans_file(d, k) for k, d in enumerate(documents)], signatures=signatures)

    def check_plans(self, who: Principal, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self.plan_book.check(who, [_plans_file(d, k) for k, d in enumerate(documents)])

    def update_plan(self, who: Principal, party: str, plan_id: str, document: dict[str, Any],
                    version: int | None, signature: str | None = None) -> dict[str, Any]:
        return self.plan_book.update(who, party, plan_id, document, version, signature)

    def delete_plan(self, who: Principal, party: str, plan_id: str, version: int | None,
                    signature: str | None = None) -> None:
        self.plan_book.delete(who, party, plan_id, version, signature)

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
        self.metrics.state_vectors.inc(result.accepted)
        self.metrics.state_vectors_rejected.inc(result.rejected)
        self._wake.set()
        return result

    def detect_now(self) -> None:
        with self.metrics.detection_seconds.time():
            self.tactical.detect_now()

    def open_tactical(self) -> int:
        """Tactical conflicts open now (for the metrics)."""
        return len(self.tactical._open)

    def open_strategic(self) -> int:
        """Strategic conflicts active now (for the metrics)."""
        with self.Session() as session:
            return int(session.scalar(select(func.count()).select_from(StrategicConflict).where(
                StrategicConflict.active.is_(True))) or 0)

    def copy_picture(self) -> None:
        """Write the live picture for the standbys (the detection loop does it every `PICTURE_COPY_EVERY`)."""
        self.tactical.copy_picture()

    def tracks(self, who: Principal, columns: bool = False):
        return self.tactical.tracks(who, columns)

    def clashes(self, who: Principal) -> list[dict[str, Any]]:
        return self.tactical.clashes(who)

    def tactical_conflicts(self, who: Principal) -> list[dict[str, Any]]:
        return self.tactical.conflicts(who)

    def occurrences(self, who: Principal) -> list[dict[str, Any]]:
        return self.tactical.occurrences.list(who)

    def occurrences_csv(self, who: Principal) -> str:
        return self.tactical.occurrences.csv(who)

    def resolutions(self, who: Principal, conflict_id: str) -> list[dict[str, Any]]:
        return self.tactical.resolutions(who, conflict_id)

    def nonconformances(self, who: Principal) -> list[dict[str, Any]]:
        return self.conformance.list(who)

    # -- hotline --------------------------------------------------------------------------------

    def create_thread(self, who: Principal, parties: list[str], subject: str) -> dict[str, Any]:
        return self.hotline.create_thread(who, parties, subject)

    def threads(self, who: Principal) -> list[dict[str, Any]]:
        return self.hotline.threads(who)

    def thread(self, who: Principal, thread_id: int) -> dict[str, Any]:
        return self.hotline.thread(who, thread_id)

    def post(self, who: Principal, thread_id: int, kind: str, text: str = "", proposal: dict[str, Any] | None = None,
             reply_to: int | None = None, answer_within: float | None = None, signature: str | None = None,
             answer_within_text: str | None = None) -> dict[str, Any]:
        return self.hotline.post(who, thread_id, kind, text, proposal, reply_to, answer_within, signature,
                                 answer_within_text)

    def escalate_overdue(self, force_party: str | None = None) -> int:
        return self.hotline.escalate_overdue(force_party)

    # -- audit ----------------------------------------------------------------------------------

    def audit_records(self, who: Principal, whole: bool = False, tail: int | None = None) -> Iterator[dict[str, Any]]:
        return self.audit.records(who, whole, tail)


def _plans_file(document: Any, k: int | None = None) -> Any:
    """A plan document in the plans-file schema: an ASTM F3548-21 OperationalIntent is converted
    (`io.f3548`: WGS84 heights widened for the geoid); the stored document, and what a party signs, is
    that form (the answer shows it)."""
    from deconflict.io.f3548 import as_plan_document
    from deconflict.io.plans_file import PlansFileError

    try:
        return as_plan_document(document, "plan" if k is None else f"plans[{k}]")
    except PlansFileError as error:
        raise BadRequest(str(error)) from None
