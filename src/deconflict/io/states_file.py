"""State-vector files (SPEC §2): OpenSky-schema CSV, CSV.gz or Parquet in; conflict tables out.

Bad rows are reported (count, first line numbers, reason) and skipped; they never change the
result of the valid rows. A missing required column or an unreadable file raises
`StatesFileError` with a one-line message naming the file.
"""

from __future__ import annotations

import sys
import warnings
from datetime import datetime
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from deconflict.core.detection import Conflicts
from deconflict.core.states import States
from deconflict.core.units import ALTITUDE_RANGE, MAX_SPEED
from deconflict.errors import DeconflictError
from deconflict.io.tables import standard_columns

REQUIRED_COLUMNS = ("time", "icao24", "lat", "lon", "velocity", "heading", "vertrate")
ALTITUDE_COLUMNS = ("baroaltitude", "geoaltitude")
NUMERIC_COLUMNS = ("time", "lat", "lon", "velocity", "heading", "vertrate", "baroaltitude", "geoaltitude")
TEXT_COLUMNS = ("icao24", "callsign", "party", "onground")
MAX_VERTICAL_RATE = 150.0  # m/s (~30,000 ft/min): beyond any aircraft's climb or dive
MAX_ID_LENGTH = 32
_TRUE = {"true", "t", "1", "yes"}
_FALSE = {"false", "f", "0", "no", ""}
EXAMPLES = 5


class StatesFileError(DeconflictError):
    """A state-vector file that cannot be used at all (unreadable, wrong format, missing column)."""


@dataclass
class RejectedRows:
    """Rows skipped because of missing or impossible values: count, reasons, first locations."""

    count: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    examples: list[tuple[str, str]] = field(default_factory=list)  # (location, reason)
    suspicions: list[str] = field(default_factory=list)  # columns whose values look like another unit

    def summary(self, path: str | Path) -> str:
        """One line: ``file: 3 bad rows skipped (line 4: lat outside [-90, 90]; ...)``."""
        shown = "; ".join(f"{where}: {why}" for where, why in self.examples)
        more = ", ..." if self.count > len(self.examples) else ""
        return f"{path}: {self.count} bad row{'s' * (self.count != 1)} skipped ({shown}{more})"


def read_states(path: str | Path) -> States:
    """Read a state-vector file; bad rows are skipped, and they and values that look like another unit
    are reported with a `UserWarning`."""
    states, rejected = read_states_checked(path)
    if rejected.count:
        warnings.warn(rejected.summary(path), stacklevel=2)
    for suspicion in rejected.suspicions:
        warnings.warn(f"{path}: {suspicion}", stacklevel=2)
    return states


def read_states_checked(path: str | Path) -> tuple[States, RejectedRows]:
    """Read a state-vector file (SPEC §2, OpenSky, or a `traffic` table: `deconflict.io.tables`);
    return the valid rows and a report of the rejected ones."""
    path = Path(path)
    table, location = _read_table(path)
    return validate_table(standard_columns(table), path, location)


