"""Receiver feeds: raw AVR hex, Beast binary, SBS-1 BaseStation CSV and readsb/dump1090 aircraft.json.

Parsers are incremental (`feed(chunk)` with any split of the stream, as from a TCP socket) and never
raise on bad input: what they cannot use is counted by reason in ``counts``. They yield events:
``Frame(time, hex)`` to decode, or ``Update(time, icao24, fields)`` already decoded (SBS, JSON).

Times: AVR lines may carry a UNIX time (``1720248189.52,8d...`` or JSON lines with ``timestamp`` and
``frame``), an MLAT prefix (``@`` + 12 hex digits of a 12 MHz clock) or nothing (time of arrival);
Beast frames carry the 12 MHz clock; both clocks count from ``clock_origin`` (UNIX s, default: the
arrival of the first frame). SBS times have no zone: ``timezone`` says which (default UTC).
"""

from __future__ import annotations

import json

import orjson
import time as wallclock
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone as tz
from typing import Any, Callable, Iterator

from deconflict.core.units import FOOT, KNOT

FORMATS = ("avr", "beast", "sbs", "json")
MLAT_CLOCK = 12e6  # Hz, Beast and AVR-MLAT timestamps


@dataclass(frozen=True)
class Frame:
    time: float
    hex: str


@dataclass(frozen=True)
class Update:
    time: float
    icao24: str
    fields: dict[str, Any]


class _Clock:
    """Receiver clock ticks to UNIX time: ``origin`` + ticks / 12 MHz (origin set at the first frame)."""

    def __init__(self, origin: float | None, now: Callable[[], float]) -> None:
        self.origin, self.now = origin, now
        self.last = -1

    def time(self, ticks: int) -> float:
        if self.origin is None or ticks < self.last - MLAT_CLOCK * 3600:  # first frame, or the clock restarted
            self.origin = (self.now() if self.origin is None else self.origin) - ticks / MLAT_CLOCK
        self.last = ticks
        return self.origin + ticks / MLAT_CLOCK


class _LineParser:
    """Text feeds: whole lines to `_line`, whatever the chunks; ``close()`` for an unterminated last line."""

    _rest = ""

    def feed(self, text: str) -> Iterator[Any]:
        lines = (self._rest + text).split("\n")
        self._rest = lines.pop()
        for line in lines:
            event = self._line(line.strip())
            if event is not None:
                yield event

    def close(self) -> Iterator[Any]:
        rest, self._rest = self._rest, ""
        event = self._line(rest.strip())
        if event is not None:
            yield event

    def _line(self, line: str) -> Any:
        raise NotImplementedError


class AvrParser(_LineParser):
    """Lines of ``*8D...;`` (port 30002), ``@<12 hex clock><frame>;``, ``<unix time>,<frame>`` or JSON."""

    def __init__(self, clock_origin: float | None = None, now: Callable[[], float] = wallclock.time) -> None:
        self.counts: Counter[str] = Counter()
        self._now = now
        self._clock = _Clock(clock_origin, now)

    def _line(self, line: str) -> Frame | None:
        if not line:
            return None
        try:
            if line.startswith("{"):
                record = orjson.loads(line)  # a fifth of json's time: jet1090 captures are JSON lines
                return Frame(float(record["timestamp"]), str(record.get("frame") or record["rawmsg"]))
            if line.startswith("*") and line.endswith(";"):
                return Frame(self._now(), line[1:-1])
            if line.startswith("@") and line.endswith(";") and len(line) > 14:
                return Frame(self._clock.time(int(line[1:13], 16)), line[13:-1])
            if "," in line:
                when, frame = line.split(",", 1)
                return Frame(float(when), frame.strip().strip("*;"))
        except (ValueError, KeyError, TypeError):
            pass
        self.counts["unreadable AVR line"] += 1
        return None


