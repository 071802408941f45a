"""Shapes of request bodies and answers, for the OpenAPI document (``/docs``, generated clients).

Answers are documentation models: the routes build their JSON (with orjson and numpy for large
batches) and these describe it without validating it a second time. They forbid fields they do not
name, so that `tests/service/test_openapi.py`, which validates a real answer of every route against
its model, fails when an answer and its documentation drift apart in either direction.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from deconflict.service.limits import MAX_PLAN_BATCH, MAX_ROW_ID, MAX_SUBJECT, MAX_TEXT, MAX_THREAD_PARTIES
from deconflict.service.proposals import Manoeuvre, Proposal


class Answer(BaseModel):
    """An answer's documentation model: every field it has, and no other."""

    model_config = ConfigDict(extra="forbid")


# -- request bodies ------------------------------------------------------------------------------

class PlanBatch(BaseModel):
    plans: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_PLAN_BATCH,
                                        description="plan documents, as POST /v1/plans takes them")
    signatures: list[str | None] | None = Field(default=None, max_length=MAX_PLAN_BATCH,
                                                description="X-Deconflict-Signature value of each plan, in order")


class NewKey(BaseModel):
    public_key: str = Field(max_length=4096, description="Ed25519 public key: base64 of its 32 bytes, or PEM")


class NewThread(BaseModel):
    parties: list[str] = Field(min_length=1, max_length=MAX_THREAD_PARTIES)
    subject: str = Field(default="", max_length=MAX_SUBJECT)


class NewMessage(BaseModel):
    kind: Literal["message", "proposal", "acknowledge", "accept", "reject"] = "message"
    text: str = Field(default="", max_length=MAX_TEXT)
    proposal: Proposal | None = None
    reply_to: int | None = Field(default=None, ge=1, le=MAX_ROW_ID)
    answer_within: str | None = Field(default=None, max_length=32,
                                      description="proposal deadline from now, e.g. 5min (at most 24h)")


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema with its ``$defs`` written in place (for a body declared with ``openapi_extra``,
    where ``#/$defs/...`` would point nowhere in the OpenAPI document). Plan schemas are not recursive."""
    definitions = schema.get("$defs", {})

    def expand(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node and node["$ref"].startswith("#/$defs/"):
                return expand(definitions[node["$ref"].removeprefix("#/$defs/")])
            return {k: expand(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [expand(v) for v in node]
        return node

    return expand(schema)


def _plan_document_schema() -> dict[str, Any]:
    from deconflict.io.plans_file import PlanModel

    return {"title": "PlanDocument", "oneOf": [
        inline_refs(PlanModel.model_json_schema()),
        {"type": "object", "title": "OperationalIntent", "description": "an ASTM F3548-21 operational intent "
         "(reference and details, or details alone), altitudes with their datum (W84, AMSL, AGL)"}]}


# The body of POST/PUT /v1/plans: a plan document (the plans-file form: checked by the service, with
# one-line errors naming the field) or an ASTM F3548-21 OperationalIntent (converted on arrival).
PlanDocument = Annotated[dict[str, Any], WithJsonSchema(_plan_document_schema())]


class TrackColumns(BaseModel):
    """State vectors as columns (SPEC §2), one array per field, all of one length."""

    time: list[Union[float, str]] = Field(description="UNIX s, or ISO 8601 with an offset")
    icao24: list[str] = Field(description="6 lowercase hex digits (any string up to 32 chars for synthetic tracks)")
    lat: list[float] = Field(description="deg WGS84")
    lon: list[float] = Field(description="deg WGS84")
    velocity: list[float] = Field(description="m/s, ground speed")
    heading: list[float] = Field(description="deg true, track")
    vertrate: list[float] = Field(description="m/s, positive up")
    baroaltitude: Optional[list[Optional[float]]] = Field(None, description="m (pressure altitude)")
    geoaltitude: Optional[list[Optional[float]]] = Field(None, description="m, when no pressure altitude is known")
    callsign: Optional[list[str]] = None
    onground: Optional[list[bool]] = None
    party: Optional[list[str]] = Field(None, description="the cell's feeds only: a registered party per row")


class TrackRow(BaseModel):
    """One state vector (SPEC §2) as an object."""

    time: Union[float, str]
    icao24: str
    lat: float
    lon: float
    velocity: float
    heading: float
    vertrate: float
    baroaltitude: Optional[float] = None
    geoaltitude: Optional[float] = None
    callsign: Optional[str] = None
    onground: Optional[bool] = None
    party: Optional[str] = None


TRACKS_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "oneOf": [TrackColumns.model_json_schema(), {"type": "array", "items": TrackRow.model_json_schema()}]}}}}}


