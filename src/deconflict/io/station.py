"""The portable ATC station: a receiver feed (live or recorded) to tracks, state vectors and alerts.

`Station` decodes frames (`ModeSDecoder`) or takes decoded updates (SBS, aircraft.json), assembles
tracks (`TrackTable`) and, on `picture(now)`, runs alerting on the fresh tracks with an
`AlertFilter` so that alerts do not flicker between updates. `replay()` and `connect()` turn a file
or a TCP feed into timed chunks for it; `connect()` reconnects by itself.
"""

from __future__ import annotations

import gzip
import socket
import time as wallclock
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from datetime import timezone as tz, tzinfo
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from deconflict.core.alerting import AlertChanges, AlertFilter, Alerts, alerts
from deconflict.core.standards import Standard, standard as named_standard
from deconflict.core.states import States
from deconflict.core.units import FOOT
from deconflict.errors import DeconflictError
from deconflict.io.mode_s import ModeSDecoder
from deconflict.io.receivers import AvrParser, BeastParser, Frame, SbsParser, Update, aircraft_json, readsb_trace
from deconflict.io.states_file import StatesFileError, read_states_checked
from deconflict.io.tracks import TrackTable, to_states

DEFAULT_PORTS = {"avr": 30002, "beast": 30005, "sbs": 30003}


class StationError(DeconflictError, ValueError):
    """A feed that cannot be opened or a format that cannot be told."""


@dataclass
class Picture:
    """The station's view at one time: fresh state vectors (airborne, predicted to ``time``), raw alerts
    and what changed on the display. With fewer than two aircraft there is no pair to alert on, and the
    states are predicted only if someone reads them (a display refreshing 4 times a second reads few
    of the pictures a fast replay makes)."""

    time: float
    alerts: Alerts
    changes: AlertChanges
    shown: dict[tuple[str, str], int]
    predict: Callable[[], States] = field(repr=False)

    @cached_property
    def states(self) -> States:
        return self.predict()


_NO_ALERTS = alerts(States.from_arrays(icao24=np.empty(0, str), time=[], lat=[], lon=[], velocity=[], heading=[],
                                       vertrate=[], altitude=[], at=0.0))  # what a picture with no pair raises


class Station:
    """Receiver frames and updates to tracks and alerts. ``vtol`` defaults to 200 ft (SPEC §3, live data);
    ``decoder``: the Mode-S decoder, ``rs1090`` or ``pymodes`` (`ModeSDecoder`); ``record``: keep every
    picture's state vectors for `recorded` (a live station without it holds only its tracks)."""

    def __init__(self, receiver: tuple[float, float] | None = None, staleness: float = 60.0,
                 standard: Standard | str = "en-route", vtol: float = 200 * FOOT, decoder: str = "rs1090",
                 record: bool = False) -> None:
        self.decoder = ModeSDecoder(receiver, backend=decoder)
        self.tracks = TrackTable(staleness=staleness)
        self.standard = named_standard(standard) if isinstance(standard, str) else standard
        self.vtol = vtol
        self.filter = AlertFilter()
        self.parser_counts: Counter[str] = Counter()
        self.update_counts: Counter[str] = Counter()
        self.latest = float("nan")
        self.record = record  # keep every picture's state vectors (for --parquet); off, memory stays flat
        self.history: list[States] = []
        self.events_read = 0  # frames and updates received, used or not

    def ingest(self, events: Iterable[Frame | Update]) -> int:
        """Decode and merge events (frames in batches); returns how many."""
        before = self.events_read
        for update in self.decoded(events):
            self.apply(*update)
        return self.events_read - before

    def decoded(self, events: Iterable[Frame | Update], batch: int = 4096) -> Iterator[tuple[float, str, dict]]:
        """``(time, icao24, fields)`` updates from events in their order, frames decoded ``batch`` at a time
        (rs1090 decodes a batch in one call); every event read is counted in ``events_read``."""
        frames: list[tuple[float, str]] = []
        for event in events:
            self.events_read += 1
            if isinstance(event, Frame):
                frames.append((event.time, event.hex))
                if len(frames) >= batch:
                    yield from self.decoder.decode_many(frames)
                    frames = []
                continue
            if frames:
                yield from self.decoder.decode_many(frames)
                frames = []
            self.update_counts["decoded updates"] += 1
            yield event.time, event.icao24, event.fields
        if frames:
            yield from self.decoder.decode_many(frames)

    def apply(self, when: float, icao24: str, fields: dict) -> None:
        """Merge one decoded update into the tracks."""
        self.tracks.update(icao24, when, fields)
        if not self.latest >= when:
            self.latest = when

    @property
    def counts(self) -> Counter[str]:
        """Messages by what became of them (used, skipped, and every reason for rejection)."""
        return self.parser_counts + self.update_counts + self.decoder.counts + self.tracks.counts

    def picture(self, now: float | None = None, keep: bool | None = None) -> Picture:
        """Fresh tracks at ``now`` (default: the latest message time), their alerts and display changes;
        ``keep`` (default: the station's ``record``) adds their state vectors to the recorded history."""
        now = self.latest if now is None else now
        self.tracks.expire(now)
        rows = self.tracks.fresh(now)  # taken now: the tracks change after
        if (self.record if keep is None else keep) and rows:
            self.history.append(to_states(rows))
        staleness = self.tracks.staleness
        if sum(1 for row in rows if not row[-1]) < 2:  # no airborne pair to alert on: predicted if someone reads them
            changes = self.filter.update(now, _NO_ALERTS.a, _NO_ALERTS.b, _NO_ALERTS.level)
            return Picture(now, _NO_ALERTS, changes, self.filter.levels(),
                           lambda: to_states(rows).extrapolated(now, max_age=staleness))
        states = to_states(rows)
        snapshot = states.extrapolated(now, max_age=staleness)  # one row per track
        found = alerts(snapshot, self.standard, vtol=self.vtol)
        changes = self.filter.update(now, found.a, found.b, found.level)
        return Picture(now, found, changes, self.filter.levels(), lambda: snapshot)

    def recorded(self) -> States:
        """Every state vector kept by pictures (``record``, or ``picture(keep=True)``), as one history (e.g.
        for Parquet)."""
        if not self.history:
            return self.tracks.states(self.latest)
        return States.concat(self.history)


