"""What each audience may see (the one place the need-to-know rule is written).

A viewer is a party id, or None for the de-confliction cell. A party sees all of its own data;
of another party only what a conflict with its own aircraft or plans requires: for a strategic
conflict the other plan's conflicting volume and the overlap (never the other plan's id, other
volumes or document); for a tactical conflict the intruder's predicted state now and at closest
approach (never its track history or aircraft that are not in conflict with the viewer's). The cell
sees everything. Every endpoint and the live stream build their answers with these functions.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any, Iterable

import numpy as np

from deconflict.core.states import States
from deconflict.core.volumes import Volume4D, footprint_geometry
from deconflict.service.picture import TRACK_SEPARATOR, track_ids
from deconflict.store.schema import Message, PlanRecord, StrategicConflict, Thread, plan_id_of

Viewer = str | None  # party id, or None: the cell


def iso(seconds: float | None) -> str | None:
    from datetime import datetime, timezone

    if seconds is None:
        return None
    return datetime.fromtimestamp(float(seconds), tz=timezone.utc).isoformat().replace("+00:00", "Z")


def audiences(parties: Iterable[str]) -> list[Viewer]:
    """Who may see something concerning ``parties``: each of them and the cell."""
    return [None, *sorted({p for p in parties if p})]


def plan_view(record: PlanRecord, state: str | None = None) -> dict[str, Any]:
    """A plan as its own party (or the cell) sees it; ``state``: its F3548 state now (`Plans.state`)."""
    return {"id": record.plan_id, "party": record.party, "version": record.version, "status": record.status,
            "state": state or record.document.get("state", "Accepted"),
            "document": record.document, "created": iso(record.created), "updated": iso(record.updated)}


def volume_feature(volume: Volume4D) -> dict[str, Any]:
    """A 4D volume as a GeoJSON Feature: footprint polygon, altitude band (m) and time window."""
    return {"type": "Feature", "geometry": _footprint_geometry(volume.footprint),
            "properties": {"alt_lower": volume.altitude_lower, "alt_upper": volume.altitude_upper,
                           "time_start": iso(volume.time_start), "time_end": iso(volume.time_end)}}


@lru_cache(maxsize=4096)
def _footprint_geometry(footprint: Any) -> dict[str, Any]:
    """Drawn once per footprint (a plan in many conflicts is drawn for each); treated as read-only."""
    return footprint_geometry(footprint)


def overlap_feature(conflict: Any) -> dict[str, Any]:
    """Where two plans overlap (footprint, times, altitudes), without naming either plan: both sides see it."""
    feature = conflict.geojson()
    keep = ("time_start", "time_end", "alt_lower", "alt_upper", "separation", "blocking", "reason")
    return {**feature, "properties": {k: v for k, v in feature["properties"].items() if k in keep}}


def overlap_digest(feature: dict[str, Any]) -> dict[str, Any]:
    """What the audit record keeps of an overlap: its times, levels, bounding box and the SHA-256 of
    its canonical GeoJSON (the stored conflict holds the geometry; the digest binds it)."""
    from deconflict.store.audit import canonical

    geometry = feature.get("geometry")
    bbox = None
    if geometry is not None:
        parts = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
        points = np.array([p for part in parts for p in part[0]])
        bbox = [round(float(v), 7) for v in (*points.min(axis=0), *points.max(axis=0))]
    properties = feature["properties"]
    return {"overlap_sha256": hashlib.sha256(canonical(feature)).hexdigest(), "bbox": bbox,
            **{k: properties.get(k) for k in ("time_start", "time_end", "alt_lower", "alt_upper", "separation")}}


def strategic_view(row: StrategicConflict, viewer: Viewer) -> dict[str, Any] | None:
    """A strategic conflict as ``viewer`` sees it, or None when it does not concern ``viewer``."""
    details = row.overlap
    base = {"id": f"strategic:{row.id}", "kind": "strategic", "active": row.active, "blocking": row.blocking,
            "overlap": details["overlap"], "created": iso(row.created)}
    if viewer is None:
        return {**base, "plan": plan_id_of(row.plan), "party": row.party, "other_plan": plan_id_of(row.other),
                "other_party": row.other_party, "volume": details["volume"], "other_volume": details["other_volume"]}
    if viewer == row.party:
        return {**base, "plan": plan_id_of(row.plan), "party": row.party, "other_party": row.other_party,
                "volume": details["volume"], "other_volume": details["other_volume"]}
    if viewer == row.other_party:
        return {**base, "plan": plan_id_of(row.other), "party": row.other_party, "other_party": row.party,
                "volume": details["other_volume"], "other_volume": details["volume"]}
    return None


def aircraft_state(s: States, row: int) -> dict[str, Any]:
    """One aircraft's state (degrees, metres, m/s) at the snapshot time."""
    return {"icao24": str(s.icao24[row]), "callsign": str(s.callsign[row]), "party": str(s.party[row]),
            "time": float(s.time[row]), "lat": round(float(s.lat[row]), 6), "lon": round(float(s.lon[row]), 6),
            "altitude": round(float(s.altitude[row]), 1), "velocity": round(float(s.velocity[row]), 2),
            "heading": round(float(s.heading[row]), 2), "vertrate": round(float(s.vertrate[row]), 2)}


