"""Shapes of request bodies and answers, for the OpenAPI document (``/docs``, generated clients).

Documentation models: routes that carry large batches (tracks, pictures) parse and answer with
orjson and numpy, so these describe the JSON without validating it a second time.
"""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import BaseModel, Field


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


class IngestAnswer(BaseModel):
    accepted: int = Field(description="rows taken into the live picture")
    rejected: int = Field(description="rows skipped (bad values, reports from the future)")
    reasons: dict[str, int] = Field(description="reason -> rows")
    examples: list[str] = Field(description="the first few rows skipped, with their reason")


class MemberAnswer(BaseModel):
    member: int
    name: str
    party: Optional[str] = Field(description="null for the de-confliction cell")
    role: Literal["operator", "observer", "cell"]


class TrackView(BaseModel):
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


class AircraftState(BaseModel):
    icao24: str
    callsign: str = ""
    party: str = ""
    lat: float
    lon: float
    altitude: float
    velocity: float
    heading: float
    vertrate: float


class TacticalConflictView(BaseModel):
    id: str
    kind: Literal["tactical"]
    a: str
    b: str
    party_a: str
    party_b: str
    level: int = Field(description="1 preventive, 2 corrective, 3 warning")
    raised: str = Field(description="ISO 8601")
    thread: Optional[int] = None
    t_in: float = Field(description="s to the loss of separation")
    t_out: float
    t_cpa: float = Field(description="s to the closest approach, within the look-ahead")
    d_cpa: float = Field(description="m at the closest approach")
    dz_cpa: float = Field(description="m vertically then")
    state_a: AircraftState
    state_b: AircraftState


class ConflictsAnswer(BaseModel):
    tactical: list[TacticalConflictView]
    strategic: list[dict] = Field(description="plan conflicts you are party to (overlap GeoJSON, blocking, ...)")