def guess_format(path: Path) -> str:
    """The feed format of a recording, from its name then its first bytes."""
    name = path.name.lower()
    if name.endswith((".parquet", ".csv", ".csv.gz")) and not name.endswith(".sbs.csv"):
        return "states"
    if name.endswith((".ast", ".asterix")):
        return "asterix"
    for suffix, kind in ((".bin", "beast"), (".beast", "beast"), (".sbs", "sbs"), (".avr", "avr"), (".jsonl", "avr")):
        if name.endswith(suffix) or name.endswith(suffix + ".gz"):
            return kind
    with _open(path) as stream:
        head = stream.read(1 << 16)
    if head[:1] == b"\x1a":
        return "beast"
    if head.lstrip()[:1] == b"{" and b'"aircraft"' in head:
        return "json"
    if head.lstrip()[:1] == b"{" and b'"trace"' in head:
        return "trace"
    if head.startswith(b"MSG,"):
        return "sbs"
    return "avr"


class AsterixStream:
    """ASTERIX over TCP: datablocks cut from the byte stream by their 3-byte header (category, length)
    and decoded (`io.asterix.decode`) as each completes, into station updates. Times of day are dated
    today (UTC, by ``now``). A length below 3 means the stream lost its framing; a TCP stream has no
    other marker to find it again, so the stream is dropped (`AsterixStreamBroken`, an `OSError`:
    `connect` counts it and reconnects, and a sender starts a connection on a datablock)."""

    def __init__(self, now: Callable[[], float] = wallclock.time) -> None:
        self.counts: Counter[str] = Counter()
        self._buffer = b""
        self._now = now

    def feed(self, chunk: bytes) -> Iterator[Update]:
        from deconflict.io.asterix import frame_datablocks

        buffer = self._buffer + chunk
        _, end, broken = frame_datablocks(buffer)
        self._buffer = b"" if broken else buffer[end:]
        if end:
            yield from _asterix_updates(buffer[:end], self._now(), self.counts)
        if broken:  # what came before is kept; what follows cannot be framed
            self.counts["asterix stream lost its framing"] += 1
            raise AsterixStreamBroken(f"ASTERIX datablock length below 3 at byte {end} of a read")