class IngestAnswer(Answer):
    accepted: int = Field(description="rows taken into the live picture")
    rejected: int = Field(description="rows skipped (bad values, reports from the future)")
    reasons: dict[str, int] = Field(description="reason -> rows")
    examples: list[str] = Field(description="the first few rows skipped, with their reason")


class MemberAnswer(Answer):
    member: int
    name: str
    party: Optional[str] = Field(description="null for the de-confliction cell")
    role: Literal["operator", "observer", "cell"]


class TrackView(Answer):
    """An aircraft of the picture, predicted to now."""

    icao24: str
    callsign: str
    party: str
    time: float = Field(description="UNIX s of its last report")
    lat: float
    lon: float
    altitude: float = Field(description="m")
    velocity: float = Field(description="m/s")
    heading: float = Field(description="deg true")
    vertrate: float = Field(description="m/s")
    intruder: bool = Field(False, description="another party's aircraft in conflict with one of yours (given when true)")
    nonconforming: bool = Field(False, description="off its party's plans, and you were told (given when true)")


class AircraftState(Answer):
    icao24: str
    callsign: str = ""
    party: str = ""
    time: float = Field(description="UNIX s of the state (the snapshot time)")
    lat: float
    lon: float
    altitude: float
    velocity: float
    heading: float
    vertrate: float


class TacticalConflictView(Answer):
    id: str
    kind: Literal["tactical"]
    a: str
    b: str
    party_a: str
    party_b: str
    level: int = Field(description="1 preventive, 2 corrective, 3 warning (as displayed: filtered M of N)")
    raw_level: int = Field(description="the level of the last detection cycle, before filtering")
    raised: str = Field(description="ISO 8601")
    thread: Optional[int] = None
    t_in: float = Field(description="s to the loss of separation")
    t_out: float
    t_cpa: float = Field(description="s to the closest approach, within the look-ahead")
    d_cpa: float = Field(description="m at the closest approach")
    dz_cpa: float = Field(description="m vertically then")
    state_a: AircraftState
    state_b: AircraftState


class StrategicConflictView(Answer):
    """Two plans that overlap, as one of their parties sees it (the cell sees both plans' ids)."""

    id: str
    kind: Literal["strategic"]
    active: bool
    blocking: bool = Field(description="the later plan was refused because of it")
    overlap: dict[str, Any] = Field(description="GeoJSON Feature: where, when and at what levels they overlap")
    created: str
    plan: str = Field(description="your plan's id")
    party: str
    other_plan: Optional[str] = Field(None, description="the cell only: the other plan's id")
    other_party: str
    volume: dict[str, Any] = Field(description="GeoJSON Feature: your plan's volume in the conflict")
    other_volume: dict[str, Any] = Field(description="GeoJSON Feature: the other plan's volume in it (that one only)")


class ConflictsAnswer(Answer):
    tactical: list[TacticalConflictView]
    strategic: list[StrategicConflictView]


class Health(Answer):
    ok: bool
    time: float = Field(description="the service clock, UNIX s")
    speed: float = Field(description="the clock's speed (1: real time)")
    detections: int = Field(description="detection cycles run by this node")
    role: str = Field(description="leader, standby or deposed")
    epoch: Optional[int] = Field(description="the leader lease's epoch")
    leader: str = Field(description="the URL the leading node advertises")


