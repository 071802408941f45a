"""Live events fanned out to subscribers (SSE), each seeing only its own view.

An event is published once with one payload per audience: the cell's, and each concerned
party's (already filtered for need-to-know by the publisher). A subscriber receives the payload
for its audience, or nothing. Publishing is thread-safe (detection and request threads publish;
the event loop delivers). A slow subscriber loses its oldest events rather than growing without bound.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

import orjson

CELL = "*cell*"
QUEUE_LIMIT = 10_000


@dataclass(frozen=True)
class Event:
    id: int | None  # the stored event's id (resumable), None for a passing one
    type: str
    time: float
    data: dict[str, Any]


END = Event(0, "end", 0.0, {})  # the subscription was ended (its member revoked): close the stream


class Subscription:
    def __init__(self, bus: "EventBus", audience: str, member: int | None = None) -> None:
        self.bus, self.audience, self.member = bus, audience, member
        self.queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_LIMIT)
        self.dropped = 0
        self.ended = False

    def _deliver(self, event: Event) -> None:
        if self.ended:
            return
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    def _end(self) -> None:
        self._deliver(END)
        self.ended = True

    async def next(self, timeout: float) -> Event | None:
        """The next event, `END` once the subscription is ended, or None after ``timeout`` s."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None

    def close(self) -> None:
        self.bus._remove(self)


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscription] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def subscribe(self, audience: str, member: int | None = None) -> Subscription:
        """``audience``: a party id, or `CELL`; ``member``: who listens (see `end_member`)."""
        subscription = Subscription(self, audience, member)
        with self._lock:
            self._subscribers.append(subscription)
        return subscription

    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def _remove(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription in self._subscribers:
                self._subscribers.remove(subscription)

    def end_member(self, member: int) -> None:
        """End every open subscription of ``member`` (revoked): nothing more reaches it."""
        with self._lock:
            targets = [s for s in self._subscribers if s.member == member]
        for subscription in targets:  # after what was published before, before anything published after
            if self._loop is not None:
                self._loop.call_soon_threadsafe(subscription._end)
            else:
                subscription.ended = True

    def publish(self, type: str, time: float, views: dict[str, dict[str, Any]], event_id: int | None = None) -> None:
        """``views``: audience (party id or `CELL`) -> payload that audience may see. ``event_id``: the stored
        event's id (`UnitOfWork.emit`); None for a passing event that is not stored (not resumable)."""
        with self._lock:
            targets = [s for s in self._subscribers if s.audience in views]
        if not targets or self._loop is None:
            return
        for subscription in targets:
            event = Event(event_id, type, time, views[subscription.audience])
            self._loop.call_soon_threadsafe(subscription._deliver, event)


def event_json(value: Any) -> str:
    """JSON text of an event's payload, as stored and as sent: NaN as null (browsers and PostgreSQL
    refuse NaN), numpy numbers as numbers."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY, default=_plain).decode()


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):  # a numpy scalar orjson does not know
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")