def _asterix_updates(data: bytes, now: float, counts: Counter[str]) -> list[Update]:
    """ASTERIX datablocks received at ``now`` (UNIX s: its UTC day dates their times of day) as station
    updates; datablocks, those that do not parse and unusable records counted in ``counts``."""
    from deconflict.io.asterix import decode

    found = decode(data, now - now % 86400.0)
    counts["asterix datablocks"] += found.datablocks
    counts["asterix datablocks not parsed"] += found.bad_datablocks
    for reason, number in found.reasons.items():
        counts[reason] += number
    return _updates(found.states, range(len(found.states)))


class AsterixStreamBroken(OSError):
    """An ASTERIX TCP stream whose framing is lost: the connection is dropped and made again."""


def parser_for(kind: str, clock_origin: float | None = None, timezone: tzinfo = tz.utc):  # noqa: ANN201
    """The incremental parser of a stream format (avr, beast, sbs, asterix)."""
    if kind == "asterix":
        return AsterixStream()
    if kind == "avr":
        return AvrParser(clock_origin)
    if kind == "beast":
        return BeastParser(clock_origin)
    if kind == "sbs":
        return SbsParser(timezone)
    raise StationError(f"format {kind!r} is not a stream format; expected avr, beast, sbs or asterix")


def _state_updates(path: Path, counts: Counter[str]) -> list[Update]:
    """A SPEC §2 state-vector file as updates, in time order."""
    try:
        states, rejected = read_states_checked(path)
    except StatesFileError as error:
        raise StationError(str(error)) from None
    for reason, number in rejected.reasons.items():
        counts[f"bad state row ({reason})"] += number
    return _updates(states, np.argsort(states.time, kind="stable"))


def _updates(states: States, rows: Iterable[int]) -> list[Update]:
    """State vectors (rows ``rows``, in that order) as station updates."""
    return [Update(float(states.time[k]), str(states.icao24[k]), {
        "lat": float(states.lat[k]), "lon": float(states.lon[k]), "velocity": float(states.velocity[k]),
        "heading": float(states.heading[k]), "vertrate": float(states.vertrate[k]), "altitude": float(states.altitude[k]),
        "onground": bool(states.onground[k]), "callsign": str(states.callsign[k]), "party": str(states.party[k])})
        for k in rows]


def replay(station: Station, path: Path, kind: str, speed: float = 0.0, step: float = 1.0,
           clock_origin: float | None = None, timezone: tzinfo = tz.utc) -> Iterator[Picture]:
    """Feed a recording to ``station``; a picture after every ``step`` s of recorded time, paced at
    ``speed`` times real time (0: as fast as possible)."""
    if kind == "json":
        with _open(path) as stream:
            updates = aircraft_json(stream.read(), station.parser_counts)
        station.ingest(iter(updates))
        yield station.picture()
        return
    if kind in ("states", "asterix"):  # an ASTERIX recording reads as a state-vector file (io/asterix.py)
        yield from _paced(station, _state_updates(path, station.parser_counts), speed, step)
        return
    if kind == "trace":
        with _open(path) as stream:
            updates = readsb_trace(stream.read(), station.parser_counts)
        yield from _paced(station, updates, speed, step)
        return
    parser = parser_for(kind, clock_origin, timezone)

    def counted() -> None:
        station.parser_counts = Counter(parser.counts)

    with _open(path) as stream:
        yield from _paced(station, _parsed(stream, parser, binary=kind == "beast"), speed, step, counted)


def _parsed(stream, parser, binary: bool) -> Iterator[Frame | Update]:  # noqa: ANN001 - file, parser
    """The events of a recording, read in chunks."""
    while chunk := stream.read(1 << 16):
        yield from parser.feed(chunk if binary else chunk.decode("utf-8", "replace"))
    if not binary:
        yield from parser.close()


def _paced(station: Station, events: Iterable[Frame | Update], speed: float, step: float,
           before_picture: Callable[[], None] = lambda: None) -> Iterator[Picture]:
    """Feed time-ordered events, a picture every ``step`` s of their time, at ``speed`` x real time
    (0: as fast as possible); ``before_picture`` runs before each (e.g. to copy a parser's counts).
    Frames are decoded a batch ahead of the pictures; tracks take each update in time order."""
    started, first, next_picture = wallclock.monotonic(), None, None
    for update in station.decoded(events):
        when = update[0]
        if first is None:
            first, next_picture = when, when + step
        while when >= next_picture:
            if speed > 0:
                delay = (next_picture - first) / speed - (wallclock.monotonic() - started)
                if delay > 0:
                    wallclock.sleep(delay)
            before_picture()
            yield station.picture(next_picture)
            next_picture += step
        station.apply(*update)
    before_picture()
    yield station.picture()