class BeastParser:
    """Beast binary (port 30005): 0x1a, type, 6-byte 12 MHz clock, signal, frame; 0x1a doubled inside."""

    LENGTHS = {0x31: 2, 0x32: 7, 0x33: 14, 0x34: 14}  # Mode A/C, Mode-S short, Mode-S long, status

    def __init__(self, clock_origin: float | None = None, now: Callable[[], float] = wallclock.time) -> None:
        self.counts: Counter[str] = Counter()
        self._buffer = bytearray()
        self._clock = _Clock(clock_origin, now)

    def feed(self, data: bytes) -> Iterator[Frame]:
        self._buffer.extend(data)
        buffer = self._buffer
        position = 0
        while True:
            start = buffer.find(0x1A, position)
            if start < 0 or start + 2 > len(buffer):
                if start < 0 and len(buffer) > position:
                    self.counts["bytes outside a Beast frame"] += len(buffer) - position
                    position = len(buffer)
                break
            if start > position:
                self.counts["bytes outside a Beast frame"] += start - position
            kind = buffer[start + 1]
            if kind not in self.LENGTHS:
                self.counts["unknown Beast frame type"] += 1
                position = start + 1
                continue
            payload, end = self._unescape(buffer, start + 2, 7 + self.LENGTHS[kind])
            if payload is None:
                if end < 0:  # incomplete: wait for more bytes
                    position = start
                    break
                self.counts["broken Beast frame"] += 1
                position = end
                continue
            position = end
            if kind in (0x32, 0x33):
                ticks = int.from_bytes(payload[:6], "big")
                yield Frame(self._clock.time(ticks), payload[7:].hex())
            else:
                self.counts["Mode A/C or status frame"] += 1
        del buffer[:position]

    @staticmethod
    def _unescape(buffer: bytearray, start: int, length: int) -> tuple[bytes | None, int]:
        """``length`` payload bytes from ``start`` with 0x1a 0x1a read as one 0x1a; (None, -1) when incomplete,
        (None, where the next frame starts) when a lone 0x1a interrupts the payload."""
        out = bytearray()
        k = start
        while len(out) < length:
            if k >= len(buffer):
                return None, -1
            byte = buffer[k]
            if byte == 0x1A:
                if k + 1 >= len(buffer):
                    return None, -1
                if buffer[k + 1] != 0x1A:
                    return None, k  # a new frame begins: this one was cut
                k += 1
            out.append(byte)
            k += 1
        return bytes(out), k


class SbsParser(_LineParser):
    """SBS-1 BaseStation CSV (port 30003): ``MSG,<type>,...,<hex ident>,...,<date>,<time>,...``."""

    def __init__(self, timezone: tz = tz.utc) -> None:
        self.counts: Counter[str] = Counter()
        self.timezone = timezone

    def _line(self, line: str) -> Update | None:
        if not line:
            return None
        parts = line.split(",")
        if parts[0] != "MSG" or len(parts) < 22:
            self.counts["not an SBS MSG line"] += 1
            return None
        try:
            icao = parts[4].strip().lower()
            if len(icao) != 6:
                raise ValueError("hex ident")
            when = datetime.strptime(f"{parts[6]} {parts[7]}", "%Y/%m/%d %H:%M:%S.%f").replace(tzinfo=self.timezone)
            fields: dict[str, Any] = {}
            number = lambda k: float(parts[k]) if parts[k].strip() else None  # noqa: E731
            if parts[10].strip():
                fields["callsign"] = parts[10].strip()
            if (altitude := number(11)) is not None:
                fields["altitude"] = altitude * FOOT
            speed, track = number(12), number(13)
            if speed is not None and track is not None:
                fields["velocity"], fields["heading"] = speed * KNOT, track
            lat, lon = number(14), number(15)
            if lat is not None and lon is not None:
                fields["lat"], fields["lon"] = lat, lon
            if (rate := number(16)) is not None:
                fields["vertrate"] = rate * FOOT / 60.0
            if parts[17].strip():
                fields["squawk"] = parts[17].strip()
            if parts[21].strip() in ("-1", "1"):
                fields["onground"] = True
            elif parts[21].strip() == "0":
                fields["onground"] = False
        except ValueError:
            self.counts["unreadable SBS field"] += 1
            return None
        return Update(when.timestamp(), icao, fields)


