"""`deconflict simulate`: a scenario flown in fast time, with and without resolution."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from deconflict.cli.app import app
from deconflict.errors import UserError

if TYPE_CHECKING:
    from rich.table import Table


@app.command()
def simulate(
    scenario: Annotated[str, typer.Argument(help="Scenario YAML file, or a bundled one: dense, encounters.")],
    resolution: Annotated[Optional[str], typer.Option(help="mvp or none (default: the scenario's).")] = None,
    resume: Annotated[Optional[str], typer.Option(
        help="When a resolving aircraft goes back to its route: route (as soon as its route is clear) or cpa "
             "(past the closest approach, the MVP baseline); default: the scenario's.")] = None,
    hold_level: Annotated[Optional[bool], typer.Option(
        "--hold-level/--no-hold-level",
        help="Keep a level aircraft at its level while its planned climb or descent would raise a new conflict "
             "within 2 minutes (default: the scenario's, on).")] = None,
    compare: Annotated[bool, typer.Option("--compare/--no-compare", help="Also run without resolution and compare.")] = True,
    baseline: Annotated[bool, typer.Option(
        "--baseline/--no-baseline",
        help="Also run the MVP baseline (BlueSky's: back to the route past the closest approach, climbs as "
             "planned) and compare.")] = False,
    duration: Annotated[Optional[str], typer.Option(help="Override the scenario's duration, e.g. 10min.")] = None,
    delay: Annotated[Optional[str], typer.Option(help="Override the pilot response delay, e.g. 5s.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Folder for plots and metrics.json (default: simulation-NAME).")] = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Write PNG plots.")] = True,
) -> None:
    """Fly a scenario in fast time, with and without resolution, and report separation losses."""
    from deconflict.core.simulation import RESUME
    from deconflict.core.simulation import simulate as run_simulation
    from deconflict.core.units import format_distance, format_duration, parse_duration
    from deconflict.io.scenario import load_scenario
    from deconflict.io.simulation_report import metrics, write_plots
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    loaded = load_scenario(scenario)
    settings = loaded.settings
    resolver = settings.resolver
    if resolution is not None:
        if resolution not in ("mvp", "none"):
            raise UserError(f"--resolution: expected mvp or none, got {resolution!r}")
        resolver = replace(resolver, method=resolution)
    if resume is not None:
        if resume not in RESUME:
            raise UserError(f"--resume: expected {' or '.join(RESUME)}, got {resume!r}")
        resolver = replace(resolver, resume=resume)
    if hold_level is not None:
        resolver = replace(resolver, hold_level=hold_level)
    if delay is not None:
        resolver = replace(resolver, delay=parse_duration(delay, "--delay"))
    if duration is not None:
        settings = replace(settings, duration=parse_duration(duration, "--duration"))
    runs = {}
    if compare and resolver.method != "none":
        runs["no resolution"] = replace(settings, resolver=replace(resolver, method="none"))
    if baseline:
        runs["MVP baseline"] = replace(settings, resolver=replace(resolver, method="mvp", resume="cpa", hold_level=False))
    runs[_label(resolver)] = replace(settings, resolver=resolver)

    console = Console(width=max(Console().width, 100))
    console.print(f"[bold]{loaded.name}[/bold] ({loaded.source}): {len(loaded.flights)} flights, "
                  f"{format_duration(settings.duration)} in steps of {format_duration(settings.step)}, "
                  f"{format_distance(settings.hsep)} / {format_distance(settings.vsep)}, "
                  f"look-ahead {format_duration(settings.lookahead)}")
    results = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeRemainingColumn(), console=console, transient=True) as progress:
        for name, run_settings in runs.items():
            task = progress.add_task(name, total=run_settings.duration)
            results[name] = run_simulation(loaded.flights, run_settings,
                                           progress=lambda t, task=task: progress.update(task, completed=t))
            progress.update(task, completed=run_settings.duration)
    figures = {name: metrics(result) for name, result in results.items()}
    console.print(simulation_table(figures))
    folder = out or Path(f"simulation-{loaded.name}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps({"scenario": loaded.name, "runs": figures}, indent=2))
    written = write_plots(results, folder, loaded.name) if plots else []
    console.print(f"wrote {folder / 'metrics.json'}" + "".join(f", {path}" for path in written))


def _label(resolver) -> str:  # noqa: ANN001 - a core Resolver, imported by the command only
    """A run's column: MVP and how it shares, then what differs from deconflict's defaults."""
    if resolver.method == "none":
        return "no resolution"
    sharing = "cooperative" if resolver.manoeuvring is None else f"one-sided ({', '.join(sorted(resolver.manoeuvring))})"
    return (f"MVP {sharing}{', resume past CPA' if resolver.resume == 'cpa' else ''}"
            f"{'' if resolver.hold_level else ', no level holds'}")


def simulation_table(figures: dict[str, dict]) -> Table:
    """Runs side by side, with the reduction of losses of separation when there is a baseline."""
    from deconflict.core.units import NAUTICAL_MILE
    from rich.table import Table
    table = Table(title="simulation results", header_style="bold")
    table.add_column("")
    for name in figures:
        table.add_column(name, justify="right")
    rows = [
        ("flights completed", lambda m: f"{m['flights_completed']}"),
        ("mean delay of a completed flight", lambda m: f"{m['mean_delay_s']:.0f} s"),
        ("completed > 200 ft off final level", lambda m: f"{m['flights_off_final_level']}"),
        ("mean airborne", lambda m: f"{m['mean_airborne']:.0f}"),
        ("airborne at the end", lambda m: f"{m['airborne_at_end']}"),
        ("conflicts", lambda m: f"{m['conflicts']}"),
        ("losses of separation", lambda m: f"{m['losses']}"),
        ("losses, minima widened 1 %", lambda m: f"{m['losses_widened_minima']}"),
        ("time in loss (pair-min)", lambda m: f"{m['loss_seconds'] / 60:.1f}"),
        ("closest approach in a loss", lambda m: "-" if m["min_distance_m"] is None else f"{m['min_distance_m'] / NAUTICAL_MILE:.2f} NM"),
        ("worst intrusion (severity)", lambda m: f"{m['worst_severity']:.2f}"),
        ("extra distance flown", lambda m: f"{m['extra_distance_m'] / 1000:.0f} km ({100 * m['extra_distance_fraction']:.1f} %)"),
        ("faster than real time", lambda m: f"{m['speedup']:.0f}x"),
    ]
    for heading, cell in rows:
        table.add_row(heading, *(cell(m) for m in figures.values()))
    names = list(figures)
    if len(names) >= 2 and names[0] == "no resolution" and figures[names[0]]["losses"]:
        before = figures[names[0]]["losses"]
        table.caption = ", ".join(f"{name} removes {100 * (before - figures[name]['losses']) / before:.1f} %"
                                  for name in names[1:]) + " of losses of separation"
    return table
