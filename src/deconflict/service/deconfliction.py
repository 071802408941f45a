"""The service's use cases: plans, tracks and live detection, the hotline, parties, the audit record.

`Deconfliction` owns the database, the plan index, the live picture and the event bus. Every write
runs in one transaction together with its audit entry (so an acknowledged write is in the chain and
an entry never describes a write that did not happen), serialised by one lock: the chain is linear.
Detection runs on a background thread, on a timer and soon after each track batch.
"""

from __future__ import annotations

import hashlib
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
from sqlalchemy import Engine, func, or_, select
from sqlalchemy.orm import Session

from deconflict.core.alerting import AlertFilter, alerts
from deconflict.core.bands import BandsError, bands as conflict_bands
from deconflict.core.units import FOOT, KNOT
from deconflict.core.plans import Plan, PlanIndex
from deconflict.core.standards import standard as named_standard
from deconflict.core.states import States
from deconflict.io.plans_file import PlansFileError, parse_time, plan_from_document
from deconflict.io.states_file import StatesFileError, validate_table
from deconflict.service import need_to_know as ntk
from deconflict.service.auth import Principal, Role, new_token, token_hash
from deconflict.service.errors import (BadRequest, Forbidden, NotFound, PreconditionRequired, StateConflict,
                                       Unauthorized, VersionConflict)
from deconflict.service.events import CELL, EventBus
from deconflict.service.picture import Picture
from deconflict.service.settings import Clock, ServiceSettings
from deconflict.store.audit import AuditLog, ServiceKey, canonical, entry_record
from deconflict.store.database import open_engine, sessions, writer
from deconflict.store.schema import (AuditEntry, Member, Message, Party, PlanRecord, StrategicConflict,
                                     TacticalConflict, Thread, plan_id_of, plan_key)

SERVICE_ACTOR = {"member": 0, "name": "service", "party": None, "role": "service"}
REPLY_KINDS = ("acknowledge", "accept", "reject")
TOKEN_CACHE_SECONDS = 30.0  # a revoked token stops working within this, in every service process
CHANGES_PER_TRANSACTION = 200
UPDATES_EVERY = 1.0  # s (real time) between two conflicts.updated events
UPDATE_FIELDS = ("id", "a", "b", "level", "t_in", "t_out", "t_cpa", "d_cpa", "dz_cpa")


def _manoeuvres(aircraft: str, found: Any) -> list[dict[str, Any]]:
    """Manoeuvre proposals from an aircraft's bands: the nearest clear heading, flight level and speed."""
    current, best = found.current, found.recommended
    proposals = []
    if best["track"] is not None and round(best["track"]) % 360 != round(current["track"]) % 360:
        proposals.append({"type": "manoeuvre", "aircraft": aircraft, "action": "heading",
                          "value": f"{round(best['track']) % 360:03d}"})
    if best["altitude"] is not None and abs(best["altitude"] - current["altitude"]) >= 30.0:
        level = best["altitude"] / FOOT / 100
        up = best["altitude"] > current["altitude"]
        flight_level = int(np.ceil(level / 10) * 10) if up else int(np.floor(level / 10) * 10)
        proposals.append({"type": "manoeuvre", "aircraft": aircraft, "action": "climb" if up else "descend",
                          "value": f"FL{flight_level:03d}"})
    if best["ground_speed"] is not None and abs(best["ground_speed"] - current["ground_speed"]) >= 2.0:
        proposals.append({"type": "manoeuvre", "aircraft": aircraft, "action": "speed",
                          "value": f"{round(best['ground_speed'] / KNOT)}kt"})
    return proposals


def _iso_times(values: list) -> np.ndarray:
    """ISO 8601 times with an offset (SPEC §1, APIs) as UNIX seconds; an unreadable one, or one without
    an offset, is NaN, so its row is rejected as 'time missing' like any other bad row."""
    def seconds(value: Any) -> float:
        try:
            return parse_time(value)
        except ValueError:
            return float("nan")

    return np.array([seconds(v) for v in values], dtype=float)


@dataclass
class IngestResult:
    accepted: int
    rejected: int
    reasons: dict[str, int]
    examples: list[str]


