"""EUROCONTROL ASTERIX in and out: CAT021 (ADS-B target reports, edition 2.6) and CAT062 (system
tracks, edition 1.20) read into state vectors, and any picture written as CAT062 for a display that
shows system tracks. Encoding and decoding are `libasterix`'s (generated from the published
category specifications); this module only maps items to the state-vector columns (SPEC §2).

ASTERIX times are seconds since midnight UTC: ``day`` (UNIX s of that midnight; for a file, the
UTC day of its modification time) dates them. Items read:

- CAT021: 080 target address, 170 identification, 131 (or 130) WGS-84 position, 145 flight level
  (or 140 geometric height), 155 barometric vertical rate (or 157 geometric), 160 ground vector,
  073 (or 071/075) time; a report without position, time or ground vector is a bad row.
- CAT062: 380/ADR target address (else the track number as ``t`` + number), 380/ID callsign, 105
  position, 136 measured flight level, 220 rate of climb, 185 velocity (east, north), 070 time.

A datablock that does not parse is counted and skipped; nothing read is a `StatesFileError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deconflict.core.states import States
from deconflict.core.units import FOOT
from deconflict.io.states_file import StatesFileError

CAT021_EDITION = "Cat_021_2_6"
CAT062_EDITION = "Cat_062_1_20"
FEET_PER_MINUTE = FOOT / 60.0
KNOTS_PER_NM_S = 3600.0  # NM/s -> kt


@dataclass
class AsterixRead:
    """What a read found: the state vectors, and what was skipped (datablocks, records) and why."""

    states: States
    datablocks: int = 0
    bad_datablocks: int = 0
    bad_records: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def _spec(name: str):  # noqa: ANN202
    import asterix.generated as generated

    return getattr(generated, name)


def read_asterix(path: str | Path, day: float | None = None) -> AsterixRead:
    """State vectors from an ASTERIX recording (datablocks back to back, as recorders write them)."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise StatesFileError(f"{path}: cannot read ({error.strerror})") from None
    if day is None:
        day = math.floor(Path(path).stat().st_mtime / 86400.0) * 86400.0
    found = decode(data, day)
    if not len(found.states):
        raise StatesFileError(f"{path}: no usable CAT021 or CAT062 report in {found.datablocks} datablocks "
                              f"({found.bad_datablocks} did not parse, {found.bad_records} records unusable)")
    return found


def decode(data: bytes, day: float) -> AsterixRead:
    """State vectors from ASTERIX bytes (CAT021 and CAT062; other categories are skipped)."""
    from asterix.base import Bits, RawDatablock

    rows: list[tuple] = []
    result = AsterixRead(States.from_arrays([], [], [], [], [], [], [], []))
    blocks = RawDatablock.parse(Bits.from_bytes(data))
    if isinstance(blocks, ValueError):  # the framing itself is broken: read block by block as far as it holds
        blocks = _blocks_until_broken(data, result)
    for block in blocks:
        result.datablocks += 1
        category = block.get_category()
        spec = {21: _spec(CAT021_EDITION), 62: _spec(CAT062_EDITION)}.get(category)
        if spec is None:
            continue
        records = spec.cv_uap.parse(block.get_raw_records())
        if isinstance(records, ValueError):
            result.bad_datablocks += 1
            continue
        for record in records:
            try:
                row = _cat021_row(record, day) if category == 21 else _cat062_row(record, day)
            except (ValueError, AttributeError, TypeError) as error:  # an item present but not as specified
                row, reason = None, f"CAT{category:03d} item not readable ({str(error)[:60]})"
            else:
                reason = f"CAT{category:03d} report without position, time or velocity"
            if row is None:
                result.bad_records += 1
                result.reasons[reason] = result.reasons.get(reason, 0) + 1
                continue
            rows.append(row)
    if rows:
        columns = list(zip(*rows))
        result.states = States.from_arrays(icao24=list(columns[0]), callsign=list(columns[1]), time=columns[2],
                                           lat=columns[3], lon=columns[4], altitude=columns[5], velocity=columns[6],
                                           heading=columns[7], vertrate=columns[8])
    return result


