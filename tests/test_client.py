"""The Python client against a live service on loopback: every kind of route, one error type, following
the leader among several nodes, waiting out a 429, and events resumed across a failover."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from deconflict.client import Client, ServiceError, ServiceUnreachable
from deconflict.service.app import create_app
from deconflict.service.background import BackgroundServer
from deconflict.service.deconfliction import Deconfliction
from deconflict.service.quotas import Rate
from deconflict.store.audit import load_public_key, parse_records, verify
from tests.servers import free_port
from tests.service.builders import head_on, plan, tracks
from tests.service.conftest import make_world
from tests.service.test_events import live  # noqa: F401  (the fixture: a service on loopback)


def test_plans_tracks_conflicts_hotline_and_receipts_through_the_client(live):
    w, url = live
    with Client(url, w.tokens["alpha_op"]) as alpha, Client(url, w.tokens["bravo_op"]) as bravo, \
            Client(url, w.tokens["cell"]) as cell:
        assert alpha.me()["party"] == "alpha" and {p["id"] for p in alpha.parties()} >= {"alpha", "bravo"}
        assert alpha.submit_plan(plan("A1"))["status"] == "accepted"
        dry = bravo.check_plans([plan("B1", lon=5.05), plan("B2", lat=20.0)])
        assert [len(c["conflicts"]) for c in dry] == [1, 0] and bravo.plans() == []
        answer = bravo.submit_plan(plan("B1", lon=5.05))
        assert answer["version"] == 1 and len(answer["conflicts"]) == 1
        moved = bravo.update_plan("bravo", "B1", plan("B1", lat=30.0), version=1)
        assert moved["version"] == 2 and moved["conflicts"] == []
        with pytest.raises(ServiceError) as stale:
            bravo.update_plan("bravo", "B1", plan("B1", lat=31.0), version=1)
        assert stale.value.status == 409 and "version" in stale.value.detail
        with pytest.raises(ServiceError) as hidden:
            bravo.plan("alpha", "A1")
        assert hidden.value.status == 404
        mine, theirs = head_on(w.clock.now())
        assert alpha.push_tracks(tracks(mine)) == 1 and bravo.push_tracks(tracks(theirs)) == 1
        w.service.detect_now()
        tactical = cell.conflicts()["tactical"]
        assert len(tactical) == 1
        assert alpha.resolutions(tactical[0]["id"])  # the service's checked suggestions
        thread = alpha.open_thread(["bravo"], "coordination")
        alpha.post_message(thread["id"], text="hello")
        assert [m["text"] for m in bravo.thread(thread["id"])["messages"]][-1] == "hello"
        records, head = parse_records(cell.audit_receipts())
        assert verify(records, head, load_public_key(cell.audit_key())).entries == len(records)
        bravo.delete_plan("bravo", "B1", version=2)
        assert bravo.plans() == []


def test_a_request_goes_to_the_leader_past_a_standby_and_a_dead_node(live, tmp_path):
    w, url = live
    standby = Deconfliction(replace(w.service.settings, advertise=url), clock=w.clock)
    dead = f"http://127.0.0.1:{free_port()}"
    try:
        with BackgroundServer(create_app(standby, run_detection=False), port=free_port()) as standby_url:
            with Client([dead, standby_url, url], w.tokens["alpha_op"]) as alpha:
                assert alpha.submit_plan(plan("A1"))["status"] == "accepted"
                assert alpha.url == url  # and it stays there
                assert alpha.plans()[0]["id"] == "A1"
            with Client(dead, w.tokens["alpha_op"]) as nowhere, pytest.raises(ServiceUnreachable):
                nowhere.plans()
    finally:
        standby.close()


def test_a_429_is_waited_out_once(tmp_path):
    w = make_world(str(tmp_path / "quota.db"), tmp_path, requests=Rate(capacity=2.0, per_second=4.0))
    try:
        with BackgroundServer(create_app(w.service, run_detection=False), port=free_port()) as url, \
                Client(url, w.tokens["alpha_op"]) as alpha:
            for _ in range(8):  # twice the share, back to back: each refusal is waited out
                alpha.plans()
    finally:
        w.service.close()


def test_events_resume_on_the_next_leader_without_loss_or_repeat(tmp_path):
    w = make_world(str(tmp_path / "events.db"), tmp_path)
    standby = Deconfliction(replace(w.service.settings), clock=w.clock)
    ports = (free_port(), free_port())
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    received, done = [], threading.Event()
    leader_server = BackgroundServer(create_app(w.service, run_detection=False), port=ports[0])
    standby_server = BackgroundServer(create_app(standby, run_detection=False), port=ports[1])
    leader_server.start()
    standby_server.start()
    try:
        with Client(urls, w.tokens["cell"]) as cell, Client(urls, w.tokens["alpha_op"]) as alpha:
            alpha.submit_plan(plan("A1"))

            def listen() -> None:
                for event in cell.events(idle=5.0):
                    if event.id is not None:
                        received.append((event.id, event.type))
                    if done.is_set() and event.type == "thread.opened" and event.data.get("subject") == "last":
                        return

            listener = threading.Thread(target=listen, daemon=True)
            listener.start()
            threading.Event().wait(0.5)
            threads_before = [alpha.open_thread(["bravo"], f"before {k}")["id"] for k in range(3)]
            w.service.close()  # the leader stops: its streams end, the standby takes over
            leader_server.stop()
            standby.check_lease()
            assert standby.role == "leader"
            threads_after = [alpha.open_thread(["bravo"], f"after {k}")["id"] for k in range(3)]
            done.set()
            alpha.open_thread(["bravo"], "last")
            listener.join(20)
            assert not listener.is_alive()
        ids = [event_id for event_id, _ in received]
        assert ids == sorted(set(ids)) and ids == list(range(ids[0], ids[-1] + 1))  # none lost, none twice
        assert sum(kind == "thread.opened" for _, kind in received) == len(threads_before) + len(threads_after) + 1
    finally:
        standby_server.stop()
        standby.close()
