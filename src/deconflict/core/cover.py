"""Conservative space-time covers of plans: the tokens a private plan check compares (issue 15).

Two parties learn whether their plans may conflict by intersecting sets of *tokens* (a private set
intersection reveals only the common ones). A token is a cell of a fixed grid: a latitude row of
``row_degrees``, a column of that row (each row split into columns at least ``row_degrees`` of arc
wide along its equatorward edge, so cells are roughly square and few near the poles), an altitude
band of ``band`` m and a time bucket of ``bucket`` s.

A volume's cover is every token whose cell meets the volume's footprint grown by half the margin,
whose band meets its altitude band and whose bucket meets its time window. **Why it is conservative:**
two volumes conflict when their footprints come within the margin ``m`` of each other (points p, q
with d(p, q) <= m) while their altitude bands and time windows overlap. The geodesic midpoint x of p
and q is within m/2 of both footprints, so it lies in both grown boxes (`bounds.grow` is proved to
hold every point within the margin of its box, and `Circle`/`Polygon.bounds` to hold the footprint);
each cover holds every cell of its box, computed with the same monotone row and column functions, so
both hold the cell of x. A common altitude z and a common instant t lie in one band and one bucket
that both covers hold. So two conflicting volumes always share a token; sharing one only says they
may conflict (the exact test decides).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Iterable

from deconflict.core.bounds import grow
from deconflict.core.plans import Plan
from deconflict.core.volumes import Volume4D
from deconflict.errors import DeconflictError

MAX_TOKENS = 200_000  # per volume: a cover larger than this is refused (a continent-sized volume)


class CoverError(DeconflictError, ValueError):
    """A cover that cannot be made (too large, or outside the window it was asked for)."""


@dataclass(frozen=True)
class CoverGrid:
    """The token grid both parties use (degrees, m, s) and the plan margin (m)."""

    row_degrees: float = 0.25
    band: float = 600.0
    bucket: float = 1800.0
    margin: float = 0.0

    @property
    def name(self) -> str:
        """What both sides must agree on; part of every token, so different grids never match."""
        return f"g{self.row_degrees:g}/{self.band:g}/{self.bucket:g}/{self.margin:g}"

    @property
    def rows(self) -> int:
        return int(math.ceil(180.0 / self.row_degrees))

    def columns(self, row: int) -> int:
        """How many columns row ``row`` has: its widest parallel (the equatorward edge) cut into arcs of
        at least ``row_degrees``."""
        south = -90.0 + row * self.row_degrees
        north = min(south + self.row_degrees, 90.0)
        widest = 0.0 if south < 0.0 < north else min(abs(south), abs(north))
        return max(1, int(360.0 * math.cos(math.radians(widest)) / self.row_degrees))

    def row_of(self, lat: float) -> int:
        return min(max(int(math.floor((lat + 90.0) / self.row_degrees)), 0), self.rows - 1)

    def column_of(self, row: int, lon: float) -> int:
        n = self.columns(row)
        return min(max(int(math.floor((lon + 180.0) * n / 360.0)), 0), n - 1)


def volume_cover(volume: Volume4D, grid: CoverGrid) -> set[str]:
    """The tokens of one volume (see the module: every token a conflicting volume's cover could share)."""
    south, west, north, east = grow(volume.footprint.bounds, grid.margin / 2.0)
    cells = []
    for row in range(grid.row_of(south), grid.row_of(north) + 1):
        if west <= east:
            spans = [(west, east)]
        else:  # across the antimeridian
            spans = [(west, 180.0), (-180.0, east)]
        for low, high in spans:
            first, last = grid.column_of(row, low), grid.column_of(row, high)
            cells.extend((row, column) for column in range(first, last + 1))
    bands = range(int(math.floor(volume.altitude_lower / grid.band)), int(math.floor(volume.altitude_upper / grid.band)) + 1)
    buckets = range(int(math.floor(volume.time_start / grid.bucket)), int(math.floor(volume.time_end / grid.bucket)) + 1)
    count = len(cells) * len(bands) * len(buckets)
    if count > MAX_TOKENS:
        raise CoverError(f"a volume covers {count} tokens (at most {MAX_TOKENS}): split it, or use a coarser grid")
    name = grid.name
    return {f"{name}|{row}|{column}|{b}|{t}" for row, column in set(cells) for b in bands for t in buckets}


def plan_cover(plan: Plan, grid: CoverGrid, start: float, end: float) -> dict[str, list[int]]:
    """Token -> numbers of the volumes (in the order the plan's occurrences in [start, end] yield them)
    whose cover holds it. A recurring plan is expanded over the window only."""
    tokens: dict[str, list[int]] = {}
    for number, volume in enumerate(plan_volumes(plan, start, end)):
        for token in volume_cover(volume, grid):
            tokens.setdefault(token, []).append(number)
    return tokens


def plan_volumes(plan: Plan, start: float, end: float) -> list[Volume4D]:
    """The plan's volumes (each occurrence's, for a recurring plan) whose time window meets [start, end]."""
    return [v for _, volumes in plan.occurrences(start, end) for v in volumes
            if v.time_end >= start and v.time_start <= end]


def cover_digest(tokens: Iterable[str]) -> str:
    """SHA-256 of the sorted tokens: a commitment a party can publish (and later be held to) without
    showing them."""
    digest = hashlib.sha256()
    for token in sorted(tokens):
        digest.update(token.encode())
        digest.update(b"\n")
    return digest.hexdigest()


__all__ = ["CoverError", "CoverGrid", "cover_digest", "plan_cover", "plan_volumes", "volume_cover"]
