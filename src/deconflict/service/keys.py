"""The parties' own signing keys and the signatures their commitments carry (issue 15).

A member registers the public half of its Ed25519 key (`POST /v1/me/keys`); the registration is in
the audit record for every party (``member.key``: public keys are public, and each party can see
every key the service accepted for anyone, so a key the service operator slipped in is seen). From
then on that member's proposals, acceptances and rejections and its plan writes and deletions must
carry its signature (`store.signatures`): unsigned, or signed wrongly, they are refused (422) and
nothing is stored. Members without a key are not asked for one (their commitments are recorded
unsigned, and `audit verify` counts them). Revoking a key is recorded too; a revoked key signs
nothing more.
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from deconflict.service import need_to_know as ntk
from deconflict.service.auth import Principal
from deconflict.service.errors import BadRequest, Forbidden, NotFound, StateConflict
from deconflict.service.unit_of_work import UnitOfWork
from deconflict.store.schema import MemberKey, Party
from deconflict.store.schema import Member
from deconflict.store.signatures import (HEADER, SignatureError, key_id, parse_header, public_from_text, raw_public,
                                         signed_payload, verifies)

MAX_KEYS_PER_MEMBER = 8


class PartyKeys:
    def __init__(self, work: UnitOfWork) -> None:
        self.work = work

    def register(self, who: Principal, public_text: Any) -> dict[str, Any]:
        if not who.can_write:
            raise Forbidden("observers sign nothing: only operators and the cell register signing keys")
        if not isinstance(public_text, str) or len(public_text) > 4096:
            raise BadRequest("public_key: expected an Ed25519 public key as base64 of its 32 bytes, or PEM")
        try:
            public = public_from_text(public_text)
        except SignatureError as error:
            raise BadRequest(str(error)) from None
        text = base64.b64encode(raw_public(public)).decode()
        kid = key_id(public)
        with self.work.write() as session:
            existing = session.get(MemberKey, kid)
            if existing is not None:
                raise StateConflict(f"key {kid} is already registered{'' if existing.member == who.member else ' by another member'}")
            count = len(session.scalars(select(MemberKey.key).where(MemberKey.member == who.member,
                                                                     MemberKey.revoked.is_(False))).all())
            if count >= MAX_KEYS_PER_MEMBER:
                raise StateConflict(f"a member holds at most {MAX_KEYS_PER_MEMBER} keys: revoke one first")
            row = MemberKey(key=kid, member=who.member, party=who.party, public_key=text,
                            created=self.work.clock.now(), revoked=False)
            session.add(row)
            everyone = session.scalars(select(Party.id)).all()
            self.work.record(session, "member.key", who.actor(), everyone,
                             {"member": who.member, "name": who.name, "party": who.party, "key": kid, "public_key": text})
            view = _view(row, who.name)
            self.work.emit(session, "member.key", {v: view for v in ntk.audiences(everyone)})
            return view

    def revoke(self, who: Principal, kid: str) -> None:
        with self.work.write() as session:
            row = session.get(MemberKey, kid[:16])
            if row is None or row.member != who.member:
                raise NotFound(f"no key {kid[:16]!r} of yours")
            if row.revoked:
                return
            row.revoked = True
            everyone = session.scalars(select(Party.id)).all()
            self.work.record(session, "member.key_revoked", who.actor(), everyone, {"member": who.member, "key": kid})
            view = _view(row, who.name)
            self.work.emit(session, "member.key_revoked", {v: view for v in ntk.audiences(everyone)})

    def list(self, who: Principal) -> list[dict[str, Any]]:
        """Every party's registered keys (public halves: every member may check anyone's signature)."""
        with self.work.Session() as session:
            rows = session.execute(select(MemberKey, Member.name).join(Member, Member.id == MemberKey.member)
                                   .order_by(MemberKey.created)).all()
            return [_view(row, name) for row, name in rows]

    def signature(self, session: Session, who: Principal, commitment: dict[str, Any], header: str | None,
                  required: bool) -> dict[str, Any] | None:
        """Check the caller's signature of ``commitment`` (in the caller's transaction); returns what the
        audit entry keeps of it, or None when unsigned and not ``required`` of this member. A member
        with a registered key must sign ``required`` commitments."""
        if header is None:
            if required and session.scalar(select(MemberKey.key).where(MemberKey.member == who.member,
                                                                        MemberKey.revoked.is_(False)).limit(1)):
                raise BadRequest(f"{HEADER}: you registered a signing key, so this commitment must be signed "
                                 f"(deconflict sign, or PartyKey.header)")
            return None
        try:
            kid, signature = parse_header(header)
        except SignatureError as error:
            raise BadRequest(str(error)) from None
        row = session.get(MemberKey, kid)
        if row is None or row.member != who.member:
            raise BadRequest(f"{HEADER}: key {kid} is not a key of yours (register it with POST /v1/me/keys)")
        if row.revoked:
            raise BadRequest(f"{HEADER}: key {kid} was revoked")
        public = public_from_text(row.public_key)
        if not verifies(public, signature, commitment):
            raise BadRequest(f"{HEADER}: the signature does not verify for this commitment "
                             f"({commitment['kind']}; see deconflict sign)")
        return signed_payload(public, signature, commitment)


def _view(row: MemberKey, name: str) -> dict[str, Any]:
    return {"key": row.key, "member": row.member, "name": name, "party": row.party, "public_key": row.public_key,
            "created": ntk.iso(row.created), "revoked": row.revoked}
