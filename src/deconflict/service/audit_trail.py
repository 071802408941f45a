"""The audit record as the parties and the cell download it, and the service's own check of its
chain at start (see `deconflict.store.audit`): a chain that went backwards or was rewritten under
the service is refused before anything is signed on top of it.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Iterator

from sqlalchemy import select

from deconflict.service.auth import Principal
from deconflict.service.errors import BadRequest, Forbidden
from deconflict.service.unit_of_work import UnitOfWork
from deconflict.store.audit import entry_record
from deconflict.store.schema import AuditEntry

LOG = logging.getLogger("deconflict")


class AuditTrail:
    def __init__(self, work: UnitOfWork) -> None:
        self.work = work

    def check(self) -> None:
        """Verify the stored chain against the service's witness (raises `ChainBroken`)."""
        started = time.perf_counter()
        with self.work.Session() as session:
            if session.bind.dialect.name == "postgresql":  # entries and heads from one snapshot, while a leader writes
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            walked = self.work.audit.check_stored(session)
        if walked:
            LOG.info("audit chain checked: %d entries walked in %.2f s", walked, time.perf_counter() - started)

    def records(self, who: Principal, whole: bool = False, tail: int | None = None) -> Iterator[dict[str, Any]]:
        """The caller's receipts (entries concerning its party), or the whole chain for the cell;
        then a signed head line. ``tail``: only the last entries (for display; a verification needs all)."""
        if whole and not who.is_cell:
            raise Forbidden("only the cell downloads the whole chain; parties download their receipts")
        if tail is not None and not 1 <= tail <= 10_000:
            raise BadRequest(f"tail: expected 1 to 10000 entries, got {tail}")
        return self._records("*" if who.is_cell else who.party, tail)

    def _records(self, scope: str, tail: int | None) -> Iterator[dict[str, Any]]:
        with self.work.Session() as session:
            head, last_seq = self.work.audit.signed_head(session, scope, self.work.clock.now())
            query = select(AuditEntry).where(AuditEntry.seq <= last_seq)
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
