"""`deconflict scan`: losses of separation that happened, in recorded traffic (Dask)."""

from __future__ import annotations

import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer

from deconflict.cli.app import app
from deconflict.errors import UserError


@app.command()
def scan(
    archives: Annotated[list[Path], typer.Argument(help="State-vector files (SPEC §2): .parquet, .csv, .csv.gz.")],
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Episodes: .parquet, .csv or .csv.gz.")] = None,
    from_: Annotated[Optional[str], typer.Option("--from", help="Scan from this time (UNIX s or ISO 8601).")] = None,
    to: Annotated[Optional[str], typer.Option(help="Scan up to this time (UNIX s or ISO 8601).")] = None,
    hsep: Annotated[str, typer.Option(help="Horizontal minimum.")] = "5nm",
    vsep: Annotated[str, typer.Option(help="Vertical minimum.")] = "1000ft",
    vtol: Annotated[str, typer.Option(help="Pairs at least vsep - vtol apart and not closing vertically count as "
                                           "separated (recorded altitudes come in 25 ft steps).")] = "200ft",
    step: Annotated[str, typer.Option(help="Time grid on which tracks are interpolated.")] = "5s",
    max_gap: Annotated[str, typer.Option(help="Largest gap between reports interpolated over.")] = "60s",
    window: Annotated[str, typer.Option(help="Length of the time windows scanned apart.")] = "1h",
    scheduler: Annotated[str, typer.Option(help="local (a LocalCluster), none (this process), or tcp://HOST:PORT.")] = "local",
    workers: Annotated[Optional[int], typer.Option(help="Workers of the LocalCluster (default: cores).", min=1)] = None,
    processes: Annotated[bool, typer.Option("--processes/--threads", help="LocalCluster workers as processes or threads.")] = False,
    keep_implausible: Annotated[bool, typer.Option(
        "--keep-implausible", help="Scan frozen positions and position jumps too (left out and counted by default).")] = False,
) -> None:
    """Find every actual loss of separation in recorded traffic, and merge it into episodes."""
    import numpy as np
    from deconflict.cli.common import _mmss, _output_checked, _parse_time, _positive
    from deconflict.core.units import FOOT, NAUTICAL_MILE, parse_distance, parse_duration
    from deconflict.io.archive import scan_archive, ScanSettings
    from deconflict.io.states_file import write_conflicts
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table
    _output_checked(output)
    if scheduler not in ("local", "none") and not re.fullmatch(r"(tcp|tls|ws|wss)://[^/:]+:\d+", scheduler):
        raise UserError(f"--scheduler: expected local, none or tcp://HOST:PORT, got {scheduler!r}")
    settings = ScanSettings(hsep=_positive(hsep, "--hsep", parse_distance), vsep=_positive(vsep, "--vsep", parse_distance),
                            vtol=parse_distance(vtol, "--vtol"), step=parse_duration(step, "--step"),
                            max_gap=parse_duration(max_gap, "--max-gap"), window=parse_duration(window, "--window"),
                            start=_parse_time(from_, "--from"), end=_parse_time(to, "--to"),
                            plausible_only=not keep_implausible)
    if settings.step <= 0 or settings.max_gap < 0 or settings.window <= 0:
        raise UserError("--step and --window must be positive, --max-gap not negative")
    if not 0.0 <= settings.vtol < settings.vsep:
        raise UserError(f"--vtol: expected at least 0 and less than --vsep, got {vtol!r}")
    if settings.start is not None and settings.end is not None and settings.start > settings.end:
        raise UserError(f"--from {from_} is after --to {to}")
    missing = [str(a) for a in archives if not Path(a).exists()]
    if len(missing) == len(archives):
        raise UserError(f"{missing[0]}: no such file" + (f" (nor {len(missing) - 1} others)" if len(missing) > 1 else ""))
    console = Console(width=max(Console().width, 110), stderr=True)
    started = time.perf_counter()
    with Progress(TextColumn("scanning windows"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task("scan", total=None)
        episodes, report = scan_archive(archives, settings, scheduler=scheduler, workers=workers, processes=processes,
                                        progress=lambda done, total: bar.update(task, completed=done, total=total))
    elapsed = time.perf_counter() - started
    for name, error in report.failed:
        console.print(f"[red]skipped[/red] {error}")
    if report.rejected:
        console.print("bad rows skipped: " + ", ".join(f"{n} {why}" for why, n in report.rejected.most_common()))
    if report.implausible:
        console.print("implausible reports left out (--keep-implausible to scan them): "
                      + ", ".join(f"{n} {why}" for why, n in report.implausible.most_common()))
    if output is not None:
        write_conflicts(episodes, output)
    table = Table(title=f"{len(episodes)} losses of separation, closest first", header_style="bold")
    for heading in ("aircraft", "parties", "start (UTC)", "duration", "closest", "vertical", "where"):
        table.add_column(heading, no_wrap=True)
    c = episodes.columns
    for k in np.argsort(c["min_distance"], kind="stable")[:20]:
        table.add_row(f"{c['a'][k]} / {c['b'][k]}", f"{c['party_a'][k] or '?'}/{c['party_b'][k] or '?'}",
                      datetime.fromtimestamp(c["start"][k], timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
                      _mmss(c["duration"][k]), f"{c['min_distance'][k] / NAUTICAL_MILE:.2f} NM",
                      f"{c['min_vertical'][k] / FOOT:.0f} ft", f"{c['lat'][k]:.3f}, {c['lon'][k]:.3f}")
    Console(width=max(Console().width, 110)).print(table)
    print(f"{report.files} files, {report.rows:,} state vectors, {report.windows} windows, {len(episodes)} episodes "
          f"in {elapsed:.1f} s ({report.rows / max(elapsed, 1e-9):,.0f} state vectors/s)", file=sys.stderr)
