"""A hostile party and faults against a running service (issue 12): nobody blinds anyone, no fault
makes a conflict disappear. Every case runs on SQLite and on PostgreSQL (the ``world`` fixture)."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
from sqlalchemy import delete, event, select, update

from deconflict.service.app import create_app
from deconflict.service.background import BackgroundServer
from deconflict.service.deconfliction import Deconfliction
from deconflict.service.settings import ServiceSettings
from deconflict.store.audit import AuditError, load_public_key, parse_records, verify
from deconflict.store.schema import AuditEntry, AuditHead, TacticalConflict
from tests.servers import free_port
from tests.service.answers import documented
from tests.service.builders import head_on, tracks
from tests.service.conftest import T0, make_world


class FailingCommits:
    """Fault injection: the next ``count`` commits on ``engine`` fail (a full disk, a lost connection)."""

    def __init__(self, engine, count: int = 1) -> None:
        self.engine, self.left = engine, count

    def _fail(self, connection) -> None:  # noqa: ANN001
        if self.left > 0:
            self.left -= 1
            raise OSError(28, "No space left on device (injected)")

    def __enter__(self) -> "FailingCommits":
        event.listen(self.engine, "commit", self._fail)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "commit", self._fail)


def _tactical(world, member: str = "cell") -> list[dict]:
    return world[member].get("/v1/conflicts").json()["tactical"]


def _stored_open(world) -> list[tuple[str, str]]:
    with world.service.Session() as session:
        return [(r.a, r.b) for r in session.scalars(select(TacticalConflict).where(TacticalConflict.cleared.is_(None)))]


# -- 1. a failed commit never makes a conflict disappear -------------------------------------------

def test_a_conflict_whose_first_write_fails_is_raised_by_the_next_good_cycle(world):
    mine, theirs = head_on()
    world["alpha_op"].post("/v1/tracks", json=tracks(mine))
    world["bravo_op"].post("/v1/tracks", json=tracks(theirs))
    with FailingCommits(world.service.engine, count=10):
        with pytest.raises(Exception):
            world.service.detect_now()
    assert _tactical(world) == [] and _stored_open(world) == []  # shown follows committed
    world.clock.advance(1)
    world.service.detect_now()
    shown = _tactical(world)
    assert [(c["a"], c["b"]) for c in shown] == [("a1", "b1")]
    assert _stored_open(world) == [("a1", "b1")]


def test_with_a_confirming_filter_a_failed_raise_is_retried(tmp_path, database):
    w = make_world(database, tmp_path, alert_m=2, alert_n=3, alert_immediate=None)
    with w.clients["cell"]:
        mine, theirs = head_on()
        mine, theirs = {**mine, "lon": 4.5}, {**theirs}  # corrective, not a warning: needs 2 of 3
        for t in (0, 1, 2, 3):
            w["alpha_op"].post("/v1/tracks", json=tracks({**mine, "time": T0 + t, "lon": 4.5 + 0.0026 * t}))
            w["bravo_op"].post("/v1/tracks", json=tracks({**theirs, "time": T0 + t, "lon": 5.2 - 0.0026 * t}))
            w.clock.time = T0 + t
            if t == 1:
                with FailingCommits(w.service.engine, count=10), pytest.raises(Exception):
                    w.service.detect_now()
            else:
                w.service.detect_now()
        assert [(c["a"], c["b"]) for c in _tactical(w)] == [("a1", "b1")]
    w.service.close()


def test_a_control_character_in_an_id_is_a_bad_row_and_blinds_nobody(world):
    mine, theirs = head_on()
    answer = world["bravo_op"].post("/v1/tracks", json=tracks(theirs, {**theirs, "icao24": "x\x1fy", "lat": 46.0},
                                                              {**theirs, "icao24": "nul\x00", "lat": 47.0})).json()
    assert answer["accepted"] == 1 and answer["rejected"] == 2
    assert any("control character" in e for e in answer["examples"])
    world["alpha_op"].post("/v1/tracks", json=tracks(mine))
    world.service.detect_now()
    assert [(c["a"], c["b"]) for c in _tactical(world)] == [("a1", "b1")]


def test_a_cell_feed_with_a_label_that_is_no_party_id_is_a_bad_row(world):
    mine, theirs = head_on()
    answer = world["cell"].post("/v1/tracks", json=tracks({**mine, "party": "alpha"},
                                                          {**theirs, "party": "p" * 40})).json()
    assert answer["rejected"] == 1 and "party" in answer["examples"][0]
    world.service.detect_now()  # and the cycle commits
    assert world["cell"].get("/v1/tracks").json()[0]["icao24"] == "a1"


# -- 2. tracks belong to the party that reports them --------------------------------------------

def test_another_partys_address_stamped_ahead_hides_nothing(world):
    mine, theirs = head_on()
    world["alpha_op"].post("/v1/tracks", json=tracks(mine))
    world["bravo_op"].post("/v1/tracks", json=tracks(theirs))
    world.service.detect_now()
    assert len(_tactical(world)) == 1
    lie = {**mine, "time": T0 + 86400, "lat": -40.0, "lon": 100.0}
    answer = world["bravo_op"].post("/v1/tracks", json=tracks(lie)).json()
    assert answer["rejected"] == 1 and "future" in answer["examples"][0]
    lie_now = {**mine, "time": T0 + 0.5, "lat": -40.0, "lon": 100.0}  # bravo's "a1", elsewhere, now
    assert world["bravo_op"].post("/v1/tracks", json=tracks(lie_now)).json()["accepted"] == 1
    world.clock.advance(1)
    world.service.detect_now()
    shown = _tactical(world)
    assert [(c["a"], c["party_a"], c["b"], c["party_b"]) for c in shown] == [("a1", "alpha", "b1", "bravo")]
    own = [t for t in world["alpha_op"].get("/v1/tracks").json() if not t.get("intruder")]
    assert [(t["icao24"], t["lat"]) for t in own] == [("a1", 45.0)]
    cell = world["cell"].get("/v1/tracks").json()
    assert sorted((t["party"], t["icao24"]) for t in cell) == [("alpha", "a1"), ("bravo", "a1"), ("bravo", "b1")]


def test_the_same_address_from_two_parties_is_two_tracks_and_the_cell_is_told(world):
    mine, theirs = head_on()
    world["alpha_op"].post("/v1/tracks", json=tracks(mine))
    world["bravo_op"].post("/v1/tracks", json=tracks(theirs, {**mine, "lat": 45.0001}))  # bravo sees a1 too
    world.service.detect_now()
    shown = _tactical(world)
    assert [(c["a"], c["b"]) for c in shown] == [("a1", "b1")]  # the pair a1/a1 is one aircraft, not a conflict
    clashes = world["cell"].get("/v1/tracks/clashes").json()
    documented(world["cell"], "GET", "/v1/tracks/clashes", world["cell"].get("/v1/tracks/clashes"))
    assert [(c["icao24"], sorted(c["parties"])) for c in clashes] == [("a1", ["alpha", "bravo"])]
    assert world["alpha_op"].get("/v1/tracks/clashes").status_code == 403


def test_a_partys_clock_glitch_does_not_hide_its_own_aircraft(world):
    mine, theirs = head_on()
    world["alpha_op"].post("/v1/tracks", json=tracks(mine))
    world["bravo_op"].post("/v1/tracks", json=tracks(theirs))
    answer = world["alpha_op"].post("/v1/tracks", json=tracks({**mine, "time": T0 + 3600})).json()
    assert answer["rejected"] == 1 and "future" in answer["examples"][0]
    world.clock.advance(2)
    world.service.detect_now()
    assert [(c["a"], c["b"]) for c in _tactical(world)] == [("a1", "b1")]


def test_rows_a_few_seconds_ahead_are_accepted(world):
    mine, _ = head_on()
    answer = world["alpha_op"].post("/v1/tracks", json=tracks({**mine, "time": T0 + 4})).json()
    assert answer["accepted"] == 1


# -- 3. revocation ends open event streams ------------------------------------------------------

def test_a_revoked_members_open_event_stream_ends(database, tmp_path):
    w = make_world(database, tmp_path)
    received, ended = [], threading.Event()
    with BackgroundServer(create_app(w.service, run_detection=False), port=free_port()) as url:
        def listen() -> None:
            headers = {"Authorization": f"Bearer {w.tokens['bravo_obs']}"}
            try:
                with httpx.stream("GET", f"{url}/v1/events", headers=headers, timeout=30) as stream:
                    for line in stream.iter_lines():
                        received.append(line)
            except httpx.HTTPError:
                pass
            ended.set()

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        time.sleep(0.5)
        member = next(m["id"] for m in w.service.members() if m["name"] == "bravo_obs")
        w.service.revoke_member(member)
        mine, theirs = head_on()
        httpx.post(f"{url}/v1/tracks", json=tracks(mine), headers={"Authorization": f"Bearer {w.tokens['alpha_op']}"})
        httpx.post(f"{url}/v1/tracks", json=tracks(theirs), headers={"Authorization": f"Bearer {w.tokens['bravo_op']}"})
        w.service.detect_now()
        assert ended.wait(5), "the revoked member's stream is still open"
        assert not any("conflict.raised" in line for line in received)
    w.service.close()


def test_a_revocation_by_another_process_ends_the_stream_within_the_token_cache(database, tmp_path):
    w = make_world(database, tmp_path, token_cache=0.5)
    ended = threading.Event()
    with BackgroundServer(create_app(w.service, run_detection=False), port=free_port()) as url:
        def listen() -> None:
            try:
                with httpx.stream("GET", f"{url}/v1/events", headers={"Authorization": f"Bearer {w.tokens['bravo_op']}"},
                                  timeout=30) as stream:
                    for _ in stream.iter_lines():
                        pass
            except httpx.HTTPError:
                pass
            ended.set()

        threading.Thread(target=listen, daemon=True).start()
        time.sleep(0.5)
        admin = Deconfliction(w.service.settings, serving=False)  # `deconflict admin revoke` elsewhere
        admin.revoke_member(next(m["id"] for m in admin.members() if m["name"] == "bravo_op"))
        admin.close()
        assert ended.wait(10), "the stream outlived the revocation"
    w.service.close()


# -- 5. the record is append-only, and the service checks its own chain ---------------------------

def _truncate_and_reforge(service: Deconfliction, keep: int) -> None:
    """What an operator with database access would do: drop the last entries, rewrite the heads."""
    with service.engine.begin() as connection:
        connection.execute(delete(AuditEntry).where(AuditEntry.seq > keep))
        last = connection.execute(select(AuditEntry).where(AuditEntry.seq == keep)).one()
        entries = connection.execute(select(AuditEntry.seq, AuditEntry.parties, AuditEntry.hash)
                                     .order_by(AuditEntry.seq)).all()
        counts: dict[str, tuple[int, int, str]] = {}
        for seq, parties, digest in entries:
            for party in parties:
                counts[party] = (counts.get(party, (0,))[0] + 1, seq, digest)
        connection.execute(update(AuditHead).where(AuditHead.scope == "*").values(count=keep, seq=keep, hash=last.hash))
        for party, (number, seq, digest) in counts.items():
            connection.execute(update(AuditHead).where(AuditHead.scope == party).values(count=number, seq=seq, hash=digest))


def test_a_truncated_and_reforged_chain_is_refused_at_start(world, tmp_path):
    world["alpha_op"].post("/v1/threads", json={"parties": ["bravo"], "subject": "one"})
    before = world["cell"].get("/v1/audit/chain").text
    old_head = parse_records(before)[1]
    _truncate_and_reforge(world.service, old_head["count"] - 1)  # the whole chain's count is its last seq
    world.service.lease.release()  # the service is started again on the rewritten database ...
    with pytest.raises(AuditError, match="witness"):
        Deconfliction(world.service.settings, clock=world.clock)
    assert world.service.lease.try_acquire(world.clock.now())  # ... refused: the old process leads again
    # the running service notices too: it refuses to write on a head that went backwards
    answer = world["alpha_op"].post("/v1/threads", json={"parties": ["bravo"], "subject": "two"})
    assert answer.status_code == 503 and "audit" in answer.json()["detail"]


def test_a_party_holding_an_earlier_head_proves_a_later_record_extends_it(world):
    def receipts() -> tuple[list, dict]:
        return parse_records(world["alpha_op"].get("/v1/audit/receipts").text)

    key = load_public_key(world["alpha_op"].get("/v1/audit/key").text)
    _, old_head = receipts()
    world["alpha_op"].post("/v1/threads", json={"parties": ["bravo"], "subject": "later"})
    records, head = receipts()
    assert verify(records, head, key, since=old_head).entries == len(records)
    # the operator truncates and re-signs: the new record no longer extends what alpha held
    world["bravo_op"].post("/v1/threads", json={"parties": ["alpha"], "subject": "even later"})
    _, held = receipts()
    whole = parse_records(world["cell"].get("/v1/audit/chain").text)[1]
    _truncate_and_reforge(world.service, whole["count"] - 2)
    world.service.settings.witness_path.unlink()  # the operator also removes the service's witness
    world.service.close()
    forger = Deconfliction(world.service.settings, clock=world.clock)
    alpha = forger.authenticate(world.tokens["alpha_op"])
    forger.create_thread(alpha, ["bravo"], "rewritten")
    forged, forged_head = parse_records("\n".join(json.dumps(r) for r in forger.audit_records(alpha)))
    forger.close()
    verify(forged, forged_head, key)  # self-consistent ...
    with pytest.raises(AuditError, match="does not extend"):
        verify(forged, forged_head, key, since=held)  # ... but not an extension of what alpha held


# -- 6. absurd values are 422 naming the field, nothing stored ------------------------------------

def _circle_plan(**changes) -> dict:
    from tests.service.builders import plan

    document = plan("ABSURD")
    volume = document["volumes"][0]
    for key, value in changes.items():
        if key in ("lat", "lon", "radius"):
            volume["circle"][key] = value
        elif key == "altitude":
            volume["altitude"] = value
        else:
            document[key] = value
    return document


def _route_plan(speed: str) -> dict:
    from tests.service.builders import iso

    return {"id": "ROUTE", "route": {"lateral": "2nm", "vertical": "500ft", "departure": iso(T0),
                                     "waypoints": [{"lat": 45.0, "lon": 5.0, "altitude": "FL100"},
                                                   {"lat": 45.5, "lon": 5.5, "speed": speed}]}}


ABSURD_PLANS = {
    "radius 1e308m": (_circle_plan(radius="1e308m"), "radius"),
    "altitude -1000000m": (_circle_plan(altitude=["-1000000m", "FL100"]), "altitude"),
    "altitude 1e400m": (_circle_plan(altitude=["FL100", "1e400m"]), "altitude"),
    "boolean latitude": (_circle_plan(lat=True), "lat"),
    "boolean priority": (_circle_plan(priority=True), "priority"),
    "huge priority": (_circle_plan(priority=10**30), "priority"),
    "id with a slash": (_circle_plan(id="a/b"), "id"),
    "id of 65 characters": (_circle_plan(id="x" * 65), "id"),
    "id with a NUL": (_circle_plan(id="nul\x00"), "id"),
    "waypoint speed 0kt": (_route_plan("0kt"), "speed"),
    "recurrence from year 1": ({**_circle_plan(), "volumes": [{"circle": {"lat": 45.0, "lon": 5.0, "radius": "5km"},
                                                               "altitude": ["FL100", "FL200"], "time": ["10min", "20min"]}],
                                "recurring": {"times": ["08:00"], "from": "0001-01-01", "to": "0001-12-31"}}, "from"),
    "time in year 9999": (_circle_plan(), "time"),
}
ABSURD_PLANS["time in year 9999"][0]["volumes"][0]["time"] = ["9999-01-01T00:00:00Z", "9999-01-02T00:00:00Z"]


@pytest.mark.parametrize("case", sorted(ABSURD_PLANS))
def test_absurd_plan_values_are_422_naming_the_field(world, case):
    document, field = ABSURD_PLANS[case]
    answer = world["alpha_op"].post("/v1/plans", json=document)
    assert answer.status_code == 422, (case, answer.status_code, answer.text[:300])
    detail = answer.json()["detail"]
    assert field in detail and len(detail) < 400 and "\n" not in detail, detail
    assert world["alpha_op"].get("/v1/plans").json() == []
    assert world["bravo_op"].post("/v1/plans", json=_circle_plan(id="AFTER")).status_code == 201  # nobody blinded


def test_absurd_hotline_values_are_422(world):
    thread = world["alpha_op"].post("/v1/threads", json={"parties": ["bravo"]}).json()["id"]
    post = lambda body: world["alpha_op"].post(f"/v1/threads/{thread}/messages", json=body)  # noqa: E731
    proposal = {"type": "manoeuvre", "aircraft": "a1", "action": "climb", "value": "FL300"}
    for body, field in (({"kind": "proposal", "proposal": proposal, "answer_within": "1e300s"}, "answer_within"),
                        ({"kind": "proposal", "proposal": proposal, "answer_within": "-5min"}, "answer_within"),
                        ({"kind": "accept", "reply_to": 2**63}, "reply_to"),
                        ({"text": "nul\x00"}, "text"),
                        ({"text": "x" * 5000}, "text")):
        answer = post(body)
        assert answer.status_code == 422 and field in answer.json()["detail"], (body.get("text", body)[:40], answer.text[:200])
        assert len(answer.text) < 600
    assert world["alpha_op"].get(f"/v1/threads/{2**63}").status_code == 422
    assert world["alpha_op"].post("/v1/threads", json={"parties": ["bravo"], "subject": "s\x00"}).status_code == 422
    assert [m["kind"] for m in world["alpha_op"].get(f"/v1/threads/{thread}").json()["messages"]] == []


def test_track_columns_of_lists_or_objects_are_422(world):
    mine, _ = head_on()
    batch = tracks(mine)
    for bad in ([[1, 2]], [{"x": 1}]):
        answer = world["alpha_op"].post("/v1/tracks", json={**batch, "lat": bad})
        assert answer.status_code == 422 and "lat" in answer.json()["detail"]


def test_every_route_caps_its_body_and_answers_carry_security_headers(world):
    big = "x" * (2 * 2**20)
    answer = world["alpha_op"].post("/v1/threads", content=f'{{"parties": ["bravo"], "subject": "{big}"}}',
                                    headers={"Content-Type": "application/json"})
    assert answer.status_code == 413
    answer = world["alpha_op"].post("/v1/plans", json={"id": "X", "volumes": big})
    assert answer.status_code == 413
    for path in ("/v1/plans", "/healthz", "/openapi.json"):
        headers = world["alpha_op"].get(path).headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff" and headers["cache-control"] == "no-store"
    page = world["anonymous"].get("/")
    assert "content-security-policy" in page.headers and page.headers.get("cache-control") != "no-store"


def test_openapi_declares_the_bearer_scheme_and_error_codes(world):
    spec = world["anonymous"].get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"].lower() == "bearer"
    put = spec["paths"]["/v1/plans/{party}/{plan_id}"]["put"]
    assert {"401", "403", "404", "409", "413", "422", "428", "503"} <= set(put["responses"])
    assert put["security"] == [{"HTTPBearer": []}]


# -- 7. faults: a full disk is 503, nothing half-applied ------------------------------------------

def test_a_full_disk_is_503_and_the_batch_is_not_half_applied(world):
    mine, theirs = head_on()
    with FailingCommits(world.service.engine, count=1):
        answer = world["alpha_op"].post("/v1/tracks", json=tracks(mine))
    assert answer.status_code == 503 and "disk is full" in answer.json()["detail"]
    assert world["cell"].get("/v1/tracks").json() == []  # the batch is not in the picture
    with FailingCommits(world.service.engine, count=1):
        assert world["alpha_op"].post("/v1/plans", json=_circle_plan()).status_code == 503
    assert world["alpha_op"].get("/v1/plans").json() == []
    assert world["alpha_op"].post("/v1/plans", json=_circle_plan()).status_code == 201  # the index was not left dirty
    assert world["alpha_op"].post("/v1/tracks", json=tracks(mine)).status_code == 202


def test_the_sqlite_file_is_created_private(tmp_path):
    import os
    import stat

    w = make_world(str(tmp_path / "private.db"), tmp_path)
    mode = stat.S_IMODE(os.stat(tmp_path / "private.db").st_mode)
    assert mode & 0o077 == 0, oct(mode)
    w.service.close()


def test_receipts_reveal_nothing_of_the_other_parties_activity(world):
    mine, theirs = head_on()
    world["alpha_op"].post("/v1/tracks", json=tracks(mine))
    for k in range(5):  # bravo is busy; alpha must not be able to count it
        world["bravo_op"].post("/v1/tracks", json=tracks({**theirs, "time": T0 + k * 0.1}))
    world["cell"].post("/v1/tracks", json=tracks({**theirs, "icao24": "c1", "party": "alpha", "lat": 30.0},
                                                 {**theirs, "icao24": "c2", "party": "bravo", "lat": 31.0}))
    world.service.detect_now()  # a conflict: an entry shared by alpha and bravo
    records, head = parse_records(world["alpha_op"].get("/v1/audit/receipts").text)
    assert "seq" not in head
    bodies = [json.loads(r["body"]) for r in records]
    shared = [b for b in bodies if b["parties"] == ["alpha", "bravo"]]
    assert shared and all(set(b) == {"time", "kind", "actor", "parties", "links", "payload"} for b in bodies)
    assert all(len(b["links"]["bravo"]) == 64 for b in shared)  # a hash, not bravo's count
    assert not any(b["kind"] == "tracks.received" and b["actor"]["role"] == "cell" for b in bodies)
    key = load_public_key(world["alpha_op"].get("/v1/audit/key").text)
    assert verify(records, head, key).entries == len(records)


def test_a_report_a_little_ahead_of_the_service_clock_hides_nothing(world):
    """The picture keeps a track's latest report only; one stamped 0.3 s ahead (a reporting clock a
    little fast) used to be left out of every snapshot until the service clock caught up."""
    mine, theirs = head_on()
    world["alpha_op"].post("/v1/tracks", json=tracks(mine))
    world["bravo_op"].post("/v1/tracks", json=tracks({**theirs, "time": T0 + 0.3}))
    world.service.detect_now()
    assert [(c["a"], c["b"]) for c in _tactical(world)] == [("a1", "b1")]
    assert {t["icao24"] for t in world["bravo_op"].get("/v1/tracks").json()} == {"a1", "b1"}


def test_a_service_that_signed_nothing_yet_starts_again(tmp_path):
    """A fresh service (no party yet: nothing in the record) left a witness at seq 0; starting it again
    was refused as a truncated chain ("no entry from there on, behind the witness's seq 0")."""
    from deconflict.service.settings import ServiceSettings

    settings = ServiceSettings(database=str(tmp_path / "fresh.db"), key_file=str(tmp_path / "service.key"))
    Deconfliction(settings).close()
    again = Deconfliction(settings)
    try:
        again.add_party("alpha")  # and it signs on
    finally:
        again.close()
    Deconfliction(settings).close()
