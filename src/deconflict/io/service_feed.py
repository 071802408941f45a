"""Push a station's (or any) state vectors to a running deconflict service (POST /v1/tracks)."""

from __future__ import annotations

import time
from collections import Counter

import httpx
import numpy as np
import orjson

from deconflict.client import Client, ServiceError, ServiceUnreachable
from deconflict.core.states import States
from deconflict.errors import DeconflictError


class PushError(DeconflictError, RuntimeError):
    """The service refused the feed for good (bad token, not allowed, bad URL): one line."""


class TrackPusher:
    """Sends each batch as SPEC §2 columns. ``party`` stamps rows for a cell token (a station that
    sees every party's traffic gives ``""``: unknown); an operator's rows get its party anyway.
    ``retime``: each batch of a recording is stamped now, its reports keeping their ages (a service drops
    reports older than its staleness limit, and refuses ones from the future).
    ``url`` may name several nodes of one service, comma-separated: a batch refused by a standby
    (503, with the leader's URL in ``X-Deconflict-Leader``) or sent to a node that is down goes to the
    leader it names, or to the next node, at once; the pusher then stays with the node that took it.
    A service that is down costs the batch (counted), not the feed: the next one goes again."""

    def __init__(self, url: str, token: str, party: str = "", timeout: float = 10.0, retime: bool = False) -> None:
        try:
            self.service = Client(url, token, timeout=timeout)
        except ServiceError:
            raise PushError(f"--push: expected the service's URL (http://HOST:PORT, or several, comma-separated), "
                            f"got {url!r}") from None
        self.party = party
        self.counts: Counter[str] = Counter()
        self.retime = retime

    @property
    def url(self) -> str:
        return self.service.url + "/v1/tracks"

    def push(self, states: States) -> int:
        """Send ``states`` (a snapshot or history); returns the rows the service accepted."""
        if not len(states):
            return 0
        times = states.time
        if self.retime:  # each picture stamped now, its reports keeping their ages
            times = times + (time.time() - float(np.max(times)))
        body = orjson.dumps({
            "time": times.tolist(), "icao24": states.icao24.tolist(), "callsign": states.callsign.tolist(),
            "lat": states.lat.tolist(), "lon": states.lon.tolist(), "velocity": states.velocity.tolist(),
            "heading": np.mod(states.heading, 360.0).tolist(), "vertrate": states.vertrate.tolist(),
            "baroaltitude": states.altitude.tolist(),
            "party": [self.party] * len(states) if self.party else states.party.tolist()})
        answer = self._post(body)
        if answer is None:
            self.counts["batches lost (service unreachable)"] += 1
            return 0
        if answer.status_code in (401, 403, 404):
            detail = answer.json().get("detail", answer.reason_phrase) if answer.headers.get(
                "content-type", "").startswith("application/json") else answer.reason_phrase
            raise PushError(f"{self.url}: {answer.status_code} {detail}")
        if answer.status_code >= 400:
            self.counts["batches refused"] += 1
            return 0
        accepted = answer.json()["accepted"]
        self.counts["batches pushed"] += 1
        self.counts["state vectors pushed"] += accepted
        return accepted

    def _post(self, body: bytes) -> httpx.Response | None:
        """To the leading node (`Client.send`: a standby's 503 or a dead node sends it on). None: no node
        reachable."""
        try:
            return self.service.send("POST", "/v1/tracks", body, {"Content-Type": "application/json"})
        except ServiceUnreachable:
            return None

    def close(self) -> None:
        self.service.close()