def validate_table(table: pa.Table, path: str | Path, location: Callable[[int], str] = lambda row: f"row {row + 1}",
                   not_after: float | None = None, party_pattern: str | None = None
                   ) -> tuple[States, RejectedRows]:
    """The valid rows of a state-vector table (SPEC §2) and a report of the rejected ones;
    ``location(row)`` names a row in messages (``line 7``).

    Live feeds add two checks: ``not_after`` (UNIX s), rows stamped later are bad (a clock ahead,
    or a party trying to shadow a track with a report from the future); ``party_pattern``, a regular
    expression every non-empty party label must match (a service takes party ids only).
    """
    names = set(table.column_names)
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise StatesFileError(
            f"{path}: missing required column{'s' * (len(missing) > 1)} {', '.join(missing)} "
            f"(required: {', '.join(REQUIRED_COLUMNS)} and one of {', '.join(ALTITUDE_COLUMNS)})")
    if not any(c in names for c in ALTITUDE_COLUMNS):
        raise StatesFileError(f"{path}: no altitude column; expected baroaltitude or geoaltitude")
    n = table.num_rows
    bad = np.zeros(n, dtype=bool)
    reason = np.full(n, -1, dtype=np.int16)
    reasons: list[str] = []

    def reject(mask: np.ndarray, why: str) -> None:
        new = mask & ~bad
        if new.any():
            reason[new] = len(reasons)
            bad[new] = True
        reasons.append(why)

    if "time" in table.column_names and pa.types.is_string(table.column("time").type):
        table = table.set_column(table.column_names.index("time"), "time", _times_of_text(table.column("time")))
    numeric = {name: _numeric(table, name, reject) for name in NUMERIC_COLUMNS}
    ids = _text(table, "icao24")
    onground_text = _text(table, "onground", lower=True)
    onground = np.isin(onground_text, list(_TRUE))
    reject(~onground & ~np.isin(onground_text, list(_FALSE)), "onground is not true/false")

    lengths = np.char.str_len(ids)
    reject(lengths == 0, "icao24 is empty")
    reject(lengths > MAX_ID_LENGTH, f"icao24 longer than {MAX_ID_LENGTH} characters")
    for name in ("icao24", "callsign", "party"):
        # a control character (NUL, unit separator...) aliases ids in numpy text and breaks storage
        reject(_has_control_character(table, name), f"{name} holds a control character")
    party = _text(table, "party")
    reject(np.char.str_len(party) > MAX_ID_LENGTH, f"party longer than {MAX_ID_LENGTH} characters")
    if party_pattern is not None:
        labels = pa.array(party.tolist(), pa.string())
        fits = np.asarray(pc.match_substring_regex(labels, party_pattern).to_numpy(zero_copy_only=False), dtype=bool)
        reject(~fits & (party != ""), "party is not a party id (letters, digits, - and _)")
    reject(~np.isfinite(numeric["time"]), "time missing")
    if not_after is not None:
        with np.errstate(invalid="ignore"):
            reject(numeric["time"] > not_after, "time is in the future (the reporting clock is ahead)")
    altitude = np.where(np.isnan(numeric["baroaltitude"]), numeric["geoaltitude"], numeric["baroaltitude"])
    with np.errstate(invalid="ignore"):
        # On the ground, detection ignores the aircraft: its kinematics may be missing.
        airborne = ~onground
        for name, low, high in (("lat", -90.0, 90.0), ("lon", -180.0, 180.0), ("velocity", 0.0, MAX_SPEED),
                                ("heading", 0.0, 360.0), ("vertrate", -MAX_VERTICAL_RATE, MAX_VERTICAL_RATE)):
            values = numeric[name]
            reject(airborne & np.isnan(values), f"{name} missing")
            reject(airborne & ((values < low) | (values > high)), f"{name} outside [{low:g}, {high:g}]")
        reject(airborne & np.isnan(altitude), "no baroaltitude or geoaltitude")
        reject(airborne & ((altitude < ALTITUDE_RANGE[0]) | (altitude > ALTITUDE_RANGE[1])),
               f"altitude outside [{ALTITUDE_RANGE[0]:g}, {ALTITUDE_RANGE[1]:g}] m")

    rejected = RejectedRows(count=int(bad.sum()))
    if rejected.count:
        codes = reason[bad]
        for code, count in zip(*np.unique(codes, return_counts=True)):
            rejected.reasons[reasons[code]] = int(count)
        for row in np.flatnonzero(bad)[:EXAMPLES]:
            rejected.examples.append((location(int(row)), reasons[reason[row]]))
    keep = ~bad
    rejected.suspicions = _unit_suspicions(numeric, keep & ~onground)
    states = States.from_arrays(
        icao24=ids[keep], time=numeric["time"][keep], lat=numeric["lat"][keep],
        lon=numeric["lon"][keep], velocity=numeric["velocity"][keep], heading=numeric["heading"][keep],
        vertrate=numeric["vertrate"][keep], altitude=altitude[keep],
        callsign=_text(table, "callsign")[keep], party=party[keep],
        onground=onground[keep], copy=False,  # every array here is a fresh selection
    )
    return states, rejected


# (column, test on the valid rows, what it looks like): SPEC §2 units are s, m/s and m; a file in another
# unit is read as it says, and the user is warned, not second-guessed
_SUSPICIONS = (
    ("time", lambda v: np.nanmedian(v) > 1e11, "UNIX milliseconds (expected seconds)"),
    ("velocity", lambda v: np.nanpercentile(v, 90) > 350.0, "knots or km/h (expected m/s)"),
    ("vertrate", lambda v: np.nanpercentile(np.abs(v), 99) > 60.0, "ft/min (expected m/s)"),
    ("baroaltitude", lambda v: np.nanpercentile(v, 90) > 16_000.0, "feet (expected metres)"),
    ("geoaltitude", lambda v: np.nanpercentile(v, 90) > 16_000.0, "feet (expected metres)"),
)


