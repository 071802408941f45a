"""A Python client of the deconflict service (httpx): every route as a method, one error type, and the
behaviour a party's system needs against a service that fails over.

    from deconflict.client import Client

    with Client("http://node1:8000,http://node2:8000", token) as service:
        answer = service.submit_plan(document)           # checked against every stored plan
        for event in service.events():                   # server-sent events, resumed across reconnects
            ...

* **Several nodes.** ``url`` may name every node of one service, comma-separated (or a list). A
  request refused by a standby (503 with the leader's URL in ``X-Deconflict-Leader``) or sent to a
  node that is down goes to the leader it names (when it is one of the given nodes: a standby does not
  send a party's requests anywhere else) or to the next node, and the client stays with the node that
  answered. Behind a load balancer (``deploy/haproxy.cfg``) give its one address.
* **Fair shares.** A 429 is waited out once (``Retry-After``, at most `MAX_RETRY_WAIT` s) and sent again.
* **Events.** `events` yields `Event` objects and reconnects by itself, to whichever node leads,
  with the last stored event's id (``Last-Event-ID``): no event is lost or repeated across a
  failover; a ``resync`` event says some were pruned (reload from the other routes).
* **Errors.** Every refusal raises `ServiceError` with the HTTP status and the service's one-line
  reason; no node reachable raises `ServiceUnreachable`.

Answers are the service's JSON as Python values, typed with the `TypedDict` shapes below (they
describe what docs/service.md documents; fields may be added, never removed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterator, Sequence, TypedDict

import httpx
import orjson

from deconflict.errors import DeconflictError
from deconflict.wire import LEADER_HEADER, SIGNATURE_HEADER
MAX_RETRY_WAIT = 5.0  # s: the longest Retry-After of a 429 that is waited out (once)


class ServiceError(DeconflictError, RuntimeError):
    """The service refused a request: ``status`` (HTTP) and ``detail`` (its one-line reason)."""

    def __init__(self, status: int, detail: str, method: str = "", path: str = "") -> None:
        super().__init__(f"{method} {path}: {status} {detail}".strip())
        self.status, self.detail = status, detail


class ServiceUnreachable(ServiceError):
    """No node of the service answered (every one down, or standing by with no leader)."""


class Member(TypedDict):
    member: int
    name: str
    party: str | None
    role: str


class PlanAnswer(TypedDict, total=False):
    id: str
    party: str
    version: int
    status: str  # accepted | rejected | deleted
    state: str  # F3548 state now: Accepted, Activated, Nonconforming, ...
    document: dict[str, Any]
    conflicts: list[dict[str, Any]]
    accepted: bool
    blocked_by: list[dict[str, Any]]


class PlanCheckAnswer(TypedDict):
    id: str
    accepted: bool
    conflicts: list[dict[str, Any]]  # other_party, blocking, reason, overlap (GeoJSON Feature)


class Conflicts(TypedDict):
    tactical: list[dict[str, Any]]
    strategic: list[dict[str, Any]]


class ThreadSummary(TypedDict, total=False):
    id: int
    parties: list[str]
    subject: str
    conflict: str | None
    status: str  # open | escalated | settled | closed
    acknowledged_by: list[str]


class Thread(ThreadSummary, total=False):
    messages: list[dict[str, Any]]


@dataclass(frozen=True)
class Event:
    """A server-sent event: ``id`` for a stored one (resumable), None for a passing one."""

    id: int | None
    type: str
    data: dict[str, Any]


class Client:
    """The service for one member (its bearer ``token``), at ``url`` (one or several nodes)."""

    def __init__(self, url: str | Sequence[str], token: str, timeout: float = 10.0) -> None:
        nodes = [u.strip().rstrip("/") for u in (url.split(",") if isinstance(url, str) else url) if u.strip()]
        if not nodes or not all(u.startswith(("http://", "https://")) for u in nodes):
            raise ServiceError(0, f"expected the service's URL (http://HOST:PORT, or several), got {url!r}")
        self.nodes = nodes
        self.current = 0
        self._token = token
        self._http = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=timeout)

    @property
    def url(self) -> str:
        """The node this client talks to now."""
        return self.nodes[self.current]

    # -- plumbing ------------------------------------------------------------------------------

    def request(self, method: str, path: str, json: Any = None, headers: dict[str, str] | None = None,
                params: dict[str, Any] | None = None) -> httpx.Response:
        """One request to the leading node (following standbys and dead nodes, waiting out one 429);
        raises `ServiceError` on a refusal."""
        body = None if json is None else orjson.dumps(json, option=orjson.OPT_SERIALIZE_NUMPY)
        sent_headers = {**(headers or {}), **({"Content-Type": "application/json"} if body is not None else {})}
        waited = False
        while True:
            answer = self.send(method, path, body, sent_headers, params)
            if answer.status_code == 429 and not waited:
                waited = True
                time.sleep(min(float(answer.headers.get("Retry-After", "1") or 1), MAX_RETRY_WAIT))
                continue
            if answer.status_code >= 400:
                raise ServiceError(answer.status_code, _detail(answer), method, path)
            return answer

    def send(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
             params: dict[str, Any] | None = None) -> httpx.Response:
        """The answer of the leading node, whatever its status (following standbys and dead nodes, each
        node tried once); a 503 when none leads; `ServiceUnreachable` when none answers."""
        tried: set[str] = set()
        node, answer, error = self.url, None, None
        while node not in tried:
            tried.add(node)
            try:
                answer = self._http.request(method, node + path, content=body, headers=headers, params=params)
            except httpx.TransportError as failure:
                answer, error = None, failure
            if answer is not None and answer.status_code != 503:
                self.current = self.nodes.index(node)
                return answer
            leader = answer.headers.get(LEADER_HEADER, "").rstrip("/") if answer is not None else ""
            if leader in self.nodes and leader not in tried:
                node = leader
            else:
                node = next((n for n in self.nodes[self.current:] + self.nodes[:self.current] if n not in tried), node)
        if answer is not None:
            return answer  # a 503 from every node: no leader now
        raise ServiceUnreachable(0, f"no node answered ({', '.join(self.nodes)}): {error}", method, path)

    def _get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None} or None).json()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- service and parties ------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """This node's liveness, clock, role, epoch and leader (no token needed)."""
        return self._http.get(self.url + "/healthz").json()

    def me(self) -> Member:
        return self._get("/v1/me")

    def parties(self) -> list[dict[str, Any]]:
        return self._get("/v1/parties")

    def register_key(self, public_key: str) -> dict[str, Any]:
        """Register the member's Ed25519 public key (base64 or PEM) for signing its party's commitments."""
        return self.request("POST", "/v1/me/keys", json={"public_key": public_key}).json()

    # -- plans ----------------------------------------------------------------------------------

    def plans(self) -> list[PlanAnswer]:
        return self._get("/v1/plans")

    def plan(self, party: str, plan_id: str) -> PlanAnswer:
        return self._get(f"/v1/plans/{party}/{plan_id}")

    def submit_plan(self, document: dict[str, Any], signature: str | None = None) -> PlanAnswer:
        """File a plan (plans-file schema); checked at once against every stored plan."""
        return self.request("POST", "/v1/plans", json=document, headers=_signed(signature)).json()

    def submit_plans(self, documents: list[dict[str, Any]], signatures: list[str | None] | None = None) -> list[PlanAnswer]:
        """File many plans in one transaction: all or none."""
        body: dict[str, Any] = {"plans": documents}
        if signatures is not None:
            body["signatures"] = signatures
        return self.request("POST", "/v1/plans/batch", json=body).json()

    def check_plans(self, documents: list[dict[str, Any]]) -> list[PlanCheckAnswer]:
        """Dry run of a batch: each plan's conflicts with the stored plans; nothing stored (audited)."""
        return self.request("POST", "/v1/plans/check", json={"plans": documents}).json()

    def update_plan(self, party: str, plan_id: str, document: dict[str, Any], version: int,
                    signature: str | None = None) -> PlanAnswer:
        """Replace a plan; ``version``: the one read (a stale one is refused, 409)."""
        return self.request("PUT", f"/v1/plans/{party}/{plan_id}", json=document,
                            headers={"If-Match": f'"{version}"', **_signed(signature)}).json()

    def delete_plan(self, party: str, plan_id: str, version: int, signature: str | None = None) -> None:
        self.request("DELETE", f"/v1/plans/{party}/{plan_id}", headers={"If-Match": f'"{version}"', **_signed(signature)})

    def plan_volumes(self, at: str | None = None) -> dict[str, Any]:
        """GeoJSON of the plan volumes in force at ``at`` (ISO 8601; default now) that this member may see."""
        return self._get("/v1/plans/volumes", at=at)

    def nonconformances(self) -> list[dict[str, Any]]:
        return self._get("/v1/nonconformances")

    # -- tracks and conflicts -------------------------------------------------------------------

    def push_tracks(self, columns: dict[str, list[Any]] | list[dict[str, Any]]) -> int:
        """Send state vectors (SPEC §2 columns, or rows); returns how many the service accepted."""
        return int(self.request("POST", "/v1/tracks", json=columns).json()["accepted"])

    def tracks(self) -> list[dict[str, Any]]:
        """The aircraft this member may see now, predicted to now (one object each)."""
        return self._get("/v1/tracks")

    def tracks_asterix(self) -> bytes:
        """The same picture as ASTERIX CAT062 datablocks (edition 1.20)."""
        return self.request("GET", "/v1/tracks", params={"format": "asterix"}).content

    def conflicts(self) -> Conflicts:
        return self._get("/v1/conflicts")

    def resolutions(self, conflict_id: str) -> list[dict[str, Any]]:
        """The service's checked suggestions for this member's aircraft in a conflict."""
        return self._get(f"/v1/conflicts/{conflict_id}/resolutions")

    def occurrences(self) -> list[dict[str, Any]]:
        return self._get("/v1/occurrences")

    # -- hotline --------------------------------------------------------------------------------

    def threads(self) -> list[ThreadSummary]:
        return self._get("/v1/threads")

    def thread(self, thread_id: int) -> Thread:
        return self._get(f"/v1/threads/{thread_id}")

    def open_thread(self, parties: list[str], subject: str = "") -> ThreadSummary:
        return self.request("POST", "/v1/threads", json={"parties": parties, "subject": subject}).json()

    def post_message(self, thread_id: int, kind: str = "message", text: str = "", proposal: dict[str, Any] | None = None,
                     reply_to: int | None = None, answer_within: str | None = None,
                     signature: str | None = None) -> dict[str, Any]:
        """Write on a thread: a message, a proposal (manoeuvre or plan change), or an answer to one
        (acknowledge, accept, reject)."""
        body = {"kind": kind, "text": text, "proposal": proposal, "reply_to": reply_to, "answer_within": answer_within}
        return self.request("POST", f"/v1/threads/{thread_id}/messages",
                            json={k: v for k, v in body.items() if v is not None}, headers=_signed(signature)).json()

    # -- audit ----------------------------------------------------------------------------------

    def audit_key(self) -> str:
        """The service's public audit key (PEM)."""
        return self.request("GET", "/v1/audit/key").text

    def audit_receipts(self) -> str:
        """This member's party's signed receipts (the cell: the whole chain) as JSON lines, for
        `deconflict.store.audit.parse_records` / `verify`."""
        return self.request("GET", "/v1/audit/receipts").text

    # -- events ---------------------------------------------------------------------------------

    def events(self, last_event_id: int | None = None, reconnect: bool = True, idle: float = 30.0) -> Iterator[Event]:
        """Server-sent events for this member, from after ``last_event_id`` (None: from now on). On a
        dropped stream (the node died or lost the lead) it reconnects, to whichever node leads, with the
        last stored id it gave, unless ``reconnect`` is False; ``idle``: read timeout (s; the service
        sends a keep-alive every few seconds)."""
        last = last_event_id
        while True:
            try:
                for event in self._stream(last, idle):
                    if event.id is not None:
                        last = event.id
                    yield event
            except (httpx.TransportError, ServiceUnreachable):
                self.current = (self.current + 1) % len(self.nodes)  # that node is gone: try the next
            if not reconnect:
                return
            time.sleep(0.2)

    def _stream(self, last: int | None, idle: float) -> Iterator[Event]:
        headers = {} if last is None else {"Last-Event-ID": str(last)}
        for _ in range(2 * len(self.nodes) + 2):
            with self._http.stream("GET", self.url + "/v1/events", headers=headers,
                                   timeout=httpx.Timeout(10.0, read=idle)) as answer:
                if answer.status_code == 503:
                    leader = answer.headers.get(LEADER_HEADER, "").rstrip("/")
                    self.current = self.nodes.index(leader) if leader in self.nodes else (self.current + 1) % len(self.nodes)
                    time.sleep(0.2)
                    continue
                if answer.status_code >= 400:
                    answer.read()
                    raise ServiceError(answer.status_code, _detail(answer), "GET", "/v1/events")
                yield from _parse_events(answer.iter_lines())
                return
        raise ServiceUnreachable(503, "no node leads now", "GET", "/v1/events")


def _parse_events(lines: Iterator[str]) -> Iterator[Event]:
    event_id, kind, data = None, None, []
    for line in lines:
        if not line:
            if kind is not None:
                yield Event(event_id, kind, orjson.loads("".join(data)) if data else {})
            event_id, kind, data = None, None, []
        elif line.startswith("id: "):
            event_id = int(line[4:])
        elif line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])


def _signed(signature: str | None) -> dict[str, str]:
    return {SIGNATURE_HEADER: signature} if signature else {}


def _detail(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("detail", answer.reason_phrase))
    except ValueError:
        return answer.text[:200] or answer.reason_phrase


__all__ = ["Client", "Event", "ServiceError", "ServiceUnreachable", "Member", "PlanAnswer", "PlanCheckAnswer",
           "Conflicts", "ThreadSummary", "Thread"]