class Deconfliction:
    """The running service's state and operations (one instance per process; no globals)."""

    def __init__(self, settings: ServiceSettings, engine: Engine | None = None, clock: Clock | None = None,
                 serving: bool = True) -> None:
        """``serving`` False (admin commands): the database and audit key only; the plan index is not
        rebuilt and the conflicts a running service displays are left as they are."""
        self.settings = settings
        self.standard = named_standard(settings.standard)  # a bad name fails before anything is created
        self.clock = clock or Clock(settings.clock_origin, settings.clock_speed)
        self.engine = engine or open_engine(settings.database)
        self.Session = sessions(self.engine)
        self._WriteSession = sessions(writer(self.engine))
        self.key = ServiceKey.load_or_create(settings.key_path)
        self.audit = AuditLog(self.key)
        self.events = EventBus()
        self.picture = Picture()
        self.plans = PlanIndex(margin=settings.plan_margin, equal_priority=settings.equal_priority)
        self._lock = threading.RLock()
        self._filter = AlertFilter(settings.alert_m, settings.alert_n, settings.alert_hysteresis,
                                   immediate=settings.alert_immediate)
        self._open: dict[tuple[str, str], dict[str, Any]] = {}  # displayed tactical conflicts by id pair
        self._tokens: dict[str, tuple[Principal, float]] = {}  # token hash -> (principal, valid until)
        self._ids: dict[str, int] = {}
        self._updates_published = float("-inf")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.detections = 0
        if serving:
            self._load()

    # -- plumbing -------------------------------------------------------------------------------

    def _load(self) -> None:
        """Rebuild the plan index from the database; close tactical conflicts left open by a stop."""
        with self.Session() as session:
            for record in session.scalars(select(PlanRecord).where(PlanRecord.status == "accepted")):
                self.plans.add(self._plan(record.document, record.party, f"plan {record.key}"))
        with self.write() as session:
            for row in session.scalars(select(TacticalConflict).where(TacticalConflict.cleared.is_(None))):
                row.cleared = self.clock.now()
                self._record(session, "conflict.cleared", SERVICE_ACTOR, (row.party_a, row.party_b),
                             {"conflict": f"tactical:{row.id}", "reason": "service restarted"})

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One serialised transaction: committed (durably) on success, rolled back on any error."""
        with self._lock, self._WriteSession() as session:
            session.info["events"], session.info["undo"] = [], []
            try:
                with session.begin():
                    yield session
            except BaseException:
                for undo in reversed(session.info["undo"]):  # in-memory indexes follow the database
                    undo()
                raise
            for type, views in session.info["events"]:
                self._publish(type, views)

    @staticmethod
    def _emit(session: Session, type: str, views: dict[str | None, dict[str, Any] | None]) -> None:
        """Publish an event once the transaction that caused it commits."""
        session.info["events"].append((type, views))

    def _record(self, session: Session, kind: str, actor: dict[str, Any], parties, payload: dict[str, Any]) -> None:
        self.audit.append(session, self.clock.now(), kind, actor, parties, payload)

    def _publish(self, type: str, views: dict[str | None, dict[str, Any] | None]) -> None:
        self.events.publish(type, self.clock.now(),
                            {(CELL if k is None else k): v for k, v in views.items() if v is not None})

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

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

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
                import logging

                logging.getLogger("deconflict").exception("detection cycle failed: %s", error)
            self._stop.wait(self.settings.detection_min_interval)

    # -- members and parties --------------------------------------------------------------------

    def authenticate(self, token: str | None) -> Principal:
        if not token:
            raise Unauthorized("missing bearer token (Authorization: Bearer dcf_...)")
        digest = token_hash(token)
        cached = self._tokens.get(digest)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        with self.Session() as session:
            member = session.scalar(select(Member).where(Member.token_hash == digest))
            if member is None or member.revoked:
                self._tokens.pop(digest, None)
                raise Unauthorized("unknown or revoked token")
            principal = Principal(member.id, member.name, member.party, Role(member.role))
        self._tokens[digest] = (principal, time.monotonic() + TOKEN_CACHE_SECONDS)
        return principal

    def revoke_member(self, member: int) -> str:
        """Revoke a member's token (effective in every running service within `TOKEN_CACHE_SECONDS`)."""
        with self.write() as session:
            row = session.get(Member, member)
            if row is None:
                raise NotFound(f"no member {member}")
            row.revoked = True
            self._record(session, "member.revoked", SERVICE_ACTOR, (row.party,) if row.party else (),
                         {"member": row.id, "name": row.name})
        self._tokens = {k: v for k, v in self._tokens.items() if v[0].member != member}
        return row.name

    def members(self) -> list[dict[str, Any]]:
        with self.Session() as session:
            return [{"id": m.id, "name": m.name, "party": m.party, "role": m.role, "revoked": m.revoked}
                    for m in session.scalars(select(Member).order_by(Member.id))]

    def add_party(self, party: str, title: str = "") -> None:
        if not party or len(party) > 32 or not party.replace("-", "").replace("_", "").isalnum():
            raise BadRequest(f"party id {party!r}: expected 1-32 letters, digits, - or _")
        with self.write() as session:
            if session.get(Party, party) is not None:
                raise StateConflict(f"party {party!r} already exists")
            session.add(Party(id=party, title=title, suspended=False, created=self.clock.now()))
            self._record(session, "party.created", SERVICE_ACTOR, (party,), {"party": party, "title": title})

    def add_member(self, name: str, role: str, party: str | None) -> str:
        """Create a member; returns its token (shown once, stored hashed)."""
        try:
            role_value = Role(role)
        except ValueError:
            raise BadRequest(f"role {role!r}: expected one of {', '.join(r.value for r in Role)}") from None
        if role_value is Role.CELL:
            party = None
        elif not party:
            raise BadRequest(f"a {role} belongs to a party: give --party")
        token = new_token()
        with self.write() as session:
            if party is not None and session.get(Party, party) is None:
                raise NotFound(f"no party {party!r}")
            member = Member(name=name, party=party, role=role_value.value, token_hash=token_hash(token),
                            revoked=False, created=self.clock.now())
            session.add(member)
            session.flush()
            self._record(session, "member.created", SERVICE_ACTOR, (party,) if party else (),
                         {"member": member.id, "name": name, "role": role_value.value, "party": party})
        return token

    def parties(self) -> list[dict[str, Any]]:
        with self.Session() as session:
            return [{"id": p.id, "title": p.title, "suspended": p.suspended}
                    for p in session.scalars(select(Party).order_by(Party.id))]

    def set_suspended(self, who: Principal, party: str, suspended: bool) -> dict[str, Any]:
        """A party suspends (or resumes) participation. Detection and alerting of the others go on;
        its open threads escalate to the cell at once."""
        if not who.can_write or not who.sees_party(party):
            raise Forbidden(f"only {party}'s operators or the cell may suspend or resume {party}")
        with self.write() as session:
            row = session.get(Party, party)
            if row is None:
                raise NotFound(f"no party {party!r}")
            row.suspended = suspended
            self._record(session, "party.suspended" if suspended else "party.resumed", who.actor(), (party,),
                         {"party": party})
        self._publish("party.suspended" if suspended else "party.resumed",
                      {v: {"party": party} for v in [None, *[p["id"] for p in self.parties()]]})
        if suspended:
            self.escalate_overdue(force_party=party)
        return {"id": party, "suspended": suspended}

    def _suspended(self, session: Session) -> set[str]:
        return set(session.scalars(select(Party.id).where(Party.suspended.is_(True))))

    # -- plans ----------------------------------------------------------------------------------

    @staticmethod
    def _plan(document: dict[str, Any], party: str, source: str) -> Plan:
        plan = plan_from_document({**document, "party": party}, source)
        return Plan(plan_key(party, plan.id), party, plan.volumes, plan.priority, plan.state, recurrence=plan.recurrence)

    def _own_party(self, who: Principal, party: str | None = None) -> str:
        """The caller's party, when the caller may write its plans (and ``party``'s, if given)."""
        if who.role is not Role.OPERATOR or who.party is None:
            raise Forbidden(f"{who.role.value}s cannot write a party's plans or tracks; an operator of the party can")
        if party is not None and party != who.party:
            raise Forbidden(f"only {party}'s operators change {party}'s plans")
        return who.party

    def submit_plan(self, who: Principal, document: dict[str, Any]) -> dict[str, Any]:
        """Check a new plan against every stored plan and store it (``accepted`` or ``rejected``)."""
        return self.submit_plans(who, [document], single=True)[0]

    def submit_plans(self, who: Principal, documents: list[dict[str, Any]], single: bool = False) -> list[dict[str, Any]]:
        """Several new plans in one transaction (a schedule import): all stored, or none when one is bad."""
        party = self._own_party(who)
        plans = []
        for k, document in enumerate(documents):
            where = "" if single else f"plans[{k}]: "
            if not isinstance(document, dict) or not document.get("id"):
                raise BadRequest(f"{where}plan: expected a JSON object with an id (the plans-file schema)")
            if document.get("party") not in (None, "", party):
                raise Forbidden(f"{where}plan party {document.get('party')!r}: you submit for {party} only")
            try:
                plans.append(self._plan_checked(document, party))
            except BadRequest as error:
                raise BadRequest(f"{where}{error}") from None
        answers = []
        keys = [plan.id for plan in plans]
        if len(set(keys)) < len(keys):
            raise BadRequest("plans: the same id appears twice in the batch")
        with self.write() as session:
            taken = set()
            for k in range(0, len(keys), 500):
                taken.update(session.scalars(select(PlanRecord.plan_id).where(PlanRecord.key.in_(keys[k:k + 500]))))
            if taken:
                raise StateConflict(f"plan {sorted(taken)[0]!r} exists; update it with PUT and its version")
            for document, plan in zip(documents, plans):
                now = self.clock.now()
                record = PlanRecord(key=plan.id, party=party, plan_id=str(document["id"]), version=1,
                                    document={**document, "party": party}, status="accepted", created=now, updated=now)
                session.add(record)
                conflicts, blocked = self._check_and_store(session, who, plan, record)
                answers.append((record, conflicts, blocked))
        return [self._plan_answer(record, conflicts, blocked, party) for record, conflicts, blocked in answers]

    def update_plan(self, who: Principal, party: str, plan_id: str, document: dict[str, Any],
                    version: int | None) -> dict[str, Any]:
        party = self._own_party(who, party)
        if version is None:
            raise PreconditionRequired("updating a plan needs its version: send If-Match with the version read")
        if document.get("id", plan_id) != plan_id:
            raise BadRequest(f"plan id in the body ({document.get('id')!r}) differs from the URL ({plan_id!r})")
        if document.get("party") not in (None, "", party):
            raise Forbidden(f"plan party {document.get('party')!r}: you submit for {party} only")
        document = {**document, "id": plan_id, "party": party}
        plan = self._plan_checked(document, party)
        with self.write() as session:
            record = self._owned_record(session, party, plan_id)
            if record.version != version:
                raise VersionConflict(f"plan {plan_id!r} is at version {record.version}, not {version}: "
                                      f"read it again and reapply your change")
            previous = (record.document, record.status)
            record.document, record.version, record.updated = document, record.version + 1, self.clock.now()
            self._deactivate_strategic(session, record.key)
            if previous[1] == "accepted":
                self._unindex(session, record.key)
            conflicts, blocked = self._check_and_store(session, who, plan, record, previous=previous)
        return self._plan_answer(record, conflicts, blocked, party)

    def delete_plan(self, who: Principal, party: str, plan_id: str, version: int | None) -> None:
        party = self._own_party(who, party)
        if version is None:
            raise PreconditionRequired("deleting a plan needs its version: send If-Match with the version read")
        with self.write() as session:
            record = self._owned_record(session, party, plan_id)
            if record.version != version:
                raise VersionConflict(f"plan {plan_id!r} is at version {record.version}, not {version}")
            was_active = record.status == "accepted"
            record.status, record.version, record.updated = "deleted", record.version + 1, self.clock.now()
            self._deactivate_strategic(session, record.key)
            self._record(session, "plan.deleted", who.actor(), (party,), {"plan": plan_id, "version": record.version})
            if was_active:
                self._unindex(session, record.key)

    def _unindex(self, session: Session, key: str) -> None:
        removed = self.plans.remove(key)
        session.info["undo"].append(lambda: self.plans.add(removed))

    def _plan_checked(self, document: dict[str, Any], party: str) -> Plan:
        try:
            return self._plan(document, party, f"plan {document.get('id')!r}")
        except PlansFileError as error:
            raise BadRequest(str(error)) from None

    def _owned_record(self, session: Session, party: str, plan_id: str) -> PlanRecord:
        record = session.get(PlanRecord, plan_key(party, plan_id))
        if record is None or record.status == "deleted":
            raise NotFound(f"no plan {plan_id!r} of {party}")
        return record

    def _check_and_store(self, session: Session, who: Principal, plan: Plan, record: PlanRecord,
                         previous: tuple[dict, str] | None = None) -> tuple[list[StrategicConflict], list]:
        """Check ``plan``, keep it (or the previous version when an edit is blocked), record conflicts."""
        check = self.plans.check(plan)
        accepted = check.accepted
        if accepted:
            record.status = "accepted"
        elif previous is not None and previous[1] == "accepted":
            record.document, record.status = previous[0], "accepted"  # the blocked edit is refused, the old plan stays
        else:
            record.status = "rejected"
        kept = self._plan(record.document, record.party, record.key) if record.status == "accepted" else None
        rows = []
        if kept is not None:
            self.plans.add(kept)
            session.info["undo"].append(lambda: self.plans.remove(kept.id) if kept.id in self.plans else None)
            for c in (check.conflicts if accepted else self.plans.check(kept).conflicts):
                other = self.plans.get(c.other)
                row = StrategicConflict(
                    id=self._next_id(session, StrategicConflict), plan=c.plan, other=c.other, party=c.party, other_party=c.other_party, blocking=c.blocking,
                    overlap={"overlap": ntk.overlap_feature(c), "volume": ntk.volume_feature(kept.volumes[c.volume]),
                             "other_volume": ntk.volume_feature(other.volumes[c.other_volume].shifted(c.departure))},
                    active=True, created=self.clock.now())
                session.add(row)
                rows.append(row)
        self._record(session, "plan.submitted" if previous is None else "plan.updated", who.actor(), (record.party,),
                     {"plan": record.plan_id, "version": record.version, "status": record.status,
                      "edit_refused": previous is not None and not accepted,
                      "document_sha256": hashlib.sha256(canonical(record.document)).hexdigest()})
        for row in rows:
            self._record(session, "conflict.raised", SERVICE_ACTOR, (row.party, row.other_party),
                         {"conflict": f"strategic:{row.id}", "blocking": row.blocking,
                          "overlap": row.overlap["overlap"]})
            if row.party != row.other_party:
                self._open_thread(session, f"strategic:{row.id}", (row.party, row.other_party),
                                  f"Plans of {row.party} and {row.other_party} overlap")
        for row in rows:
            self._emit(session, "conflict.raised", {v: ntk.strategic_view(row, v) for v in ntk.audiences(
                (row.party, row.other_party))})
        return rows, ([] if accepted else [c for c in check.conflicts if c.blocking])

    @staticmethod
    def _plan_answer(record: PlanRecord, rows: list[StrategicConflict], blocked: list, party: str) -> dict[str, Any]:
        """The submitter's view: its plan, the conflicts it has, and (refused) what blocked it."""
        answer = ntk.plan_view(record)
        answer["conflicts"] = [ntk.strategic_view(r, party) for r in rows]
        answer["accepted"] = not blocked
        answer["blocked_by"] = [{"other_party": c.other_party, "reason": c.reason, "overlap": ntk.overlap_feature(c)}
                                for c in blocked]
        return answer

    def _deactivate_strategic(self, session: Session, key: str) -> None:
        """End the strategic conflicts of plan ``key`` (edited or deleted): recorded, threads closed, and
        both parties told once the transaction commits."""
        rows = list(session.scalars(select(StrategicConflict).where(
            StrategicConflict.active.is_(True), or_(StrategicConflict.plan == key, StrategicConflict.other == key))))
        for row in rows:
            row.active = False
            self._record(session, "conflict.cleared", SERVICE_ACTOR, (row.party, row.other_party),
                         {"conflict": f"strategic:{row.id}", "reason": "plan changed or deleted"})
            self._close_thread(session, f"strategic:{row.id}", "the plans no longer overlap (one changed or was deleted)")
            self._emit(session, "conflict.cleared", {v: ntk.strategic_view(row, v)
                                                     for v in ntk.audiences((row.party, row.other_party))})

    def _close_thread(self, session: Session, conflict: str, why: str) -> None:
        """The conflict of a thread ended: an open or escalated thread closes (it no longer escalates);
        a settled one stays settled. Pending proposals may still be answered."""
        thread = session.scalar(select(Thread).where(Thread.conflict == conflict))
        if thread is not None and thread.status in ("open", "escalated"):
            thread.status = "closed"
            self._service_message(session, thread, "closed", why)

    def list_plans(self, who: Principal) -> list[dict[str, Any]]:
        with self.Session() as session:
            query = select(PlanRecord).where(PlanRecord.status != "deleted").order_by(PlanRecord.key)
            if not who.is_cell:
                query = query.where(PlanRecord.party == who.party)
            return [ntk.plan_view(r) for r in session.scalars(query)]

    def plan_volumes(self, who: Principal, at: float | None = None) -> dict[str, Any]:
        """GeoJSON of the plan volumes in force at ``at`` (default now) that the caller may see: its own
        (all of them for the cell), and each other party's volume in conflict with one of its own."""
        at = self.clock.now() if at is None else at
        viewer = None if who.is_cell else who.party
        features = []
        for plan, k, volume in self.plans.active(at):
            if viewer is None or plan.party == viewer:
                feature = ntk.volume_feature(volume)
                feature["properties"].update(kind="own", plan=plan_id_of(plan.id), party=plan.party, volume=k)
                features.append(feature)
        if viewer is not None:
            for conflict in self.strategic_conflicts(who):
                other = conflict["other_volume"]
                props = other["properties"]
                if parse_time(props["time_start"]) <= at <= parse_time(props["time_end"]):
                    features.append({**other, "properties": {**props, "kind": "conflicting",
                                                             "party": conflict["other_party"],
                                                             "conflict": conflict["id"]}})
        return {"type": "FeatureCollection", "at": ntk.iso(at), "features": features}

    def get_plan(self, who: Principal, party: str, plan_id: str) -> dict[str, Any]:
        if not who.sees_party(party):
            raise NotFound(f"no such plan of {party} that you may see")  # same answer whether it exists or not
        with self.Session() as session:
            return ntk.plan_view(self._owned_record(session, party, plan_id))

    # -- tracks and tactical detection ----------------------------------------------------------

    def ingest(self, who: Principal, columns: dict[str, Any], source: bytes) -> IngestResult:
        """A batch of state vectors (SPEC §2 columns). Operators' rows are stamped with their party;
        the cell (a station feed) may give a ``party`` column. Bad rows are counted and skipped."""
        if who.role is Role.OBSERVER:
            raise Forbidden("observers cannot push tracks")
        times = columns.get("time")
        if isinstance(times, list) and times and isinstance(times[0], str):
            columns = {**columns, "time": _iso_times(times)}
        try:
            table = pa.table(columns)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as error:
            raise BadRequest(f"tracks: columns are not arrays of one type each ({str(error).splitlines()[0]})") from None
        if who.party is not None:
            party = pa.array(np.full(table.num_rows, who.party))
            table = (table.set_column(table.column_names.index("party"), "party", party) if "party" in table.column_names
                     else table.append_column("party", party))
        try:
            states, rejected = validate_table(table, "tracks", lambda row: f"row {row + 1}")
        except StatesFileError as error:
            raise BadRequest(str(error)) from None
        self.picture.add(states)
        parties = sorted(set(np.unique(states.party).tolist()) - {""}) if len(states) else []
        with self.write() as session:
            self._record(session, "tracks.received", who.actor(), parties or ((who.party,) if who.party else ()),
                         {"rows": len(states), "rejected": rejected.count, "sha256": hashlib.sha256(source).hexdigest(),
                          "time_first": float(states.time.min()) if len(states) else None,
                          "time_last": float(states.time.max()) if len(states) else None})
        self._wake.set()
        return IngestResult(len(states), rejected.count, dict(rejected.reasons),
                            [f"{where}: {why}" for where, why in rejected.examples])

    def detect_now(self) -> None:
        """One detection cycle on the merged picture: alert levels, filtered, raised/updated/cleared."""
        now = self.clock.now()
        snapshot = self.picture.snapshot(now, self.settings.max_age)
        self.picture.forget_older_than(now - self.settings.max_age)
        found = alerts(snapshot, self.standard, vtol=self.settings.vtol)
        ids_a, ids_b = snapshot.icao24[found.index_a], snapshot.icao24[found.index_b]
        changes = self._filter.update(now, ids_a, ids_b, found.level)
        geometry = {}
        for k in range(len(found)):
            i, j = int(found.index_a[k]), int(found.index_b[k])
            geometry[(str(ids_a[k]), str(ids_b[k]))] = {
                "t_in": float(found.t_in[k]), "t_out": float(found.t_out[k]), "t_cpa": float(found.t_cpa[k]),
                "d_cpa": round(float(found.d_cpa[k]), 1), "dz_cpa": round(float(found.dz_cpa[k]), 1),
                "raw_level": int(found.level[k]), "state_a": ntk.aircraft_state(snapshot, i),
                "state_b": ntk.aircraft_state(snapshot, j)}
        self.detections += 1
        raised, cleared, changed = [], [], []
        rows = list(zip(changes.a.tolist(), changes.b.tolist(), changes.previous.tolist(), changes.current.tolist()))
        for first in range(0, len(rows), CHANGES_PER_TRANSACTION):  # short transactions: ingest interleaves
            opened: dict[tuple[str, str], dict[str, Any]] = {}
            closed: list[tuple[str, str]] = []
            with self.write() as session:
                suspended = self._suspended(session)
                for a, b, before, after in rows[first:first + CHANGES_PER_TRANSACTION]:
                    pair = (a, b)
                    if before == 0:  # raised: the filter counts this update's raw level, so the pair is in `found`
                        opened[pair] = self._raise(session, pair, after, geometry[pair], now, suspended)
                        continue
                    conflict = self._open.get(pair)
                    if conflict is None:
                        continue
                    row = session.get(TacticalConflict, int(conflict["id"].split(":")[1]))
                    if after == 0:
                        row.cleared, row.updated = now, now
                        self._record(session, "conflict.cleared", SERVICE_ACTOR, (row.party_a, row.party_b),
                                     {"conflict": conflict["id"], "level_before": before})
                        self._close_thread(session, conflict["id"], "the conflict cleared")
                        closed.append(pair)
                    else:
                        row.level, row.updated = after, now
                        self._record(session, "conflict.level", SERVICE_ACTOR, (row.party_a, row.party_b),
                                     {"conflict": conflict["id"], "level": after, "level_before": before})
                        changed.append((conflict, after))
            self._open.update(opened)  # the displayed picture follows only what was committed
            raised.extend(opened.values())
            cleared.extend(self._open.pop(pair) for pair in closed)
        for conflict, level in changed:
            conflict["level"] = level
        changed = [conflict for conflict, _ in changed]
        for pair, conflict in self._open.items():
            if pair in geometry:
                conflict.update(geometry[pair])
        for kind, items in (("conflict.raised", raised), ("conflict.level", changed), ("conflict.cleared", cleared)):
            for conflict in items:
                self._publish(kind, {v: ntk.tactical_view(conflict, v) for v in ntk.audiences(
                    (conflict["party_a"], conflict["party_b"]))})
        if self._open:
            self._publish_updates(now)

    def _raise(self, session: Session, pair: tuple[str, str], level: int, g: dict[str, Any], now: float,
               suspended: set[str]) -> dict[str, Any]:
        """Store a newly displayed conflict, open its hotline thread between two known parties."""
        a, b = pair
        party_a, party_b = g["state_a"]["party"], g["state_b"]["party"]
        row = TacticalConflict(id=self._next_id(session, TacticalConflict), a=a, b=b, party_a=party_a,
                               party_b=party_b, level=level, raised=now, updated=now, cleared=None, geometry=g)
        session.add(row)
        conflict = {"id": f"tactical:{row.id}", "kind": "tactical", "a": a, "b": b, "party_a": party_a,
                    "party_b": party_b, "level": level, "raised": ntk.iso(now), **g}
        self._record(session, "conflict.raised", SERVICE_ACTOR, (party_a, party_b),
                     {"conflict": conflict["id"], "a": a, "b": b, "level": level, "t_cpa": g["t_cpa"],
                      "d_cpa": g["d_cpa"], "dz_cpa": g["dz_cpa"]})
        if party_a and party_b and party_a != party_b:
            thread = self._open_thread(session, conflict["id"], (party_a, party_b),
                                       f"Conflict {a} ({party_a}) / {b} ({party_b})",
                                       immediate=bool(suspended & {party_a, party_b}))
            conflict["thread"] = thread.id
        return conflict

    def _next_id(self, session: Session, table: type) -> int:
        """Next row id of ``table``, handed out by this (single writer) process so that no flush is needed."""
        name = table.__tablename__
        if name not in self._ids:
            self._ids[name] = session.scalar(select(func.max(table.id))) or 0
        self._ids[name] += 1
        session.info["undo"].append(lambda: self._ids.pop(name, None))  # re-read after a rollback
        return self._ids[name]

    def _publish_updates(self, now: float) -> None:
        """At most once a second: each open conflict's current timing and distances (not the states:
        those come with /v1/tracks), per audience."""
        if now - self._updates_published < UPDATES_EVERY * self.clock.speed:
            return
        self._updates_published = now
        per: dict[str | None, list[dict[str, Any]]] = {None: []}
        for conflict in self._open.values():
            brief = {k: conflict[k] for k in UPDATE_FIELDS}
            for viewer in ntk.audiences((conflict["party_a"], conflict["party_b"])):
                per.setdefault(viewer, []).append(brief)
        self._publish("conflicts.updated", {v: {"conflicts": items} for v, items in per.items()})

    def tactical_conflicts(self, who: Principal) -> list[dict[str, Any]]:
        viewer = None if who.is_cell else who.party
        shown = [ntk.tactical_view(c, viewer) for c in list(self._open.values())]
        return sorted((c for c in shown if c is not None), key=lambda c: (c["t_in"], -c["level"]))

    def resolutions(self, who: Principal, conflict_id: str) -> list[dict[str, Any]]:
        """For each of the caller's aircraft in a tactical conflict (the cell: both), the smallest change
        of heading, altitude and speed that clears every conflict of that aircraft (from its conflict
        bands against the whole picture), as ready-to-send manoeuvre proposals. Only the caller's own
        aircraft's manoeuvres are given: nothing is said of the aircraft it would avoid."""
        viewer = None if who.is_cell else who.party
        conflict = next((c for c in list(self._open.values()) if c["id"] == conflict_id), None)
        if conflict is None or ntk.tactical_view(conflict, viewer) is None:
            raise NotFound(f"no open conflict {conflict_id!r} that you may see")
        snapshot = self.picture.snapshot(self.clock.now(), self.settings.max_age)
        answer = []
        for side in ("a", "b"):
            aircraft, party = conflict[side], conflict[f"party_{side}"]
            if viewer is not None and party != viewer:
                continue
            try:
                found = conflict_bands(snapshot, aircraft, self.standard)
            except BandsError:
                continue  # no longer in the picture (stale)
            answer.append({"aircraft": aircraft, "party": party, "recovery": found.recovery,
                           "proposals": _manoeuvres(aircraft, found)})
        return answer

    def strategic_conflicts(self, who: Principal) -> list[dict[str, Any]]:
        viewer = None if who.is_cell else who.party
        with self.Session() as session:
            query = select(StrategicConflict).where(StrategicConflict.active.is_(True))
            if viewer is not None:
                query = query.where(or_(StrategicConflict.party == viewer, StrategicConflict.other_party == viewer))
            return [ntk.strategic_view(r, viewer) for r in session.scalars(query.order_by(StrategicConflict.id))]

    def tracks(self, who: Principal, columns: bool = False) -> list[dict[str, Any]] | dict[str, list]:
        """What the caller may see of the live picture now: one object per aircraft, or columns."""
        snapshot = self.picture.snapshot(self.clock.now(), self.settings.max_age)
        view = ntk.tracks_columns if columns else ntk.tracks_view
        return view(snapshot, list(self._open.values()), None if who.is_cell else who.party)

    # -- hotline --------------------------------------------------------------------------------

    def _open_thread(self, session: Session, conflict: str | None, parties, subject: str,
                     immediate: bool = False) -> Thread:
        now = self.clock.now()
        thread = Thread(id=self._next_id(session, Thread), subject=subject[:200], conflict=conflict,
                        parties=sorted(set(parties)), status="open", created=now, acknowledged_by=[],
                        ack_deadline=now if immediate else now + self.settings.acknowledge_within)
        session.add(thread)
        self._record(session, "thread.opened", SERVICE_ACTOR, thread.parties,
                     {"thread": thread.id, "conflict": conflict, "subject": thread.subject})
        self._emit(session, "thread.opened", {v: ntk.thread_view(thread) for v in ntk.audiences(thread.parties)})
        return thread

    def create_thread(self, who: Principal, parties: list[str], subject: str) -> dict[str, Any]:
        if not who.can_write:
            raise Forbidden("observers cannot open threads")
        wanted = set(parties) | ({who.party} if who.party else set())
        if len(wanted) < 2 and not who.is_cell:
            raise BadRequest("parties: name at least one other party")
        with self.write() as session:
            known = set(session.scalars(select(Party.id)))
            unknown = sorted(wanted - known)
            if unknown:
                raise BadRequest(f"parties: unknown {', '.join(unknown)}")
            thread = self._open_thread(session, None, wanted, subject or "Hotline")
            thread.ack_deadline = None  # free threads do not escalate
        return ntk.thread_view(thread, [])

    def _visible_thread(self, session: Session, who: Principal, thread_id: int) -> Thread:
        thread = session.get(Thread, thread_id)
        if thread is None or not ntk.thread_visible(thread, None if who.is_cell else who.party):
            raise NotFound(f"no thread {thread_id} that you may see")
        return thread

    def threads(self, who: Principal) -> list[dict[str, Any]]:
        with self.Session() as session:
            rows = session.scalars(select(Thread).order_by(Thread.id))
            viewer = None if who.is_cell else who.party
            return [ntk.thread_view(t) for t in rows if ntk.thread_visible(t, viewer)]

    def thread(self, who: Principal, thread_id: int) -> dict[str, Any]:
        with self.Session() as session:
            thread = self._visible_thread(session, who, thread_id)
            messages = list(session.scalars(select(Message).where(Message.thread == thread.id).order_by(Message.id)))
            return ntk.thread_view(thread, messages)

    def post(self, who: Principal, thread_id: int, kind: str, text: str = "", proposal: dict[str, Any] | None = None,
             reply_to: int | None = None, answer_within: float | None = None) -> dict[str, Any]:
        """Add a message, a proposal, or a reply (acknowledge / accept / reject) to a thread."""
        if not who.can_write:
            raise Forbidden("observers cannot write on the hotline")
        now = self.clock.now()
        with self.write() as session:
            thread = self._visible_thread(session, who, thread_id)
            if kind == "proposal" and proposal is None:
                raise BadRequest("proposal: a proposal message needs a proposal (manoeuvre or plan_change)")
            if kind in ("accept", "reject") and who.party is None:
                raise Forbidden("only the parties concerned accept or reject a proposal")
            target = None
            if kind in REPLY_KINDS and reply_to is not None or kind in ("accept", "reject"):
                target = session.get(Message, reply_to) if reply_to is not None else None
                if target is None or target.thread != thread.id:
                    raise BadRequest(f"reply_to: no message {reply_to} in thread {thread.id}")
            if kind in ("accept", "reject"):
                if target.kind != "proposal":
                    raise BadRequest(f"reply_to: message {reply_to} is not a proposal")
                if target.party == who.party:
                    raise Forbidden("a proposal is accepted or rejected by the other party, not its author")
                if target.status != "pending":
                    raise StateConflict(f"proposal {reply_to} is already {target.status}")
                if target.deadline is not None and now > target.deadline:
                    target.status = "expired"
                    raise StateConflict(f"proposal {reply_to} expired at {ntk.iso(target.deadline)}")
                target.status = "accepted" if kind == "accept" else "rejected"
                if kind == "accept":
                    thread.status = "settled"
            deadline = None
            if kind == "proposal":
                deadline = now + (answer_within if answer_within is not None else self.settings.proposal_deadline)
            message = Message(thread=thread.id, party=who.party, author=who.name, kind=kind, text=text,
                              proposal=proposal, reply_to=reply_to, deadline=deadline,
                              status="pending" if kind == "proposal" else None, created=now)
            session.add(message)
            if who.party and who.party not in thread.acknowledged_by:
                thread.acknowledged_by = sorted([*thread.acknowledged_by, who.party])
            session.flush()
            self._record(session, f"hotline.{kind}", who.actor(), thread.parties,
                         {"thread": thread.id, "message": message.id, "text": text, "proposal": proposal,
                          "reply_to": reply_to, "deadline": deadline})
            return self._emit_message(session, thread, message)

    def escalate_overdue(self, force_party: str | None = None) -> int:
        """Escalate threads not acknowledged by every party in time, and expire unanswered proposals."""
        now = self.clock.now()
        escalated = 0
        with self.write() as session:
            suspended = self._suspended(session)
            for thread in session.scalars(select(Thread).where(Thread.status == "open")):
                missing = set(thread.parties) - set(thread.acknowledged_by)
                late = thread.ack_deadline is not None and now >= thread.ack_deadline and missing
                gone = missing & suspended
                if late or gone or (force_party in thread.parties and thread.ack_deadline is not None):
                    thread.status = "escalated"
                    reason = (f"{', '.join(sorted(gone or {force_party}))} suspended participation" if gone or force_party
                              else f"not acknowledged by {', '.join(sorted(missing))} in time")
                    self._service_message(session, thread, "escalation", reason)
                    escalated += 1
            for message in session.scalars(select(Message).where(Message.status == "pending",
                                                                 Message.deadline < now)):
                message.status = "expired"
                thread = session.get(Thread, message.thread)
                if thread.status not in ("open", "escalated"):
                    continue  # the conflict cleared, or another proposal settled it: nothing to escalate
                thread.status = "escalated"
                self._service_message(session, thread, "escalation", f"proposal {message.id} expired unanswered")
                escalated += 1
        return escalated

    def _service_message(self, session: Session, thread: Thread, kind: str, text: str) -> None:
        message = Message(thread=thread.id, party=None, author="service", kind=kind, text=text, created=self.clock.now())
        session.add(message)
        session.flush()
        self._record(session, f"hotline.{kind}", SERVICE_ACTOR, thread.parties,
                     {"thread": thread.id, "message": message.id, "text": text})
        self._emit_message(session, thread, message)

    def _emit_message(self, session: Session, thread: Thread, message: Message) -> dict[str, Any]:
        """A hotline message, with its thread, to the thread's parties and the cell once committed; its view."""
        thread_view, view = ntk.thread_view(thread), ntk.message_view(message)
        self._emit(session, "hotline.message", {v: {"thread": thread_view, "message": view}
                                                for v in ntk.audiences(thread.parties)})
        return view

    # -- audit ----------------------------------------------------------------------------------

    def audit_records(self, who: Principal, whole: bool = False, tail: int | None = None) -> Iterator[dict[str, Any]]:
        """The caller's receipts (entries concerning its party), or the whole chain for the cell;
        then a signed head line. ``tail``: only the last entries (for display; a verification needs all)."""
        if whole and not who.is_cell:
            raise Forbidden("only the cell downloads the whole chain; parties download their receipts")
        if tail is not None and tail < 1:
            raise BadRequest(f"tail: expected a positive number of entries, got {tail}")
        return self._records("*" if who.is_cell else who.party, tail)

    def _records(self, scope: str, tail: int | None) -> Iterator[dict[str, Any]]:
        with self.Session() as session:
            head = self.audit.signed_head(session, scope, self.clock.now())
            query = select(AuditEntry).where(AuditEntry.seq <= head["seq"])
            if tail is None:
                for entry in session.scalars(query.order_by(AuditEntry.seq).execution_options(yield_per=1000)):
                    if scope == "*" or scope in entry.parties:
                        yield entry_record(entry)
            else:
                last = []
                for entry in session.scalars(query.order_by(AuditEntry.seq.desc()).execution_options(yield_per=200)):
                    if scope == "*" or scope in entry.parties:
                        last.append(entry_record(entry))
                        if len(last) == tail:
                            break
                yield from reversed(last)
        yield {"head": head}
