"""The audit chain under tampering: every edit, deletion, reordering or truncation is detected."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from deconflict.cli import main
from deconflict.store.audit import AuditError, AuditLog, ServiceKey, canonical, entry_record, public_pem, verify
from deconflict.store.database import migrate
from deconflict.store.schema import AuditEntry


@pytest.fixture
def chain(tmp_path):
    """A chain of 12 entries over parties alpha and bravo, downloaded as records with heads."""
    key = ServiceKey.load_or_create(tmp_path / "k.pem")
    engine = create_engine(f"sqlite:///{tmp_path / 'a.db'}")
    migrate(engine)
    log = AuditLog(key)
    scopes = [("alpha",), ("bravo",), ("alpha", "bravo"), ()] * 3
    with Session(engine) as session, session.begin():
        for k, scope in enumerate(scopes):
            log.append(session, 1000.0 + k, "test", {"member": 1}, scope, {"k": k, "text": f"entry {k}", "x": 0.1 * k})
    with Session(engine) as session:
        entries = [entry_record(e) for e in session.query(AuditEntry).order_by(AuditEntry.seq)]
        heads = {s: log.signed_head(session, s, 2000.0)[0] for s in ("*", "alpha", "bravo")}
    return key, entries, heads


def _receipts(entries, party):
    return [e for e in entries if party in json.loads(e["body"])["parties"]]


def test_untouched_chain_and_receipts_verify(chain):
    key, entries, heads = chain
    assert verify(entries, heads["*"], key.public).entries == 12
    assert verify(_receipts(entries, "alpha"), heads["alpha"], key.public).entries == 6
    assert verify(_receipts(entries, "bravo"), heads["bravo"], key.public).entries == 6
    with pytest.raises(AuditError, match="no signed head"):
        verify(entries, None, key.public)  # without the head, a cut-off end would pass


def _edit_text(record):
    body = json.loads(record["body"])
    body["payload"]["text"] = "changed"
    return {**record, "body": canonical(body).decode()}


def _rehash(record, prev):
    from deconflict.store.audit import link_hash

    return {**record, "prev_hash": prev, "hash": link_hash(prev, record["body"].encode())}


@pytest.mark.parametrize("scope", ["*", "alpha"])
def test_every_kind_of_tampering_is_detected(chain, scope, tmp_path):
    key, entries, heads = chain
    records = entries if scope == "*" else _receipts(entries, scope)
    head = heads[scope]
    edited = list(records)
    edited[2] = _edit_text(edited[2])
    rehashed = list(records)
    rehashed[2] = _rehash(_edit_text(rehashed[2]), rehashed[2]["prev_hash"])  # an editor without the key
    spaced = list(records)
    spaced[1] = {**spaced[1], "body": spaced[1]["body"].replace(",", ", ", 1)}
    tampering = {
        "edited body": edited,
        "edited and rehashed": rehashed,
        "not canonical": spaced,
        "deleted": records[:3] + records[4:],
        "reordered": records[:2] + [records[3], records[2]] + records[4:],
        "truncated": records[:-1],
        "duplicated": records[:3] + [records[2]] + records[3:],
    }
    for what, changed in tampering.items():
        with pytest.raises(AuditError):
            verify(changed, head, key.public)
            pytest.fail(f"{what} not detected")
    other = ServiceKey.load_or_create(tmp_path / "other.pem")
    with pytest.raises(AuditError, match="signature"):
        verify(records, head, other.public)


def test_audit_verify_command(chain, tmp_path, capsys):
    key, entries, heads = chain
    (tmp_path / "service.pub").write_text(public_pem(key.public))
    good = tmp_path / "alpha.jsonl"
    good.write_text("".join(json.dumps(r) + "\n" for r in _receipts(entries, "alpha")) + json.dumps({"head": heads["alpha"]}) + "\n")
    with pytest.raises(SystemExit) as done:
        main(["audit", "verify", str(good), "--key", str(tmp_path / "service.pub")])
    assert done.value.code == 0
    assert "receipts of alpha, 6 entries" in capsys.readouterr().out
    lines = good.read_text().splitlines()
    del lines[3]
    bad = tmp_path / "cut.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(SystemExit) as done:
        main(["audit", "verify", str(bad), "--key", str(tmp_path / "service.pub")])
    assert done.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("TAMPERED") and "entry 4" in err and "removed" in err
    with pytest.raises(SystemExit) as done:
        main(["audit", "verify", str(tmp_path / "missing.jsonl"), "--key", str(tmp_path / "service.pub")])
    assert done.value.code == 2 and "missing.jsonl" in capsys.readouterr().err


def _write(path, records, head):
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + json.dumps({"head": head}) + "\n")
    return str(path)


def test_audit_verify_since_an_earlier_head(chain, tmp_path, capsys):
    """A party that kept an earlier download proves a later one only appends (a transparency log's check)."""
    key, entries, heads = chain
    pub = tmp_path / "service.pub"
    pub.write_text(public_pem(key.public))
    alpha = _receipts(entries, "alpha")
    early = tmp_path / "early.jsonl"
    early_head = {k: v for k, v in heads["alpha"].items()}
    # the head alpha would have held after 4 of its 6 receipts, signed by the service
    import hashlib

    statement = {"scope": "alpha", "count": 4, "hash": alpha[3]["hash"], "time": 1500.0}
    early_head = {**statement, "signature": key.sign(hashlib.sha256(canonical(statement)).hexdigest())}
    _write(early, alpha[:4], early_head)
    later = _write(tmp_path / "later.jsonl", alpha, heads["alpha"])
    with pytest.raises(SystemExit) as done:
        main(["audit", "verify", later, "--key", str(pub), "--since", str(early)])
    assert done.value.code == 0 and "extends" in capsys.readouterr().out
    # the operator rewrote alpha's 3rd receipt and re-signed everything with the key: self-consistent,
    # but not what alpha held
    forged_body = json.loads(alpha[2]["body"])
    forged_body["payload"]["text"] = "rewritten"
    from deconflict.store.audit import link_hash

    forged = list(alpha)
    body = canonical(forged_body).decode()
    digest = link_hash(alpha[2]["prev_hash"], body.encode())
    forged[2] = {"body": body, "prev_hash": alpha[2]["prev_hash"], "hash": digest, "signature": key.sign(digest)}
    with pytest.raises(AuditError, match="does not extend"):
        verify(forged[:3], {**statement, "count": 3, "hash": digest,
                            "signature": key.sign(hashlib.sha256(canonical(
                                {**statement, "count": 3, "hash": digest})).hexdigest())},
               key.public, since=early_head)


def test_audit_verify_a_malformed_head_is_one_line(chain, tmp_path, capsys):
    key, entries, heads = chain
    pub = tmp_path / "service.pub"
    pub.write_text(public_pem(key.public))
    broken = _write(tmp_path / "broken.jsonl", _receipts(entries, "alpha"), {"scope": "alpha"})
    with pytest.raises(SystemExit) as done:
        main(["audit", "verify", broken, "--key", str(pub)])
    assert done.value.code == 1 and capsys.readouterr().err.count("\n") == 1
    no_head = tmp_path / "nohead.jsonl"
    no_head.write_text("".join(json.dumps(r) + "\n" for r in _receipts(entries, "alpha")))
    with pytest.raises(SystemExit) as done:
        main(["audit", "verify", broken, "--key", str(pub), "--since", str(no_head)])
    assert done.value.code == 2 and "no head line" in capsys.readouterr().err
