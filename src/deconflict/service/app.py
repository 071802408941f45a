"""The HTTP API (FastAPI): every route authenticates, then asks `Deconfliction`, which applies
need-to-know. OpenAPI at ``/docs`` and ``/openapi.json``.
"""

import asyncio
import json
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import orjson
from fastapi import Depends, FastAPI, Header, Request, Response, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from deconflict.core.units import UnitError, parse_duration
from deconflict.io.fields import field_message
from deconflict.io.plans_file import parse_time
from deconflict.service.auth import Principal
from deconflict.service.deconfliction import Deconfliction
from deconflict.service.errors import BadRequest, NotLeading, ServiceError, TooManyRequests, Unauthorized
from deconflict.service import schemas
from deconflict.service.schemas import NewKey, NewMessage, NewThread, PlanBatch
from deconflict.service.event_stream import event_stream
from deconflict.service.hardening import Hardening
from deconflict.service.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from deconflict.store.audit import public_pem
from deconflict import web
from deconflict.wire import LEADER_HEADER

TARPIT_LONGEST = 2.0  # s: longest wait before a 429 answer
class ErrorAnswer(BaseModel):
    detail: str = Field(description="one line: the field or resource, what was expected")


ERRORS = {status: {"description": text, "model": ErrorAnswer} for status, text in (
    (401, "no token, or a token unknown or revoked"), (403, "your role or party may not do this"),
    (413, "request body too large"), (422, "a field is missing or out of its documented range"),
    (429, "your party is over its fair share of this work (see Retry-After)"),
    (503, "storage failed or the audit chain is broken: nothing was stored; try again"))}
PLAN_ERRORS = {**ERRORS, 404: {"description": "no such plan that you may see", "model": ErrorAnswer},
               409: {"description": "stale version, or the id is taken", "model": ErrorAnswer},
               428: {"description": "If-Match (the version read) is required", "model": ErrorAnswer}}
THREAD_ERRORS = {**ERRORS, 404: {"description": "no such thread that you may see", "model": ErrorAnswer},
                 409: {"description": "the proposal was already answered or expired, or the thread is closed",
                       "model": ErrorAnswer}}


SignatureHeader = Annotated[str | None, Header(max_length=200, description=(
    "<key id>:<base64 Ed25519 signature> of the commitment (deconflict sign); required of members with a key"))]