def _unit_suspicions(numeric: dict[str, np.ndarray], rows: np.ndarray) -> list[str]:
    """Columns whose valid airborne values look like another unit than SPEC §2's."""
    found = []
    for name, test, looks in _SUSPICIONS:
        values = numeric[name][rows]
        values = values[np.isfinite(values)]
        if values.size >= 10 and test(values):
            found.append(f"{name} looks like {looks}")
    return found


def _times_of_text(column: pa.ChunkedArray) -> pa.Array:
    """A time column of text: UNIX seconds, or ISO 8601 with an offset as in the API (SPEC §1); what
    is neither stays text, and its row is rejected as not a number."""
    values = column.to_pylist()
    out = []
    for value in values:
        try:
            out.append(str(float(value)) if value not in (None, "") else "")
        except ValueError:
            try:
                moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
                out.append(str(moment.timestamp()) if moment.tzinfo is not None else str(value))
            except ValueError:
                out.append(str(value))
    return pa.array(out, pa.string())


def _read_table(path: Path):
    name = path.name.lower()
    try:
        if name.endswith(".parquet") or name.endswith(".pq"):
            return pq.read_table(path), lambda row: f"row {row + 1}"
        if name.endswith(".csv") or name.endswith(".csv.gz"):
            return _read_csv(path), lambda row: f"line {row + 2}"
        if name.endswith(".json") or name.endswith(".json.gz"):  # a pandas/traffic table as JSON records
            import pandas as pd  # only for JSON records: the service never needs it (0.3 s of start-up)

            return pa.Table.from_pandas(pd.read_json(path), preserve_index=False), lambda row: f"record {row + 1}"
        if name.endswith((".ast", ".asterix")):  # EUROCONTROL ASTERIX CAT021/CAT062 (io/asterix.py)
            from deconflict.io.asterix import read_asterix

            found = read_asterix(path)
            if found.bad_records or found.bad_datablocks:
                warnings.warn(f"{path}: {found.bad_datablocks} ASTERIX datablocks and {found.bad_records} records "
                              f"skipped ({', '.join(f'{n} {why}' for why, n in found.reasons.items()) or 'not parsed'})",
                              stacklevel=3)
            s = found.states
            return pa.table({"time": s.time, "icao24": s.icao24, "callsign": s.callsign, "lat": s.lat, "lon": s.lon,
                             "velocity": s.velocity, "heading": s.heading, "vertrate": s.vertrate,
                             "baroaltitude": s.altitude}), lambda row: f"report {row + 1}"
    except FileNotFoundError:
        raise StatesFileError(f"{path}: no such file") from None
    except (OSError, pa.ArrowException, ValueError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise StatesFileError(f"{path}: cannot read: {first_line}") from None
    raise StatesFileError(f"{path}: unknown file type; expected .csv, .csv.gz, .parquet, .json, .json.gz or .ast (ASTERIX)")


def _read_csv(path: Path) -> pa.Table:
    """Typed read (fast path); if a number column holds text, read every column as text instead."""
    if not path.exists():
        raise FileNotFoundError(path)
    text_types = {c: pa.string() for c in TEXT_COLUMNS}
    convert = pacsv.ConvertOptions(column_types={**text_types, **{c: pa.float64() for c in NUMERIC_COLUMNS}},
                                   strings_can_be_null=False)
    try:
        return pacsv.read_csv(path, convert_options=convert)
    except pa.ArrowInvalid as error:
        if "conversion error" not in str(error).lower() and "in csv column" not in str(error).lower():
            raise
    # Column names are needed to force every column to text.
    with pacsv.open_csv(path, convert_options=pacsv.ConvertOptions(column_types=text_types)) as reader:
        names = reader.schema.names
    return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
        column_types={c: pa.string() for c in names}, strings_can_be_null=False))


