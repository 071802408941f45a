"""Party signatures: commitments the parties sign with their own Ed25519 keys (issue 15).

The service signs every audit entry, so its record proves what the service saw; it cannot prove
that a party committed to something, since whoever runs the service could write any entry. A
party's commitments (hotline proposals, acceptances and rejections, plan submissions, edits and
deletions) therefore carry that party's own signature, made where its key lives (the party's
tool: `deconflict sign`, or `PartyKey` in Python); the service never holds a party's private key.

What is signed is the canonical JSON (as the audit record's) of a small *commitment*: what the
party commits to, and where, so that a signature cannot be moved to another thread, plan or
version:

- message: ``{"kind": "hotline.<kind>", "party", "thread", "text", "proposal", "reply_to",
  "answer_within"}`` (the proposal as the API normalises it: ``type``, ``aircraft`` or ``plan``,
  ``action``, ``value`` (null when absent); ``answer_within`` as sent, or null);
- plan write: ``{"kind": "plan.write", "party", "plan", "document_sha256", "after_version"}`` with
  the SHA-256 of the canonical document as stored (``{..., "id": plan, "party": party}``) and the
  version it replaces (0 for a new plan);
- plan deletion: ``{"kind": "plan.delete", "party", "plan", "after_version"}``.

The request carries ``X-Deconflict-Signature: <key id>:<base64 signature>``; the key id is the
first 16 hex digits of the SHA-256 of the raw 32-byte public key. The audit entry then holds
``signed``: the commitment, the key id, the public key and the signature, so anyone holding the
record (the other party's receipts included) checks it offline (`check_party_signatures`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from deconflict.errors import DeconflictError
from deconflict.store.audit import canonical
from deconflict.wire import SIGNATURE_HEADER as HEADER
SIGNED_MESSAGE_KINDS = ("proposal", "accept", "reject")  # must be signed once a member has a key


class SignatureError(DeconflictError, ValueError):
    """A key or a signature that cannot be used; names what and why."""


def key_id(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public(public)).hexdigest()[:16]


def raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_from_text(text: str) -> Ed25519PublicKey:
    """A public key from base64 of its 32 raw bytes, or from PEM."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise SignatureError("public_key: not an Ed25519 key")
            return key
        raw = base64.b64decode(text, validate=True)
        if len(raw) != 32:
            raise SignatureError(f"public_key: expected 32 bytes (base64), got {len(raw)}")
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, binascii.Error):
        raise SignatureError("public_key: expected an Ed25519 public key as base64 of its 32 bytes, or PEM") from None


def message_commitment(party: str, thread: int, kind: str, text: str = "", proposal: dict[str, Any] | None = None,
                       reply_to: int | None = None, answer_within: str | None = None) -> dict[str, Any]:
    return {"kind": f"hotline.{kind}", "party": party, "thread": int(thread), "text": text,
            "proposal": normalised_proposal(proposal), "reply_to": reply_to, "answer_within": answer_within}


def normalised_proposal(proposal: dict[str, Any] | None) -> dict[str, Any] | None:
    """A proposal as the API stores it: its fields, ``value`` null when absent."""
    if proposal is None:
        return None
    return {"value": None, **proposal}


def plan_commitment(party: str, plan_id: str, document: dict[str, Any] | None, after_version: int) -> dict[str, Any]:
    """A plan write (``document`` given) or deletion (None)."""
    if document is None:
        return {"kind": "plan.delete", "party": party, "plan": plan_id, "after_version": int(after_version)}
    stored = {**document, "id": plan_id, "party": party}
    return {"kind": "plan.write", "party": party, "plan": plan_id,
            "document_sha256": hashlib.sha256(canonical(stored)).hexdigest(), "after_version": int(after_version)}


def parse_header(value: str) -> tuple[str, bytes]:
    """``<key id>:<base64 signature>`` -> (key id, signature bytes)."""
    kid, _, signature = value.strip().partition(":")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error):
        raw = b""
    if len(kid) != 16 or len(raw) != 64:
        raise SignatureError(f"{HEADER}: expected <key id>:<base64 Ed25519 signature>, got {value[:40]!r}")
    return kid, raw


def verifies(public: Ed25519PublicKey, signature: bytes, commitment: dict[str, Any]) -> bool:
    try:
        public.verify(signature, canonical(commitment))
        return True
    except InvalidSignature:
        return False


@dataclass(frozen=True)
class PartyKey:
    """A party member's private signing key (kept by the party, never sent to the service)."""

    private: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> "PartyKey":
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: str | Path) -> "PartyKey":
        path = Path(path)
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except OSError as error:
            raise SignatureError(f"{path}: cannot read ({error.strerror})") from None
        except ValueError:
            raise SignatureError(f"{path}: not a private key in PEM") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SignatureError(f"{path}: not an Ed25519 private key")
        return cls(key)

    def save(self, path: str | Path) -> None:
        """Write the private key as PEM, readable by its owner only (0600)."""
        path = Path(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(self.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))

    @property
    def public_text(self) -> str:
        """The public key as base64 of its 32 bytes (what ``POST /v1/me/keys`` takes)."""
        return base64.b64encode(raw_public(self.private.public_key())).decode()

    @property
    def id(self) -> str:
        return key_id(self.private.public_key())

    def header(self, commitment: dict[str, Any]) -> str:
        """The ``X-Deconflict-Signature`` value for ``commitment``."""
        return f"{self.id}:{base64.b64encode(self.private.sign(canonical(commitment))).decode()}"


