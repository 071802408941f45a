"""Mode-S / ADS-B frames to aircraft updates, with pyModeS's streaming decoder (CPR pairs, then local).

`ModeSDecoder.decode(frame, timestamp)` returns the fields one frame gives about one aircraft
(SI units) or None, and counts every frame it does not use by reason. Only the downlink formats
that carry state are decoded: DF17/18 (ADS-B: identification, position, velocity), DF4/20
(altitude) and DF5/21 (squawk), the last four only for aircraft already confirmed by a valid
ADS-B CRC, since their address is overlaid on the parity. ACAS (DF0/16) and all-call (DF11)
replies carry nothing a state vector needs and are counted as skipped; so is a frame identical to
one received less than ``duplicate_window`` s before (copies from the receiver or the network).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pyModeS import PipeDecoder

from deconflict.core.units import FOOT, KNOT

SHORT_DFS = frozenset((0, 4, 5, 11))  # 56-bit formats: a 28-hex-character frame of these is padded
STATE_DFS = frozenset((4, 5, 17, 18, 20, 21))
ADSB_DFS = frozenset((17, 18))
_HEX = frozenset("0123456789abcdefABCDEF")


class ModeSDecoder:
    """Stateful decoder of one receiver's frames. ``receiver``: its (lat, lon), the reference for
    surface positions (which CPR cannot place without one)."""

    def __init__(self, receiver: tuple[float, float] | None = None, duplicate_window: float = 1.0) -> None:
        self.receiver = receiver
        self.duplicate_window = duplicate_window
        self._pipe = PipeDecoder(surface_ref=receiver)
        self._confirmed: set[str] = set()
        self._recent: dict[str, float] = {}
        self._prune_at = float("-inf")
        self.counts: Counter[str] = Counter()

    def decode(self, frame: str, timestamp: float) -> tuple[str, dict[str, Any]] | None:
        """``(icao24, fields)`` from one frame (hex), or None; fields in SI units:
        ``lat``, ``lon``, ``onground``, ``altitude`` (baro, m), ``geoaltitude`` (m), ``velocity`` (m/s),
        ``heading`` (track, deg), ``vertrate`` (m/s), ``callsign``, ``squawk``."""
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
        decoded = self._pipe.decode(frame, timestamp=timestamp)
        if "error" in decoded:
            self.counts["undecodable"] += 1
            return None
        icao = str(decoded.get("icao", "")).lower()
        if df in ADSB_DFS:
            if decoded.get("crc_valid") is not True:
                self.counts["CRC failed"] += 1
                return None
            self._confirmed.add(icao)
        elif icao not in self._confirmed:
            self.counts["address not confirmed"] += 1
            return None
        fields = _fields(decoded)
        self.counts["used" if fields else "no state"] += 1
        return (icao, fields) if fields else None


def _fields(d: dict[str, Any]) -> dict[str, Any]:
    """The state carried by a decoded frame, in SI units, copied out of pyModeS's result."""
    out: dict[str, Any] = {}
    lat, lon = d.get("latitude"), d.get("longitude")
    if lat is not None and lon is not None:
        out["lat"], out["lon"] = float(lat), float(lon)
        out["onground"] = d.get("bds") == "0,6"
    if d.get("flight_status") in (1, 3):  # DF4/5: "on ground"
        out["onground"] = True
    altitude = d.get("altitude")
    if isinstance(altitude, (int, float)):
        if d.get("df") in ADSB_DFS and d.get("typecode", 0) >= 20:  # BDS 0,5 type codes 20-22: GNSS height
            out["geoaltitude"] = float(altitude) * FOOT
        else:
            out["altitude"] = float(altitude) * FOOT
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
