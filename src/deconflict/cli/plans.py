"""`deconflict plans check`: strategic conflicts between declared plans; `plans private-serve` and
`plans private-check`: the check that reveals nothing unless there is a conflict (issue 15)."""

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


@plans_app.command("export-f3548")
def plans_export_f3548(
    files: Annotated[list[Path], typer.Argument(help="Plan files: GeoJSON, YAML or F3548 JSON.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="JSON file of ASTM F3548-21 operational intents.")],
) -> None:
    """Write plans as ASTM F3548-21 operational intents (WGS84 heights, widened for the geoid; see docs/plans.md)."""
    from deconflict.io.f3548 import write_intents
    from deconflict.io.plans_file import read_plans

    count = write_intents(read_plans(files), output)
    print(f"{count} operational intents written to {output}", file=sys.stderr)


@plans_app.command("check")
def plans_check(
    files: Annotated[list[Path], typer.Argument(help="Plan files: GeoJSON FeatureCollections, YAML plans, or "
                                                     "ASTM F3548-21 operational intents (.json).")],
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


def _grid(margin: str, cell: str, band: str, bucket: str):  # noqa: ANN202
    from deconflict.core.cover import CoverGrid
    from deconflict.core.units import parse_distance, parse_duration

    degrees = float(cell.removesuffix("deg")) if cell.removesuffix("deg").replace(".", "", 1).isdigit() else None
    if degrees is None or not 0.01 <= degrees <= 10.0:
        raise UserError(f"--cell: expected degrees of latitude between 0.01 and 10, e.g. 0.25deg, got {cell!r}")
    return CoverGrid(row_degrees=degrees, band=parse_distance(band, "--band"), bucket=parse_duration(bucket, "--bucket"),
                     margin=parse_distance(margin, "--margin"))


@plans_app.command("private-serve")
def plans_private_serve(
    files: Annotated[list[Path], typer.Argument(help="Your plan files (GeoJSON or YAML).")],
    port: Annotated[int, typer.Option(help="Port to answer on.")] = 8100,
    host: Annotated[str, typer.Option(help="Address to answer on (the link to the other party).")] = "127.0.0.1",
    days: Annotated[float, typer.Option(help="How far ahead the cover reaches, from now.")] = 7.0,
    margin: Annotated[str, typer.Option(help="Footprints closer than this conflict (both sides must agree).")] = "0m",
    cell: Annotated[str, typer.Option(help="Token cell height (latitude degrees).")] = "0.25deg",
    band: Annotated[str, typer.Option(help="Token altitude band.")] = "600m",
    bucket: Annotated[str, typer.Option(help="Token time bucket.")] = "30min",
) -> None:
    """Answer another party's private plan checks against your plans: it learns only whether, and where,
    its plan may conflict with yours (docs/plans.md, "Private plan checks")."""
    import time as clock

    from deconflict.io.plans_file import read_plans
    from deconflict.io.private_check import CoverHolder
    from deconflict.service.background import BackgroundServer
    from deconflict.service.private_peer import create_peer_app

    plans = read_plans(files)
    if days <= 0:
        raise UserError(f"--days: expected more than 0, got {days:g}")
    now = clock.time()
    started = clock.perf_counter()
    holder = CoverHolder(plans, _grid(margin, cell, band, bucket), now - 3600.0, now + days * 86_400.0)
    offer = holder.offer()
    print(f"{len(plans)} plans, {offer['tokens']} tokens, cover digest {offer['digest'][:16]}, setup "
          f"{len(offer['setup']) * 3 // 4} bytes, made in {clock.perf_counter() - started:.1f} s", file=sys.stderr)
    server = BackgroundServer(create_peer_app(holder), host=host, port=port)
    print(f"answering private checks on {server.start()} (Ctrl-C to stop)", file=sys.stderr)
    try:
        server.wait()
    except KeyboardInterrupt:
        server.stop()


@plans_app.command("private-check")
def plans_private_check(
    files: Annotated[list[Path], typer.Argument(help="The plans to check (GeoJSON or YAML).")],
    peer: Annotated[str, typer.Option(help="The other party's private-check peer URL.")],
    count_only: Annotated[bool, typer.Option(help="Learn only how many cells are shared, nothing of where.")] = False,
) -> None:
    """Check plans privately against another party's (its `plans private-serve`): shows conflicts found
    in the cells both covers share, and the bytes exchanged. Exit 1 when a plan conflicts."""
    from deconflict.cli.common import _utc
    from deconflict.core.units import FOOT
    from deconflict.io.plans_file import read_plans
    from deconflict.io.private_check import PrivateChecker
    from deconflict.service.private_peer import PeerClient

    plans = read_plans(files)
    client = PeerClient(peer)
    try:
        checker = PrivateChecker(client.offer())
        conflicting = 0
        for plan in plans:
            result = checker.check(plan, client, count_only=count_only)
            if count_only:
                verdict = "may conflict" if result.shared else "no conflict"
                print(f"{plan.id}: {result.shared} shared cells: {verdict}")
                conflicting += result.shared > 0
                continue
            conflicting += result.conflicting
            print(f"{plan.id}: {result.shared} shared cells, {result.revealed} volumes of theirs shown, "
                  f"{len(result.conflicts)} conflicts")
            for k, _, found in result.conflicts:
                print(f"  volume {k}: {_utc(found.time_start)[:16]}-{_utc(found.time_end)[11:16]} UTC, "
                      f"{found.altitude_lower / FOOT:.0f}-{found.altitude_upper / FOOT:.0f} ft")
        print(f"{len(plans)} plans checked, {conflicting} {'may conflict' if count_only else 'conflict'}; "
              f"{client.sent} bytes sent, {client.received} received (setup included)", file=sys.stderr)
    finally:
        client.close()
    if conflicting:
        raise typer.Exit(1)


@plans_app.command("conformance")
def plans_conformance(
    files: Annotated[list[Path], typer.Argument(help="Plan files whose plans name their aircraft (aircraft: [...]).")],
    states: Annotated[Path, typer.Option(help="Recorded state vectors (SPEC §2 CSV or Parquet) of those aircraft.")],
    lateral: Annotated[str, typer.Option(help="Lateral tolerance outside a volume.")] = "500m",
    vertical: Annotated[str, typer.Option(help="Vertical tolerance outside a volume.")] = "300ft",
    time_tolerance: Annotated[str, typer.Option("--time", help="Time tolerance outside a volume's window.")] = "60s",
    confirm: Annotated[str, typer.Option(help="How long outside (and back inside) before it counts.")] = "5s",
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Write the episodes as CSV.")] = None,
) -> None:
    """When did each aircraft leave the plans of its party that name it, by the service's live rules?
    (docs/service.md, "Conformance"). Rows with a party are held to that party's plans; rows without one to any
    plan naming the address."""
    import csv

    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from deconflict.cli.common import _utc
    from deconflict.core.conformance import Tolerance, episodes
    from deconflict.core.units import parse_distance, parse_duration
    from deconflict.io.plans_file import read_plans
    from deconflict.io.states_file import read_states_checked

    tolerance = Tolerance(lateral=parse_distance(lateral, "--lateral"), vertical=parse_distance(vertical, "--vertical"),
                          time=parse_duration(time_tolerance, "--time"), confirm=parse_duration(confirm, "--confirm"))
    plans = read_plans(files)
    named: dict[str, list] = {}
    for plan in plans:
        for icao24 in plan.aircraft:
            named.setdefault(icao24, []).append(plan)
    if not named:
        raise UserError(f"{files[0]}: no plan names an aircraft; add aircraft: [icao24, ...] to the plans to hold")
    recorded, rejected = read_states_checked(states)
    found = []
    keys = sorted((p, a) for p, a in set(zip(recorded.party.tolist(), recorded.icao24.tolist())) if a in named)
    for party, icao24 in keys:
        mine = [p for p in named[icao24] if not party or p.party in ("", party)]
        rows = np.flatnonzero((recorded.icao24 == icao24) & (recorded.party == party) & ~recorded.onground)
        rows = rows[np.argsort(recorded.time[rows], kind="stable")]
        found += episodes(icao24, party, mine, recorded.time[rows], recorded.lat[rows], recorded.lon[rows],
                          recorded.altitude[rows], tolerance)
    if not keys:
        raise UserError(f"{states}: none of the aircraft the plans name ({', '.join(sorted(named)[:5])}) is in it")
    table = Table(title=f"{len(found)} times an aircraft was off its plans", header_style="bold")
    for heading in ("aircraft", "party", "plans", "from (UTC)", "to", "lateral (m)", "vertical (ft)", "time (s)"):
        table.add_column(heading, no_wrap=True)
    for e in found:
        table.add_row(e.icao24, e.party or "-", ", ".join(p.split("/")[-1] for p in e.plans), _utc(e.start)[:19],
                      _utc(e.end)[11:19], f"{e.lateral:.0f}", f"{e.vertical / 0.3048:.0f}", f"{e.time:.0f}")
    Console(width=max(Console().width, 120)).print(table)
    if output is not None:
        try:
            with open(output, "w", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(["icao24", "party", "plans", "start", "end", "lateral_m", "vertical_m", "time_s"])
                for e in found:
                    writer.writerow([e.icao24, e.party, " ".join(e.plans), _utc(e.start), _utc(e.end),
                                     round(e.lateral, 1), round(e.vertical, 1), round(e.time, 1)])
        except OSError as error:
            raise UserError(f"{output}: cannot write ({error.strerror})") from None
    print(f"{len(keys)} aircraft held to {len(plans)} plans, {len(found)} nonconformances"
          f"{f'; {rejected.count} bad rows skipped' if rejected.count else ''}", file=sys.stderr)