def aircraft_json(data: str | bytes, counts: Counter[str] | None = None) -> list[Update]:
    """Updates from one readsb/dump1090 ``aircraft.json`` document (``now`` and per-aircraft ``seen``)."""
    counts = Counter() if counts is None else counts
    try:
        document = json.loads(data)
        now = float(document["now"])
        aircraft = document["aircraft"]
    except (ValueError, KeyError, TypeError):
        counts["unreadable aircraft.json"] += 1
        return []
    updates = []
    for a in aircraft:
        try:
            raw = str(a["hex"]).lower()
            # readsb marks addresses that are not ICAO addresses (TIS-B, anonymous) with "~": the same six
            # digits may belong to a real aircraft, so the marker stays part of the id (no address clash)
            icao = raw[1:] if raw.startswith("~") else raw
            if len(icao) != 6 or not all(c in "0123456789abcdef" for c in icao):
                raise ValueError("hex")
            icao = raw
            fields: dict[str, Any] = {}
            if "lat" in a and "lon" in a:
                fields["lat"], fields["lon"] = float(a["lat"]), float(a["lon"])
            altitude = a.get("alt_baro", a.get("altitude"))
            if altitude == "ground":
                fields["onground"] = True
            elif altitude is not None:
                fields["altitude"], fields["onground"] = float(altitude) * FOOT, False
            if a.get("alt_geom") is not None:
                fields["geoaltitude"] = float(a["alt_geom"]) * FOOT
            if a.get("gs") is not None and a.get("track") is not None:
                fields["velocity"], fields["heading"] = float(a["gs"]) * KNOT, float(a["track"])
            rate = a.get("baro_rate", a.get("geom_rate", a.get("vert_rate")))
            if rate is not None:
                fields["vertrate"] = float(rate) * FOOT / 60.0
            if a.get("flight"):
                fields["callsign"] = str(a["flight"]).strip()
            if a.get("squawk"):
                fields["squawk"] = str(a["squawk"])
            seen = float(a.get("seen_pos", a.get("seen", 0.0)) or 0.0)
        except (ValueError, KeyError, TypeError):
            counts["unreadable aircraft entry"] += 1
            continue
        updates.append(Update(now - seen, icao, fields))
    return updates


def readsb_trace(data: str | bytes, counts: Counter[str] | None = None) -> list[Update]:
    """Updates from a readsb trace document (``trace_full_<hex>.json``: ``icao``, ``timestamp`` and
    ``trace`` rows of seconds after it, lat, lon, altitude ft or "ground", ground speed kt, track,
    flags, vertical rate ft/min, ...), in time order."""
    counts = Counter() if counts is None else counts
    try:
        document = json.loads(data)
        icao, start, trace = str(document["icao"]).lower(), float(document["timestamp"]), document["trace"]
        if not isinstance(trace, list):
            raise TypeError("trace")
    except (ValueError, KeyError, TypeError):
        counts["unreadable readsb trace"] += 1
        return []
    updates = []
    for row in trace:
        try:
            fields: dict[str, Any] = {"lat": float(row[1]), "lon": float(row[2])}
            if row[3] == "ground":
                fields["onground"] = True
            elif row[3] is not None:
                fields["altitude"], fields["onground"] = float(row[3]) * FOOT, False
            if row[4] is not None and row[5] is not None:
                fields["velocity"], fields["heading"] = float(row[4]) * KNOT, float(row[5])
            if len(row) > 7 and row[7] is not None:
                fields["vertrate"] = float(row[7]) * FOOT / 60.0
            details = row[8] if len(row) > 8 and isinstance(row[8], dict) else {}
            if details.get("flight"):
                fields["callsign"] = str(details["flight"]).strip()
            updates.append(Update(start + float(row[0]), icao, fields))
        except (ValueError, TypeError, IndexError):
            counts["unreadable trace row"] += 1
    updates.sort(key=lambda u: u.time)
    return updates


def parse_timezone(text: str) -> tz:
    """``UTC``, ``+02:00`` or ``-0530``: the zone of receiver times that carry none."""
    if text.upper() in ("UTC", "Z"):
        return tz.utc
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-").replace(":", "")
    if len(digits) != 4 or not digits.isdigit():
        raise ValueError(f"{text!r} is not a time zone offset; expected UTC or +HH:MM")
    return tz(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
