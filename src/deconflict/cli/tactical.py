"""`deconflict detect`, `alerts` and `bands`: tactical conflicts, alert levels and guidance from a file."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from deconflict.cli.app import app
from deconflict.errors import UserError

if TYPE_CHECKING:
    from deconflict.core.detection import Conflicts


def _run_detection(
    path: Path, at: str | None, lookahead: str, hsep: str, vsep: str, vtol: str, max_age: str,
    between_parties: bool, threads: int | None,
) -> tuple[Conflicts, int, str]:
    """Read, snapshot and detect; returns the conflicts, the number of aircraft and a summary line."""
    from deconflict.cli.common import _positive, _snapshot
    from deconflict.core.detection import detect as detect_conflicts
    from deconflict.core.units import format_distance, format_duration, parse_distance, parse_duration
    parameters = dict(
        lookahead=_positive(lookahead, "--lookahead", parse_duration), hsep=_positive(hsep, "--hsep", parse_distance),
        vsep=_positive(vsep, "--vsep", parse_distance), vtol=parse_distance(vtol, "--vtol"),
    )
    if not 0.0 <= parameters["vtol"] < parameters["vsep"]:
        raise UserError(f"--vtol: expected at least 0 and less than --vsep, got {vtol!r}")
    start = time.perf_counter()
    snapshot = _snapshot(path, at, max_age)
    conflicts = detect_conflicts(snapshot, between_parties=between_parties, threads=threads, **parameters)
    elapsed = time.perf_counter() - start
    summary = (
        f"{len(snapshot)} aircraft, {len(conflicts)} conflict{'s' * (len(conflicts) != 1)} within "
        f"{format_duration(parameters['lookahead'])} ({format_distance(parameters['hsep'])} / "
        f"{format_distance(parameters['vsep'])}{', between parties' if between_parties else ''}) "
        f"in {elapsed:.3f} s"
    )
    return conflicts, len(snapshot), summary


@app.command()
def detect(
    input: Annotated[Path, typer.Argument(help="State vectors: .csv, .csv.gz or .parquet (OpenSky schema).")],
    output: Annotated[str, typer.Option("--output", "-o", help="Conflict table: .csv, .csv.gz, .parquet, or - for CSV on stdout.")] = "-",
    at: Annotated[Optional[str], typer.Option(help="Time of the picture: UNIX s or ISO 8601. Default: latest in the file.")] = None,
    lookahead: Annotated[str, typer.Option(help="Look-ahead time, e.g. 5min, 300s.")] = "5min",
    hsep: Annotated[str, typer.Option(help="Horizontal minimum, e.g. 5nm, 9.26km.")] = "5nm",
    vsep: Annotated[str, typer.Option(help="Vertical minimum, e.g. 1000ft.")] = "1000ft",
    vtol: Annotated[str, typer.Option(help="Level pairs at least vsep - vtol apart count as separated (SPEC §3).")] = "0ft",
    max_age: Annotated[str, typer.Option(help="States older than this at --at are stale and ignored.")] = "60s",
    between_parties: Annotated[bool, typer.Option("--between-parties", help="Only pairs of two different known parties.")] = False,
    threads: Annotated[Optional[int], typer.Option(help="Worker threads (default: all cores).", min=1)] = None,
    table_as_csv: Annotated[bool, typer.Option("--csv", help="CSV on a terminal too (piped or -o: always CSV).")] = False,
) -> None:
    """Find every pair of aircraft that will lose separation within the look-ahead. On a terminal a
    table for a person (NM, ft, time to loss, callsigns); CSV when piped, with ``-o`` or ``--csv``."""
    from deconflict.cli.common import _output_checked, conflict_table
    from deconflict.io.states_file import write_conflicts
    _output_checked(output)
    conflicts, _, summary = _run_detection(input, at, lookahead, hsep, vsep, vtol, max_age, between_parties, threads)
    if output == "-" and sys.stdout.isatty() and not table_as_csv:
        from rich.console import Console

        Console().print(conflict_table(conflicts))  # on a terminal: for a person (CSV when piped or with -o)
    else:
        write_conflicts(conflicts, output)
    print(summary, file=sys.stderr)


@app.command()
def alerts(
    input: Annotated[Path, typer.Argument(help="State vectors: .csv, .csv.gz or .parquet (OpenSky schema).")],
    output: Annotated[str, typer.Option("--output", "-o", help="Alert table: .csv, .csv.gz, .parquet, or - for CSV on stdout.")] = "-",
    standard: Annotated[str, typer.Option(help="Separation standard: en-route, terminal or do-365.")] = "en-route",
    at: Annotated[Optional[str], typer.Option(help="Time of the picture: UNIX s or ISO 8601. Default: latest in the file.")] = None,
    vtol: Annotated[str, typer.Option(help="Level pairs at least vsep - vtol apart count as separated (SPEC §3).")] = "0ft",
    max_age: Annotated[str, typer.Option(help="States older than this at --at are stale and ignored.")] = "60s",
    between_parties: Annotated[bool, typer.Option("--between-parties", help="Only pairs of two different known parties.")] = False,
) -> None:
    """Alert level (preventive, corrective, warning) of every pair under a separation standard."""
    from deconflict.cli.common import _output_checked, _snapshot
    from deconflict.core.alerting import alerts as alert_levels
    from deconflict.core.standards import LEVEL_NAMES, standard as named_standard
    from deconflict.core.units import parse_distance
    from deconflict.io.states_file import write_conflicts
    _output_checked(output)
    chosen = named_standard(standard)
    start = time.perf_counter()
    snapshot = _snapshot(input, at, max_age)
    found = alert_levels(snapshot, chosen, vtol=parse_distance(vtol, "--vtol"), between_parties=between_parties)
    write_conflicts(found, output)
    counts = ", ".join(f"{int((found.level == k).sum())} {LEVEL_NAMES[k]}" for k in (3, 2, 1))
    print(f"{len(snapshot)} aircraft, {chosen.name} ({chosen.description}): {counts} "
          f"in {time.perf_counter() - start:.3f} s", file=sys.stderr)


@app.command()
def bands(
    input: Annotated[Path, typer.Argument(help="State vectors: .csv, .csv.gz or .parquet (OpenSky schema).")],
    aircraft: Annotated[str, typer.Argument(help="icao24 of the aircraft to advise.")],
    standard: Annotated[str, typer.Option(help="Separation standard: en-route, terminal or do-365.")] = "en-route",
    at: Annotated[Optional[str], typer.Option(help="Time of the picture: UNIX s or ISO 8601. Default: latest in the file.")] = None,
    max_age: Annotated[str, typer.Option(help="States older than this at --at are stale and ignored.")] = "60s",
    kinematic: Annotated[bool, typer.Option(help="Reach each track, speed and vertical speed by a turn or an "
                                                 "acceleration (kinematic bands), not at once.")] = False,
    turn_rate: Annotated[float, typer.Option(help="Turn rate for --kinematic, deg/s (3: standard rate).")] = 3.0,
    bank: Annotated[Optional[float], typer.Option(help="Bank angle for --kinematic, deg (instead of --turn-rate).")] = None,
    acceleration: Annotated[float, typer.Option(help="Along-track acceleration for --kinematic, m/s^2.")] = 1.0,
    vertical_acceleration: Annotated[float, typer.Option(help="Vertical acceleration for --kinematic, m/s^2.")] = 0.98,
) -> None:
    """Conflict bands (track, ground speed, vertical speed, altitude) of one aircraft, and the smallest manoeuvre."""
    from deconflict.cli.common import _snapshot
    from deconflict.core.bands import Kinematics, bands as conflict_bands
    from deconflict.core.standards import standard as named_standard
    from deconflict.core.units import FOOT, KNOT
    from rich.console import Console
    from rich.table import Table
    kinematics = Kinematics(turn_rate=turn_rate, bank_angle=bank, acceleration=acceleration,
                            vertical_acceleration=vertical_acceleration) if kinematic else None
    snapshot = _snapshot(input, at, max_age)
    result = conflict_bands(snapshot, aircraft, named_standard(standard), kinematics=kinematics)
    console = Console(width=max(Console().width, 100))
    kind = "[bold red]recovery bands (in loss of separation)[/bold red]" if result.recovery else "conflict bands"
    if kinematics is not None:
        kind = "kinematic " + kind + (f" (bank {bank:g} deg" if bank is not None else f" (turn {turn_rate:g} deg/s") \
            + f", {acceleration:g} m/s^2, vertical {vertical_acceleration:g} m/s^2)"
    console.print(f"[bold]{aircraft}[/bold]: {kind} against {len(result.intruders)} nearby aircraft, {standard}")
    units = {"track": (1.0, "deg"), "ground_speed": (KNOT, "kt"), "vertical_speed": (FOOT / 60, "ft/min"),
             "altitude": (FOOT, "ft")}
    table = Table(header_style="bold")
    for heading in ("variable", "now", "bands (region)", "smallest manoeuvre"):
        table.add_column(heading)
    colours = {"NONE": "green", "RECOVERY": "cyan", "FAR": "yellow", "MID": "dark_orange", "NEAR": "red"}
    for variable, runs in result.regions.items():
        scale, unit = units[variable]
        text = "\n".join(f"[{colours[region]}]{low / scale + 0.0:.1f} to {high / scale + 0.0:.1f}"
                          f"{' (through north)' if low > high else ''}: {region}[/{colours[region]}]"
                          for low, high, region in runs)
        best = result.recommended[variable]
        manoeuvre = "nothing acceptable" if best is None else (
            f"{best / scale:.0f} {unit} ({result.preferred[variable]})" if result.preferred[variable] != "none"
            else f"{best / scale:.0f} {unit} (keep)")
        table.add_row(variable.replace("_", " "), f"{result.current[variable] / scale:.0f} {unit}", text, manoeuvre)
    console.print(table)
    if result.recommended_level is not None:
        console.print(f"nearest clear flight level: FL{round(result.recommended_level / FOOT / 100):03d}")
