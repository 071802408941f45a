"""Mode-S / ADS-B frames to aircraft updates, decoded by rs1090 in batches (or pyModeS, frame by frame).

`ModeSDecoder.decode_many(frames)` turns ``(timestamp, hex)`` frames into ``(timestamp, icao24,
fields)`` updates (SI units) and counts every frame it does not use by reason; `decode(frame,
timestamp)` does one. Only the downlink formats that carry state are decoded: DF17/18 (ADS-B:
identification, position, velocity), DF4/20 (altitude) and DF5/21 (squawk), the last four only for
aircraft already confirmed by a valid ADS-B CRC, since their address is overlaid on the parity.
ACAS (DF0/16) and all-call (DF11) replies carry nothing a state vector needs and are counted as
skipped; so is a frame identical to one received less than ``duplicate_window`` s before (copies from
the receiver or the network). Both steps run before the decoder sees a frame: on a real capture they
set aside about half of what a receiver hears.

Two decoders, chosen on measurements (benchmarks/decode_rate.py runs both on the same capture):
``rs1090`` (the default; Rust, by the author of `traffic`) decodes a batch in one call, about 2x
pyModeS's streaming decoder, with the same positions to 1e-6 deg. rs1090 pairs even/odd CPR frames
within a call only: an aircraft placed in the last ``pair_window`` x 3 s is placed locally from that
position, and each aircraft of a call that has none gets its last even and odd position frames ahead
of the call's frames (their decodes are dropped). Without them the first position of each new aircraft
in every batch would be lost (a live feed decodes a batch per read). ``pymodes`` keeps the PipeDecoder path, one frame at a time.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Sequence

from deconflict.core.units import FOOT, KNOT

SHORT_DFS = frozenset((0, 4, 5, 11))  # 56-bit formats: a 28-hex-character frame of these is padded
STATE_DFS = frozenset((4, 5, 17, 18, 20, 21))
ADSB_DFS = frozenset((17, 18))
BACKENDS = ("rs1090", "pymodes")
_HEX = frozenset("0123456789abcdefABCDEF")
_POSITION_BDS = ("05", "06")

Decoded = tuple[float, str, dict[str, Any]]


class ModeSDecoder:
    """Stateful decoder of one receiver's frames. ``receiver``: its (lat, lon), the reference for
    surface positions (which CPR cannot place without one). ``backend``: ``rs1090`` or ``pymodes``.
    ``pair_window`` (s): the longest gap between the even and odd frames of a position pair."""

    def __init__(self, receiver: tuple[float, float] | None = None, duplicate_window: float = 1.0,
                 backend: str = "rs1090", pair_window: float = 10.0) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"decoder {backend!r} is not one of {', '.join(BACKENDS)}")
        self.receiver = receiver
        self.duplicate_window = duplicate_window
        self.backend = backend
        self.pair_window = pair_window
        self._pipe = None
        if backend == "pymodes":
            from pyModeS import PipeDecoder

            self._pipe = PipeDecoder(surface_ref=receiver)
        self._confirmed: set[str] = set()
        self._recent: dict[str, float] = {}
        self._prune_at = float("-inf")
        # rs1090's CPR context across calls: (icao24, bds, odd) -> (timestamp, frame)
        self._positions: dict[tuple[str, str, bool], tuple[float, str]] = {}
        self._fixes: dict[str, tuple[float, float, float]] = {}  # icao24 -> the last (time, lat, lon) placed
        self._context_prune_at = float("-inf")
        self.counts: Counter[str] = Counter()

    def decode(self, frame: str, timestamp: float) -> tuple[str, dict[str, Any]] | None:
        """``(icao24, fields)`` from one frame (hex), or None; fields in SI units:
        ``lat``, ``lon``, ``onground``, ``altitude`` (baro, m), ``geoaltitude`` (m), ``velocity`` (m/s),
        ``heading`` (track, deg), ``vertrate`` (m/s), ``callsign``, ``squawk``."""
        out = self.decode_many(((timestamp, frame),))
        return (out[0][1], out[0][2]) if out else None

    def decode_many(self, frames: Iterable[tuple[float, str]]) -> list[Decoded]:
        """The updates ``(timestamp, icao24, fields)`` that time-ordered ``(timestamp, hex)`` frames
        give, in their order (fields as in `decode`)."""
        return [update for _, update in self.decode_rows(frames)]

    def decode_rows(self, frames: Iterable[tuple[float, str]]) -> list[tuple[int, Decoded]]:
        """As `decode_many`, each update with the position of its frame in ``frames``."""
        kept, rows = [], []
        for row, (when, frame) in enumerate(frames):
            screened = self._screen(frame, when)
            if screened is not None:
                kept.append(screened)
                rows.append(row)
        if not kept:
            return []
        if self._pipe is not None:
            found = [(k, out) for k, item in enumerate(kept) if (out := self._pipe_one(*item)) is not None]
        else:
            found = self._rs1090(kept)
        return [(rows[k], out) for k, out in found]

    def _screen(self, frame: str, timestamp: float) -> tuple[float, str, int] | None:
        """The frame (trimmed) and its DF if it may carry state and is not a recent copy; else counted."""
        frame = frame.strip()
        if not frame or not _HEX.issuperset(frame):
            self.counts["not hexadecimal"] += 1
            return None
        if len(frame) not in (14, 28):
            self.counts["wrong length"] += 1
            return None
        df = int(frame[:2], 16) >> 3
        if df >= 24:
            df = 24  # extended length messages: DF24 and above share the format
        if df in SHORT_DFS and len(frame) == 28:
            frame = frame[:14]  # a short message padded to the long length by the receiver
        if df not in STATE_DFS:
            self.counts[f"skipped DF{df}"] += 1
            return None
        if (df >= 17) != (len(frame) == 28):
            self.counts["wrong length"] += 1
            return None
        # the same frame again within the window (receiver or network copies) says nothing new
        seen = self._recent.get(frame)
        if seen is not None and 0.0 <= timestamp - seen < self.duplicate_window:
            self.counts["duplicate"] += 1
            return None
        self._recent[frame] = timestamp
        if timestamp >= self._prune_at:
            horizon = timestamp - self.duplicate_window
            self._recent = {k: t for k, t in self._recent.items() if t >= horizon}
            self._prune_at = timestamp + 10.0 * self.duplicate_window
        return timestamp, frame, df

    def _admit(self, icao: str, df: int) -> bool:
        """ADS-B (whose CRC the decoder checked) confirms an address; other formats need one confirmed."""
        if df in ADSB_DFS:
            self._confirmed.add(icao)
            return True
        if icao in self._confirmed:
            return True
        self.counts["address not confirmed"] += 1
        return False

    def _used(self, timestamp: float, icao: str, fields: dict[str, Any]) -> Decoded | None:
        self.counts["used" if fields else "no state"] += 1
        return (timestamp, icao, fields) if fields else None

    def _pipe_one(self, timestamp: float, frame: str, df: int) -> Decoded | None:
        decoded = self._pipe.decode(frame, timestamp=timestamp)
        if "error" in decoded:
            self.counts["undecodable"] += 1
            return None
        if df in ADSB_DFS and decoded.get("crc_valid") is not True:
            self.counts["CRC failed"] += 1
            return None
        icao = str(decoded.get("icao", "")).lower()
        if not self._admit(icao, df):
            return None
        return self._used(timestamp, icao, _pymodes_fields(decoded))

    def _rs1090(self, kept: Sequence[tuple[float, str, int]]) -> list[tuple[int, Decoded]]:
        """ADS-B frames through rs1090 in one call; surveillance replies (DF4/5/20/21) through pyModeS's
        field functions: they need only the address (the CRC remainder), the altitude or identity code
        and the flight status, and rs1090 would also infer each DF20/21's Comm-B register, which is
        most of its time on a real capture and which no state vector uses."""
        from pyModeS import util

        adsb = [k for k, item in enumerate(kept) if item[2] in ADSB_DFS]
        answers = self._rs1090_adsb([kept[k] for k in adsb])
        by_row: dict[int, dict[str, Any]] = {adsb[local]: answer for local, answer in answers}
        out: list[tuple[int, Decoded]] = []
        for row, (when, frame, df) in enumerate(kept):
            if df in ADSB_DFS:
                answer = by_row.get(row)
                if answer is None:
                    self.counts["CRC failed"] += 1  # rs1090 leaves out a frame whose CRC fails
                    continue
                icao = answer.get("icao24", "")
                bds = answer.get("bds")
                if bds in _POSITION_BDS and "lat_cpr" in answer:
                    self._positions[(icao, bds, answer.get("parity") == "odd")] = (when, frame)
                    if "latitude" not in answer:
                        self._local_position(answer, icao, when, surface=bds == "06")
                fields = _rs1090_fields(answer)
                if "lat" in fields:
                    self._fixes[icao] = (when, fields["lat"], fields["lon"])
            else:
                icao = str(util.icao(frame)).lower()
                fields = _surveillance_fields(frame, df, util)
            if self._admit(icao, df):
                used = self._used(when, icao, fields)
                if used is not None:
                    out.append((row, used))
        last = kept[-1][0]
        if last >= self._context_prune_at:  # what is older than the context window is never used again
            horizon = last - 3.0 * self.pair_window
            self._positions = {k: v for k, v in self._positions.items() if v[0] >= horizon}
            self._fixes = {k: v for k, v in self._fixes.items() if v[0] >= horizon}
            self._context_prune_at = last + 3.0 * self.pair_window
        return out

    def _rs1090_adsb(self, adsb: Sequence[tuple[float, str, int]]) -> list[tuple[int, dict[str, Any]]]:
        """rs1090's decodes of ADS-B frames, as (index in ``adsb``, decode); a frame it rejects (failed
        CRC) is left out. Ahead of them go the recent position frames of each aircraft of the batch that
        has no recent position (see module doc): one that has one is placed locally from it, so a live
        feed decoded per read (a few frames) does not carry every aircraft's context each time."""
        if not adsb:
            return []
        import rs1090

        first = adsb[0][0]
        horizon = first - 3.0 * self.pair_window
        unplaced = {icao for icao in {frame[2:8].lower() for _, frame, _ in adsb}  # DF17/18: the address in clear
                    if (fix := self._fixes.get(icao)) is None or fix[0] < horizon}
        recent = (self._positions.get((icao, bds, odd)) for icao in unplaced for bds in _POSITION_BDS for odd in (False, True))
        context = sorted(v for v in recent if v is not None and horizon <= v[0] <= first)
        frames = [frame for _, frame in context] + [frame for _, frame, _ in adsb]
        times = [when for when, _ in context] + [when for when, _, _ in adsb]
        found: list[tuple[int, dict[str, Any]]] = []
        index = 0
        for answer in rs1090.decode(frames, times, reference=self.receiver):
            while index < len(frames) and frames[index] != answer["frame"]:  # answers keep the frames' order
                index += 1
            if index >= len(context):
                found.append((index - len(context), answer))
            index += 1
        return found

    def _local_position(self, answer: dict[str, Any], icao: str, when: float, surface: bool) -> None:
        """Place a CPR frame that rs1090 left unplaced, as pyModeS's PipeDecoder does and with its
        primitives (DO-260B local decoding): against the aircraft's last position if that is at most
        ``3 x pair_window`` s old (9 NM at Mach 1; the reference must be within 180 NM airborne, 45 NM
        on the surface), else, for a surface frame, against the receiver. rs1090 pairs frames only
        within one latitude zone and, in a batch, places some surface frames only once it has a pair."""
        from pyModeS.position import airborne_position_with_ref, surface_position_with_ref

        fix = self._fixes.get(icao)
        if fix is not None and 0.0 <= when - fix[0] <= 3.0 * self.pair_window:
            reference = fix[1:]
        elif surface and self.receiver is not None:
            reference = self.receiver
        else:
            return
        place = surface_position_with_ref if surface else airborne_position_with_ref
        answer["latitude"], answer["longitude"] = place(int(answer.get("parity") == "odd"), answer["lat_cpr"],
                                                        answer["lon_cpr"], *reference)


