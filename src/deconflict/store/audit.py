"""The tamper-evident audit record: a hash chain of canonical-JSON entries signed with Ed25519.

Each entry's body holds its time, kind, actor, the parties it concerns, for each such party the
hash of that party's previous entry (``links``), and the payload. Its hash is
``SHA-256(previous hash || canonical body)`` and the service signs that hash with its Ed25519 key.
Editing a body breaks its hash; deleting or reordering entries breaks the links (whole chain) or
the party's links (receipts); truncating the end is caught by the signed head that comes with every
download, and a party holding an earlier head proves a later download extends it (``since``).

What a party's receipts reveal of the others: nothing counted. No global sequence number and no
other party's count is in a body or a party's head (a running number would tell how busy the others
are); the links of the other parties in a shared entry are hashes. The one thing a party can tell is
whether some entry came between two of its own (its ``prev_hash`` is or is not its previous receipt).
Canonical JSON: sorted keys, no spaces, UTF-8, no NaN (RFC 8785 for the values we write: strings,
integers, finite floats, booleans, null, lists, objects).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from deconflict.errors import DeconflictError
from deconflict.store.schema import AuditEntry, AuditHead

GENESIS = "0" * 64
WHOLE_CHAIN = "*"


class AuditError(DeconflictError, ValueError):
    """An audit record that does not verify: names the entry and what is wrong."""


class ChainBroken(AuditError):
    """The stored chain went backwards or was rewritten under the service (entries removed, heads
    rewritten, an old backup restored): the service must not sign on top of it."""


class Witness:
    """The last chain head this service committed, kept outside the database (beside its key).

    Written after every commit (atomic replace; the database commits first, so the witness is never
    ahead of a durable chain). At start and before every append the stored head must extend it: a
    database rolled back or truncated and re-headed by someone without the key's host is refused.
    It cannot stop whoever holds the key's host too; that is what parties' held heads are for
    (`verify` with ``since``).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, Any] | None:
        try:
            value = json.loads(self.path.read_text())
            return {"seq": int(value["seq"]), "hash": str(value["hash"]),
                    "counts": {str(k): int(v) for k, v in value.get("counts", {}).items()}}
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise ChainBroken(f"audit witness {self.path}: unreadable; it was damaged or edited") from None

    def save(self, head: dict[str, Any]) -> None:
        partial = self.path.with_name(f"{self.path.name}.{os.getpid()}.partial")  # nodes sharing it never tear it
        partial.write_text(json.dumps(head, sort_keys=True, separators=(",", ":")))
        partial.chmod(0o600)
        partial.replace(self.path)


