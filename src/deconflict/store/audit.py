"""The tamper-evident audit record: a hash chain of canonical-JSON entries signed with Ed25519.

Each entry's body holds its sequence number, time, kind, actor, the parties it concerns, each
such party's own running count (``receipts``) and the payload. Its hash is
``SHA-256(previous hash || canonical body)`` and the service signs that hash with its Ed25519 key.
Editing a body breaks its hash; deleting or reordering entries breaks the links (whole chain) or
the party's running counts (receipts); truncating the end is caught by the signed head that comes
with every download. Canonical JSON: sorted keys, no spaces, UTF-8, no NaN (RFC 8785 for the
values we write: strings, integers, finite floats, booleans, null, lists, objects).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from deconflict.store.schema import AuditEntry, AuditHead

GENESIS = "0" * 64
WHOLE_CHAIN = "*"


class AuditError(ValueError):
    """An audit record that does not verify: names the entry and what is wrong."""


def canonical(value: Any) -> bytes:
    """Canonical JSON bytes of ``value`` (sorted keys, compact separators, UTF-8, finite numbers)."""
    return json.dumps(_finite(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def link_hash(prev_hash: str, body: bytes) -> str:
    """Hex SHA-256 of the previous entry's hex hash followed by this entry's canonical body."""
    return hashlib.sha256(prev_hash.encode() + body).hexdigest()


class ServiceKey:
    """The service's Ed25519 signing key (private key PEM file, created on first use, mode 0600)."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = private.public_key()

    @classmethod
    def load_or_create(cls, path: str | Path) -> "ServiceKey":
        path = Path(path)
        if path.exists():
            try:
                key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            except ValueError as error:
                raise AuditError(f"{path}: not an Ed25519 private key in PEM ({error})") from None
            if not isinstance(key, Ed25519PrivateKey):
                raise AuditError(f"{path}: not an Ed25519 private key")
            return cls(key)
        key = Ed25519PrivateKey.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        return cls(key)

    def sign(self, digest: str) -> str:
        return base64.b64encode(self._private.sign(digest.encode())).decode()

    def public_pem(self) -> str:
        return public_pem(self.public)


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public_key(pem: str | bytes, source: str = "public key") -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    except ValueError:
        raise AuditError(f"{source}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AuditError(f"{source}: not an Ed25519 public key")
    return key


class AuditLog:
    """Appends entries to the chain inside the caller's transaction (one writer process at a time:
    the head rows are read and updated in that transaction, and ``seq`` is a primary key)."""

    def __init__(self, key: ServiceKey) -> None:
        self.key = key

    def append(self, session: Session, time: float, kind: str, actor: dict[str, Any], parties: Iterable[str],
               payload: dict[str, Any]) -> AuditEntry:
        """Add one entry concerning ``parties`` (sorted, deduplicated; empty: the cell only)."""
        scope = sorted({p for p in parties if p})
        heads = session.info.setdefault("audit_heads", {})  # head rows read once per transaction
        unread = [name for name in (WHOLE_CHAIN, *scope) if name not in heads]
        if unread:
            found = {h.scope: h for h in session.scalars(
                select(AuditHead).where(AuditHead.scope.in_(unread)).with_for_update())}
            for name in unread:
                heads[name] = found.get(name)
        chain = heads.get(WHOLE_CHAIN)
        seq = 1 if chain is None else chain.seq + 1
        prev = GENESIS if chain is None else chain.hash
        receipts = {p: (heads[p].count + 1 if heads[p] is not None else 1) for p in scope}
        body = canonical({"seq": seq, "time": round(float(time), 6), "kind": kind, "actor": actor,
                          "parties": scope, "receipts": receipts, "payload": payload})
        digest = link_hash(prev, body)
        entry = AuditEntry(seq=seq, body=body.decode(), parties=scope, prev_hash=prev, hash=digest,
                           signature=self.key.sign(digest))
        session.add(entry)
        for name in [WHOLE_CHAIN, *scope]:
            head = heads.get(name)
            if head is None:
                heads[name] = AuditHead(scope=name, count=1, seq=seq, hash=digest)
                session.add(heads[name])
            else:
                head.count, head.seq, head.hash = head.count + 1, seq, digest
        return entry

    def signed_head(self, session: Session, scope: str, time: float) -> dict[str, Any]:
        """A signed statement of how many entries ``scope`` has and the last one, so that a download
        cut short at the end is detected."""
        head = session.get(AuditHead, scope)
        statement = {"scope": scope, "count": head.count if head else 0, "seq": head.seq if head else 0,
                     "hash": head.hash if head else GENESIS, "time": round(float(time), 6)}
        digest = hashlib.sha256(canonical(statement)).hexdigest()
        return {**statement, "signature": self.key.sign(digest)}


def entry_record(entry: AuditEntry) -> dict[str, Any]:
    """An entry as downloaded (one JSON line): the body as hashed, its link and signature."""
    return {"body": entry.body, "prev_hash": entry.prev_hash, "hash": entry.hash, "signature": entry.signature}


@dataclass(frozen=True)
class Verified:
    """What a verification established: entries checked and the scope they cover."""

    scope: str
    entries: int
    last_seq: int


def verify(records: list[dict[str, Any]], head: dict[str, Any] | None, key: Ed25519PublicKey) -> Verified:
    """Check a whole chain (head scope ``*``) or a party's receipts against the service's public key.

    Raises `AuditError` naming the first entry (by position and seq) that was edited, removed,
    reordered or not signed by the key, or a head that is missing or does not match the records
    (without the signed head a record cut short at the end could not be detected).
    """
    if head is None:
        raise AuditError("no signed head line; a record cut short at the end could not be detected")
    scope = head["scope"]
    whole = scope == WHOLE_CHAIN
    prev_seq, count = 0, 0
    expected_prev = GENESIS
    last_hash = GENESIS
    for position, record in enumerate(records, start=1):
        where = f"entry {position}"
        try:
            body_text, prev, digest, signature = (record["body"], record["prev_hash"], record["hash"],
                                                  record["signature"])
            body = json.loads(body_text)
            seq = body["seq"]
            where = f"entry {position} (seq {seq})"
        except (KeyError, TypeError, ValueError):
            raise AuditError(f"{where}: not an audit record (body, prev_hash, hash, signature)") from None
        if canonical(body).decode() != body_text:
            raise AuditError(f"{where}: body is not in canonical form (edited)")
        if link_hash(prev, body_text.encode()) != digest:
            raise AuditError(f"{where}: hash does not match its body and link (edited)")
        try:
            key.verify(base64.b64decode(signature), digest.encode())
        except (InvalidSignature, ValueError):
            raise AuditError(f"{where}: signature does not verify with the service key") from None
        if seq <= prev_seq:
            raise AuditError(f"{where}: out of order after seq {prev_seq} (reordered)")
        if whole:
            if seq != prev_seq + 1 or prev != expected_prev:
                raise AuditError(f"{where}: does not link to the entry before it (an entry was removed or moved)")
        else:
            if scope not in body.get("parties", []):
                raise AuditError(f"{where}: does not concern {scope}")
            if body["receipts"].get(scope) != count + 1:
                raise AuditError(f"{where}: {scope}'s receipt number is {body['receipts'].get(scope)}, "
                                 f"expected {count + 1} (an entry was removed or moved)")
        prev_seq, count, expected_prev, last_hash = seq, count + 1, digest, digest
    statement = {k: head[k] for k in ("scope", "count", "seq", "hash", "time")}
    try:
        key.verify(base64.b64decode(head["signature"]), hashlib.sha256(canonical(statement)).hexdigest().encode())
    except (InvalidSignature, ValueError, KeyError):
        raise AuditError("head: signature does not verify with the service key") from None
    if head["count"] != count or head["seq"] != prev_seq or head["hash"] != last_hash:
        raise AuditError(f"head: says {head['count']} entries up to seq {head['seq']}, the records hold "
                         f"{count} up to seq {prev_seq} (entries removed at the end)")
    return Verified(scope=scope, entries=count, last_seq=prev_seq)


def read_records(path: str | Path) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Read a downloaded record file (see `parse_records`); OSError: the caller names the file."""
    return parse_records(Path(path).read_text(), str(path))


def parse_records(text: str, source: str = "record") -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """A downloaded record (JSON lines: entries, then optionally a ``{"head": ...}`` line) as its
    entries and its head, ready for `verify`."""
    records, head = [], None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            raise AuditError(f"{source}: line {number}: not JSON") from None
        if isinstance(value, dict) and "head" in value:
            head = value["head"]
        elif isinstance(value, dict):
            records.append(value)
        else:
            raise AuditError(f"{source}: line {number}: expected a JSON object")
    return records, head