def _rs1090_fields(d: dict[str, Any]) -> dict[str, Any]:
    """The state carried by an rs1090 decode, in SI units."""
    return _si_fields(d, surface=d.get("bds") == "06", gnss=d.get("tc", 0) >= 20, on_ground=False)


def _surveillance_fields(frame: str, df: int, util: Any) -> dict[str, Any]:
    """Altitude (DF4/20) or squawk (DF5/21) and on-ground flight status of a surveillance reply, SI units
    (``util``: pyModeS.util)."""
    out: dict[str, Any] = {}
    if int(frame[:2], 16) & 7 in (1, 3):  # flight status: on the ground
        out["onground"] = True
    if df in (4, 20):
        altitude = util.altcode(frame)
        if altitude is not None:
            out["altitude"] = float(altitude) * FOOT
    else:
        squawk = util.idcode(frame)
        if squawk:
            out["squawk"] = str(squawk)
    return out


def _pymodes_fields(d: dict[str, Any]) -> dict[str, Any]:
    """The state carried by a pyModeS decode, in SI units."""
    return _si_fields(d, surface=d.get("bds") == "0,6", gnss=d.get("df") in ADSB_DFS and d.get("typecode", 0) >= 20,
                      on_ground=d.get("flight_status") in (1, 3))


def _si_fields(d: dict[str, Any], surface: bool, gnss: bool, on_ground: bool) -> dict[str, Any]:
    """Fields of a decode (both decoders name them alike: latitude, altitude in ft, groundspeed in kt,
    vertical_rate in ft/min...) in SI units. ``surface``: a surface position message; ``gnss``: the
    altitude is GNSS height (BDS 0,5 type codes 20-22); ``on_ground``: DF4/5/20/21 flight status 1 or 3."""
    out: dict[str, Any] = {}
    lat, lon = d.get("latitude"), d.get("longitude")
    if lat is not None and lon is not None:
        out["lat"], out["lon"] = float(lat), float(lon)
        out["onground"] = surface
    if on_ground:
        out["onground"] = True
    altitude = d.get("altitude")
    if isinstance(altitude, (int, float)):
        out["geoaltitude" if gnss else "altitude"] = float(altitude) * FOOT
    speed, track = d.get("groundspeed"), d.get("track")
    if speed is not None and track is not None:
        out["velocity"], out["heading"] = float(speed) * KNOT, float(track)
    rate = d.get("vertical_rate")
    if rate is not None:
        out["vertrate"] = float(rate) * FOOT / 60.0
    if d.get("callsign"):
        out["callsign"] = str(d["callsign"]).strip("_ ").strip()
    if d.get("squawk"):
        out["squawk"] = str(d["squawk"])
    return out
