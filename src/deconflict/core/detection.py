"""Tactical conflict detection (SPEC §3): every pair that loses separation within the look-ahead.

Broad phase: each aircraft's swept volume over the look-ahead is bounded by a conservative
ECEF box plus an altitude interval (`_kernels.prepare`); boxes go into a uniform 3D grid
keyed by their lower corner, so only aircraft in adjacent cells are compared, sorted by
altitude within a cell. Every candidate pair then gets the exact test of SPEC §3.
Cost grows with N and the number of nearby pairs; memory is O(N + conflicts).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Iterator

import numpy as np

from deconflict.core import _kernels
from deconflict.core.states import States
from deconflict.core.units import FOOT, NAUTICAL_MILE
from deconflict.errors import DeconflictError

DEFAULT_LOOKAHEAD = 300.0  # s
DEFAULT_HSEP = 5.0 * NAUTICAL_MILE  # m
DEFAULT_VSEP = 1000.0 * FOOT  # m

CONFLICT_COLUMNS = ("a", "b", "party_a", "party_b", "t_in", "t_out", "t_cpa", "d_cpa", "dz_cpa")
_CELL_QUANTILE = 0.999  # boxes wider than this quantile are handled outside the grid
_THIN_LAYER = 1.2  # altitude intervals up to 1.2 vsep (level flight) are swept in the thin layer


class DetectionError(DeconflictError, ValueError):
    """Detection parameters that make no sense (negative minima, no look-ahead...)."""


class PairTable:
    """Shared behaviour of tables with one row per pair of aircraft of a snapshot (``states``):
    ids and parties read from the snapshot on first use, conversion to pandas and Arrow."""

    index_a: np.ndarray
    index_b: np.ndarray
    states: States
    COLUMNS: tuple[str, ...] = ()

    @cached_property
    def a(self) -> np.ndarray:
        return self.states.icao24[self.index_a]

    @cached_property
    def b(self) -> np.ndarray:
        return self.states.icao24[self.index_b]

    @cached_property
    def party_a(self) -> np.ndarray:
        return self.states.party[self.index_a]

    @cached_property
    def party_b(self) -> np.ndarray:
        return self.states.party[self.index_b]

    @property
    def at(self) -> float | None:
        return self.states.at

    def __len__(self) -> int:
        return int(self.index_a.size)

    def columns(self) -> dict[str, np.ndarray]:
        """The table's columns, in order."""
        return {name: getattr(self, name) for name in self.COLUMNS}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        columns = self.columns()
        for k in range(len(self)):
            yield {name: values[k].item() for name, values in columns.items()}

    def pairs(self) -> set[tuple[str, str]]:
        return set(zip(self.a.tolist(), self.b.tolist()))

    def to_pandas(self) -> Any:
        import pandas as pd  # conversion only

        return pd.DataFrame(self.columns())

    def to_arrow(self) -> Any:
        import pyarrow as pa  # conversion only

        return pa.table(self.columns())


@dataclass(frozen=True, eq=False)
class Conflicts(PairTable):
    """The conflict table of SPEC §3, sorted by (t_in, a, b), one row per pair with a < b.

    Times in seconds relative to ``at`` (UNIX s), distances in metres. ``index_a`` and
    ``index_b`` point at the rows of the snapshot (``states``) the pair came from; the text
    columns (``a``, ``b``, ``party_a``, ``party_b``) are read from it on first use, so a table
    of millions of conflicts costs 56 bytes per row until they are asked for.
    """

    index_a: np.ndarray
    index_b: np.ndarray
    t_in: np.ndarray
    t_out: np.ndarray
    t_cpa: np.ndarray
    d_cpa: np.ndarray
    dz_cpa: np.ndarray
    states: States
    lookahead: float
    hsep: float
    vsep: float
    vtol: float

    COLUMNS = CONFLICT_COLUMNS


def detect(
    states: States,
    lookahead: float = DEFAULT_LOOKAHEAD,
    hsep: float = DEFAULT_HSEP,
    vsep: float = DEFAULT_VSEP,
    vtol: float = 0.0,
    between_parties: bool = False,
    threads: int | None = None,
) -> Conflicts:
    """Every pair of aircraft in conflict within ``lookahead`` seconds (SPEC §3).

    ``states``: a snapshot; a history is first reduced with ``states.snapshot()`` (latest time,
    60 s staleness). ``hsep``/``vsep``: horizontal/vertical minima (m). ``vtol`` (m): a level
    pair reported at least ``vsep - vtol`` apart counts as vertically separated.
    ``between_parties``: only pairs whose parties are both known and differ.
    ``threads``: worker threads for the grid scan (default: all cores).
    """
    _check_parameters(lookahead, hsep, vsep, vtol)
    snapshot = states if states.is_snapshot else states.snapshot()
    index_a, index_b, values = _candidate_scan(snapshot, lookahead, hsep, vsep, vtol, between_parties, threads)
    return _table(snapshot, index_a, index_b, values, lookahead, hsep, vsep, vtol)


