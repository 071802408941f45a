"""GET /v1/events: the server-sent event stream of one member, with resumption from the record.

Stored events carry an id in commit order; a client that reconnects sends the last one it saw and gets
every later event it may see once, in order, before the live ones (a ``resync`` first when some were
pruned). The subscription is taken before the replay, and duplicates are dropped by id, so nothing
falls between the two; a live queue that overflowed is refilled from the record the same way.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from deconflict.service.auth import Principal
from deconflict.service.deconfliction import Deconfliction
from deconflict.service.errors import BadRequest, Unauthorized
from deconflict.service.events import CELL, END, event_json

HEARTBEAT = 15.0  # s between SSE keep-alive comments


async def event_stream(service: Deconfliction, who: Principal, request: Request,
                       last_event_id: str | None) -> StreamingResponse:
    """The stream of what ``who`` may see; ``Last-Event-ID`` (or ``last_event_id``) resumes after that id."""
    audience = CELL if who.is_cell else who.party
    resume_text = request.headers.get("last-event-id") or last_event_id
    resume = None
    if resume_text:
        if not resume_text.strip().isdigit():
            raise BadRequest(f"Last-Event-ID: expected the id of an event (a number), got {resume_text[:40]!r}")
        resume = int(resume_text)
    service.leading()
    subscription = service.events.subscribe(audience, member=who.member)  # before the replay: nothing missed
    token = request.headers.get("authorization", "")[7:].strip()
    recheck = min(HEARTBEAT, service.settings.token_cache)

    async def still_valid() -> bool:
        """The token still holds (a revocation in another process ends the stream too)."""
        try:
            await run_in_threadpool(service.authenticate, token)
            return True
        except Unauthorized:
            return False

    # the last stored id sent (None: none yet, on a stream that resumes nothing); a replay from it (or
    # from the newest id committed once the subscription was taken) fills whatever the live queue lost
    sent = resume
    floor = await run_in_threadpool(service.work.newest_event_id) if resume is None else resume

    async def replay(first: bool):
        """The stored events after ``sent`` (pages of 1,000), a ``resync`` first when some are gone."""
        nonlocal sent
        if sent is None:
            sent = floor
        while True:
            found, oldest = await run_in_threadpool(service.work.events_after, audience, sent)
            if first and oldest is not None and oldest > sent + 1:
                yield "event: resync\ndata: {\"reason\":\"events after the last one you saw were pruned\"}\n\n"
            first = False
            for event in found:
                sent = event.id
                if event.data is not None:
                    yield _sse(event)
            if len(found) < 1000:
                return

    async def stream():
        nonlocal sent
        checked, drops = time.monotonic(), 0
        try:
            yield ": connected\n\n"
            if resume is not None:
                async for text in replay(first=True):
                    yield text
            while not await request.is_disconnected():
                event = await subscription.next(recheck)
                if event is END or service.role != "leader":  # revoked, or this node lost the lead
                    return
                if subscription.dropped != drops:  # the queue overflowed: the record has what it lost
                    drops = subscription.dropped
                    async for text in replay(first=False):
                        yield text
                if event is not None and event.id is not None:
                    if sent is not None and event.id <= sent:
                        continue  # already sent by a replay
                    sent = event.id
                if time.monotonic() - checked >= recheck:
                    if not await still_valid():
                        return
                    checked = time.monotonic()
                if event is None:
                    yield ": keep-alive\n\n"
                    continue
                yield _sse(event)
        finally:
            subscription.close()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _sse(event: Any) -> str:
    """One server-sent event; ``id:`` only for a stored (resumable) one. orjson: NaN as null."""
    data = event_json({"time": event.time, **event.data})
    return (f"id: {event.id}\n" if event.id is not None else "") + f"event: {event.type}\ndata: {data}\n\n"