def tactical_view(conflict: dict[str, Any], viewer: Viewer) -> dict[str, Any] | None:
    """A tactical conflict (service record with both aircraft's predicted states) for ``viewer``."""
    parties = (conflict["party_a"], conflict["party_b"])
    if viewer is not None and viewer not in parties:
        return None
    return conflict  # both states are predictions around the conflict: each party may see the other's


def tracks_columns(snapshot: States, conflicts: Iterable[dict[str, Any]], viewer: Viewer,
                   nonconforming: set[tuple[str, str]] = frozenset()) -> dict[str, list]:
    """Aircraft ``viewer`` may see now, as columns: its own, plus (flagged ``intruder``) each other
    aircraft in an open conflict with one of its own, predicted to now, and each nonconforming aircraft
    it was told of (``nonconforming``: the (party, icao24) it may see so, flagged in the column of that
    name). The cell sees every aircraft."""
    if viewer is None:
        own = np.ones(len(snapshot), dtype=bool)
        intruder = np.zeros(len(snapshot), dtype=bool)
    else:
        own = snapshot.party == viewer
        # tracks are (party, icao24): an intruder is the other party's track in the conflict, not
        # every track that happens to carry its address
        ids = {(c["party_b"], c["b"]) for c in conflicts if c["party_a"] == viewer and c["party_b"] != viewer}
        ids |= {(c["party_a"], c["a"]) for c in conflicts if c["party_b"] == viewer and c["party_a"] != viewer}
        intruder = np.zeros(len(snapshot), dtype=bool)
        if ids:
            wanted = [f"{party}{TRACK_SEPARATOR}{icao24}" for party, icao24 in ids]
            intruder = np.isin(track_ids(snapshot), wanted) & ~own
    flagged = np.zeros(len(snapshot), dtype=bool)
    if nonconforming and len(snapshot):
        flagged = np.isin(track_ids(snapshot), [f"{party}{TRACK_SEPARATOR}{icao24}" for party, icao24 in nonconforming])
        intruder |= flagged & ~own
    rows = np.flatnonzero(own | intruder)
    return {"icao24": snapshot.icao24[rows].tolist(), "callsign": snapshot.callsign[rows].tolist(),
            "party": snapshot.party[rows].tolist(), "time": snapshot.time[rows].tolist(),
            "lat": snapshot.lat[rows].round(6).tolist(), "lon": snapshot.lon[rows].round(6).tolist(),
            "altitude": snapshot.altitude[rows].round(1).tolist(), "velocity": snapshot.velocity[rows].round(2).tolist(),
            "heading": snapshot.heading[rows].round(2).tolist(), "vertrate": snapshot.vertrate[rows].round(2).tolist(),
            "intruder": intruder[rows].tolist(), "nonconforming": flagged[rows].tolist()}


def tracks_view(snapshot: States, conflicts: Iterable[dict[str, Any]], viewer: Viewer,
                nonconforming: set[tuple[str, str]] = frozenset()) -> list[dict[str, Any]]:
    """The same aircraft as `tracks_columns`, one object each (``intruder`` and ``nonconforming`` only
    where true)."""
    columns = tracks_columns(snapshot, conflicts, viewer, nonconforming)
    flags = ("intruder", "nonconforming")
    names = [n for n in columns if n not in flags]
    rows = []
    for k in range(len(columns["icao24"])):
        row = {n: columns[n][k] for n in names}
        row.update({flag: True for flag in flags if columns[flag][k]})
        rows.append(row)
    return rows


def thread_visible(thread: Thread, viewer: Viewer) -> bool:
    return viewer is None or viewer in thread.parties


def thread_view(thread: Thread, messages: list[Message] | None = None) -> dict[str, Any]:
    view = {"id": thread.id, "subject": thread.subject, "conflict": thread.conflict, "parties": thread.parties,
            "status": thread.status, "created": iso(thread.created), "acknowledge_by": iso(thread.ack_deadline),
            "acknowledged_by": thread.acknowledged_by}
    if messages is not None:
        view["messages"] = [message_view(m) for m in messages]
    return view


def message_view(message: Message) -> dict[str, Any]:
    return {"id": message.id, "thread": message.thread, "party": message.party, "author": message.author,
            "kind": message.kind, "text": message.text, "proposal": message.proposal, "reply_to": message.reply_to,
            "deadline": iso(message.deadline), "status": message.status, "created": iso(message.created)}
