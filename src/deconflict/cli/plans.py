"""`deconflict plans check`: strategic conflicts between declared plans."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from deconflict.cli.app import app
from deconflict.errors import UserError


plans_app = typer.Typer(help="Strategic de-confliction of declared plans (4D volumes, routes, schedules).",
                        no_args_is_help=True)
app.add_typer(plans_app, name="plans")


@plans_app.command("check")
def plans_check(
    files: Annotated[list[Path], typer.Argument(help="Plan files: GeoJSON FeatureCollections or YAML plans.")],
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Conflicts: .geojson (overlaps) or .csv.")] = None,
    margin: Annotated[str, typer.Option(help="Footprints closer than this conflict too, e.g. 50m.")] = "0m",
    equal_priority: Annotated[str, typer.Option(help="Equal priorities: reject (first come, first served) or accept.")] = "reject",
) -> None:
    """Check plans in submission order: each against every plan declared before it."""
    from deconflict.cli.common import _utc
    from deconflict.core.plans import PlanIndex
    from deconflict.core.units import FOOT, parse_distance
    from deconflict.io.plans_file import read_plans
    from rich.console import Console
    from rich.table import Table
    start = time.perf_counter()
    plans = read_plans(files)
    index = PlanIndex(margin=parse_distance(margin, "--margin"), equal_priority=equal_priority)
    found, rejected = [], []
    for plan in plans:
        result = index.check(plan)
        found.extend(result.conflicts)
        if not result.accepted:
            rejected.append(plan.id)
        index.add(plan)  # every declared plan is compared with the later ones
    console = Console(width=max(Console().width, 130))
    table = Table(title=f"{len(found)} plan conflicts", header_style="bold")
    for heading in ("plan", "conflicts with", "parties", "overlap (UTC)", "altitudes (ft)", "verdict"):
        table.add_column(heading, no_wrap=True)
    for c in found[:60]:
        table.add_row(f"{c.plan}[{c.volume}]", f"{c.other}[{c.other_volume}]", f"{c.party or '?'}/{c.other_party or '?'}",
                      f"{_utc(c.overlap.time_start)[:16]}-{_utc(c.overlap.time_end)[11:16]}",
                      f"{c.overlap.altitude_lower / FOOT:.0f}-{c.overlap.altitude_upper / FOOT:.0f}",
                      f"[red]blocked[/red] ({c.reason})" if c.blocking else f"notify ({c.reason})")
    if len(found) > 60:
        table.caption = f"... and {len(found) - 60} more"
    console.print(table)
    if output is not None:
        _write_plan_conflicts(found, output)
    print(f"{len(plans)} plans, {len(found)} conflicts, {len(rejected)} plan(s) would be rejected"
          f"{': ' + ', '.join(rejected[:10]) if rejected else ''} in {time.perf_counter() - start:.2f} s", file=sys.stderr)


def _write_plan_conflicts(found: list, output: str) -> None:
    from deconflict.cli.common import _iso
    from deconflict.io.plans_file import conflicts_geojson
    path = Path(output)
    if path.name.lower().endswith((".geojson", ".json")):
        path.write_text(json.dumps(conflicts_geojson(found)))
    elif path.name.lower().endswith(".csv"):
        import csv

        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["plan", "volume", "other", "other_volume", "party", "other_party", "time_start",
                             "time_end", "alt_lower_m", "alt_upper_m", "separation_m", "blocking", "reason"])
            for c in found:
                o = c.overlap
                writer.writerow([c.plan, c.volume, c.other, c.other_volume, c.party, c.other_party, _iso(o.time_start),
                                 _iso(o.time_end), o.altitude_lower, o.altitude_upper, o.separation, c.blocking, c.reason])
    else:
        raise UserError(f"--output: {output}: unknown type; expected .geojson or .csv")
