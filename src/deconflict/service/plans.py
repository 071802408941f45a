"""Plans and strategic conflicts: each party's plans, checked on submit and on edit against every
stored plan of every party (the in-memory `PlanIndex`, rebuilt from the database at start and kept
in step with it: changed inside the transaction, reverted if it fails; on a standby node, kept in
step with the leader's writes by `follow`).

A higher priority blocks; at equal priority both plans are accepted and both parties told (or
refused, with ``equal_priority`` reject). A conflict between two parties opens a hotline thread.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from deconflict.core.plans import Plan, PlanIndex
from deconflict.io.plans_file import PlansFileError, parse_time, plan_from_document
from deconflict.service import need_to_know as ntk
from deconflict.service.auth import Principal, Role
from deconflict.service.errors import BadRequest, Forbidden, NotFound, PreconditionRequired, StateConflict, VersionConflict
from deconflict.service.hotline import Hotline
from deconflict.service.limits import MAX_CONFLICTS_PER_REQUEST, MAX_PLAN_BATCH
from deconflict.service.quotas import CONFLICTS_RAISED, PLAN_WRITES, Quota, Rate
from deconflict.service.unit_of_work import SERVICE_ACTOR, UnitOfWork
from deconflict.store.audit import canonical
from deconflict.store.signatures import plan_commitment
from deconflict.store.schema import AuditEntry, PlanRecord, StrategicConflict, plan_id_of, plan_key


LOG = logging.getLogger("deconflict")
SNAPSHOT_FORMAT = 1  # of the snapshot file: MAC line, header line, `PlanIndex.snapshot` bytes


class Plans:
    def __init__(self, work: UnitOfWork, hotline: Hotline, margin: float, equal_priority: str,
                 writes: Rate = PLAN_WRITES, conflicts: Rate = CONFLICTS_RAISED) -> None:
        self.work = work
        self.hotline = hotline
        self.index = PlanIndex(margin=margin, equal_priority=equal_priority)
        self.writes = Quota("plan writes", writes)
        self.conflicts = Quota("strategic conflicts raised", conflicts)
        self.synced = 0  # the audit seq up to which the index holds every plan written
        self.changes = 0  # plan writes committed by this process (a snapshot is due when it moved)
        self.restored = False  # the index came from its snapshot (and the plans written after it)
        self.keys = hotline.keys  # the parties' signing keys (one registry for the hotline and plans)
        self.nonconforming: Callable[[], set[str]] = set  # keys of the plans Nonconforming now (`Conformance`)

    def load(self) -> int:
        """Rebuild the index from the stored accepted plans; returns how many. The audit chain's
        length is read first: `follow` re-reads every plan written after it."""
        with self.work.Session() as session:
            self.synced = session.scalar(select(func.max(AuditEntry.seq))) or 0
            for record in session.scalars(select(PlanRecord).where(PlanRecord.status == "accepted")):
                self.index.add(self._plan(record.document, record.party, f"plan {record.key}"))
        return len(self.index)

    def _changed(self) -> None:
        self.changes += 1

    def save_snapshot(self, path: Path, secret: bytes) -> int:
        """Write the plan index to ``path`` (mode 0600, replaced atomically) with the audit entry it is
        in step with (seq and hash) and an HMAC under ``secret``; returns the seq. Its state is copied
        while no write of this process commits (about 0.1 s for 100,000 plans), so it is exactly the
        committed plans up to that entry; it is encoded and written while writes go on."""
        with self.work.quiescent():
            with self.work.Session() as session:
                last = session.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc())
                                       .limit(1)).first()
            seq, digest = (int(last[0]), str(last[1])) if last else (0, "")
            state, count = self.index.frozen(), len(self.index)
        data = PlanIndex.encode(state)  # the slow part, while writes go on
        header = json.dumps({"format": SNAPSHOT_FORMAT, "seq": seq, "hash": digest, "plans": count}).encode()
        mac = hmac.new(secret, header + b"\n" + data, hashlib.sha256).hexdigest().encode()
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(mac + b"\n" + header + b"\n" + data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
        return seq

    def restore_snapshot(self, path: Path, secret: bytes) -> bool:
        """Load the plan index from a snapshot when it is genuine (HMAC) and in step with this database (the
        audit entry it names is there with the same hash), then read the plans written after it
        (`follow`). False, with the index untouched, when there is none or it cannot be used: then
        `load` rebuilds the index from every stored plan."""
        try:
            blob = path.read_bytes()
            mac, header, data = blob.split(b"\n", 2)
            meta = json.loads(header)
        except (OSError, ValueError):
            return False
        expected = hmac.new(secret, header + b"\n" + data, hashlib.sha256).hexdigest().encode()
        if not hmac.compare_digest(mac, expected) or meta.get("format") != SNAPSHOT_FORMAT:
            LOG.warning("plan snapshot %s is not this service's (HMAC or format): rebuilding the index", path)
            return False
        with self.work.Session() as session:
            entry = session.scalar(select(AuditEntry.hash).where(AuditEntry.seq == meta["seq"])) if meta["seq"] else ""
            newest = session.scalar(select(func.max(AuditEntry.seq))) or 0
        if entry != meta["hash"] or newest < meta["seq"]:
            LOG.warning("plan snapshot %s does not match this database (entry %s): rebuilding the index", path, meta["seq"])
            return False
        try:
            self.index.restore_into(data)
        except Exception as error:  # a snapshot of another version or settings: nothing was replaced
            LOG.warning("plan snapshot %s not used (%s): rebuilding the index", path, error)
            return False
        self.synced = int(meta["seq"])
        self.follow()
        self.restored = True
        return True

    def follow(self) -> int:
        """Keep a standby's index in step with the leader's writes: every plan named by an audit
        entry after the last `load` or `follow` is read again (added, replaced or removed). Returns
        how many plans were read. Reading a plan twice is harmless: what is read is the stored state."""
        with self.work.Session() as session:
            entries = session.execute(select(AuditEntry.seq, AuditEntry.body).where(AuditEntry.seq > self.synced)
                                      .order_by(AuditEntry.seq)).all()
            keys = set()
            for _, body in entries:
                if '"kind":"plan.' in body:  # canonical JSON: compact separators
                    entry = json.loads(body)
                    keys.add(plan_key(entry["parties"][0], entry["payload"]["plan"]))
            for key in sorted(keys):
                record = session.get(PlanRecord, key)
                if record is not None and record.status == "accepted":
                    self.index.add(self._plan(record.document, record.party, f"plan {record.key}"))
                elif key in self.index:
                    self.index.remove(key)
        if entries:
            self.synced = entries[-1][0]
        return len(keys)

    @staticmethod
    def _plan(document: dict[str, Any], party: str, source: str) -> Plan:
        plan = plan_from_document({**document, "party": party}, source)
        return Plan(plan_key(party, plan.id), party, plan.volumes, plan.priority, plan.state, recurrence=plan.recurrence,
                    aircraft=plan.aircraft)

    @staticmethod
    def _own_party(who: Principal, party: str | None = None) -> str:
        """The caller's party, when the caller may write its plans (and ``party``'s, if given)."""
        if who.role is not Role.OPERATOR or who.party is None:
            raise Forbidden(f"{who.role.value}s cannot write a party's plans or tracks; an operator of the party can")
        if party is not None and party != who.party:
            raise Forbidden(f"only {party}'s operators change {party}'s plans")
        return who.party

    def submit(self, who: Principal, documents: list[dict[str, Any]], single: bool = False,
               signatures: list[str | None] | None = None) -> list[dict[str, Any]]:
        """New plans in one transaction (a schedule import): all stored, or none when one is bad.
        A deleted plan's id may be used again (its version goes on from the deleted one's).
        ``signatures``: the party's signature of each plan's commitment (`store.signatures`), in order;
        required once the member registered a key."""
        party = self._own_party(who)
        plans = self._batch(documents, party, single)
        keys = [plan.id for plan in plans]
        self.writes.take(party, len(plans))
        answers = []
        with self.work.write() as session:
            existing: dict[str, PlanRecord] = {}
            for k in range(0, len(keys), 500):
                existing.update((r.key, r) for r in session.scalars(select(PlanRecord).where(
                    PlanRecord.key.in_(keys[k:k + 500]))))
            taken = sorted(r.plan_id for r in existing.values() if r.status != "deleted")
            if taken:
                raise StateConflict(f"plan {taken[0]!r} exists; update it with PUT and its version")
            budget = self._budget(party)
            self._count_first(plans, budget)
            if signatures is not None and len(signatures) != len(documents):
                raise BadRequest(f"signatures: expected one per plan ({len(documents)}), got {len(signatures)}")
            for k, (document, plan) in enumerate(zip(documents, plans)):
                signed = self.keys.signature(session, who, plan_commitment(party, str(document["id"]), document, 0),
                                             signatures[k] if signatures else None, required=True)
                now = self.work.clock.now()
                stored = {**document, "party": party}
                record = existing.get(plan.id)
                if record is None:
                    record = PlanRecord(key=plan.id, party=party, plan_id=str(document["id"]), version=1,
                                        document=stored, status="accepted", created=now, updated=now)
                    session.add(record)
                else:  # a deleted plan's id again: a new version of the record
                    record.document, record.version, record.updated = stored, record.version + 1, now
                conflicts, blocked = self._check_and_store(session, who, plan, record, budget=budget, signed=signed)
                answers.append((record, conflicts, blocked))
            self.conflicts.take(party, budget.raised)
        return [self._answer(record, conflicts, blocked, party) for record, conflicts, blocked in answers]

    def _batch(self, documents: list[dict[str, Any]], party: str, single: bool = False) -> list[Plan]:
        """The plans of a batch, each validated (one-line errors naming ``plans[k]``), ids distinct."""
        if not isinstance(documents, list) or not 1 <= len(documents) <= MAX_PLAN_BATCH:
            raise BadRequest(f"plans: expected 1 to {MAX_PLAN_BATCH} plans in a batch")
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
        keys = [plan.id for plan in plans]
        if len(set(keys)) < len(keys):
            raise BadRequest("plans: the same id appears twice in the batch")
        return plans

    def check(self, who: Principal, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A dry run over a batch: each plan checked against every stored plan (not against each other),
        all in one index call (`PlanIndex.check_many`); nothing is stored, no conflict raised.

        It shows what a refused submission shows (where the plans would overlap, the other party,
        blocking or not), so it costs what a submission costs (plan writes and strategic-conflict
        quotas) and is recorded in the audit trail for every party it met: no party probes another's
        plans unseen. A stored plan with the same id is the plan's own old version, not a conflict.
        """
        party = self._own_party(who)
        plans = self._batch(documents, party)
        self.writes.take(party, len(plans))
        with self.work.write() as session:
            budget = self._budget(party)
            checks = self.index.check_many(plans)
            for plan, check in zip(plans, checks):
                budget.spend(len(check.conflicts), plan_id_of(plan.id))
            self.conflicts.take(party, budget.raised)
            met = sorted({c.other_party for check in checks for c in check.conflicts} - {party})
            self.work.record(session, "plans.checked", who.actor(), (party, *met),
                             {"plans": len(plans), "conflicts": sum(len(c.conflicts) for c in checks),
                              "documents_sha256": hashlib.sha256(canonical(documents)).hexdigest()})
        return [{"id": plan_id_of(plan.id), "accepted": check.accepted,
                 "conflicts": [{"other_party": c.other_party, "blocking": c.blocking, "reason": c.reason,
                                "overlap": ntk.overlap_feature(c)} for c in check.conflicts]}
                for plan, check in zip(plans, checks)]

    def update(self, who: Principal, party: str, plan_id: str, document: dict[str, Any],
               version: int | None, signature: str | None = None) -> dict[str, Any]:
        party = self._own_party(who, party)
        if version is None:
            raise PreconditionRequired("updating a plan needs its version: send If-Match with the version read")
        if not isinstance(document, dict):
            raise BadRequest("plan: expected a JSON object (the plans-file schema)")
        if document.get("id", plan_id) != plan_id:
            raise BadRequest(f"plan id in the body ({document.get('id')!r}) differs from the URL ({plan_id!r})")
        if document.get("party") not in (None, "", party):
            raise Forbidden(f"plan party {document.get('party')!r}: you submit for {party} only")
        document = {**document, "id": plan_id, "party": party}
        plan = self._plan_checked(document, party)
        self.writes.take(party, 1)
        with self.work.write() as session:
            record = self._owned_record(session, party, plan_id)
            if record.version != version:
                raise VersionConflict(f"plan {plan_id!r} is at version {record.version}, not {version}: "
                                      f"read it again and reapply your change")
            signed = self.keys.signature(session, who, plan_commitment(party, plan_id, document, version), signature,
                                         required=True)
            previous = (record.document, record.status)
            record.document, record.version, record.updated = document, record.version + 1, self.work.clock.now()
            self._deactivate(session, record.key)
            if previous[1] == "accepted":
                self._unindex(session, record.key)
            budget = self._budget(party)
            conflicts, blocked = self._check_and_store(session, who, plan, record, previous=previous, budget=budget,
                                                       signed=signed)
            self.conflicts.take(party, budget.raised)
        return self._answer(record, conflicts, blocked, party)

    def delete(self, who: Principal, party: str, plan_id: str, version: int | None, signature: str | None = None) -> None:
        party = self._own_party(who, party)
        if version is None:
            raise PreconditionRequired("deleting a plan needs its version: send If-Match with the version read")
        self.writes.take(party, 1)
        with self.work.write() as session:
            record = self._owned_record(session, party, plan_id)
            if record.version != version:
                raise VersionConflict(f"plan {plan_id!r} is at version {record.version}, not {version}")
            signed = self.keys.signature(session, who, plan_commitment(party, plan_id, None, version), signature,
                                         required=True)
            was_active = record.status == "accepted"
            record.status, record.version, record.updated = "deleted", record.version + 1, self.work.clock.now()
            self._deactivate(session, record.key)
            self.work.record(session, "plan.deleted", who.actor(), (party,), {"plan": plan_id, "version": record.version,
                                                                              **({"signed": signed} if signed else {})})
            if was_active:
                self._unindex(session, record.key)
            self.work.after_commit(session, self._changed)

    def _unindex(self, session: Session, key: str) -> None:
        removed = self.index.remove(key)
        self.work.undo(session, lambda: self.index.add(removed))

    def _plan_checked(self, document: dict[str, Any], party: str) -> Plan:
        try:
            return self._plan(document, party, "")
        except PlansFileError as error:
            raise BadRequest(str(error)) from None

    def _owned_record(self, session: Session, party: str, plan_id: str) -> PlanRecord:
        record = session.get(PlanRecord, plan_key(party, plan_id))
        if record is None or record.status == "deleted":
            raise NotFound(f"no plan {plan_id[:64]!r} of {party}")
        return record

    def _budget(self, party: str) -> "_Budget":
        return _Budget(party, self.conflicts)

    def _count_first(self, plans: list[Plan], budget: "_Budget") -> None:
        """Count the conflicts the batch would raise (the index checks are cheap; drawing them is not)
        and refuse it over budget before anything is drawn: a refused request costs little."""
        added = []
        try:
            for plan in plans:
                budget.spend(len(self.index.check(plan).conflicts), plan_id_of(plan.id))
                self.index.add(plan)
                added.append(plan.id)
        finally:
            for key in added:
                self.index.remove(key)
        budget.raised = 0

    def _check_and_store(self, session: Session, who: Principal, plan: Plan, record: PlanRecord,
                         previous: tuple[dict, str] | None = None, budget: "_Budget | None" = None,
                         signed: dict[str, Any] | None = None) -> tuple[list[StrategicConflict], list]:
        """Check ``plan``, keep it (or the previous version when an edit is blocked), record conflicts.

        ``budget``: the strategic conflicts this request may still raise, checked before any is drawn
        (the costly part: overlap geometry, threads, entries), so one request's work stays bounded.
        """
        self.work.after_commit(session, self._changed)
        check = self.index.check(plan)
        if budget is not None:
            budget.spend(len(check.conflicts), record.plan_id)
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
            self.index.add(kept)
            self.work.undo(session, lambda: self.index.remove(kept.id) if kept.id in self.index else None)
            for c in (check.conflicts if accepted else self.index.check(kept).conflicts):
                other = self.index.get(c.other)
                row = StrategicConflict(
                    id=self.work.next_id(session, StrategicConflict), plan=c.plan, other=c.other, party=c.party,
                    other_party=c.other_party, blocking=c.blocking,
                    overlap={"overlap": ntk.overlap_feature(c), "volume": ntk.volume_feature(kept.volumes[c.volume]),
                             "other_volume": ntk.volume_feature(other.volumes[c.other_volume].shifted(c.departure))},
                    active=True, created=self.work.clock.now())
                session.add(row)
                rows.append(row)
        self.work.record(session, "plan.submitted" if previous is None else "plan.updated", who.actor(),
                         (record.party,),
                         {"plan": record.plan_id, "version": record.version, "status": record.status,
                          "edit_refused": previous is not None and not accepted,
                          "document_sha256": hashlib.sha256(canonical(record.document)).hexdigest(),
                          **({"signed": signed} if signed else {})})
        for row in rows:
            self.work.record(session, "conflict.raised", SERVICE_ACTOR, (row.party, row.other_party),
                             {"conflict": f"strategic:{row.id}", "blocking": row.blocking,
                              **ntk.overlap_digest(row.overlap["overlap"])})
            if row.party != row.other_party:
                self.hotline.open_thread(session, f"strategic:{row.id}", (row.party, row.other_party),
                                         f"Plans of {row.party} and {row.other_party} overlap")
        for row in rows:
            self.work.emit(session, "conflict.raised", {v: ntk.strategic_view(row, v) for v in ntk.audiences(
                (row.party, row.other_party))})
        return rows, ([] if accepted else [c for c in check.conflicts if c.blocking])

    def state(self, record: PlanRecord) -> str:
        """A plan's F3548 state now: Nonconforming while one of its aircraft is outside it (`Conformance`);
        else the state its document declares, Activated when it declares Accepted and is in force now
        (a volume's time window holds now); Accepted otherwise."""
        if record.key in self.nonconforming():
            return "Nonconforming"
        declared = record.document.get("state", "Accepted")
        plan = self.index.get(record.key) if record.status == "accepted" else None
        if declared == "Accepted" and plan is not None:
            now = self.work.clock.now()
            if any(v.time_start <= now <= v.time_end for _, volumes in plan.occurrences(now, now) for v in volumes):
                return "Activated"
        return declared

    def _answer(self, record: PlanRecord, rows: list[StrategicConflict], blocked: list, party: str) -> dict[str, Any]:
        """The submitter's view: its plan, the conflicts it has, and (refused) what blocked it."""
        answer = ntk.plan_view(record, self.state(record))
        answer["conflicts"] = [ntk.strategic_view(r, party) for r in rows]
        answer["accepted"] = not blocked
        answer["blocked_by"] = [{"other_party": c.other_party, "reason": c.reason, "overlap": ntk.overlap_feature(c)}
                                for c in blocked]
        return answer

    def _deactivate(self, session: Session, key: str) -> None:
        """End the strategic conflicts of plan ``key`` (edited or deleted): recorded, threads closed, and
        both parties told once the transaction commits."""
        rows = list(session.scalars(select(StrategicConflict).where(
            StrategicConflict.active.is_(True), or_(StrategicConflict.plan == key, StrategicConflict.other == key))))
        for row in rows:
            row.active = False
            self.work.record(session, "conflict.cleared", SERVICE_ACTOR, (row.party, row.other_party),
                             {"conflict": f"strategic:{row.id}", "reason": "plan changed or deleted"})
            self.hotline.close_thread(session, f"strategic:{row.id}",
                                      "the plans no longer overlap (one changed or was deleted)")
            self.work.emit(session, "conflict.cleared", {v: ntk.strategic_view(row, v)
                                                         for v in ntk.audiences((row.party, row.other_party))})

    def list(self, who: Principal) -> list[dict[str, Any]]:
        with self.work.Session() as session:
            query = select(PlanRecord).where(PlanRecord.status != "deleted").order_by(PlanRecord.key)
            if not who.is_cell:
                query = query.where(PlanRecord.party == who.party)
            return [ntk.plan_view(r, self.state(r)) for r in session.scalars(query)]

    def get(self, who: Principal, party: str, plan_id: str) -> dict[str, Any]:
        if not who.sees_party(party):
            raise NotFound(f"no such plan of {party[:32]} that you may see")  # same answer whether it exists or not
        with self.work.Session() as session:
            record = self._owned_record(session, party, plan_id)
            return ntk.plan_view(record, self.state(record))

    def strategic_conflicts(self, who: Principal) -> list[dict[str, Any]]:
        viewer = None if who.is_cell else who.party
        with self.work.Session() as session:
            query = select(StrategicConflict).where(StrategicConflict.active.is_(True))
            if viewer is not None:
                query = query.where(or_(StrategicConflict.party == viewer, StrategicConflict.other_party == viewer))
            return [ntk.strategic_view(r, viewer) for r in session.scalars(query.order_by(StrategicConflict.id))]

    def volumes(self, who: Principal, at: float | None = None) -> dict[str, Any]:
        """GeoJSON of the plan volumes in force at ``at`` (default now) that the caller may see: its own
        (all of them for the cell), and each other party's volume in conflict with one of its own."""
        at = self.work.clock.now() if at is None else at
        viewer = None if who.is_cell else who.party
        features = []
        off_plan = self.nonconforming()
        for plan, k, volume in self.index.active(at):
            if viewer is None or plan.party == viewer:
                feature = ntk.volume_feature(volume)
                feature["properties"].update(kind="own", plan=plan_id_of(plan.id), party=plan.party, volume=k,
                                             state="Nonconforming" if plan.id in off_plan else plan.state.value)
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


class _Budget:
    """Strategic conflicts one request may raise: at most `MAX_CONFLICTS_PER_REQUEST` (422 beyond:
    the request itself is unreasonable) and what the party's share allows now (429 beyond: later)."""

    def __init__(self, party: str, quota: Quota) -> None:
        self.party, self.quota, self.raised = party, quota, 0

    def spend(self, count: int, plan_id: str) -> None:
        self.raised += count
        if self.raised > MAX_CONFLICTS_PER_REQUEST:
            raise BadRequest(f"plan {plan_id!r}: this request would raise more than {MAX_CONFLICTS_PER_REQUEST} "
                             f"strategic conflicts; fix the overlaps or split the batch")
        self.quota.check(self.party, self.raised)