def frame_datablocks(data: bytes) -> tuple[list[bytes], int, bool]:
    """The whole datablocks at the start of ``data``, cut by their header (category, 16-bit length):
    the blocks, the bytes they take, and whether a length below 3 (framing lost) stopped the cut
    (else it stopped at the end, or at a block not whole yet)."""
    blocks, end = [], 0
    while end + 3 <= len(data):
        length = int.from_bytes(data[end + 1:end + 3], "big")
        if length < 3:
            return blocks, end, True
        if end + length > len(data):
            break
        blocks.append(data[end:end + length])
        end += length
    return blocks, end, False


def _blocks_until_broken(data: bytes, result: AsterixRead) -> list:
    """The datablocks before the first one whose length field does not fit (counted as bad)."""
    from asterix.base import Bits, RawDatablock

    blocks, offset = [], 0
    for raw in frame_datablocks(data)[0]:
        parsed = RawDatablock.parse(Bits.from_bytes(raw))
        if isinstance(parsed, ValueError):
            break
        blocks.extend(parsed)
        offset += len(raw)
    if offset < len(data):
        result.bad_datablocks += 1
    return blocks


def _time(seconds_of_day: float, day: float) -> float:
    return day + seconds_of_day


def _quantity(item, unit: str, *path: str) -> float | None:  # noqa: ANN001
    if item is None:
        return None
    variation = item.variation
    for name in path:
        sub = variation.get_item(name)
        if sub is None:
            return None
        variation = sub.variation
    return float(variation.content.as_quantity(unit))


def _cat021_row(record, day: float) -> tuple | None:  # noqa: ANN001
    address = record.get_item("080")
    position, lat_lon = record.get_item("131") or record.get_item("130"), None
    if position is not None:
        lat_lon = (_quantity(position, "°", "LAT"), _quantity(position, "°", "LON"))
    moment = record.get_item("073") or record.get_item("071") or record.get_item("075")
    vector = record.get_item("160")
    if address is None or lat_lon is None or moment is None or vector is None:
        return None
    speed = _quantity(vector, "NM/s", "GS") * 1852.0
    track = _quantity(vector, "°", "TA") % 360.0
    level = record.get_item("145")
    altitude = _quantity(level, "FL") * 100.0 * FOOT if level is not None else None
    if altitude is None and record.get_item("140") is not None:
        altitude = _quantity(record.get_item("140"), "ft") * FOOT
    if altitude is None:
        return None
    rate_item = record.get_item("155") or record.get_item("157")
    rate = 0.0
    if rate_item is not None:
        rate = (_quantity(rate_item, "ft/min", "BVR") if record.get_item("155") is not None
                else _quantity(rate_item, "ft/min", "GVR")) * FEET_PER_MINUTE
    ident = record.get_item("170")
    callsign = ident.variation.content.as_string().strip() if ident is not None else ""
    return (f"{address.variation.content.as_uint():06x}", callsign, _time(_quantity(moment, "s"), day), lat_lon[0],
            lat_lon[1], altitude, speed, track, rate)


def _cat062_row(record, day: float) -> tuple | None:  # noqa: ANN001
    position, moment, velocity = record.get_item("105"), record.get_item("070"), record.get_item("185")
    level = record.get_item("136")
    if position is None or moment is None or velocity is None or level is None:
        return None
    east, north = _quantity(velocity, "m/s", "VX"), _quantity(velocity, "m/s", "VY")
    derived = record.get_item("380")
    address = derived.variation.get_item("ADR") if derived is not None else None
    ident = derived.variation.get_item("ID") if derived is not None else None
    if address is not None:
        name = f"{address.variation.content.as_uint():06x}"
    else:
        number = record.get_item("040")
        if number is None:
            return None
        name = f"t{number.variation.content.as_uint()}"
    climb = record.get_item("220")
    return (name, ident.variation.content.as_string().strip() if ident is not None else "",
            _time(_quantity(moment, "s"), day), _quantity(position, "°", "LAT"), _quantity(position, "°", "LON"),
            _quantity(level, "FL") * 100.0 * FOOT, math.hypot(east, north),
            math.degrees(math.atan2(east, north)) % 360.0,
            _quantity(climb, "ft/min") * FEET_PER_MINUTE if climb is not None else 0.0)


