"""Parties and members: who may call, in which role, and who has suspended participation.

Tokens are checked against the database and cached for ``token_cache`` seconds, so a revocation
made by another process (``deconflict admin revoke``) takes effect within that time everywhere,
open event streams included (they re-check their token as often). A revocation made by this
process takes effect at once and ends the member's open streams.
"""

from __future__ import annotations

import re
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from deconflict.service.auth import Principal, Role, new_token, token_hash
from deconflict.service.errors import BadRequest, Forbidden, NotFound, StateConflict, Unauthorized
from deconflict.service.quotas import REQUESTS, Quota, Rate
from deconflict.service.limits import MAX_NAME, MAX_PARTY_ID, PARTY_ID_PATTERN, check_text
from deconflict.service.unit_of_work import SERVICE_ACTOR, UnitOfWork
from deconflict.store.schema import MemberKey, Member, Party


class Parties:
    def __init__(self, work: UnitOfWork, token_cache: float, requests: Rate = REQUESTS) -> None:
        self.work = work
        self.token_cache = token_cache
        self.requests = Quota("API requests", requests)
        self._tokens: dict[str, tuple[Principal, float]] = {}  # token hash -> (principal, valid until)

    def authenticate(self, token: str | None) -> Principal:
        if not token:
            raise Unauthorized("missing bearer token (Authorization: Bearer dcf_...)")
        digest = token_hash(token)
        cached = self._tokens.get(digest)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        with self.work.Session() as session:
            member = session.scalar(select(Member).where(Member.token_hash == digest))
            if member is None or member.revoked:
                self._tokens.pop(digest, None)
                raise Unauthorized("unknown or revoked token")
            principal = Principal(member.id, member.name, member.party, Role(member.role))
        self._tokens[digest] = (principal, time.monotonic() + self.token_cache)
        return principal

    def admit(self, token: str | None) -> Principal:
        """The caller of a request, counted against its party's share of requests (429 beyond it,
        before any work is done for the request)."""
        who = self.authenticate(token)
        self.requests.take(who.party, 1)
        return who

    def revoke_member(self, member: int) -> str:
        """Revoke a member's token: at once in this process (its open event streams end), within
        ``token_cache`` seconds in every other."""
        with self.work.write() as session:
            row = session.get(Member, member)
            if row is None:
                raise NotFound(f"no member {member}")
            row.revoked = True
            self.work.record(session, "member.revoked", SERVICE_ACTOR, (row.party,) if row.party else (),
                             {"member": row.id, "name": row.name})
        self._tokens = {k: v for k, v in self._tokens.items() if v[0].member != member}
        self.work.events.end_member(member)
        return row.name

    def members(self) -> list[dict[str, Any]]:
        with self.work.Session() as session:
            return [{"id": m.id, "name": m.name, "party": m.party, "role": m.role, "revoked": m.revoked}
                    for m in session.scalars(select(Member).order_by(Member.id))]

    def add_party(self, party: str, title: str = "") -> None:
        if not isinstance(party, str) or not re.fullmatch(PARTY_ID_PATTERN, party):
            raise BadRequest(f"party id {party!r}: expected 1-{MAX_PARTY_ID} ASCII letters, digits, - or _")
        check_text(title, "title", 200)
        with self.work.write() as session:
            if session.get(Party, party) is not None:
                raise StateConflict(f"party {party!r} already exists")
            session.add(Party(id=party, title=title, suspended=False, created=self.work.clock.now()))
            self.work.record(session, "party.created", SERVICE_ACTOR, (party,), {"party": party, "title": title})
            keys = session.scalars(select(MemberKey).where(MemberKey.revoked.is_(False)).order_by(MemberKey.created)).all()
            if keys:  # the keys registered before it joined, in its receipts: it can check every signature it gets
                self.work.record(session, "member.keys", SERVICE_ACTOR, (party,), {"keys": [
                    {"member": k.member, "party": k.party, "key": k.key, "public_key": k.public_key} for k in keys]})

    def add_member(self, name: str, role: str, party: str | None) -> str:
        """Create a member; returns its token (shown once, stored hashed)."""
        try:
            role_value = Role(role)
        except ValueError:
            raise BadRequest(f"role {role!r}: expected one of {', '.join(r.value for r in Role)}") from None
        check_text(name, "name", MAX_NAME, empty=False)
        if role_value is Role.CELL and party:
            raise BadRequest(f"the cell belongs to no party: leave out --party (got {party!r})")
        if role_value is not Role.CELL and not party:
            raise BadRequest(f"a {role} belongs to a party: give --party")
        token = new_token()
        with self.work.write() as session:
            if party is not None and session.get(Party, party) is None:
                raise NotFound(f"no party {party!r}")
            member = Member(name=name, party=party or None, role=role_value.value, token_hash=token_hash(token),
                            revoked=False, created=self.work.clock.now())
            session.add(member)
            session.flush()
            self.work.record(session, "member.created", SERVICE_ACTOR, (party,) if party else (),
                             {"member": member.id, "name": name, "role": role_value.value, "party": party or None})
        return token

    def parties(self) -> list[dict[str, Any]]:
        with self.work.Session() as session:
            return [{"id": p.id, "title": p.title, "suspended": p.suspended}
                    for p in session.scalars(select(Party).order_by(Party.id))]

    def ids(self) -> set[str]:
        with self.work.Session() as session:
            return set(session.scalars(select(Party.id)))

    def set_suspended(self, who: Principal, party: str, suspended: bool) -> None:
        """A party suspends (or resumes) participation; the caller escalates its threads."""
        if not who.can_write or not who.sees_party(party):
            raise Forbidden(f"only {party}'s operators or the cell may suspend or resume {party}")
        kind = "party.suspended" if suspended else "party.resumed"
        with self.work.write() as session:
            row = session.get(Party, party)
            if row is None:
                raise NotFound(f"no party {party!r}")
            row.suspended = suspended
            self.work.record(session, kind, who.actor(), (party,), {"party": party})
            everyone = [None, *session.scalars(select(Party.id))]
            self.work.emit(session, kind, {v: {"party": party} for v in everyone})

    @staticmethod
    def suspended(session: Session) -> set[str]:
        return set(session.scalars(select(Party.id).where(Party.suspended.is_(True))))
