"""Track assembly: the latest state of each aircraft from a stream of partial updates.

Each update carries some fields (position, altitude, velocity, identity) at a time; a track keeps
the latest of each with its time, rejects positions that would need an impossible speed from the
last accepted one, and turns stale when nothing new has come for ``staleness`` seconds. `states()`
gives the fresh airborne tracks as state vectors (SPEC §2) for detection.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deconflict.core.geodesy import geodesic_distance
from deconflict.core.states import States


@dataclass
class Track:
    """What is known of one aircraft; times in UNIX s (NaN when never received)."""

    icao24: str
    callsign: str = ""
    squawk: str = ""
    party: str = ""
    lat: float = math.nan
    lon: float = math.nan
    position_time: float = math.nan
    altitude: float = math.nan  # barometric, m
    geoaltitude: float = math.nan  # m
    altitude_time: float = math.nan
    velocity: float = math.nan  # m/s ground speed
    heading: float = math.nan  # deg true track
    vertrate: float = 0.0  # m/s
    velocity_time: float = math.nan
    onground: bool = False
    last_seen: float = math.nan
    messages: int = 0


@dataclass
class TrackTable:
    """Tracks by icao24. ``staleness`` (s): a track not updated for this long is dropped from
    `states`; ``max_speed`` (m/s): a position farther than this speed allows from the last one
    (plus ``jump_margin`` m for position noise) is rejected as an outlier, and so is an altitude
    further than ``max_vertical_speed`` (m/s, plus ``altitude_margin`` m) from the last."""

    staleness: float = 60.0
    max_speed: float = 1500.0
    jump_margin: float = 2000.0
    max_vertical_speed: float = 150.0  # m/s
    altitude_margin: float = 100.0  # m
    tracks: dict[str, Track] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)

    def update(self, icao24: str, timestamp: float, fields: dict[str, Any]) -> None:
        """Merge the fields of one message (SI units; see `ModeSDecoder.decode`)."""
        track = self.tracks.get(icao24)
        if track is None:
            track = self.tracks[icao24] = Track(icao24)
        track.last_seen = timestamp if math.isnan(track.last_seen) else max(track.last_seen, timestamp)
        track.messages += 1
        if "lat" in fields and "lon" in fields:
            if self._plausible(track, timestamp, fields["lat"], fields["lon"]):
                track.lat, track.lon, track.position_time = fields["lat"], fields["lon"], timestamp
            else:
                self.counts["impossible jump"] += 1
        if "altitude" in fields:
            if self._plausible_altitude(track, timestamp, fields["altitude"]):
                track.altitude, track.altitude_time = fields["altitude"], timestamp
            else:
                self.counts["impossible altitude jump"] += 1
        if "geoaltitude" in fields:
            track.geoaltitude = fields["geoaltitude"]
            if math.isnan(track.altitude_time) or math.isnan(track.altitude):
                track.altitude_time = timestamp
        if "velocity" in fields and "heading" in fields:
            track.velocity, track.heading, track.velocity_time = fields["velocity"], fields["heading"], timestamp
        if "vertrate" in fields:
            track.vertrate = fields["vertrate"]
        if "onground" in fields:
            track.onground = bool(fields["onground"])
        for text in ("callsign", "squawk", "party"):
            if fields.get(text):
                setattr(track, text, fields[text])

    def _plausible(self, track: Track, timestamp: float, lat: float, lon: float) -> bool:
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            return False
        if math.isnan(track.position_time):
            return True
        elapsed = abs(timestamp - track.position_time)
        distance = float(geodesic_distance(track.lat, track.lon, lat, lon))
        return distance <= self.max_speed * elapsed + self.jump_margin

    def _plausible_altitude(self, track: Track, timestamp: float, altitude: float) -> bool:
        if math.isnan(track.altitude_time) or math.isnan(track.altitude):
            return True
        elapsed = abs(timestamp - track.altitude_time)
        return abs(altitude - track.altitude) <= self.max_vertical_speed * elapsed + self.altitude_margin

    def expire(self, now: float) -> int:
        """Forget tracks not seen for ``staleness`` s; returns how many."""
        old = [k for k, t in self.tracks.items() if now - t.last_seen > self.staleness]
        for key in old:
            del self.tracks[key]
        return len(old)

    def fresh(self, now: float) -> list[tuple]:
        """What `states(now)` holds, as one tuple per track (icao24, time, lat, lon, velocity, heading,
        vertrate, altitude, callsign, party, onground): a copy taken now (the tracks change after), cheap
        enough for every picture; `to_states` turns it into state vectors when they are needed."""
        stale = self.staleness
        return [(t.icao24, t.position_time, t.lat, t.lon, t.velocity, t.heading, t.vertrate,
                 t.altitude if not math.isnan(t.altitude) else 0.0 if math.isnan(t.geoaltitude) else t.geoaltitude,
                 t.callsign, t.party, t.onground)
                for t in self.tracks.values()
                if now - t.position_time <= stale and now - t.velocity_time <= stale
                and (t.onground or now - t.altitude_time <= stale)]

    def states(self, now: float) -> States:
        """State vectors (time = position time) of tracks with a position, a velocity and an altitude,
        all received within ``staleness`` s of ``now``; aircraft on the ground are included, flagged."""
        return to_states(self.fresh(now))


def to_states(rows: list[tuple]) -> States:
    """`TrackTable.fresh` rows as state vectors."""
    if not rows:
        return States.from_arrays(icao24=np.empty(0, str), time=[], lat=[], lon=[], velocity=[], heading=[],
                                  vertrate=[], altitude=[])
    columns = list(zip(*rows))
    return States.from_arrays(icao24=list(columns[0]), time=columns[1], lat=columns[2], lon=columns[3],
                              velocity=columns[4], heading=columns[5], vertrate=columns[6], altitude=columns[7],
                              callsign=list(columns[8]), party=list(columns[9]), onground=columns[10], copy=False)