def canonical(value: Any) -> bytes:
    """Canonical JSON bytes of ``value`` (sorted keys, compact separators, UTF-8, finite numbers: a
    NaN or infinity is written as null)."""
    try:  # the common case: every number finite, no walk over the value needed
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except ValueError:
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

    def derive(self, label: str) -> bytes:
        """A 32-byte secret for ``label`` (e.g. the plan snapshot's HMAC key), known only to whoever holds
        this private key."""
        raw = self._private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                          serialization.NoEncryption())
        return hashlib.sha256(label.encode() + b"\0" + raw).digest()


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
    the head rows are read and updated in that transaction, and ``seq`` is a primary key).

    With a `Witness`, the log knows the last head committed (by this process or, through the
    witness, an earlier one) and refuses (`ChainBroken`) to append to a stored head that does not
    extend it; `committed` is called after each commit to move it forward.
    """

    def __init__(self, key: ServiceKey, witness: Witness | None = None) -> None:
        self.key = key
        self.witness = witness
        self._known = witness.load() if witness is not None else None

    def check_stored(self, session: Session) -> int:
        """Check the stored chain against the witness, walking the entries after it (all of them
        when there is none): links intact, nothing missing, heads consistent with the entries, the
        last entry signed by this key. Returns the number of entries walked. Raises `ChainBroken`."""
        known = self._known
        start = known["seq"] if known else 0
        expected = dict(known["counts"]) if known else {}
        prev, seq, last = (known["hash"] if known else GENESIS), start, None
        query = select(AuditEntry).where(AuditEntry.seq >= max(start, 1)).order_by(AuditEntry.seq)
        walked = 0
        for entry in session.scalars(query.execution_options(yield_per=5000)):
            if entry.seq == start and known is not None:
                if entry.hash != known["hash"]:
                    raise ChainBroken(f"audit chain: entry seq {start} is not the one this service signed "
                                      f"(witness {self.witness.path}): the chain was rewritten")
                last = entry
                continue
            if entry.seq != seq + 1:
                raise ChainBroken(f"audit chain: seq {seq + 1} is missing (next stored: {entry.seq})")
            if entry.prev_hash != prev or link_hash(prev, entry.body.encode()) != entry.hash:
                raise ChainBroken(f"audit chain: entry seq {entry.seq} does not link to the one before it (edited)")
            for party in entry.parties:
                expected[party] = expected.get(party, 0) + 1
            prev, seq, last, walked = entry.hash, entry.seq, entry, walked + 1
        if known is not None and known["seq"] > 0 and (last is None or seq < known["seq"]):  # seq 0: nothing signed yet
            ends = f"ends at seq {seq}" if last is not None else "has no entry from there on"
            raise ChainBroken(f"audit chain {ends}, behind the witness's seq {known['seq']} "
                              f"({self.witness.path}): entries were removed (truncated, or an old backup restored); "
                              f"refusing to sign on top of it. If this database was replaced on purpose, move the "
                              f"witness file away")
        heads = {h.scope: h for h in session.scalars(select(AuditHead))}
        chain = heads.get(WHOLE_CHAIN)
        stored = (chain.seq, chain.hash, chain.count) if chain is not None else (0, GENESIS, 0)
        if stored != (seq, prev, seq):
            raise ChainBroken(f"audit chain: the head row does not match the entries (last seq {seq})")
        for party, count in expected.items():
            head = heads.get(party)
            if head is None or head.count != count:
                raise ChainBroken(f"audit chain: {party}'s receipt count is {head.count if head else 0}, "
                                  f"the entries give {count} (rewritten)")
        if last is not None:
            try:
                self.key.public.verify(base64.b64decode(last.signature), last.hash.encode())
            except (InvalidSignature, ValueError):
                raise ChainBroken(f"audit chain: the last entry (seq {last.seq}) is not signed by this service's key") from None
        self._known = {"seq": seq, "hash": prev, "counts": {p: h.count for p, h in heads.items() if p != WHOLE_CHAIN}}
        if self.witness is not None:
            self.witness.save(self._known)
        return walked

    def _check_extends(self, session: Session, chain: AuditHead | None) -> None:
        """The stored head must extend the last head this process knows was committed."""
        known = self._known
        if known is None:
            return
        seq, digest = (chain.seq, chain.hash) if chain is not None else (0, GENESIS)
        if seq < known["seq"] or (seq == known["seq"] and digest != known["hash"]):
            raise ChainBroken(f"audit chain: the stored head (seq {seq}) does not extend the "
                              f"last one committed (seq {known['seq']}); refusing to write on a rewritten chain")
        if seq > known["seq"] and known["seq"] > 0:  # another process (an admin command) appended: it must extend ours
            entry = session.get(AuditEntry, known["seq"])
            if entry is None or entry.hash != known["hash"]:
                raise ChainBroken(f"audit chain: entry seq {known['seq']} was rewritten; refusing to write")

    def committed(self, session: Session) -> None:
        """After a commit: the chain's new head is the one to extend (and the witness says so)."""
        written = session.info.pop("audit_written", None)
        if written is None:
            return
        seq, digest, counts = written
        base = self._known["counts"] if self._known else {}
        self._known = {"seq": seq, "hash": digest, "counts": {**base, **counts}}
        if self.witness is not None:
            self.witness.save(self._known)

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
            if WHOLE_CHAIN in unread:
                self._check_extends(session, heads[WHOLE_CHAIN])
        chain = heads.get(WHOLE_CHAIN)
        seq = 1 if chain is None else chain.seq + 1
        prev = GENESIS if chain is None else chain.hash
        links = {p: (heads[p].hash if heads[p] is not None else GENESIS) for p in scope}
        body = canonical({"time": round(float(time), 6), "kind": kind, "actor": actor,
                          "parties": scope, "links": links, "payload": payload})
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
        session.info["audit_written"] = (seq, digest, {p: heads[p].count for p in heads if p != WHOLE_CHAIN})
        return entry

    def signed_head(self, session: Session, scope: str, time: float) -> tuple[dict[str, Any], int]:
        """A signed statement of how many entries ``scope`` has and the last one's hash, so that a
        download cut short at the end is detected; and (not in the statement) the last entry's seq."""
        head = session.get(AuditHead, scope)
        statement = {"scope": scope, "count": head.count if head else 0,
                     "hash": head.hash if head else GENESIS, "time": round(float(time), 6)}
        digest = hashlib.sha256(canonical(statement)).hexdigest()
        return {**statement, "signature": self.key.sign(digest)}, (head.seq if head else 0)