def detect_all_pairs(
    states: States,
    lookahead: float = DEFAULT_LOOKAHEAD,
    hsep: float = DEFAULT_HSEP,
    vsep: float = DEFAULT_VSEP,
    vtol: float = 0.0,
    between_parties: bool = False,
) -> Conflicts:
    """Same result as `detect`, by testing every pair (O(N^2)): the reference for the broad phase."""
    _check_parameters(lookahead, hsep, vsep, vtol)
    snapshot = states if states.is_snapshot else states.snapshot()
    position, velocity, _ = _kernels.prepare(*_kinematics(snapshot), lookahead, hsep, vsep)
    party = _party_codes(snapshot)
    pairs, values = _resumable(lambda first, out_pairs, out_values: _kernels.all_pairs_exact(
        first, position, velocity, snapshot.altitude, snapshot.vertrate, party, between_parties,
        lookahead, hsep, vsep, vtol, out_pairs, out_values), 0, len(snapshot))
    return _table(snapshot, pairs[:, 0], pairs[:, 1], values, lookahead, hsep, vsep, vtol)


def _check_parameters(lookahead: float, hsep: float, vsep: float, vtol: float) -> None:
    for name, value in (("lookahead", lookahead), ("hsep", hsep), ("vsep", vsep)):
        if not np.isfinite(value) or value <= 0.0:
            raise DetectionError(f"{name} must be a positive finite value, got {value!r}")
    if not np.isfinite(vtol) or not 0.0 <= vtol < vsep:
        raise DetectionError(f"vtol must be in [0, vsep), got {vtol!r}")


def _kinematics(s: States) -> tuple[np.ndarray, ...]:
    return s.lat, s.lon, s.velocity, s.heading, s.vertrate, s.altitude


def _party_codes(s: States) -> np.ndarray:
    """Integer code per aircraft's party, -1 for unknown (empty)."""
    if len(s) == 0:
        return np.empty(0, dtype=np.int32)
    names, codes = np.unique(s.party, return_inverse=True)
    codes = codes.astype(np.int32)
    if names.size and names[0] == "":
        codes -= 1  # "" sorts first: it becomes -1, the others 0..k-1
    return codes


def _candidate_scan(
    s: States, lookahead: float, hsep: float, vsep: float, vtol: float, between_parties: bool, threads: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(s)
    if n < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty((0, 5))
    position, velocity, box = _kernels.prepare(*_kinematics(s), lookahead, hsep, vsep)
    party = _party_codes(s) if between_parties else np.zeros(n, dtype=np.int32)

    lower, upper = box[:, 0:3], box[:, 3:6]
    extent = (upper - lower).max(axis=1)
    origin = lower.min(axis=0).astype(np.float64) - 2.0
    span = float((upper.max(axis=0) - origin).max())
    k = int(_CELL_QUANTILE * (n - 1))
    typical = float(np.partition(extent, k)[k])
    cell = max(typical, span / (_kernels.AXIS_CELLS - 4)) * 1.001
    regular = extent <= cell * (1.0 - 1e-6)
    del extent, lower, upper

    # Level aircraft have thin altitude intervals: sweeping them apart from climbers and descenders
    # keeps the altitude window of a query narrow.
    thick = (box[:, 7] - box[:, 6]) > _THIN_LAYER * vsep + 2.0
    keys = _kernels.grid_keys(box, origin, cell, regular, thick)
    del thick
    n_regular = int(regular.sum())
    order = np.argsort(keys)[:n_regular]
    sorted_keys = keys[order]
    del keys
    sorted_box = box[order]
    cell_of = sorted_keys >> _kernels.SUB_BITS
    starts = np.flatnonzero(np.diff(cell_of)) + 1
    starts = np.concatenate(([0], starts)).astype(np.int64) if n_regular else np.empty(0, np.int64)
    cell_key = cell_of[starts]
    del cell_of
    layer_start = np.empty((starts.size, 3), dtype=np.int64)
    layer_reach = np.zeros((starts.size, 2))
    if n_regular:
        is_thick = ((sorted_keys >> _kernels.BUCKET_BITS) & 1).astype(bool)
        layer_start[:, 0] = starts
        layer_start[:, 2] = np.append(starts[1:], n_regular)
        layer_start[:, 1] = starts + np.add.reduceat((~is_thick).astype(np.int64), starts)
        alt_extent = sorted_box[:, 7].astype(np.float64) - sorted_box[:, 6] + 1.0
        layer_reach[:, 0] = np.maximum.reduceat(np.where(is_thick, 0.0, alt_extent), starts)
        layer_reach[:, 1] = np.maximum.reduceat(np.where(is_thick, alt_extent, 0.0), starts)
        del is_thick, alt_extent

    oversize = np.flatnonzero(~regular)
    common = (s.altitude, s.vertrate, party, between_parties, lookahead, hsep, vsep, vtol)
    # threads pay off only on large snapshots (their start-up costs ~1 ms)
    workers = threads or ((os.cpu_count() or 1) if n >= _kernels.PARALLEL_MIN_ROWS else 1)
    # Chunks of cells with about equal numbers of aircraft, several per worker for balance.
    n_chunks = max(1, min(cell_key.size, 8 * workers)) if workers > 1 else 1
    bounds = np.searchsorted(layer_start[:, 0], np.linspace(0, n_regular, n_chunks + 1).astype(np.int64))
    bounds = np.unique(np.clip(bounds, 0, cell_key.size))

    def scan(first_last: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        return _resumable(lambda first, out_pairs, out_values: _kernels.scan_cells(
            first, first_last[1], cell_key, layer_start, layer_reach, sorted_keys, order, sorted_box,
            position, velocity, *common, out_pairs, out_values), first_last[0], first_last[1])

    oversize_box = box[oversize]

    def scan_oversize() -> tuple[np.ndarray, np.ndarray]:
        return _resumable(lambda first, out_pairs, out_values: _kernels.scan_oversize(
            first, oversize, oversize_box, origin, cell, cell_key, layer_start, layer_reach, sorted_keys, order,
            sorted_box, position, velocity, *common, out_pairs, out_values), 0, oversize.size)

    chunks = list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))
    if workers == 1 or len(chunks) <= 1:
        results = [scan(chunk) for chunk in chunks]
        results.append(scan_oversize())
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            oversize_future = pool.submit(scan_oversize)
            results = list(pool.map(scan, chunks))
            results.append(oversize_future.result())
    pairs = np.concatenate([r[0] for r in results]) if results else np.empty((0, 2), np.int64)
    values = np.concatenate([r[1] for r in results]) if results else np.empty((0, 5))
    return pairs[:, 0], pairs[:, 1], values


