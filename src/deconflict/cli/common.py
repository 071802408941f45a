"""Helpers shared by the commands: times, snapshots, flags checked before the work, tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sys
from datetime import datetime, timezone
from pathlib import Path


from deconflict.errors import UserError

if TYPE_CHECKING:
    from deconflict.core.detection import Conflicts
    from deconflict.core.states import States
    from rich.table import Table


def _parse_time(text: str | None, flag: str = "--at") -> float | None:
    """A time flag (``--at``, ``--from`` ...): UNIX seconds, or ISO 8601 with an offset (``2015-10-20T06:00:00Z``)."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"{flag}: {text!r} is not a time; expected UNIX seconds or ISO 8601 (2015-10-20T06:00:00Z)") from None
    if moment.tzinfo is None:
        raise UserError(f"{flag}: {text!r} has no UTC offset; add Z or +HH:MM")
    return moment.timestamp()


def _snapshot(path: Path, at: str | None, max_age: str) -> States:
    """Read a state-vector file (bad rows reported on stderr) and take its snapshot at ``at``; a
    picture with no aircraft in it is a failure (SPEC §2), said in one line with the reason."""
    from deconflict.core.units import parse_duration
    from deconflict.io.states_file import read_states_checked
    staleness = _positive(max_age, "--max-age", parse_duration)
    when = _parse_time(at)
    states, rejected = read_states_checked(path)
    if rejected.count:
        print(rejected.summary(path), file=sys.stderr)
    for suspicion in rejected.suspicions:
        print(f"warning: {path}: {suspicion}", file=sys.stderr)
    if len(states) == 0:
        raise UserError(f"{path}: nothing usable read ({rejected.count} bad rows, no valid one)")
    snapshot = states.snapshot(at=when, max_age=staleness)
    if len(snapshot) == 0:
        first, last = _utc(float(states.time.min())), _utc(float(states.time.max()))
        if when is not None and when < float(states.time.min()):
            raise UserError(f"{path}: no aircraft at --at {at}: the data starts at {first}")
        raise UserError(f"{path}: no airborne aircraft reported within --max-age {max_age} before "
                        f"{_utc(snapshot.at)} (the data runs from {first} to {last})")
    return snapshot


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _positive(text: str, flag: str, parse) -> float:  # noqa: ANN001
    """A quantity flag that must be more than zero, refused with the user's own text."""
    value = parse(text, flag)
    if not value > 0:
        raise UserError(f"{flag}: must be more than zero, got {text!r}")
    return value


def _output_checked(output: str | None) -> None:
    """Refuse an output the writer would refuse, before any work is done."""
    if output in (None, "-"):
        return
    if not str(output).lower().endswith((".csv", ".csv.gz", ".parquet")):
        raise UserError(f"{output}: unknown output type; expected .csv, .csv.gz or .parquet (or - for stdout)")
    parent = Path(output).expanduser().resolve().parent
    if not parent.is_dir():
        raise UserError(f"{output}: the folder {parent} does not exist")


def _mmss(seconds: float) -> str:
    whole = int(round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def conflict_table(conflicts: Conflicts, limit: int = 40) -> Table:
    """A Rich table of the first ``limit`` conflicts, soonest loss of separation first."""
    from rich.table import Table

    from deconflict.core.units import FOOT, NAUTICAL_MILE
    table = Table(title=f"{len(conflicts)} conflicts, soonest first", header_style="bold")
    for heading in ("aircraft a", "aircraft b", "parties", "LoS in", "LoS for", "CPA", "CPA vert"):
        table.add_column(heading, justify="left" if heading in ("aircraft a", "aircraft b", "parties") else "right",
                         no_wrap=True)
    states = conflicts.states
    for k in range(min(len(conflicts), limit)):
        i, j = conflicts.index_a[k], conflicts.index_b[k]
        table.add_row(
            f"{conflicts.a[k]} {states.callsign[i]}".strip(), f"{conflicts.b[k]} {states.callsign[j]}".strip(),
            f"{conflicts.party_a[k] or '?'}/{conflicts.party_b[k] or '?'}",
            "[bold red]NOW[/bold red]" if conflicts.t_in[k] == 0.0 else _mmss(conflicts.t_in[k]),
            _mmss(conflicts.t_out[k] - conflicts.t_in[k]),
            f"{conflicts.d_cpa[k] / NAUTICAL_MILE:.1f} NM",
            f"{conflicts.dz_cpa[k] / FOOT:.0f} ft",
        )
    if len(conflicts) > limit:
        table.caption = f"... and {len(conflicts) - limit} more"
    return table
