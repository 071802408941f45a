"""Which service node may write: one leader per database, the others hot standbys (issue 18).

Two `deconflict serve` processes on one database used to both accept writes and keep separate plan
indexes, so a plan sent to one never met an overlapping plan sent to the other. A node now writes
only while it holds the database's leader lock, and every write transaction is fenced:

- **The lock.** PostgreSQL: a session advisory lock (`pg_try_advisory_lock`) held on a connection of
  its own, with TCP keep-alives so the server frees it within about 15 s of a partition and at once
  when the process dies. SQLite: an exclusive `flock` on ``<database>.leader``, freed by the kernel
  when the process dies. Neither is home-made consensus: the database (or the kernel beside the
  file) decides.
- **The fencing epoch.** Taking the lead bumps ``leadership.epoch`` in a committed transaction; every
  write transaction of the leader first reads the row (``FOR SHARE`` on PostgreSQL, under SQLite's
  write lock) and stops with `LostLead` when the epoch is no longer its own. A paused old leader
  that wakes after a standby took over therefore cannot commit anything: its transaction either
  sees the new epoch, or holds the row so that the new leader's bump (and everything it reads
  afterwards) comes after it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from deconflict.errors import DeconflictError
from deconflict.store.schema import Leadership

ADVISORY_KEY = 0x6465636F6E666C  # "deconfl": the advisory lock's id within the database
KEEPALIVE = "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3"  # ~11 s


class LostLead(DeconflictError, RuntimeError):
    """Another node leads now (the fencing epoch moved, or the lock's connection dropped): this
    node must not write again; what it holds in memory is stale."""


class Lease:
    """The right to write to one database. ``holder``: the URL this node advertises (shown to
    clients that reach a standby); ``epoch`` is None until `try_acquire` succeeds."""

    def __init__(self, engine: Engine, holder: str = "") -> None:
        self.engine = engine
        self.holder = holder[:200]
        self.epoch: int | None = None
        self._postgres = engine.dialect.name == "postgresql"
        self._connection = None  # PostgreSQL: the connection holding the advisory lock
        self._file: int | None = None  # SQLite: the locked file's descriptor

    @property
    def held(self) -> bool:
        return self.epoch is not None

    def try_acquire(self, now: float) -> bool:
        """Take the lock if it is free and bump the epoch; False (and nothing changed) if another node
        holds it."""
        if self.held:
            return True
        if not self._lock():
            return False
        try:
            with Session(self.engine.execution_options(writer=True)) as session, session.begin():
                session.execute(update(Leadership).where(Leadership.id == 1).values(
                    epoch=Leadership.epoch + 1, holder=self.holder, since=float(now)))
                self.epoch = int(session.scalar(select(Leadership.epoch).where(Leadership.id == 1)))
        except BaseException:
            self._unlock()
            raise
        return True

    def fence(self, session: Session) -> None:
        """First statement of every write transaction: the epoch is still this node's (see module)."""
        if self.epoch is None:
            raise LostLead("this node does not lead")
        query = select(Leadership.epoch).where(Leadership.id == 1)
        current = session.scalar(query.with_for_update(read=True) if self._postgres else query)
        if current != self.epoch:
            mine, self.epoch = self.epoch, None
            raise LostLead(f"another node took the lead (epoch {current}; this node led epoch {mine})")

    def alive(self) -> bool:
        """Whether the lock is still held (PostgreSQL: its connection still answers)."""
        if not self.held:
            return False
        if self._connection is None:
            return True
        try:
            self._connection.execute(text("SELECT 1"))
            self._connection.commit()
            return True
        except SQLAlchemyError:
            return False

    def leader(self) -> tuple[str, int]:
        """The advertised URL and epoch of the node that took the lead last ('' when unknown)."""
        with Session(self.engine) as session:
            row = session.get(Leadership, 1)
            return (row.holder, int(row.epoch)) if row is not None else ("", 0)

    def release(self) -> None:
        """Give the lead up (a clean stop): a standby may take it at once."""
        self.epoch = None
        self._unlock()

    # -- the lock itself --------------------------------------------------------------------

    def _lock(self) -> bool:
        if self._postgres:
            engine = create_engine(self.engine.url, poolclass=NullPool, connect_args={"options": KEEPALIVE})
            connection = engine.connect()
            got = bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}).scalar())
            connection.commit()  # the session lock outlives the transaction; no transaction stays open
            if not got:
                connection.close()
                engine.dispose()
                return False
            self._connection = connection
            return True
        database = self.engine.url.database
        if not database or database == ":memory:":
            return True  # a private in-memory database: no other process can reach it
        descriptor = os.open(Path(database).expanduser().with_name(Path(database).name + ".leader"),
                             os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return False
        self._file = descriptor
        return True

    def _unlock(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            try:
                connection.close()  # ends the server session: the advisory lock goes with it
            except SQLAlchemyError:
                pass
            connection.engine.dispose()
        if self._file is not None:
            descriptor, self._file = self._file, None
            os.close(descriptor)  # the flock goes with the last descriptor
