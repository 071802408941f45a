"""Tables in the shapes users already have, turned into SPEC §2 columns before validation.

- The `traffic` library's flights and tables (and its recordings): ``timestamp`` (datetime),
  ``latitude``, ``longitude``, ``groundspeed`` (kt), ``track`` (deg), ``vertical_rate`` (ft/min),
  ``altitude`` (ft, barometric), ``geoaltitude`` (ft), ``onground``, ``callsign``, ``icao24``.
- OpenSky's history (SPEC §2 already: ``time``, ``lat``, ``lon``, ``velocity`` m/s, ``heading``,
  ``vertrate`` m/s, ``baroaltitude``/``geoaltitude`` m), with ``time`` as UNIX seconds or datetimes.
- pandas DataFrames of either (`states_from_pandas`).

ADS-B sends positions and velocities in separate messages, so a recording has rows with a position
and no velocity: each such row takes the same aircraft's velocity, track and vertical rate (each on
its own) from its latest report that has it at most `FILL_AGE` seconds before, or else its next one
at most `FILL_AGE` seconds after (the first positions of a track come before its first velocity),
instead of being rejected.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from deconflict.core.units import FOOT, KNOT

FILL_AGE = 10.0  # s: a velocity older than this is not carried to a position report
TRAFFIC_COLUMNS = {"timestamp": "time", "latitude": "lat", "longitude": "lon", "groundspeed": "velocity",
                   "track": "heading", "vertical_rate": "vertrate", "altitude": "baroaltitude"}
TRAFFIC_SCALE = {"velocity": KNOT, "vertrate": FOOT / 60.0, "baroaltitude": FOOT, "geoaltitude": FOOT}


def is_traffic_schema(names: list[str]) -> bool:
    return {"timestamp", "latitude", "longitude"} <= set(names) and "lat" not in names


def standard_columns(table: pa.Table) -> pa.Table:
    """SPEC §2 columns and units from a `traffic` table, datetimes as UNIX seconds, velocities filled
    from recent reports; other tables pass through (apart from datetime times)."""
    if is_traffic_schema(table.column_names):
        columns = {}
        for name in table.column_names:
            target = TRAFFIC_COLUMNS.get(name, name)
            if target in columns:
                continue
            column = table.column(name)
            scale = TRAFFIC_SCALE.get(target)
            if scale is not None and (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
                column = pc.multiply(pc.cast(column, pa.float64()), scale)
            columns[target] = column
        table = pa.table(columns)
    if "time" in table.column_names and pa.types.is_timestamp(table.column("time").type):
        seconds = pc.divide(pc.cast(pc.cast(table.column("time"), pa.timestamp("us", "UTC")), pa.int64()), 1e6)
        table = table.set_column(table.column_names.index("time"), "time", pc.cast(seconds, pa.float64()))
    return fill_velocities(table)


def fill_velocities(table: pa.Table, age: float = FILL_AGE) -> pa.Table:
    """Rows without a velocity, a track or a vertical rate take each from their aircraft's latest report
    that has it within ``age`` s before, or else its next one within ``age`` s after (row order kept)."""
    names = ("velocity", "heading", "vertrate")
    if not {"time", "icao24", *names} <= set(table.column_names) or table.num_rows == 0:
        return table
    if not all(pa.types.is_floating(table.column(n).type) or pa.types.is_integer(table.column(n).type)
               or pa.types.is_null(table.column(n).type) for n in (*names, "time")):
        return table  # text columns: validation will say what is wrong
    time = np.asarray(pc.cast(table.column("time"), pa.float64()).to_numpy(zero_copy_only=False), dtype=float)
    ids = None
    for name in names:
        values = np.asarray(pc.cast(table.column(name), pa.float64()).to_numpy(zero_copy_only=False), dtype=float)
        if not np.isnan(values).any():
            continue
        if ids is None:
            ids = np.asarray(table.column("icao24").to_numpy(zero_copy_only=False)).astype(str)
            order = np.lexsort((time, ids))
            sorted_ids, sorted_time = ids[order], time[order]
            n_rows = order.size
        have = ~np.isnan(values[order])
        before = np.maximum.accumulate(np.where(have, np.arange(n_rows), -1))
        after = np.minimum.accumulate(np.where(have, np.arange(n_rows), n_rows)[::-1])[::-1]
        b, a = np.maximum(before, 0), np.minimum(after, n_rows - 1)
        ok_before = (before >= 0) & (sorted_ids[b] == sorted_ids) & (sorted_time - sorted_time[b] <= age)
        ok_after = (after < n_rows) & (sorted_ids[a] == sorted_ids) & (sorted_time[a] - sorted_time <= age)
        fill = ~have & (ok_before | ok_after)
        if fill.any():
            filled = values.copy()
            filled[order[fill]] = values[order[np.where(ok_before, b, a)[fill]]]
            table = table.set_column(table.column_names.index(name), name, pa.array(filled))
    return table


def states_from_pandas(frame: Any, source: str = "DataFrame"):  # noqa: ANN201
    """States (and the rejected rows' report) from a pandas DataFrame of SPEC §2, OpenSky or `traffic`
    columns; see `deconflict.io.states_file.validate_table` for what a bad row is."""
    from deconflict.io.states_file import validate_table

    table = pa.Table.from_pandas(frame, preserve_index=False)
    return validate_table(standard_columns(table), source)