def entry_record(entry: AuditEntry) -> dict[str, Any]:
    """An entry as downloaded (one JSON line): the body as hashed, its link and signature."""
    return {"body": entry.body, "prev_hash": entry.prev_hash, "hash": entry.hash, "signature": entry.signature}


@dataclass(frozen=True)
class Verified:
    """What a verification established: entries checked and the scope they cover."""

    scope: str
    entries: int


def verify(records: list[dict[str, Any]], head: dict[str, Any] | None, key: Ed25519PublicKey,
           since: dict[str, Any] | None = None) -> Verified:
    """Check a whole chain (head scope ``*``) or a party's receipts against the service's public key.

    Raises `AuditError` naming the first entry (by position) that was edited, removed, reordered or
    not signed by the key, or a head that is missing or does not match the records (without the
    signed head a record cut short at the end could not be detected).

    ``since``: a signed head of the same scope held from an earlier download. The record must extend
    it (append-only, as a transparency log's consistency check): its entry number ``since.count``
    is the one that head named. A record truncated and re-signed by the service's operator does not.
    """
    if head is None:
        raise AuditError("no signed head line; a record cut short at the end could not be detected")
    _check_head_signature(head, key, "head")
    if since is not None:
        _check_head_signature(since, key, "earlier head")
        if since.get("scope") != head.get("scope"):
            raise AuditError(f"earlier head: its scope is {since.get('scope')!r}, this record's is {head.get('scope')!r}")
    scope = head["scope"]
    whole = scope == WHOLE_CHAIN
    hashes: list[str] = []  # of the scope's entries, in order
    last = GENESIS
    for position, record in enumerate(records, start=1):
        where = f"entry {position}"
        try:
            body_text, prev, digest, signature = (record["body"], record["prev_hash"], record["hash"],
                                                  record["signature"])
            body = json.loads(body_text)
            parties = body["parties"]
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
        if whole:
            if prev != last:
                raise AuditError(f"{where}: does not link to the entry before it (an entry was removed or moved)")
        else:
            if scope not in parties:
                raise AuditError(f"{where}: does not concern {scope}")
            if "links" in body:
                if body["links"].get(scope) != last:
                    raise AuditError(f"{where}: does not follow {scope}'s previous receipt (an entry was removed "
                                     f"or moved)")
            elif body.get("receipts", {}).get(scope) != len(hashes) + 1:  # records written before links
                raise AuditError(f"{where}: {scope}'s receipt number is {body.get('receipts', {}).get(scope)}, "
                                 f"expected {len(hashes) + 1} (an entry was removed or moved)")
        hashes.append(digest)
        last = digest
    if head["count"] != len(hashes) or head["hash"] != last:
        raise AuditError(f"head: says {head['count']} entries, the records hold {len(hashes)} or end elsewhere "
                         f"(entries removed at the end)")
    if since is not None:
        held = since["count"]
        found = GENESIS if held == 0 else (hashes[held - 1] if 0 < held <= len(hashes) else None)
        if found != since["hash"]:
            raise AuditError(f"the record does not extend the earlier head (entry {held}): entries were removed "
                             f"or rewritten since it was signed")
    return Verified(scope=scope, entries=len(hashes))


def _check_head_signature(head: dict[str, Any], key: Ed25519PublicKey, what: str) -> None:
    try:
        statement = {k: head[k] for k in ("scope", "count", "hash", "time")}
        key.verify(base64.b64decode(head["signature"]), hashlib.sha256(canonical(statement)).hexdigest().encode())
    except (InvalidSignature, ValueError, KeyError, TypeError):
        raise AuditError(f"{what}: signature does not verify with the service key") from None


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