class NodeAnswer(Answer):
    role: str
    epoch: Optional[int]
    leader: str


class PartyView(Answer):
    id: str
    title: str
    suspended: bool


class PartySuspension(Answer):
    id: str
    suspended: bool


class PlanView(Answer):
    """A plan as its own party (or the cell) sees it. ``?format=f3548`` on GET answers an ASTM F3548-21
    OperationalIntent instead."""

    id: str
    party: str
    version: int = Field(description="the ETag; send it back as If-Match to change the plan")
    status: str
    state: str = Field(description="F3548 state now: Accepted, Activated, Nonconforming, Contingent, Ended")
    document: dict[str, Any] = Field(description="the plan document as submitted")
    created: str
    updated: str


class BlockingConflict(Answer):
    other_party: str
    reason: str
    overlap: dict[str, Any] = Field(description="GeoJSON Feature")


class PlanAnswer(PlanView):
    """A submission's answer: the plan, and its conflicts with every stored plan."""

    conflicts: list[StrategicConflictView]
    accepted: bool = Field(description="false when a conflict blocks it (then it is not stored)")
    blocked_by: list[BlockingConflict]


class CheckedConflict(Answer):
    other_party: str
    blocking: bool
    reason: str
    overlap: dict[str, Any] = Field(description="GeoJSON Feature")


class PlanCheckAnswer(Answer):
    id: str
    accepted: bool = Field(description="whether a submission would be accepted now")
    conflicts: list[CheckedConflict]


class FeatureCollection(Answer):
    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]] = Field(description="GeoJSON Features (RFC 7946, lon/lat)")
    at: Optional[str] = Field(None, description="the time the collection shows (plan volumes)")


class Resolutions(Answer):
    aircraft: str
    party: str
    recovery: bool = Field(description="the aircraft is already inside the volume: the manoeuvres recover")
    proposals: list[Manoeuvre] = Field(description="each flown and checked against all traffic before it is offered")


class Clash(Answer):
    icao24: str
    parties: list[str]
    since: str


class OccurrenceView(Answer):
    id: str
    a: str
    b: str
    party_a: str
    party_b: str
    standard: str
    conflict: Optional[str]
    started: str
    ended: Optional[str] = Field(description="null while it lasts")
    end_reason: Optional[str] = Field(description="separated or tracks lost")
    duration_s: Optional[float]
    closest_horizontal_m: float
    closest_vertical_m: float
    closest_at: str


class NonconformanceView(Answer):
    """The owner and the cell see all of it; a party told of it sees the aircraft, its times and what
    of its own the aircraft could reach (``told``), not the owner's plans."""

    id: str
    party: str
    icao24: str
    plans: Optional[list[str]] = None
    started: str
    ended: Optional[str]
    end_reason: Optional[str]
    detail: Optional[dict[str, Any]] = None
    told: list[dict[str, Any]]


class MessageView(Answer):
    id: int
    thread: int
    party: Optional[str] = Field(description="null for the service")
    author: str
    kind: str = Field(description="message, proposal, acknowledge, accept, reject, or the service's notices")
    text: str
    proposal: Optional[dict[str, Any]] = Field(description="a manoeuvre or a plan change (see NewMessage)")
    reply_to: Optional[int]
    deadline: Optional[str]
    status: Optional[str] = Field(description="a proposal's: open, accepted, rejected, expired")
    created: str


class ThreadView(Answer):
    id: int
    subject: str
    conflict: Optional[str]
    parties: list[str]
    status: str
    created: str
    acknowledge_by: Optional[str]
    acknowledged_by: list[str]


class ThreadDetail(ThreadView):
    messages: list[MessageView]


class KeyView(Answer):
    key: str = Field(description="the key id (used in X-Deconflict-Signature)")
    member: int
    name: str
    party: Optional[str]
    public_key: str
    created: str
    revoked: bool


def text(media_type: str, description: str) -> dict[int, dict[str, Any]]:
    """A 200 answer that is not JSON."""
    return {200: {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}}
