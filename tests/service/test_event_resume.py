"""Event streams resume with Last-Event-ID, on the same node and on the next leader after a failover:
every stored event after the last one seen arrives once, in order, before the live ones (issue 18)."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx
import pytest
from sqlalchemy import select

from deconflict.service.app import create_app
from deconflict.service.background import BackgroundServer
from deconflict.service.deconfliction import Deconfliction
from deconflict.store.schema import EventRecord
from tests.servers import free_port
from tests.service.builders import plan


class Stream:
    """An SSE subscription read line by line: (id, type, data) of each event."""

    def __init__(self, url: str, token: str, last_event_id: int | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self._context = httpx.stream("GET", f"{url}/v1/events", headers=headers, timeout=20)
        self.response = self._context.__enter__()
        self._lines = self.response.iter_lines()

    def until(self, wanted_id: int) -> list[tuple[int | None, str, dict]]:
        """Events read until the one with ``wanted_id`` (included)."""
        events, event_id, kind = [], None, None
        for line in self._lines:
            if line.startswith("id: "):
                event_id = int(line[4:])
            elif line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((event_id, kind, json.loads(line[6:])))
                if event_id == wanted_id:
                    return events
                event_id = kind = None
        raise AssertionError(f"the stream ended before event {wanted_id}: {events}")

    def until_connected(self) -> None:
        """Read the stream's first comment: the subscription is taken."""
        for line in self._lines:
            if line.startswith(": connected"):
                return
        raise AssertionError("the stream ended before it connected")

    def close(self) -> None:
        self._context.__exit__(None, None, None)


def _stored_for_cell(service: Deconfliction, after: int) -> list[tuple[int, str]]:
    """The independent reference: the events table itself."""
    with service.work.Session() as session:
        rows = session.execute(select(EventRecord.id, EventRecord.type, EventRecord.views)
                               .where(EventRecord.id > after).order_by(EventRecord.id)).all()
    return [(event_id, kind) for event_id, kind, views in rows if "*cell*" in json.loads(views)]


def _overlapping_plan(client: httpx.Client, k: int) -> None:
    client.post("/v1/plans", json=plan(f"B{k}", lon=5.0 + 0.001 * k)).raise_for_status()


def test_a_stream_resumes_on_the_next_leader_without_losing_or_repeating_an_event(world):
    leader_url = None
    standby = Deconfliction(replace(world.service.settings), clock=world.clock)
    try:
        with BackgroundServer(create_app(world.service, run_detection=False), port=free_port()) as leader_url, \
                httpx.Client(base_url=leader_url, headers={"Authorization": f"Bearer {world.tokens['alpha_op']}"}) as alpha, \
                httpx.Client(base_url=leader_url, headers={"Authorization": f"Bearer {world.tokens['bravo_op']}"}) as bravo:
            alpha.post("/v1/plans", json=plan("A1")).raise_for_status()
            first = Stream(leader_url, world.tokens["cell"])
            _overlapping_plan(bravo, 1)  # a strategic conflict and its thread: stored events the cell sees
            stored = _stored_for_cell(world.service, 0)
            seen = first.until(stored[-1][0])
            first.close()
            last_seen = seen[-1][0]
            for k in (2, 3):  # while this subscriber is away
                _overlapping_plan(bravo, k)
        world.service.close()  # the leader stops; the standby takes over
        standby.check_lease()
        assert standby.role == "leader"
        with BackgroundServer(create_app(standby, run_detection=False), port=free_port()) as url, \
                httpx.Client(base_url=url, headers={"Authorization": f"Bearer {world.tokens['bravo_op']}"}) as bravo:
            _overlapping_plan(bravo, 4)  # written by the new leader before the subscriber is back
            resumed = Stream(url, world.tokens["cell"], last_event_id=last_seen)
            missed = _stored_for_cell(standby, last_seen)
            replayed = resumed.until(missed[-1][0])
            _overlapping_plan(bravo, 5)  # live, after the replay
            live_expected = _stored_for_cell(standby, missed[-1][0])
            live = resumed.until(live_expected[-1][0])
            resumed.close()
        got = [(event_id, kind) for event_id, kind, _ in replayed + live if event_id is not None]
        assert got == missed + live_expected  # every one, once, in order
        assert len(missed) >= 6 and missed[0][0] == last_seen + 1
        old, new = [i for i, _ in missed if i <= stored[-1][0] + 4], [i for i, _ in live_expected]
        assert old and new and max(old) < min(new)  # ids go on from the old leader's
    finally:
        standby.close()


def test_a_resumption_that_missed_pruned_events_is_told_to_reload(world):
    world.service.work.events_kept, world.service.work.prune_every = 1, 1
    with BackgroundServer(create_app(world.service, run_detection=False), port=free_port()) as url, \
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {world.tokens['bravo_op']}"}) as bravo:
        world["alpha_op"].post("/v1/plans", json=plan("A1"))
        _overlapping_plan(bravo, 1)
        assert _stored_for_cell(world.service, 0)[0][0] > 1  # the oldest were pruned
        newest = _stored_for_cell(world.service, 0)[-1][0]
        stream = Stream(url, world.tokens["cell"], last_event_id=0)
        events = stream.until(newest)
        stream.close()
        assert events[0][1] == "resync"
        bad = bravo.get("/v1/events", headers={"Last-Event-ID": "x1"})
        assert bad.status_code == 422 and "Last-Event-ID" in bad.json()["detail"]


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_an_event_with_a_value_json_cannot_hold_is_stored_and_sent_as_null(world, value):
    with world.service.work.write() as session:
        world.service.work.emit(session, "test.event", {None: {"value": value}})
    stored = _stored_for_cell(world.service, 0)
    with world.service.work.Session() as session:
        views = session.scalar(select(EventRecord.views).where(EventRecord.id == stored[-1][0]))
    assert json.loads(views) == {"*cell*": {"value": None}}


def test_a_subscriber_whose_queue_overflows_still_gets_every_stored_event(world, monkeypatch):
    """A burst larger than the subscriber's queue: the live queue drops its oldest, and the stream
    fills the gap from the record instead of losing them."""
    import deconflict.service.events as events

    monkeypatch.setattr(events, "QUEUE_LIMIT", 1)
    with BackgroundServer(create_app(world.service, run_detection=False), port=free_port()) as url:
        stream = Stream(url, world.tokens["cell"])
        stream.until_connected()
        with world.service.work.write() as session:
            for k in range(50):  # one commit: 50 events published back to back
                world.service.work.emit(session, "test.burst", {None: {"k": k}})
        newest = _stored_for_cell(world.service, 0)[-1][0]
        got = [event_id for event_id, kind, _ in stream.until(newest) if kind == "test.burst"]
        stream.close()
    assert got == list(range(newest - 49, newest + 1))
