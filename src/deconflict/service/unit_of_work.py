"""One unit of work shared by every use case: a serialised transaction, its audit entries, the
events it causes, and the in-memory changes that must follow it.

Every write runs in `UnitOfWork.write()`: one database transaction holding the write lock, so the
audit chain is linear. Inside it a use case records audit entries (`record`), queues events
(`emit`, published only once the transaction commits) and registers in-memory changes
(`after_commit`, applied only once it commits; `undo`, run when it fails). What the service shows
therefore follows what is committed: a failed commit (a full disk, a lost connection, a value the
database refuses) leaves the shown state as it was and answers 503, nothing half-stored.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import orjson
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from deconflict.service.errors import NotLeading, Unavailable
from deconflict.service.events import CELL, Event, EventBus, event_json
from deconflict.service.settings import Clock
from deconflict.store.audit import AuditLog, ChainBroken
from deconflict.store.database import sessions, writer
from deconflict.store.leadership import Lease, LostLead
from deconflict.store.schema import EventRecord

SERVICE_ACTOR = {"member": 0, "name": "service", "party": None, "role": "service"}
LOG = logging.getLogger("deconflict")

Views = dict[str | None, dict[str, Any] | None]  # audience (party id, None: the cell) -> payload
EVENTS_KEPT = 100_000  # newest stored events kept for resumption (Last-Event-ID); older ones pruned ...
PRUNE_EVERY = 1000  # ... by the write of every 1000th event


class UnitOfWork:
    """The database, the audit log, the event bus and the clock, as every use case needs them."""

    def __init__(self, engine: Engine, audit: AuditLog, clock: Clock) -> None:
        self.engine = engine
        self.Session = sessions(engine)
        self._WriteSession = sessions(writer(engine))
        self.audit = audit
        self.clock = clock
        self.events = EventBus()
        self._lock = threading.RLock()
        self._ids: dict[str, int] = {}
        self.lease: Lease | None = None  # set once this node leads: every write is fenced by it
        self.on_lost_lead: Callable[[str], None] = lambda reason: None
        self.events_kept, self.prune_every = EVENTS_KEPT, PRUNE_EVERY

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One serialised transaction, committed durably on success, rolled back on any error.

        Storage faults become `Unavailable` (503) with nothing stored, nothing shown and nothing
        published; in-memory changes registered with `undo` are reverted. On a leading node the
        transaction first checks the fencing epoch (`Lease.fence`): once another node leads, nothing
        more is written here (`NotLeading`, 503).
        """
        with self._lock, self._WriteSession() as session:
            session.info.update(events=[], undo=[], after=[])
            try:
                with session.begin():
                    if self.lease is not None:
                        self.lease.fence(session)
                    yield session
            except BaseException as error:
                for undo in reversed(session.info["undo"]):  # in-memory indexes follow the database
                    undo()
                if isinstance(error, LostLead):
                    LOG.critical("%s: this node stops writing", error)
                    self.on_lost_lead(str(error))
                    raise NotLeading(f"this node no longer leads ({error}); nothing was stored") from None
                if isinstance(error, ChainBroken):
                    LOG.critical("%s", error)
                    raise Unavailable(f"audit record: {error}") from None
                if isinstance(error, (SQLAlchemyError, OSError)):
                    LOG.error("write failed, nothing stored: %s", str(error).splitlines()[0])
                    raise Unavailable(f"storage failed, nothing was stored ({_reason(error)}); try again") from None
                raise
            try:
                self.audit.committed(session)
            except OSError as error:  # the witness stays behind the chain: allowed, and the commit stands
                LOG.error("audit witness not updated: %s", error)
            for apply in session.info["after"]:
                apply()
            for event_id, time, type, views in session.info["events"]:
                self.events.publish(type, time, views, event_id)

    @contextmanager
    def quiescent(self) -> Iterator[None]:
        """No write of this process commits meanwhile: in-memory state matches the committed state."""
        with self._lock:
            yield

    @staticmethod
    def after_commit(session: Session, apply: Callable[[], None]) -> None:
        """Change in-memory state once the transaction commits (never when it fails)."""
        session.info["after"].append(apply)

    @staticmethod
    def undo(session: Session, revert: Callable[[], None]) -> None:
        """Revert an in-memory change made during the transaction if it fails."""
        session.info["undo"].append(revert)

    def emit(self, session: Session, type: str, views: Views) -> None:
        """Publish an event once the transaction that caused it commits. It is stored in that transaction,
        its id the next in commit order on every node, so that a subscriber resumes after a reconnect
        or a change of leader (`events_after`) without losing or repeating one."""
        audience = _audiences(views)
        event_id, now = self.next_id(session, EventRecord), self.clock.now()
        session.add(EventRecord(id=event_id, time=now, type=type, views=event_json(audience)))
        if event_id % self.prune_every == 0:
            session.execute(delete(EventRecord).where(EventRecord.id <= event_id - self.events_kept))
        session.info["events"].append((event_id, now, type, audience))

    def newest_event_id(self) -> int:
        """The id of the newest stored event (0 when none)."""
        with self.Session() as session:
            return int(session.scalar(select(func.max(EventRecord.id))) or 0)

    def events_after(self, audience: str, after: int, limit: int = 1000) -> tuple[list[Event], int | None]:
        """Stored events with id > ``after`` that ``audience`` (a party id or `CELL`) sees, oldest first, at
        most ``limit`` rows read; and the oldest id still stored (None when none is): a subscriber whose
        last id is older missed pruned events."""
        with self.Session() as session:
            oldest = session.scalar(select(func.min(EventRecord.id)))
            rows = session.execute(select(EventRecord.id, EventRecord.time, EventRecord.type, EventRecord.views)
                                   .where(EventRecord.id > after).order_by(EventRecord.id).limit(limit)).all()
        found = []
        for event_id, time, type, views in rows:
            payload = orjson.loads(views).get(audience)
            found.append(Event(event_id, type, time, payload))  # payload None: not for this audience
        return found, oldest

    def record(self, session: Session, kind: str, actor: dict[str, Any], parties, payload: dict[str, Any]) -> None:
        """Append an audit entry in this transaction."""
        self.audit.append(session, self.clock.now(), kind, actor, parties, payload)

    def publish(self, type: str, views: Views) -> None:
        """Send an event now (outside a transaction: for state that is not stored). It has no id: it is not
        replayed on resumption (the next one, or the REST routes, give the state again)."""
        self.events.publish(type, self.clock.now(),
                            _audiences(views))

    def next_id(self, session: Session, table: type) -> int:
        """Next row id of ``table``, handed out by this (single writer) process so that no flush is needed."""
        name = table.__tablename__
        if name not in self._ids:
            self._ids[name] = session.scalar(select(func.max(table.id))) or 0
        self._ids[name] += 1
        self.undo(session, lambda: self._ids.pop(name, None))  # re-read after a rollback
        return self._ids[name]


def _reason(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).splitlines()[0]
    if "No space left" in text or "database or disk is full" in text or "disk full" in text.lower():
        return "the disk is full"
    return text[:200]


def _audiences(views: Views) -> dict[str, dict[str, Any]]:
    """Views keyed as the event bus and the record key them (`CELL` for the cell), empty ones left out."""
    return {(CELL if k is None else k): v for k, v in views.items() if v is not None}