def _numeric(table: pa.Table, name: str, reject) -> np.ndarray:
    """Column as float64 with NaN for missing; text that is not a number rejects its row."""
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    column = table.column(name)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        # Slow path, only for files with text in a number column: parse, and reject what is not a number.
        import pandas as pd  # numbers written as text only

        text = pd.Series(pc.utf8_trim_whitespace(pc.fill_null(column, "")).to_numpy(zero_copy_only=False))
        parsed = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        unparsable = np.isnan(parsed) & (text != "").to_numpy() & (text.str.lower() != "nan").to_numpy()
        reject(unparsable, f"{name} is not a number")
        return parsed
    return np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _has_control_character(table: pa.Table, name: str) -> np.ndarray:
    """Rows whose text in ``name`` holds a C0 control character other than tab, newline or return, or
    DEL. Read from Arrow's UTF-8 bytes (multi-byte characters never hold bytes below 128), so a
    million rows cost a few milliseconds."""
    n = table.num_rows
    if name not in table.column_names:
        return np.zeros(n, dtype=bool)
    column = table.column(name)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return np.zeros(n, dtype=bool)
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if len(array) == 0:
        return np.zeros(0, dtype=bool)
    width = np.int64 if pa.types.is_large_string(array.type) else np.int32
    offsets = np.frombuffer(array.buffers()[1], dtype=width, count=len(array) + 1,
                            offset=array.offset * np.dtype(width).itemsize).astype(np.int64)
    data = array.buffers()[2]
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    bad = ((raw < 32) & (raw != 9) & (raw != 10) & (raw != 13)) | (raw == 127)
    if not bad.any():  # the usual case: no row to find
        return np.zeros(n, dtype=bool)
    seen = np.concatenate(([0], np.cumsum(bad, dtype=np.int64)))
    found = seen[offsets[1:]] - seen[offsets[:-1]] > 0
    return found & np.asarray(array.is_valid(), dtype=bool) if array.null_count else found


def _text(table: pa.Table, name: str, lower: bool = False) -> np.ndarray:
    """Column as trimmed text ("" for missing); trimming and case folding done by Arrow (C++), not numpy."""
    if name not in table.column_names:
        return np.full(table.num_rows, "", dtype="U1")
    column = table.column(name)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = pc.cast(column, pa.string())
    column = pc.utf8_trim_whitespace(pc.fill_null(column, ""))
    if lower:
        column = pc.utf8_lower(column)
    fast = _ascii_text(column)
    return fast if fast is not None else np.asarray(column.to_numpy(zero_copy_only=False), dtype=str)


def _ascii_text(column: pa.ChunkedArray) -> np.ndarray | None:
    """ASCII text of up to 32 characters straight from Arrow's buffers into a fixed-width numpy array,
    without a Python string per row (10x faster on the ids of a million rows); None otherwise."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_string(array.type) or array.null_count:
        return None
    n = len(array)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32, count=n + 1, offset=array.offset * 4)
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8) if array.buffers()[2] is not None else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    width = int(lengths.max()) if n else 0
    if width == 0:
        return np.full(n, "", dtype="U1")
    used = data[offsets[0]:offsets[-1]]
    if width > 32 or (used.size and int(used.max()) >= 128):
        return None
    # numpy's "U" is one 4-byte code point per character: widen the bytes and view them as text
    if int(lengths.min()) == width:  # every id as long (ICAO addresses): no gather needed
        out = used.reshape(n, width).astype(np.uint32)
    else:
        index = offsets[:-1, None] + np.arange(width)
        inside = np.arange(width) < lengths[:, None]
        out = np.zeros((n, width), dtype=np.uint32)
        out[inside] = data[index[inside]]
    return out.view(f"U{width}").ravel()


def write_conflicts(conflicts: Conflicts | Any, destination: str | Path) -> None:
    """Write the SPEC §3 conflict table (or any table with ``to_arrow``, e.g. alerts): ``-`` is CSV on
    stdout, else by extension."""
    write_table(conflicts.to_arrow(), destination)


def write_table(table: pa.Table, destination: str | Path) -> None:
    """An Arrow table to ``-`` (CSV on stdout), .parquet, .csv or .csv.gz, by the name's extension."""
    if str(destination) == "-":
        sink = pa.output_stream(sys.stdout.buffer)
        pacsv.write_csv(table, sink)
        sink.flush()
        sys.stdout.flush()
        return
    path = Path(destination)
    name = path.name.lower()
    if name.endswith(".parquet") or name.endswith(".pq"):
        pq.write_table(table, path)
    elif name.endswith(".csv.gz"):
        with pa.CompressedOutputStream(str(path), "gzip") as sink:
            pacsv.write_csv(table, sink)
    elif name.endswith(".csv"):
        pacsv.write_csv(table, path)
    else:
        raise StatesFileError(f"{path}: unknown output type; expected .csv, .csv.gz or .parquet (or - for stdout)")


def write_states(states: States, destination: str | Path) -> None:
    """Write state vectors with the SPEC §2 columns (``baroaltitude`` from ``altitude``): .parquet, .csv, .csv.gz."""
    table = pa.table({
        "time": states.time, "icao24": states.icao24, "lat": states.lat, "lon": states.lon,
        "velocity": states.velocity, "heading": states.heading, "vertrate": states.vertrate,
        "baroaltitude": states.altitude, "callsign": states.callsign, "onground": states.onground,
        "party": states.party,
    })
    write_table(table, destination)
