"""Prometheus metrics of one service (``GET /metrics``): what an operator watches, counts only (no
party's tracks, plans or messages). A registry per service, not the library's global one, so that
several services in one process (tests, the demo) keep their own figures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:  # the service is handed in; nothing here imports it at run time
    from deconflict.service.deconfliction import Deconfliction

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ServiceMetrics:
    """Counters the service updates as it works, and gauges read from it when scraped."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.state_vectors = Counter("deconflict_state_vectors_accepted", "State vectors accepted into the live "
                                     "picture", registry=self.registry)
        self.state_vectors_rejected = Counter("deconflict_state_vectors_rejected", "State vector rows refused "
                                              "(bad values, from the future)", registry=self.registry)
        self.detection_seconds = Histogram("deconflict_detection_cycle_seconds", "Duration of one detection cycle",
                                           buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
                                           registry=self.registry)
        self.open_conflicts = Gauge("deconflict_open_conflicts", "Conflicts open now", ["kind"], registry=self.registry)
        self.subscribers = Gauge("deconflict_event_subscribers", "Open event streams", registry=self.registry)
        self.leading = Gauge("deconflict_leader", "1 when this node leads, 0 on a standby", registry=self.registry)
        self.tracks = Gauge("deconflict_tracks", "Tracks in the live picture", registry=self.registry)
        self.plans = Gauge("deconflict_plans_stored", "Plans in the plan index", registry=self.registry)

    def scrape(self, service: "Deconfliction") -> bytes:
        """The figures now, in the Prometheus text format."""
        self.open_conflicts.labels("tactical").set(service.open_tactical())
        self.open_conflicts.labels("strategic").set(service.open_strategic())
        self.subscribers.set(service.events.subscriber_count())
        self.leading.set(1.0 if service.role == "leader" else 0.0)
        latest = service.tactical.picture.latest()
        self.tracks.set(0 if latest is None else len(latest))
        self.plans.set(len(service.plan_book.index))
        return generate_latest(self.registry)