def create_app(service: Deconfliction, run_detection: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.events.bind(asyncio.get_running_loop())
        if run_detection:
            service.start()
        yield
        service.stop()

    app = FastAPI(title="deconflict", version="0.1.0", lifespan=lifespan, responses=ERRORS,
                  description="Multi-party airspace de-confliction: plans, live tracks, conflicts, hotline, "
                              "signed audit record. Every route needs `Authorization: Bearer <token>`.")
    app.state.service = service
    app.add_middleware(Hardening)
    web.mount(app)

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, error: ServiceError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, Unauthorized) else None  # RFC 6750
        if isinstance(error, NotLeading):  # a standby: where to go, and when to try here again
            headers = {"Retry-After": "1", **({LEADER_HEADER: error.leader} if error.leader else {})}
        if isinstance(error, TooManyRequests):
            headers = {"Retry-After": str(max(1, int(error.retry_after + 0.999)))}
            # a party over its share waits for the answer (costs this loop nothing): a client that
            # ignores Retry-After cannot turn cheap refusals into a flood that takes the CPU
            await asyncio.sleep(min(error.retry_after, TARPIT_LONGEST))
        return JSONResponse({"detail": str(error)}, status_code=error.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0]
        location = [p for p in first.get("loc", []) if p not in ("body", "query", "path", "header")]
        return JSONResponse({"detail": field_message(location or ["request"], first)}, status_code=422)

    bearer = HTTPBearer(auto_error=False, description="a member's token (dcf_...), from `deconflict admin add-member`")

    def principal(credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None) -> Principal:
        return service.admit(credentials.credentials if credentials is not None else None)

    Caller = Annotated[Principal, Depends(principal)]

    @app.get("/healthz", tags=["service"], responses={200: {"model": schemas.Health}})
    def health() -> dict[str, Any]:
        """Liveness, the service clock (UNIX s) and its speed, detection cycles so far, and this node's
        role (``leader``, ``standby`` or ``deposed``), lease epoch and the leader's URL. No token needed."""
        return {"ok": True, "time": service.clock.now(), "speed": service.clock.speed, "detections": service.detections,
                **service.node()}

    @app.get("/metrics", tags=["service"], response_class=Response,
             responses=schemas.text(METRICS_CONTENT_TYPE, "Prometheus text exposition format"))
    def metrics() -> Response:
        """Prometheus metrics of this node (no token: counts only, nothing of any party's data): state
        vectors accepted and refused, detection cycle time, open conflicts, event subscribers, tracks,
        plans, whether it leads."""
        return Response(service.metrics.scrape(service), media_type=METRICS_CONTENT_TYPE)

    @app.get("/healthz/leader", tags=["service"], responses={200: {"model": schemas.NodeAnswer},
             503: {"description": "this node does not lead", "model": schemas.NodeAnswer}})
    def health_leader() -> Response:
        """200 on the leading node, 503 on a standby: the check a load balancer in front of the nodes
        uses to send every client to the leader (``deploy/haproxy.cfg``). No token needed."""
        node = service.node()
        return JSONResponse(node, status_code=200 if node["role"] == "leader" else 503)

    @app.get("/v1/me", tags=["parties"], response_model=schemas.MemberAnswer)
    def me(who: Caller) -> dict[str, Any]:
        """The member this token belongs to: name, party (null for the cell) and role."""
        return {"member": who.member, "name": who.name, "party": who.party, "role": who.role.value}

    @app.get("/v1/parties", tags=["parties"], responses={200: {"model": list[schemas.PartyView]}})
    def parties(who: Caller) -> list[dict[str, Any]]:
        """Every party (id, title, whether it has suspended participation): the addresses of the hotline."""
        return service.parties()

    @app.post("/v1/parties/{party}/suspend", tags=["parties"], responses={**ERRORS, 200: {"model": schemas.PartySuspension}})
    def suspend(party: str, who: Caller) -> dict[str, Any]:
        """Suspend a party's participation (its operators or the cell). Its last tracks and plans still
        count, the other parties keep being alerted, and its open threads escalate to the cell."""
        return service.set_suspended(who, party, True)

    @app.post("/v1/parties/{party}/resume", tags=["parties"], responses={**ERRORS, 200: {"model": schemas.PartySuspension}})
    def resume(party: str, who: Caller) -> dict[str, Any]:
        """Resume a suspended party's participation."""
        return service.set_suspended(who, party, False)

    # -- plans --------------------------------------------------------------------------------

    @app.get("/v1/plans", tags=["plans"], responses={200: {"model": list[schemas.PlanView]}})
    def list_plans(who: Caller) -> list[dict[str, Any]]:
        """Your party's plans (the cell: all). Other parties' plans are seen only through conflicts."""
        return service.list_plans(who)

    @app.post("/v1/plans", tags=["plans"], status_code=201, responses={**PLAN_ERRORS, 201: {"model": schemas.PlanAnswer}})
    def submit_plan(document: schemas.PlanDocument, who: Caller, response: Response,
                    x_deconflict_signature: SignatureHeader = None) -> dict[str, Any]:
        """Submit a plan (plans-file schema: id, priority, volumes/route, recurring). It is checked
        against every stored plan; ``accepted`` false when a conflict blocks it. A member with a
        registered key signs it (``X-Deconflict-Signature``, see ``deconflict sign``)."""
        return _with_etag(response, service.submit_plan(who, document, x_deconflict_signature))

    @app.get("/v1/airports", tags=["map"], responses={**ERRORS, 200: {"model": schemas.FeatureCollection}})
    def airports(who: Caller, bbox: str) -> dict[str, Any]:
        """Airports inside ``bbox`` = ``south,west,north,east`` (degrees; west > east across the antimeridian),
        at most 2,000, commercial ones first, as GeoJSON points (ICAO, IATA, name, elevation in ft):
        public data from the airportsdata package, the same for every member."""
        try:
            south, west, north, east = (float(v) for v in bbox.split(","))
        except ValueError:
            raise BadRequest(f"bbox: expected south,west,north,east in degrees, got {bbox[:60]!r}") from None
        if not (-90.0 <= south <= north <= 90.0 and -180.0 <= west <= 180.0 and -180.0 <= east <= 180.0):
            raise BadRequest(f"bbox: expected -90 <= south <= north <= 90 and longitudes in [-180, 180], got {bbox[:60]!r}")
        from deconflict.io.airports import airports_in

        found = airports_in(south, west, north, east)
        return {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [a["lon"], a["lat"]]},
             "properties": {k: v for k, v in a.items() if k not in ("lat", "lon")}} for a in found]}

    @app.get("/v1/plans/volumes", tags=["plans"], responses={**ERRORS, 200: {"model": schemas.FeatureCollection}})
    def plan_volumes(who: Caller, at: str | None = None) -> dict[str, Any]:
        """GeoJSON of the plan volumes in force at ``at`` (ISO 8601, default now) that you may see: your own,
        and other parties' volumes in conflict with yours (``kind``: own / conflicting)."""
        when = None
        if at is not None:
            try:
                when = parse_time(at, "at")
            except ValueError as error:
                raise BadRequest(str(error)) from None
        return service.plan_volumes(who, when)

    @app.post("/v1/plans/batch", tags=["plans"], status_code=201,
              responses={**PLAN_ERRORS, 201: {"model": list[schemas.PlanAnswer]}})
    def submit_plans(body: PlanBatch, who: Caller) -> list[dict[str, Any]]:
        """Submit many plans at once (a season's schedule) in one transaction: all or none
        (``signatures``: each plan's, in order, from a member with a registered key)."""
        return service.submit_plans(who, body.plans, body.signatures)

    @app.post("/v1/plans/check", tags=["plans"], responses={**PLAN_ERRORS, 200: {"model": list[schemas.PlanCheckAnswer]}})
    def check_plans(body: PlanBatch, who: Caller) -> list[dict[str, Any]]:
        """Dry run of a batch (a schedule before filing it): each plan's conflicts with every stored plan,
        as a submission would show them; nothing is stored. Counted like a submission and recorded in
        the audit trail of every party it met."""
        return service.check_plans(who, body.plans)

    @app.get("/v1/plans/{party}/{plan_id}", tags=["plans"], responses={**PLAN_ERRORS, 200: {"model": schemas.PlanView}})
    def get_plan(party: str, plan_id: str, who: Caller, response: Response,
                 format: Literal["plan", "f3548"] = "plan") -> dict[str, Any]:
        """One of your plans (the cell: anyone's); the ETag is its version. Another party's plan is 404.
        ``format=f3548``: the plan as an ASTM F3548-21 OperationalIntent (WGS84 heights, widened for the
        geoid); a recurring plan has no F3548 form (422)."""
        answer = _with_etag(response, service.get_plan(who, party, plan_id))
        if format == "f3548":
            from deconflict.io.f3548 import intents_from_plans
            from deconflict.io.plans_file import PlansFileError, plan_from_document

            try:
                plan = plan_from_document({**answer["document"], "party": party}, f"plan {plan_id}")
                return intents_from_plans([plan], manager=party)[0]
            except PlansFileError as error:
                raise BadRequest(str(error)) from None
        return answer

    @app.put("/v1/plans/{party}/{plan_id}", tags=["plans"], responses={**PLAN_ERRORS, 200: {"model": schemas.PlanAnswer}})
    def update_plan(party: str, plan_id: str, document: schemas.PlanDocument, who: Caller, response: Response,
                    if_match: Annotated[str | None, Header()] = None,
                    x_deconflict_signature: SignatureHeader = None) -> dict[str, Any]:
        """Replace a plan; ``If-Match`` must carry the version read (409 when someone changed it since)."""
        return _with_etag(response, service.update_plan(who, party, plan_id, document, _version(if_match),
                                                        x_deconflict_signature))

    @app.delete("/v1/plans/{party}/{plan_id}", tags=["plans"], status_code=204, responses=PLAN_ERRORS)
    def delete_plan(party: str, plan_id: str, who: Caller,
                    if_match: Annotated[str | None, Header()] = None,
                    x_deconflict_signature: SignatureHeader = None) -> Response:
        """Delete one of your plans; ``If-Match`` must carry its version. Its strategic conflicts clear."""
        service.delete_plan(who, party, plan_id, _version(if_match), x_deconflict_signature)
        return Response(status_code=204)

    # -- tracks and conflicts -----------------------------------------------------------------

    @app.post("/v1/tracks", tags=["tracks"], status_code=202, response_model=schemas.IngestAnswer, responses=ERRORS,
              openapi_extra=schemas.TRACKS_BODY)
    async def push_tracks(request: Request, who: Caller) -> dict[str, Any]:
        """A batch of state vectors as JSON: SPEC §2 columns as arrays (``{"time": [...], "icao24": [...]}``)
        or a list of row objects. Rows are stamped with your party."""
        body = await request.body()  # capped by `Hardening`
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise BadRequest(f"tracks: body is not JSON ({error})") from None
        if isinstance(data, list):
            names = sorted({k for row in data if isinstance(row, dict) for k in row})
            data = {name: [row.get(name) if isinstance(row, dict) else None for row in data] for name in names}
        if not isinstance(data, dict):
            raise BadRequest("tracks: expected an object of column arrays or a list of row objects")
        result = await run_in_threadpool(service.ingest, who, data, body)
        return {"accepted": result.accepted, "rejected": result.rejected, "reasons": result.reasons,
                "examples": result.examples}

    @app.get("/v1/tracks", tags=["tracks"], responses={**ERRORS, 200: {"model": list[schemas.TrackView], "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
    def tracks(who: Caller, format: Literal["rows", "columns", "asterix"] = "rows") -> Response:
        """Aircraft you may see now, predicted to now: yours, and intruders in conflict with yours
        (``intruder``: true). ``format=columns``: one array per field (for maps of many aircraft);
        ``format=asterix``: the same picture as one EUROCONTROL ASTERIX CAT062 datablock (system tracks,
        edition 1.20), for a display that shows them."""
        if format == "asterix":
            from deconflict.core.states import States
            from deconflict.io.asterix import encode_cat062

            c = service.tracks(who, columns=True)
            picture = States.from_arrays(icao24=c["icao24"], callsign=c["callsign"], time=c["time"], lat=c["lat"],
                                         lon=c["lon"], velocity=c["velocity"], heading=c["heading"],
                                         vertrate=c["vertrate"], altitude=c["altitude"])
            return Response(encode_cat062(picture), media_type="application/octet-stream")
        return _json(service.tracks(who, columns=format == "columns"))

    @app.get("/v1/conflicts", tags=["conflicts"], responses={**ERRORS, 200: {"model": schemas.ConflictsAnswer}})
    def conflicts(who: Caller) -> Response:
        """Open tactical conflicts (sorted by time to loss of separation) and active strategic ones."""
        return _json({"tactical": service.tactical_conflicts(who), "strategic": service.strategic_conflicts(who)})

    @app.get("/v1/occurrences", tags=["conflicts"], responses={**ERRORS, 200: {
        "model": list[schemas.OccurrenceView], "content": {"text/csv": {"schema": {"type": "string"}}}}})
    def occurrences(who: Caller, format: Literal["json", "csv"] = "json") -> Response:
        """Losses of separation that happened (newest first; your party's, or all for the cell): the
        pair, both parties, start, end (null while it lasts), why it ended (``separated`` or ``tracks
        lost``), the closest horizontal distance seen and the height difference then (m), and the
        conflict shown at the time. ``format=csv``: every one, as a file to export."""
        if format == "csv":
            return Response(service.occurrences_csv(who), media_type="text/csv",
                            headers={"Content-Disposition": 'attachment; filename="occurrences.csv"'})
        return _json(service.occurrences(who))

    @app.get("/v1/nonconformances", tags=["plans"], responses={**ERRORS, 200: {"model": list[schemas.NonconformanceView]}})
    def nonconformances(who: Caller) -> Response:
        """Aircraft that left every volume of their party's plans naming them (ASTM F3548
        Nonconforming), newest first. The owner sees its own in full (plans, where, by how much, which
        parties were told); a party told of one sees the aircraft, its times and which of its own
        aircraft and plans it could reach; the cell sees all."""
        return _json(service.nonconformances(who))

    @app.get("/v1/tracks/clashes", tags=["tracks"], responses={**ERRORS, 200: {"model": list[schemas.Clash]}})
    def clashes(who: Caller) -> list[dict[str, Any]]:
        """Addresses (icao24) now reported by more than one party, with the parties: one aircraft
        seen by two, or a party using another's address. The cell only (403 for the parties)."""
        return service.clashes(who)

    @app.get("/v1/conflicts/{conflict_id}/resolutions", tags=["conflicts"],
             responses={**ERRORS, 404: {"description": "no open conflict that you may see", "model": ErrorAnswer},
                        200: {"model": list[schemas.Resolutions]}})
    def resolutions(conflict_id: str, who: Caller) -> list[dict[str, Any]]:
        """Suggested manoeuvres for your aircraft in an open tactical conflict (the cell: both aircraft):
        the nearest clear heading, flight level and speed from the conflict bands, as proposals ready
        to post on the hotline."""
        return service.resolutions(who, conflict_id)

    # -- hotline ------------------------------------------------------------------------------

    @app.get("/v1/threads", tags=["hotline"], responses={**ERRORS, 200: {"model": list[schemas.ThreadView]}})
    def threads(who: Caller) -> list[dict[str, Any]]:
        """Hotline threads you take part in (the cell: all), without their messages."""
        return service.threads(who)

    @app.post("/v1/threads", tags=["hotline"], status_code=201, responses={**ERRORS, 201: {"model": schemas.ThreadDetail}})
    def new_thread(body: NewThread, who: Caller) -> dict[str, Any]:
        """Open a free thread between your party and others (the cell: with any parties)."""
        return service.create_thread(who, body.parties, body.subject)

    @app.get("/v1/threads/{thread_id}", tags=["hotline"], responses={**THREAD_ERRORS, 200: {"model": schemas.ThreadDetail}})
    def thread(thread_id: int, who: Caller) -> dict[str, Any]:
        """A thread with its messages, proposals and their status; 404 if you do not take part."""
        return service.thread(who, thread_id)

    @app.post("/v1/threads/{thread_id}/messages", tags=["hotline"], status_code=201,
              responses={**THREAD_ERRORS, 201: {"model": schemas.MessageView}})
    def post_message(thread_id: int, body: NewMessage, who: Caller,
                     x_deconflict_signature: SignatureHeader = None) -> dict[str, Any]:
        """Write on a thread: a message, a structured proposal (manoeuvre or plan change) with a deadline,
        or a reply to one (acknowledge / accept / reject: another party of the thread, once, in time)."""
        within = None
        if body.answer_within is not None:
            try:
                within = parse_duration(body.answer_within, "answer_within")
            except UnitError as error:
                raise BadRequest(str(error)) from None
        proposal = body.proposal.model_dump() if body.proposal is not None else None
        return service.post(who, thread_id, body.kind, body.text, proposal, body.reply_to, within,
                            x_deconflict_signature, body.answer_within)

    @app.get("/v1/keys", tags=["keys"], responses={**ERRORS, 200: {"model": list[schemas.KeyView]}})
    def keys(who: Caller) -> list[dict[str, Any]]:
        """Every member's registered signing keys (public halves), revoked ones included: anyone may
        check any party's signature, and see every key the service accepted."""
        return service.keys.list(who)

    @app.post("/v1/me/keys", tags=["keys"], status_code=201, responses={**ERRORS, 201: {"model": schemas.KeyView}})
    def register_key(body: NewKey, who: Caller) -> dict[str, Any]:
        """Register the public half of your Ed25519 signing key (base64 of its 32 bytes, or PEM; make one
        with ``deconflict keys new``). From then on your proposals, answers and plan writes must be
        signed. The registration is in every party's audit record."""
        return service.keys.register(who, body.public_key)

    @app.delete("/v1/me/keys/{key}", tags=["keys"], status_code=204, responses=ERRORS)
    def revoke_key(key: str, who: Caller) -> Response:
        """Revoke one of your keys (recorded): it signs nothing more."""
        service.keys.revoke(who, key)
        return Response(status_code=204)

    # -- audit --------------------------------------------------------------------------------

    @app.get("/v1/audit/key", tags=["audit"], response_class=Response, responses={**ERRORS, **schemas.text("application/x-pem-file", "PEM")})
    def audit_key(who: Caller) -> Response:
        """The service's Ed25519 public key (PEM) that signs every entry."""
        return Response(public_pem(service.key.public), media_type="application/x-pem-file")

    @app.get("/v1/audit/receipts", tags=["audit"], response_class=StreamingResponse, responses={**ERRORS, **schemas.text(
        "application/x-ndjson", "one signed entry per line (JSON), then the signed head")})
    def receipts(who: Caller, tail: int | None = None) -> StreamingResponse:
        """Your party's signed receipts (the cell: the whole chain) as JSON lines, then a signed head.
        ``tail=N``: only the last N (to display; `deconflict audit verify` needs the whole download)."""
        return _ndjson(service.audit_records(who, tail=tail))

    @app.get("/v1/audit/chain", tags=["audit"], response_class=StreamingResponse, responses={**ERRORS, **schemas.text(
        "application/x-ndjson", "one signed entry per line (JSON), then the signed head")})
    def chain(who: Caller) -> StreamingResponse:
        """The whole chain (the cell only) as JSON lines, then a signed head."""
        return _ndjson(service.audit_records(who, whole=True))

    # -- live events --------------------------------------------------------------------------

    @app.get("/v1/events", tags=["events"], response_class=StreamingResponse, responses={**ERRORS, **schemas.text(
        "text/event-stream", "server-sent events: id, event (type) and data (JSON) per event")})
    async def events(who: Caller, request: Request, last_event_id: str | None = None) -> StreamingResponse:
        """Server-sent events: conflict raised / level / cleared, conflicts.updated, hotline messages,
        each as this caller may see it. Stored events carry an ``id``; a client that reconnects (to this
        node or, after a failover, to the next leader) sends the last one it saw as ``Last-Event-ID``
        (or ``?last_event_id=``) and gets every later event once, in order, before the live ones. When
        some were pruned meanwhile it gets a ``resync`` event first (reload the state from the REST
        routes). ``conflicts.updated`` (the whole list, once a second) has no id and is not replayed."""
        return await event_stream(service, who, request, last_event_id)

    return app


def _with_etag(response: Response, plan: dict[str, Any]) -> dict[str, Any]:
    """A plan answer, its version as the ETag (what If-Match sends back)."""
    response.headers["ETag"] = f'"{plan["version"]}"'
    return plan


def _version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    try:
        return int(text)
    except ValueError:
        raise BadRequest(f"If-Match: expected the plan's version number, got {if_match!r}") from None


def _json(value: Any) -> Response:
    """Large answers serialised by orjson directly (FastAPI's encoder walks every value in Python)."""
    return Response(orjson.dumps(value), media_type="application/json")


def _ndjson(lines) -> StreamingResponse:
    return StreamingResponse((json.dumps(line, separators=(",", ":")) + "\n" for line in lines),
                             media_type="application/x-ndjson")
