"""A restart reads the plan index from its snapshot and the plans written after it (issue 18: start-up
with 100,000 plans under 2 s), never from a snapshot that is not genuine or not this database's."""

from __future__ import annotations

import pytest

from deconflict.service.deconfliction import Deconfliction
from tests.service.builders import plan


def _restart(world) -> Deconfliction:
    return Deconfliction(world.service.settings, clock=world.clock)


def _keys(service) -> set[str]:
    return set(dict.keys(service.plans._plans))


def test_a_clean_restart_reads_the_snapshot_and_its_index_finds_conflicts(sqlite_world):
    w = sqlite_world
    for k in range(5):
        assert w["alpha_op"].post("/v1/plans", json=plan(f"A{k}", lon=5.0 + k)).status_code == 201
    before = _keys(w.service)
    w.service.close()
    assert w.service.settings.snapshot_path.exists()
    again = _restart(w)
    try:
        assert again.plan_book.restored and _keys(again) == before
        from deconflict.service.auth import Principal, Role

        bravo = Principal(2, "bravo op", "bravo", Role.OPERATOR)
        answer = again.submit_plan(bravo, plan("B", lon=5.02))
        assert [c["volume"]["properties"]["alt_lower"] for c in answer["conflicts"]] and answer["accepted"]
    finally:
        again.close()


def test_plans_written_and_deleted_after_the_snapshot_are_followed(sqlite_world):
    """A crash after the snapshot: the plans written since are read from the audit tail."""
    w = sqlite_world
    w["alpha_op"].post("/v1/plans", json=plan("OLD"))
    w["alpha_op"].post("/v1/plans", json=plan("GONE", lon=7.0))
    w.service.save_snapshot()
    w["alpha_op"].post("/v1/plans", json=plan("NEW", lon=6.0))
    version = w["alpha_op"].get("/v1/plans/alpha/GONE").headers["etag"]
    w["alpha_op"].delete("/v1/plans/alpha/GONE", headers={"If-Match": version})
    w.service.stop()
    w.service.lease.release()  # as a killed process would (no snapshot at close)
    again = _restart(w)
    try:
        assert again.plan_book.restored and _keys(again) == {"alpha/OLD", "alpha/NEW"}
    finally:
        again.close()


@pytest.mark.parametrize("spoil", ["tampered", "another database"])
def test_a_snapshot_that_is_not_genuine_or_not_this_databases_is_not_used(sqlite_world, spoil, tmp_path):
    w = sqlite_world
    w["alpha_op"].post("/v1/plans", json=plan("A"))
    w.service.close()
    path = w.service.settings.snapshot_path
    blob = bytearray(path.read_bytes())
    if spoil == "tampered":  # one byte of the pickled index changed: the HMAC fails before anything is unpickled
        blob[-10] ^= 0xFF
        path.write_bytes(bytes(blob))
    else:  # the database rewound under it (a backup restored): its entry is not there
        mac, header, data = bytes(blob).split(b"\n", 2)
        import hashlib
        import hmac as hmac_module
        import json

        meta = json.loads(header)
        meta["seq"] += 1000
        header = json.dumps(meta).encode()
        secret = w.service.key.derive("deconflict plan index snapshot")
        mac = hmac_module.new(secret, header + b"\n" + data, hashlib.sha256).hexdigest().encode()
        path.write_bytes(mac + b"\n" + header + b"\n" + data)
    again = _restart(w)
    try:
        assert not again.plan_book.restored and _keys(again) == {"alpha/A"}  # rebuilt from the stored plans
    finally:
        again.close()


def test_only_the_leader_writes_the_snapshot(sqlite_world):
    """A standby's index follows the leader outside the write lock: a snapshot of it could claim an
    audit entry its index has not reached, and a restart would then miss plans."""
    w = sqlite_world
    w["alpha_op"].post("/v1/plans", json=plan("A"))
    standby = _restart(w)  # the world's service still leads
    try:
        assert standby.role == "standby"
        path = w.service.settings.snapshot_path
        path.unlink(missing_ok=True)
        standby.save_snapshot()
        assert not path.exists()
        w.service.save_snapshot()
        assert path.exists()
    finally:
        standby.close()