def encode_cat062(states: States, sac: int = 0, sic: int = 1) -> bytes:
    """The picture as CAT062 system tracks (datablocks of up to 1,000): each aircraft with its address (when it is
    a 24-bit ICAO address), callsign, position, measured flight level, velocity and climb rate."""
    spec = _spec(CAT062_EDITION)
    records = []
    for k in range(len(states)):
        track = math.radians(float(states.heading[k]))
        item = {
            "010": (("SAC", sac), ("SIC", sic)),
            "070": ((float(states.time[k]) % 86400.0, "s")),
            "105": (("LAT", (float(states.lat[k]), "°")), ("LON", (float(states.lon[k]), "°"))),
            "185": (("VX", (_clip(states.velocity[k] * math.sin(track), 8191.75), "m/s")),
                    ("VY", (_clip(states.velocity[k] * math.cos(track), 8191.75), "m/s"))),
            "136": ((_clip(states.altitude[k] / FOOT / 100.0, 2047.0), "FL")),
            "220": ((_clip(states.vertrate[k] / FEET_PER_MINUTE, 204793.75), "ft/min")),
            "040": k % 65536,
        }
        derived = {}
        address = str(states.icao24[k])
        if len(address) == 6 and all(c in "0123456789abcdef" for c in address):
            derived["ADR"] = int(address, 16)
        if str(states.callsign[k]).strip():
            derived["ID"] = str(states.callsign[k]).strip().upper()[:8].ljust(8)
        if derived:
            item["380"] = derived
        records.append(spec.cv_record.create(item))
    return _datablocks(spec, records)


def encode_cat021(states: States, sac: int = 0, sic: int = 2) -> bytes:
    """State vectors as CAT021 ADS-B reports (datablocks of up to 1,000): for tests and for feeding a system
    that takes ADS-B reports."""
    spec = _spec(CAT021_EDITION)
    records = []
    for k in range(len(states)):
        item = {
            "010": (("SAC", sac), ("SIC", sic)),
            "080": int(str(states.icao24[k]), 16),
            "131": (("LAT", (float(states.lat[k]), "°")), ("LON", (float(states.lon[k]), "°"))),
            "145": ((_clip(states.altitude[k] / FOOT / 100.0, 1500.0), "FL")),
            "073": ((float(states.time[k]) % 86400.0, "s")),
            "160": (("RE", 0), ("GS", (_clip(states.velocity[k] / 1852.0, 2.0), "NM/s")),
                    ("TA", (float(states.heading[k]) % 360.0, "°"))),
            "155": (("RE", 0), ("BVR", (_clip(states.vertrate[k] / FEET_PER_MINUTE, 102000.0), "ft/min"))),
        }
        if str(states.callsign[k]).strip():
            item["170"] = str(states.callsign[k]).strip().upper()[:8].ljust(8)
        records.append(spec.cv_record.create(item))
    return _datablocks(spec, records)


RECORDS_PER_DATABLOCK = 1000  # records here are under 64 bytes: a datablock stays under its 65,535-byte limit


def _datablocks(spec, records: list) -> bytes:  # noqa: ANN001 - a libasterix category and its records
    """Records as back-to-back datablocks: a datablock's length field is 16 bits, so one holds at most
    65,535 bytes (a single datablock for 2,000 aircraft overflowed it and nothing could read it)."""
    out = bytearray()
    for start in range(0, max(len(records), 1), RECORDS_PER_DATABLOCK):
        block = spec.create(records[start:start + RECORDS_PER_DATABLOCK]).unparse().to_bytes()
        if len(block) > 0xFFFF:
            raise ValueError(f"an ASTERIX datablock of {len(block)} bytes (at most 65,535)")
        out += block
    return bytes(out)


def _clip(value: float, limit: float) -> float:
    return float(np.clip(float(value), -limit, limit))