_BUFFER_ROWS = 1 << 14  # conflicts per kernel call before the caller collects them


def _resumable(kernel: Any, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    """Run a resumable kernel (see `_kernels.scan_cells`) over units [first, last), collecting its output.

    The buffers are reused after each collection and doubled only when one unit (a cell) alone
    overflows them, so memory stays O(conflicts).
    """
    rows = _BUFFER_ROWS
    out_pairs, out_values = np.empty((rows, 2), dtype=np.int64), np.empty((rows, 5))
    collected_pairs, collected_values = [], []
    while True:
        count, resume = kernel(first, out_pairs, out_values)
        if count:
            collected_pairs.append(out_pairs[:count].copy())
            collected_values.append(out_values[:count].copy())
        if resume >= last:
            break
        if resume == first and count == 0:  # one unit alone needs more room
            rows *= 2
            out_pairs, out_values = np.empty((rows, 2), dtype=np.int64), np.empty((rows, 5))
        first = resume
    if not collected_pairs:
        return np.empty((0, 2), dtype=np.int64), np.empty((0, 5))
    return np.concatenate(collected_pairs), np.concatenate(collected_values)


def _table(
    s: States, index_a: np.ndarray, index_b: np.ndarray, values: np.ndarray,
    lookahead: float, hsep: float, vsep: float, vtol: float,
) -> Conflicts:
    """Order each pair a < b (string order) and the rows by (t_in, a, b)."""
    rank_a, rank_b = _id_rank(s.icao24, index_a, index_b)
    swap = rank_a > rank_b
    index_a, index_b = np.where(swap, index_b, index_a), np.where(swap, index_a, index_b)
    rank_a, rank_b = np.where(swap, rank_b, rank_a), np.where(swap, rank_a, rank_b)
    order = _row_order(values[:, 0], rank_a, rank_b, len(s))
    t_in, t_out, t_cpa, d_cpa, dz_cpa = (values[order, k] for k in range(5))
    return Conflicts(
        index_a=index_a[order], index_b=index_b[order], t_in=t_in, t_out=t_out, t_cpa=t_cpa, d_cpa=d_cpa,
        dz_cpa=dz_cpa, states=s, lookahead=lookahead, hsep=hsep, vsep=vsep, vtol=vtol,
    )


def _row_order(t_in: np.ndarray, rank_a: np.ndarray, rank_b: np.ndarray, n: int) -> np.ndarray:
    """Row order by (t_in, a, b): one integer sort key when it fits in 62 bits (5x faster than lexsort)."""
    distinct_times, t_rank = np.unique(t_in, return_inverse=True)
    if distinct_times.size * float(n) * float(n) < 2.0**62:
        return np.argsort((t_rank.astype(np.int64) * n + rank_a) * n + rank_b, kind="stable")
    return np.lexsort((rank_b, rank_a, t_in))


def _id_rank(ids: np.ndarray, index_a: np.ndarray, index_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integers ordered as ``ids[index_a]`` and ``ids[index_b]`` are in string order.

    A snapshot from `States.snapshot` is already sorted by id, so the row index is the rank;
    otherwise only the aircraft that appear in conflicts are sorted by id.
    """
    if ids.size < 2 or bool(np.all(ids[1:] > ids[:-1])):
        return index_a, index_b
    m = index_a.size
    involved, where = np.unique(np.concatenate((index_a, index_b)), return_inverse=True)
    rank = np.empty(involved.size, dtype=np.int64)
    rank[np.argsort(ids[involved], kind="stable")] = np.arange(involved.size)
    rank = rank[where]
    return rank[:m], rank[m:]
