"""The service's tables (SQLAlchemy 2 declarative). Changes go through an Alembic migration
(``store/migrations/versions``); the tests check the migrated schema matches these models.

Times are UNIX seconds (float, UTC), as everywhere inside the project (SPEC §1).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Party(Base):
    """An independent party sharing the airspace (an air force, a base's controllers, a drone operator)."""

    __tablename__ = "parties"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[float] = mapped_column(Float)


class Member(Base):
    """A person or system holding a bearer token. ``party`` is None for the de-confliction cell."""

    __tablename__ = "members"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    party: Mapped[str | None] = mapped_column(ForeignKey("parties.id"), nullable=True)
    role: Mapped[str] = mapped_column(String(16))  # operator | observer | cell
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[float] = mapped_column(Float)


class MemberKey(Base):
    """A member's Ed25519 public key (base64 of its 32 bytes) for signing its party's commitments;
    ``key`` is its id (16 hex digits of its SHA-256). The private key stays with the party."""

    __tablename__ = "member_keys"
    key: Mapped[str] = mapped_column(String(16), primary_key=True)
    member: Mapped[int] = mapped_column(ForeignKey("members.id"))
    party: Mapped[str | None] = mapped_column(String(32), nullable=True)
    public_key: Mapped[str] = mapped_column(String(64))
    created: Mapped[float] = mapped_column(Float)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    __table_args__ = (Index("ix_member_keys_member", "member"),)


def plan_key(party: str, plan_id: str) -> str:
    """A plan's key across parties (plan ids are unique within a party only)."""
    return f"{party}/{plan_id}"


def plan_id_of(key: str) -> str:
    """The party's own id of the plan with ``key``."""
    return key.split("/", 1)[1]


class PlanRecord(Base):
    """A party's plan: the submitted document (plans-file schema) and its version counter."""

    __tablename__ = "plans"
    key: Mapped[str] = mapped_column(String(80), primary_key=True)  # plan_key(party, plan id)
    party: Mapped[str] = mapped_column(ForeignKey("parties.id"), index=True)
    plan_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # accepted | rejected | deleted
    created: Mapped[float] = mapped_column(Float)
    updated: Mapped[float] = mapped_column(Float)


class StrategicConflict(Base):
    """Two plans' volumes overlapping (found when the first of them was submitted or edited)."""

    __tablename__ = "strategic_conflicts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan: Mapped[str] = mapped_column(String(80), index=True)
    other: Mapped[str] = mapped_column(String(80), index=True)
    party: Mapped[str] = mapped_column(String(32))
    other_party: Mapped[str] = mapped_column(String(32))
    blocking: Mapped[bool] = mapped_column(Boolean)
    overlap: Mapped[dict[str, Any]] = mapped_column(JSON)  # GeoJSON Feature of the overlap, the volumes involved
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[float] = mapped_column(Float)


class TacticalConflict(Base):
    """A pair of aircraft with a displayed alert; ``cleared`` set when the alert ended."""

    __tablename__ = "tactical_conflicts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    a: Mapped[str] = mapped_column(String(32))
    b: Mapped[str] = mapped_column(String(32))
    party_a: Mapped[str] = mapped_column(String(32))
    party_b: Mapped[str] = mapped_column(String(32))
    level: Mapped[int] = mapped_column(Integer)
    raised: Mapped[float] = mapped_column(Float)
    updated: Mapped[float] = mapped_column(Float)
    cleared: Mapped[float | None] = mapped_column(Float, nullable=True)
    geometry: Mapped[dict[str, Any]] = mapped_column(JSON)  # t_in, t_cpa, d_cpa ... and both predicted states
    __table_args__ = (Index("ix_tactical_open", "cleared"),)


class Thread(Base):
    """A hotline thread: one per conflict, or a free one between parties."""

    __tablename__ = "threads"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(200))
    conflict: Mapped[str | None] = mapped_column(String(40), nullable=True, unique=True)  # tactical:N / strategic:N
    parties: Mapped[list[Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | escalated | settled
    created: Mapped[float] = mapped_column(Float)
    ack_deadline: Mapped[float | None] = mapped_column(Float, nullable=True)
    acknowledged_by: Mapped[list[Any]] = mapped_column(JSON, default=list)
    __table_args__ = (Index("ix_threads_due", "status", "ack_deadline"),)


class Message(Base):
    """A hotline entry: a message, a resolution proposal, or a reply to one (ack / accept / reject)."""

    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    thread: Mapped[int] = mapped_column(ForeignKey("threads.id"), index=True)
    party: Mapped[str | None] = mapped_column(String(32), nullable=True)  # None: the cell or the service
    author: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # message | proposal | acknowledge | accept | reject | escalation
    text: Mapped[str] = mapped_column(Text, default="")
    proposal: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    reply_to: Mapped[int | None] = mapped_column(Integer, nullable=True)
    deadline: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str | None] = mapped_column(String(16), nullable=True)  # proposals: pending|accepted|rejected|expired
    created: Mapped[float] = mapped_column(Float)
    __table_args__ = (Index("ix_messages_due", "status", "deadline"),)


class AuditEntry(Base):
    """One link of the audit hash chain (see `deconflict.store.audit`)."""

    __tablename__ = "audit"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    body: Mapped[str] = mapped_column(Text)  # canonical JSON, exactly as hashed
    parties: Mapped[list[Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    signature: Mapped[str] = mapped_column(String(100))


class AuditHead(Base):
    """Per scope (a party, or ``*`` for the whole chain): entries so far and the latest one."""

    __tablename__ = "audit_heads"
    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class Leadership(Base):
    """The one row naming the service node that may write: ``epoch`` grows by one at every change of
    leader and every write transaction checks it (`deconflict.store.leadership`)."""

    __tablename__ = "leadership"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger)
    holder: Mapped[str] = mapped_column(String(200))  # the leader's advertised URL ('' when unknown)
    since: Mapped[float] = mapped_column(Float)  # UNIX s (service clock) of the last change of leader


class Occurrence(Base):
    """A loss of separation that happened: two tracks inside the standard's loss volume from
    ``started`` to ``ended`` (None while it lasts). ``closest_horizontal``/``closest_vertical`` (m):
    the smallest horizontal distance seen and the height difference then, at ``closest_at``."""

    __tablename__ = "occurrences"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    a: Mapped[str] = mapped_column(String(32))
    b: Mapped[str] = mapped_column(String(32))
    party_a: Mapped[str] = mapped_column(String(32))
    party_b: Mapped[str] = mapped_column(String(32))
    standard: Mapped[str] = mapped_column(String(32))
    conflict: Mapped[str | None] = mapped_column(String(40), nullable=True)  # the tactical conflict shown then
    started: Mapped[float] = mapped_column(Float)
    ended: Mapped[float | None] = mapped_column(Float, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)  # separated | tracks lost
    closest_horizontal: Mapped[float] = mapped_column(Float)
    closest_vertical: Mapped[float] = mapped_column(Float)
    closest_at: Mapped[float] = mapped_column(Float)
    __table_args__ = (Index("ix_occurrences_open", "ended"),)


class Nonconformance(Base):
    """An aircraft outside every volume of its party's plans naming it (ASTM F3548 Nonconforming),
    from ``started`` (the first report outside) to ``ended`` (None while it lasts). ``plans``: the plan
    keys it made Nonconforming; ``detail``: where it was (first and latest report outside, deviation);
    ``told``: the other parties told, with why (their aircraft or plans it could reach)."""

    __tablename__ = "nonconformances"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    party: Mapped[str] = mapped_column(String(32))
    icao24: Mapped[str] = mapped_column(String(32))
    plans: Mapped[list[Any]] = mapped_column(JSON)
    started: Mapped[float] = mapped_column(Float)
    ended: Mapped[float | None] = mapped_column(Float, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(24), nullable=True)  # back inside | plan withdrawn | plan ended
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    told: Mapped[list[Any]] = mapped_column(JSON, default=list)
    __table_args__ = (Index("ix_nonconformances_open", "ended"),)


class EventRecord(Base):
    """A live event as it was published (ids in commit order across every node of the database), kept
    so that a subscriber that reconnects, to this node or to the next leader, resumes from the last id
    it saw (SSE ``Last-Event-ID``). ``views``: JSON of audience (party id, or ``*cell*``) -> its payload
    (text written by orjson: NaN becomes null, which PostgreSQL's JSON would refuse)."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    time: Mapped[float] = mapped_column(Float)
    type: Mapped[str] = mapped_column(String(64))
    views: Mapped[str] = mapped_column(Text)


class PictureCopy(Base):
    """The leader's live picture (latest state of every track), copied about once a second so that a
    hot standby takes over with the traffic it would have seen, not an empty sky: detection resumes on
    the first cycle. One row (id 1); ``data``: numpy ``.npz`` of the `States` columns (no pickles)."""

    __tablename__ = "picture_copy"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    time: Mapped[float] = mapped_column(Float)
    data: Mapped[bytes] = mapped_column(LargeBinary)