def signed_payload(public: Ed25519PublicKey, signature: bytes, commitment: dict[str, Any]) -> dict[str, Any]:
    """What an audit entry keeps of a party signature: enough to check it offline."""
    return {"commitment": commitment, "key": key_id(public), "public_key": base64.b64encode(raw_public(public)).decode(),
            "signature": base64.b64encode(signature).decode()}


@dataclass(frozen=True)
class PartySignatureCheck:
    """What `check_party_signatures` found: signatures verified, and commitments left unsigned (by
    members without a key)."""

    verified: int
    unsigned: int


COMMITMENT_KINDS = ("hotline.proposal", "hotline.accept", "hotline.reject", "plan.submitted", "plan.updated",
                    "plan.deleted")


def check_party_signatures(bodies: list[dict[str, Any]]) -> PartySignatureCheck:
    """Check every party signature in audit entry bodies (in record order, already checked against the
    service key): each verifies with its key over its commitment; the key was registered earlier in the
    same record (``member.key``; a party's receipts also list, as ``member.keys``, those registered
    before it joined), by the signer's party, and not revoked since; and the commitment is the
    entry's (same kind, party, thread or plan, text, proposal, reply, version, document). Raises
    `SignatureError` naming the first entry that fails."""
    keys: dict[str, dict[str, Any]] = {}
    verified = unsigned = 0
    for position, body in enumerate(bodies, start=1):
        kind, payload = body.get("kind"), body.get("payload") or {}
        where = f"entry {position} ({kind})"
        if kind == "member.key":
            keys[payload["key"]] = {"public_key": payload["public_key"], "party": payload["party"], "revoked": False}
        elif kind == "member.keys":
            for known in payload.get("keys", []):
                keys.setdefault(known["key"], {"public_key": known["public_key"], "party": known["party"],
                                               "revoked": False})
        elif kind == "member.key_revoked" and payload.get("key") in keys:
            keys[payload["key"]]["revoked"] = True
        signed = payload.get("signed")
        if signed is None:
            unsigned += kind in COMMITMENT_KINDS
            continue
        try:
            public = public_from_text(signed["public_key"])
            signature = base64.b64decode(signed["signature"], validate=True)
            commitment = signed["commitment"]
        except (KeyError, TypeError, ValueError, binascii.Error, SignatureError):
            raise SignatureError(f"{where}: party signature is not readable") from None
        if key_id(public) != signed.get("key"):
            raise SignatureError(f"{where}: party signature's key id does not match its public key")
        registered = keys.get(signed["key"])
        if registered is None:
            raise SignatureError(f"{where}: signed with key {signed['key']}, which this record does not show registered")
        if registered["public_key"] != signed["public_key"] or registered["revoked"]:
            raise SignatureError(f"{where}: signed with a key that is {'revoked' if registered['revoked'] else 'not the one registered'}")
        party = (body.get("actor") or {}).get("party")
        if registered["party"] != party:
            raise SignatureError(f"{where}: signed with a key of {registered['party']}, not of {party}")
        if not verifies(public, signature, commitment):
            raise SignatureError(f"{where}: party signature does not verify (forged or altered)")
        mismatch = _mismatch(kind, payload, commitment, party)
        if mismatch:
            raise SignatureError(f"{where}: the signed commitment is not this entry's ({mismatch})")
        verified += 1
    return PartySignatureCheck(verified, unsigned)


def _mismatch(kind: str, payload: dict[str, Any], commitment: dict[str, Any], party: str | None) -> str:
    """Why ``commitment`` is not what the entry records ('' when it is)."""
    if commitment.get("party") != party:
        return f"party {commitment.get('party')!r}"
    if kind.startswith("hotline."):
        expected = message_commitment(party, payload.get("thread"), kind.removeprefix("hotline."), payload.get("text", ""),
                                      payload.get("proposal"), payload.get("reply_to"), commitment.get("answer_within"))
        for name in ("kind", "thread", "text", "proposal", "reply_to"):
            if commitment.get(name) != expected[name]:
                return name
        return ""
    if kind in ("plan.submitted", "plan.updated", "plan.deleted"):
        wanted = "plan.delete" if kind == "plan.deleted" else "plan.write"
        if commitment.get("kind") != wanted or commitment.get("plan") != payload.get("plan"):
            return "kind or plan"
        after = 0 if kind == "plan.submitted" else payload.get("version", 0) - 1
        if commitment.get("after_version") != after:
            return "version"
        if kind != "plan.deleted" and not payload.get("edit_refused") and \
                commitment.get("document_sha256") != payload.get("document_sha256"):
            return "document"
        return ""
    return f"a {kind} entry carries no commitment"