def connect(station: Station, host: str, port: int, kind: str, step: float = 1.0, retry: float = 2.0,
            timeout: float = 10.0, attempts: int | None = None, timezone: tzinfo = tz.utc) -> Iterator[Picture]:
    """Read a live TCP feed into ``station``, a picture every ``step`` s of wall time; reconnects after
    ``retry`` s (doubling to 60 s) when the connection drops or cannot be made. ``attempts``: give up
    after that many connections (None: never)."""
    parser = parser_for(kind, None, timezone)
    binary = kind in ("beast", "asterix")
    delay, made = retry, 0
    next_picture = wallclock.time() + step
    while attempts is None or made < attempts:
        made += 1
        try:
            with socket.create_connection((host, port), timeout=timeout) as conn:
                conn.settimeout(step)
                delay = retry
                station.parser_counts["connections"] += 1
                while True:
                    try:
                        chunk = conn.recv(1 << 16)
                    except socket.timeout:
                        chunk = None
                    if chunk == b"":
                        break  # closed by the receiver
                    if chunk:
                        station.ingest(parser.feed(chunk if binary else chunk.decode("utf-8", "replace")))
                    if wallclock.time() >= next_picture:
                        station.parser_counts.update(parser.counts)
                        parser.counts.clear()
                        yield station.picture(wallclock.time())
                        next_picture = wallclock.time() + step
        except OSError:
            station.parser_counts["connection failures"] += 1
        station.parser_counts["disconnections"] += 1
        if attempts is not None and made >= attempts:
            break
        wallclock.sleep(delay)
        delay = min(delay * 2.0, 60.0)
    yield station.picture()


def listen_asterix(station: Station, host: str, port: int, step: float = 1.0, pictures: int | None = None,
                   ready: Callable[[int], None] | None = None) -> Iterator[Picture]:
    """ASTERIX CAT021/CAT062 datagrams on UDP ``host:port`` (a multicast group is joined when ``host``
    is one), a picture every ``step`` s of wall time. Times of day are dated today (UTC). A datagram
    that does not parse is counted. ``pictures``: stop after that many (None: never); ``ready(port)``
    is called once the socket is bound (port 0 picks a free one)."""
    import ipaddress
    import struct

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    multicast = host and ipaddress.ip_address(host).is_multicast
    sock.bind(("" if multicast else host, port))
    if multicast:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, struct.pack("4sl", socket.inet_aton(host),
                                                                                socket.INADDR_ANY))
    sock.settimeout(step)
    if ready is not None:
        ready(sock.getsockname()[1])
    made, next_picture = 0, wallclock.time() + step
    try:
        while pictures is None or made < pictures:
            try:
                datagram = sock.recv(1 << 16)
            except socket.timeout:
                datagram = b""
            if datagram:
                station.parser_counts["asterix datagrams"] += 1
                station.ingest(_asterix_updates(datagram, wallclock.time(), station.parser_counts))
            if wallclock.time() >= next_picture:
                made += 1
                yield station.picture(wallclock.time())
                next_picture = wallclock.time() + step
    finally:
        sock.close()


def _open(path: Path):  # noqa: ANN202 - a binary file object
    try:
        return gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb")
    except OSError as error:
        raise StationError(f"{path}: cannot open recording ({error.strerror})") from None


def poll(station: Station, url: str, step: float = 1.0, attempts: int | None = None,
         timeout: float = 5.0) -> Iterator[Picture]:
    """Poll a readsb/dump1090/tar1090 ``aircraft.json`` over HTTP every ``step`` s (the way those web
    maps read their receiver), a picture after each poll. A failed poll is counted and tried again at
    the next step. ``attempts``: stop after that many polls (None: never)."""
    import httpx  # the live web source only

    made = 0
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        while attempts is None or made < attempts:
            made += 1
            started = wallclock.time()
            try:
                answer = client.get(url)
                answer.raise_for_status()
                station.parser_counts["polls"] += 1
                station.ingest(iter(aircraft_json(answer.content, station.parser_counts)))
            except httpx.HTTPError:
                station.parser_counts["failed polls"] += 1
            yield station.picture()
            if attempts is not None and made >= attempts:
                break
            wallclock.sleep(max(0.0, step - (wallclock.time() - started)))

