"""The hotline: a thread per conflict between two parties (or a free one), messages, structured
proposals with deadlines, replies, and escalation to the de-confliction cell.

A thread escalates when a party has not acknowledged it in time, when a proposal expires
unanswered, or at once when a party of it suspends participation. It closes when its conflict
ends; a settled thread (a proposal accepted) stays settled. A proposal is answered once, by
another party of the thread, before its deadline.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from deconflict.service import need_to_know as ntk
from deconflict.service.auth import Principal
from deconflict.service.errors import BadRequest, Forbidden, NotFound, StateConflict
from deconflict.service.limits import (MAX_ANSWER_WITHIN, MAX_PARTY_ID, MAX_SUBJECT, MAX_TEXT, MAX_THREAD_PARTIES,
                                       check_row_id, check_text)
from deconflict.service.keys import PartyKeys
from deconflict.service.parties import Parties
from deconflict.service.unit_of_work import SERVICE_ACTOR, UnitOfWork
from deconflict.store.schema import Message, Party, Thread
from deconflict.store.signatures import SIGNED_MESSAGE_KINDS, message_commitment

REPLY_KINDS = ("acknowledge", "accept", "reject")


class Hotline:
    def __init__(self, work: UnitOfWork, acknowledge_within: float, proposal_deadline: float,
                 keys: PartyKeys | None = None) -> None:
        self.work = work
        self.keys = keys or PartyKeys(work)
        self.acknowledge_within = acknowledge_within
        self.proposal_deadline = proposal_deadline

    # -- threads opened and closed by the conflicts ---------------------------------------------

    def open_thread(self, session: Session, conflict: str | None, parties, subject: str,
                    immediate: bool = False) -> Thread:
        """A new thread (in the caller's transaction); ``immediate``: escalate at the next check."""
        now = self.work.clock.now()
        thread = Thread(id=self.work.next_id(session, Thread), subject=subject[:MAX_SUBJECT], conflict=conflict,
                        parties=sorted(set(parties)), status="open", created=now, acknowledged_by=[],
                        ack_deadline=now if immediate else now + self.acknowledge_within)
        session.add(thread)
        self.work.record(session, "thread.opened", SERVICE_ACTOR, thread.parties,
                         {"thread": thread.id, "conflict": conflict, "subject": thread.subject})
        self.work.emit(session, "thread.opened", {v: ntk.thread_view(thread) for v in ntk.audiences(thread.parties)})
        return thread

    def close_thread(self, session: Session, conflict: str, why: str) -> None:
        """The conflict of a thread ended: an open or escalated thread closes (it no longer escalates);
        a settled one stays settled. Pending proposals may still be answered."""
        thread = session.scalar(select(Thread).where(Thread.conflict == conflict))
        if thread is not None and thread.status in ("open", "escalated"):
            thread.status = "closed"
            self._service_message(session, thread, "closed", why)

    # -- what the parties do --------------------------------------------------------------------

    def create_thread(self, who: Principal, parties: list[str], subject: str) -> dict[str, Any]:
        if not who.can_write:
            raise Forbidden("observers cannot open threads")
        if not isinstance(parties, list) or len(parties) > MAX_THREAD_PARTIES:
            raise BadRequest(f"parties: expected a list of at most {MAX_THREAD_PARTIES} party ids")
        for k, party in enumerate(parties):
            check_text(party, f"parties[{k}]", MAX_PARTY_ID, empty=False)
        check_text(subject, "subject", MAX_SUBJECT)
        wanted = set(parties) | ({who.party} if who.party else set())
        if len(wanted) < 2 and not who.is_cell:
            raise BadRequest("parties: name at least one other party")
        with self.work.write() as session:
            known = set(session.scalars(select(Party.id)))
            unknown = sorted(wanted - known)
            if unknown:
                raise BadRequest(f"parties: unknown {', '.join(unknown)}")
            thread = self.open_thread(session, None, wanted, subject or "Hotline")
            thread.ack_deadline = None  # free threads do not escalate
        return ntk.thread_view(thread, [])

    def _visible_thread(self, session: Session, who: Principal, thread_id: int) -> Thread:
        check_row_id(thread_id, "thread")
        thread = session.get(Thread, thread_id)
        if thread is None or not ntk.thread_visible(thread, None if who.is_cell else who.party):
            raise NotFound(f"no thread {thread_id} that you may see")
        return thread

    def threads(self, who: Principal) -> list[dict[str, Any]]:
        with self.work.Session() as session:
            rows = session.scalars(select(Thread).order_by(Thread.id))
            viewer = None if who.is_cell else who.party
            return [ntk.thread_view(t) for t in rows if ntk.thread_visible(t, viewer)]

    def thread(self, who: Principal, thread_id: int) -> dict[str, Any]:
        with self.work.Session() as session:
            thread = self._visible_thread(session, who, thread_id)
            messages = list(session.scalars(select(Message).where(Message.thread == thread.id).order_by(Message.id)))
            return ntk.thread_view(thread, messages)

    def post(self, who: Principal, thread_id: int, kind: str, text: str = "", proposal: dict[str, Any] | None = None,
             reply_to: int | None = None, answer_within: float | None = None, signature: str | None = None,
             answer_within_text: str | None = None) -> dict[str, Any]:
        """Add a message, a proposal, or a reply (acknowledge / accept / reject) to a thread. ``signature``:
        the party's ``X-Deconflict-Signature`` of the message's commitment (`store.signatures`; required
        of proposals and answers once the member registered a key); ``answer_within_text``: the deadline
        as sent (what was signed)."""
        if not who.can_write:
            raise Forbidden("observers cannot write on the hotline")
        check_text(text, "text", MAX_TEXT)
        check_row_id(reply_to, "reply_to")
        if answer_within is not None and not 0.0 < answer_within <= MAX_ANSWER_WITHIN:
            raise BadRequest(f"answer_within: expected more than 0 s and at most {MAX_ANSWER_WITHIN:g} s "
                             f"({MAX_ANSWER_WITHIN / 3600:g} h), got {answer_within:g} s")
        if proposal is not None:
            for name, value in proposal.items():
                if isinstance(value, str):
                    check_text(value, f"proposal.{name}", 64)
        now = self.work.clock.now()
        with self.work.write() as session:
            thread = self._visible_thread(session, who, thread_id)
            if thread.status == "closed" and kind in ("proposal", "acknowledge"):
                raise StateConflict(f"thread {thread.id} is closed (its conflict ended): nothing to {kind}")
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
                    raise StateConflict(f"proposal {reply_to} expired at {ntk.iso(target.deadline)}")
                target.status = "accepted" if kind == "accept" else "rejected"
                if kind == "accept":
                    thread.status = "settled"
            deadline = None
            if kind == "proposal":
                deadline = now + (answer_within if answer_within is not None else self.proposal_deadline)
            message = Message(thread=thread.id, party=who.party, author=who.name, kind=kind, text=text,
                              proposal=proposal, reply_to=reply_to, deadline=deadline,
                              status="pending" if kind == "proposal" else None, created=now)
            commitment = message_commitment(who.party or "", thread.id, kind, text, proposal, reply_to,
                                            answer_within_text)
            signed = self.keys.signature(session, who, commitment, signature, required=kind in SIGNED_MESSAGE_KINDS)
            session.add(message)
            if who.party and who.party not in thread.acknowledged_by:
                thread.acknowledged_by = sorted([*thread.acknowledged_by, who.party])
            session.flush()
            self.work.record(session, f"hotline.{kind}", who.actor(), thread.parties,
                             {"thread": thread.id, "message": message.id, "text": text, "proposal": proposal,
                              "reply_to": reply_to, "deadline": deadline,
                              **({"signed": signed} if signed is not None else {})})
            return self._emit_message(session, thread, message)

    def escalate_overdue(self, force_party: str | None = None) -> int:
        """Escalate threads not acknowledged by every party in time, and expire unanswered proposals."""
        now = self.work.clock.now()
        escalated = 0
        due_threads = select(Thread).where(Thread.status == "open")
        due_proposals = select(Message).where(Message.status == "pending", Message.deadline < now)
        with self.work.Session() as session:  # most cycles have nothing to do: look before taking the write lock
            suspended = Parties.suspended(session)
            if not suspended and force_party is None:
                due_threads = due_threads.where(Thread.ack_deadline <= now)
            if session.scalar(due_threads.limit(1)) is None and session.scalar(due_proposals.limit(1)) is None:
                return 0
        with self.work.write() as session:
            suspended = Parties.suspended(session)
            for thread in session.scalars(due_threads):
                missing = set(thread.parties) - set(thread.acknowledged_by)
                late = thread.ack_deadline is not None and now >= thread.ack_deadline and missing
                gone = missing & suspended
                if late or gone or (force_party in thread.parties and thread.ack_deadline is not None):
                    thread.status = "escalated"
                    reason = (f"{', '.join(sorted(gone or {force_party}))} suspended participation" if gone or force_party
                              else f"not acknowledged by {', '.join(sorted(missing))} in time")
                    self._service_message(session, thread, "escalation", reason)
                    escalated += 1
            for message in session.scalars(due_proposals):
                message.status = "expired"
                thread = session.get(Thread, message.thread)
                if thread.status not in ("open", "escalated"):
                    continue  # the conflict cleared, or another proposal settled it: nothing to escalate
                thread.status = "escalated"
                self._service_message(session, thread, "escalation", f"proposal {message.id} expired unanswered")
                escalated += 1
        return escalated

    def _service_message(self, session: Session, thread: Thread, kind: str, text: str) -> None:
        message = Message(thread=thread.id, party=None, author="service", kind=kind, text=text,
                          created=self.work.clock.now())
        session.add(message)
        session.flush()
        self.work.record(session, f"hotline.{kind}", SERVICE_ACTOR, thread.parties,
                         {"thread": thread.id, "message": message.id, "text": text})
        self._emit_message(session, thread, message)

    def _emit_message(self, session: Session, thread: Thread, message: Message) -> dict[str, Any]:
        """A hotline message, with its thread, to the thread's parties and the cell once committed; its view."""
        thread_view, view = ntk.thread_view(thread), ntk.message_view(message)
        self.work.emit(session, "hotline.message", {v: {"thread": thread_view, "message": view}
                                                    for v in ntk.audiences(thread.parties)})
        return view
