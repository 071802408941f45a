"""The `deconflict` command line (SPEC §4). Thin: parse, call, print.

Every user error (bad usage, bad unit, unreadable input) is one line on stderr and exit 2;
no traceback reaches a user.
"""

from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from deconflict.core.detection import Conflicts, DetectionError, detect as detect_conflicts
from deconflict.core.units import FOOT, KNOT, NAUTICAL_MILE, UnitError, format_distance, format_duration, parse_distance, parse_duration
from deconflict.core.alerting import alerts as alert_levels
from deconflict.core.bands import BandsError, bands as conflict_bands
from deconflict.core.simulation import simulate as run_simulation
from deconflict.core.standards import LEVEL_NAMES, StandardError, standard as named_standard
from deconflict.core.states import States
from deconflict.core.plans import PlanError, PlanIndex
from deconflict.io.archive import ScanSettings, scan_archive
from deconflict.io.plans_file import PlansFileError, conflicts_geojson, read_plans
from deconflict.io.scenario import ScenarioError, load_scenario
from deconflict.io.simulation_report import metrics, write_plots
from deconflict.io.receivers import parse_timezone
from deconflict.io.station import DEFAULT_PORTS, Station, StationError, connect, guess_format, replay
from deconflict.io.states_file import StatesFileError, read_states_checked, write_conflicts, write_states
from deconflict.io.service_feed import PushError
from deconflict.service.errors import ServiceError
from deconflict.errors import DeconflictError, UserError
from deconflict.store.errors import DatabaseError

EXIT_USAGE = 2

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Open airspace de-confliction: find conflicts between aircraft of independent parties.",
)


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"deconflict {version('deconflict')}")
        except PackageNotFoundError:
            print("deconflict (not installed as a package)")
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                                   help="Print the version and exit.")] = False) -> None:
    """Open airspace de-confliction: find conflicts between aircraft of independent parties."""





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
    staleness = _positive(max_age, "--max-age", parse_duration)
    when = _parse_time(at)
    states, rejected = read_states_checked(path)
    if rejected.count:
        print(rejected.summary(path), file=sys.stderr)
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


def _run_detection(
    path: Path, at: str | None, lookahead: str, hsep: str, vsep: str, vtol: str, max_age: str,
    between_parties: bool, threads: int | None,
) -> tuple[Conflicts, int, str]:
    """Read, snapshot and detect; returns the conflicts, the number of aircraft and a summary line."""
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
) -> None:
    """Find every pair of aircraft that will lose separation within the look-ahead."""
    _output_checked(output)
    conflicts, _, summary = _run_detection(input, at, lookahead, hsep, vsep, vtol, max_age, between_parties, threads)
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
) -> None:
    """Conflict bands (track, ground speed, vertical speed, altitude) of one aircraft, and the smallest manoeuvre."""
    snapshot = _snapshot(input, at, max_age)
    result = conflict_bands(snapshot, aircraft, named_standard(standard))
    console = Console(width=max(Console().width, 100))
    kind = "[bold red]recovery bands (in loss of separation)[/bold red]" if result.recovery else "conflict bands"
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


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Loopback port of the demo service.")] = 8000,
    speed: Annotated[float, typer.Option(help="Accelerated time: service seconds per real second.")] = 40.0,
    duration: Annotated[Optional[str], typer.Option(help="Scenario time to run (default: the scenario's, 40min).")] = None,
    db: Annotated[Optional[Path], typer.Option(help="SQLite file (default: a new one in a temporary folder).")] = None,
    keep_serving: Annotated[bool, typer.Option(help="Keep the service up after the scenario.")] = False,
    hotline: Annotated[str, typer.Option(help="bots: the parties answer by themselves; manual: you answer, on the "
                                              "map or the API.")] = "bots",
) -> None:
    """The service on 127.0.0.1 with SQLite and the bundled air-base scenario in accelerated time:
    two parties file plans and fly, conflicts appear, proposals are exchanged on the hotline and accepted."""
    import tempfile

    from deconflict.service.demo import run_demo

    console = Console()
    if speed <= 0:
        raise UserError(f"--speed: expected a positive factor, got {speed:g}")
    seconds = None if duration is None else parse_duration(duration, "--duration")
    if hotline not in ("bots", "manual"):
        raise UserError(f"--hotline: expected bots or manual, got {hotline!r}")
    database = str(db) if db is not None else str(Path(tempfile.mkdtemp(prefix="deconflict-demo-")) / "demo.db")

    def ready(url: str, tokens: dict[str, str]) -> None:
        console.print(f"[bold]deconflict demo[/bold]: service on {url} (map {url}/, API docs {url}/docs), "
                      f"database {database}, time x{speed:g}")
        for name, token in tokens.items():
            console.print(f"  token for {name}: {token}")

    result = run_demo(database, port=port, speed=speed, duration=seconds, say=console.print,
                      keep_serving=keep_serving, ready=ready, bots=hotline == "bots")
    console.print(f"[bold]done[/bold]: {result.tactical_raised} tactical and {result.strategic_raised} strategic "
                  f"conflicts, {result.proposals} proposals, {result.accepted} accepted; audit verified: "
                  + ", ".join(f"{k} {v} entries" for k, v in result.verified.items()))


@app.command()
def serve(
    db: Annotated[Optional[str], typer.Option(help="SQLite file or database URL (default: $DECONFLICT_DATABASE_URL "
                                                   "or deconflict.db).")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    key: Annotated[Optional[Path], typer.Option(help="Ed25519 audit key (PEM; created if missing).")] = None,
    standard: Annotated[str, typer.Option(help="Alert standard: en-route, terminal, do-365.")] = "en-route",
    vtol: Annotated[str, typer.Option(help="Vertical tolerance for level pairs (SPEC §3).")] = "200ft",
    equal_priority: Annotated[str, typer.Option(help="Plans of equal priority: accept (both notified) or reject.")] = "accept",
) -> None:
    """Run the multi-party service (HTTP API, live detection, hotline, audit record)."""
    import uvicorn

    from deconflict.service.app import create_app

    service = _service(db, key, standard=standard, vtol=parse_distance(vtol, "--vtol"), equal_priority=equal_priority)
    Console(stderr=True).print(f"deconflict service on http://{host}:{port} (docs /docs), database "
                               f"{service.settings.database}, audit key {service.settings.key_path}")
    uvicorn.run(create_app(service), host=host, port=port, log_level="warning")


def _service(db: str | None, key: Path | None = None, serving: bool = True, **options):  # noqa: ANN202
    from deconflict.service.deconfliction import Deconfliction
    from deconflict.service.settings import ServiceSettings

    settings = ServiceSettings(**({"database": db} if db else {}), key_file=str(key) if key else None, **options)
    return Deconfliction(settings, serving=serving)


admin_app = typer.Typer(help="Parties and members of the service (works on the database directly).",
                        no_args_is_help=True)
app.add_typer(admin_app, name="admin")
DbOption = Annotated[Optional[str], typer.Option("--db", help="SQLite file or database URL (as for serve).")]


@admin_app.command("add-party")
def admin_add_party(party: Annotated[str, typer.Argument(help="Party id: letters, digits, - or _.")],
                    title: Annotated[str, typer.Option(help="Full name.")] = "", db: DbOption = None) -> None:
    """Create a party."""
    _service(db, serving=False).add_party(party, title)
    print(f"party {party} created")


@admin_app.command("add-member")
def admin_add_member(name: Annotated[str, typer.Argument(help="Who holds the token.")],
                     role: Annotated[str, typer.Option(help="operator, observer or cell.")] = "operator",
                     party: Annotated[Optional[str], typer.Option(help="The member's party (not for the cell).")] = None,
                     db: DbOption = None) -> None:
    """Create a member and print its bearer token (shown once; the database keeps only its hash)."""
    print(_service(db, serving=False).add_member(name, role, party))


@admin_app.command("list")
def admin_list(db: DbOption = None) -> None:
    """Parties (and whether they take part), then members (id, name, party, role, revoked)."""
    service = _service(db, serving=False)
    for party in service.parties():
        print(f"party\t{party['id']}\t{'suspended' if party['suspended'] else 'active'}\t{party['title']}")
    for member in service.members():
        state = "revoked" if member["revoked"] else "active"
        print(f"member\t{member['id']}\t{member['name']}\t{member['party'] or '-'}\t{member['role']}\t{state}")


@admin_app.command("revoke")
def admin_revoke(member: Annotated[int, typer.Argument(help="Member id (see admin list).")], db: DbOption = None) -> None:
    """Revoke a member's token (a running service refuses it within 30 s)."""
    print(f"member {member} ({_service(db, serving=False).revoke_member(member)}) revoked")


audit_app = typer.Typer(help="The tamper-evident audit record.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    record: Annotated[Path, typer.Argument(help="Receipts or whole chain as downloaded (JSON lines with a head).")],
    key: Annotated[Path, typer.Option(help="The service's public key (PEM, from GET /v1/audit/key).")],
    since: Annotated[Optional[Path], typer.Option(
        help="An earlier download of the same record (or its head line): the record must extend it.")] = None,
) -> None:
    """Check every hash, link, signature and receipt number; exit 1 naming the first entry that fails.
    With --since, also that nothing held earlier was removed or rewritten (append-only)."""
    from deconflict.store.audit import AuditError, load_public_key, read_records, verify

    try:
        public = load_public_key(key.read_bytes(), str(key))
        records, head = read_records(record)
        earlier = read_records(since)[1] if since is not None else None
    except OSError as error:
        raise UserError(f"{error.filename}: cannot read ({error.strerror})") from None
    except AuditError as error:  # not a key, or not a record at all: a usage error, not tampering
        raise UserError(str(error)) from None
    if since is not None and earlier is None:
        raise UserError(f"{since}: no head line (a download of /v1/audit/receipts or /v1/audit/chain ends with one)")
    try:
        result = verify(records, head, public, since=earlier)
    except AuditError as error:
        print(f"TAMPERED: {record}: {error}", file=sys.stderr)
        raise typer.Exit(1) from None
    scope = "whole chain" if result.scope == "*" else f"receipts of {result.scope}"
    extends = f", extends {since} ({earlier['count']} entries)" if since is not None else ""
    print(f"verified: {record}: {scope}, {result.entries} entries, signed by the key{extends}")


@app.command()
def simulate(
    scenario: Annotated[str, typer.Argument(help="Scenario YAML file, or a bundled one: dense, encounters.")],
    resolution: Annotated[Optional[str], typer.Option(help="mvp or none (default: the scenario's).")] = None,
    compare: Annotated[bool, typer.Option("--compare/--no-compare", help="Also run without resolution and compare.")] = True,
    duration: Annotated[Optional[str], typer.Option(help="Override the scenario's duration, e.g. 10min.")] = None,
    delay: Annotated[Optional[str], typer.Option(help="Override the pilot response delay, e.g. 5s.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Folder for plots and metrics.json (default: simulation-NAME).")] = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Write PNG plots.")] = True,
) -> None:
    """Fly a scenario in fast time, with and without resolution, and report separation losses."""
    loaded = load_scenario(scenario)
    settings = loaded.settings
    resolver = settings.resolver
    if resolution is not None:
        if resolution not in ("mvp", "none"):
            raise UserError(f"--resolution: expected mvp or none, got {resolution!r}")
        resolver = replace(resolver, method=resolution)
    if delay is not None:
        resolver = replace(resolver, delay=parse_duration(delay, "--delay"))
    if duration is not None:
        settings = replace(settings, duration=parse_duration(duration, "--duration"))
    runs = {}
    if compare and resolver.method != "none":
        runs["no resolution"] = replace(settings, resolver=replace(resolver, method="none"))
    label = "no resolution" if resolver.method == "none" else (
        f"MVP {'cooperative' if resolver.manoeuvring is None else 'one-sided (' + ', '.join(sorted(resolver.manoeuvring)) + ')'}")
    runs[label] = replace(settings, resolver=resolver)

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


def simulation_table(figures: dict[str, dict]) -> Table:
    """Runs side by side, with the reduction of losses of separation when there is a baseline."""
    table = Table(title="simulation results", header_style="bold")
    table.add_column("")
    for name in figures:
        table.add_column(name, justify="right")
    rows = [
        ("flights completed", lambda m: f"{m['flights_completed']}"),
        ("mean airborne", lambda m: f"{m['mean_airborne']:.0f}"),
        ("conflicts", lambda m: f"{m['conflicts']}"),
        ("losses of separation", lambda m: f"{m['losses']}"),
        ("time in loss (pair-min)", lambda m: f"{m['loss_seconds'] / 60:.1f}"),
        ("closest approach in a loss", lambda m: "-" if m["min_distance_m"] is None else f"{m['min_distance_m'] / NAUTICAL_MILE:.2f} NM"),
        ("worst intrusion (severity)", lambda m: f"{m['worst_severity']:.2f}"),
        ("extra distance flown", lambda m: f"{m['extra_distance_m'] / 1000:.0f} km ({100 * m['extra_distance_fraction']:.1f} %)"),
        ("faster than real time", lambda m: f"{m['speedup']:.0f}x"),
    ]
    for heading, cell in rows:
        table.add_row(heading, *(cell(m) for m in figures.values()))
    names = list(figures)
    if len(names) == 2 and figures[names[0]]["losses"]:
        before, after = figures[names[0]]["losses"], figures[names[1]]["losses"]
        table.caption = f"{names[1]} removes {100 * (before - after) / before:.1f} % of losses of separation"
    return table


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


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_plan_conflicts(found: list, output: str) -> None:
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


@app.command()
def station(
    replay_file: Annotated[Optional[Path], typer.Option("--replay", help="Recorded feed: AVR (.avr, .jsonl, text), Beast (.bin), SBS (.sbs), aircraft.json.")] = None,
    connect_to: Annotated[Optional[str], typer.Option("--connect", help="Live feed HOST:PORT (reconnects by itself).")] = None,
    format: Annotated[str, typer.Option(help="auto, avr, beast, sbs, json (aircraft.json) or states (SPEC §2 file).")] = "auto",
    receiver: Annotated[Optional[str], typer.Option(help="Receiver position LAT,LON: the reference for surface positions.")] = None,
    speed: Annotated[float, typer.Option(help="Replay speed, times real time (0: as fast as possible).", min=0)] = 0.0,
    update: Annotated[str, typer.Option(help="Picture every ... of feed time.")] = "1s",
    standard: Annotated[str, typer.Option(help="Separation standard: en-route, terminal or do-365.")] = "en-route",
    vtol: Annotated[str, typer.Option(help="Vertical tolerance for level pairs (SPEC §3; 200ft for live data).")] = "200ft",
    staleness: Annotated[str, typer.Option(help="Tracks not updated for this long are dropped.")] = "60s",
    clock_origin: Annotated[Optional[str], typer.Option(help="UNIX time or ISO 8601 of receiver clock zero (Beast/MLAT); default: first frame's arrival.")] = None,
    receiver_tz: Annotated[str, typer.Option("--receiver-tz", help="Time zone of SBS times, which carry none: UTC or +HH:MM.")] = "UTC",
    parquet: Annotated[Optional[Path], typer.Option(help="Write every picture's state vectors (SPEC §2) to this Parquet file.")] = None,
    attempts: Annotated[Optional[int], typer.Option(help="With --connect: stop after this many connections.", min=1)] = None,
    push: Annotated[Optional[str], typer.Option(help="Push every picture's state vectors to a deconflict service (http://HOST:PORT).")] = None,
    token: Annotated[Optional[str], typer.Option(help="With --push: the member's bearer token (default $DECONFLICT_TOKEN).")] = None,
    party: Annotated[str, typer.Option(help="With --push and a cell token: the party of these aircraft (empty: unknown).")] = "",
) -> None:
    """The portable ATC station: decode a receiver feed, assemble tracks, show them and their conflicts live."""
    if (replay_file is None) == (connect_to is None):
        raise UserError("give either --replay FILE or --connect HOST:PORT")
    reference = _lat_lon(receiver) if receiver else None
    chosen = named_standard(standard)
    post = Station(receiver=reference, staleness=parse_duration(staleness, "--staleness"), standard=chosen,
                   vtol=parse_distance(vtol, "--vtol"))
    step = parse_duration(update, "--update")
    origin = _parse_time(clock_origin, "--clock-origin")
    try:
        zone = parse_timezone(receiver_tz)
    except ValueError as error:
        raise UserError(f"--receiver-tz: {error}") from None
    if replay_file is not None:
        kind = guess_format(replay_file) if format == "auto" else format
        pictures = replay(post, replay_file, kind, speed=speed, step=step, clock_origin=origin, timezone=zone)
        source = f"{replay_file} ({kind})"
    else:
        host, _, port = connect_to.rpartition(":")
        kind = "avr" if format == "auto" else format
        if not host or not port.isdigit():
            raise UserError(f"--connect: {connect_to!r} is not HOST:PORT (e.g. localhost:{DEFAULT_PORTS[kind]})")
        pictures = connect(post, host, int(port), kind, step=step, attempts=attempts, timezone=zone)
        source = f"{connect_to} ({kind})"
    pusher = None
    if push is not None:
        import os

        from deconflict.io.service_feed import TrackPusher

        token = token or os.environ.get("DECONFLICT_TOKEN")
        if not token:
            raise UserError("--push needs --token (or DECONFLICT_TOKEN): a member's bearer token")
        pusher = TrackPusher(push, token, party)
        pictures = _pushed(pictures, pusher)
    console = Console(width=max(Console().width, 110))
    last = None
    if console.is_terminal:
        with Live(console=console, refresh_per_second=4) as live:
            for last in pictures:
                live.update(_station_view(post, last, source))
    else:
        for last in pictures:
            pass
        if last is not None:
            console.print(_station_view(post, last, source))
    if pusher is not None:
        console.print(f"pushed to {push}: " + ", ".join(f"{v} {k}" for k, v in sorted(pusher.counts.items())))
        pusher.close()
    if parquet is not None:
        write_states(post.recorded(), parquet)
        console.print(f"wrote {parquet}")


def _pushed(pictures, pusher):  # noqa: ANN001, ANN202 - generator of station pictures
    for picture in pictures:
        pusher.push(picture.states)
        yield picture


def _lat_lon(text: str) -> tuple[float, float]:
    try:
        lat, lon = (float(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--receiver: {text!r} is not LAT,LON (e.g. 49.0,2.55)") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise UserError(f"--receiver: {text!r} is outside latitude [-90, 90] / longitude [-180, 180]")
    return lat, lon


def _station_view(post: "Station", picture, source: str) -> Group:  # noqa: ANN001
    """Tracks, displayed alerts and message counts."""
    when = datetime.fromtimestamp(picture.time, timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if picture.time == picture.time else "-"
    header = (f"[bold]deconflict station[/bold] {source}  {when} UTC  {len(post.tracks.tracks)} tracks, "
              f"{len(picture.states)} airborne with a fresh state, {len(picture.shown)} alerts shown")
    tracks = Table(title="tracks", header_style="bold")
    for heading in ("icao24", "callsign", "squawk", "lat", "lon", "alt ft", "gs kt", "track", "vs ft/min", "age s"):
        tracks.add_column(heading, justify="right" if heading not in ("icao24", "callsign") else "left")
    recent = sorted(post.tracks.tracks.values(), key=lambda t: -(t.last_seen if t.last_seen == t.last_seen else 0))[:15]
    for t in recent:
        tracks.add_row(t.icao24, t.callsign, t.squawk, f"{t.lat:.4f}", f"{t.lon:.4f}",
                       "ground" if t.onground else f"{t.altitude / FOOT:.0f}", f"{t.velocity / KNOT:.0f}",
                       f"{t.heading:.0f}", f"{t.vertrate / FOOT * 60:.0f}", f"{picture.time - t.last_seen:.0f}")
    alerts_table = Table(title="alerts (steady)", header_style="bold")
    for heading in ("pair", "level"):
        alerts_table.add_column(heading)
    for (a, b), level in sorted(picture.shown.items(), key=lambda kv: -kv[1]):
        alerts_table.add_row(f"{a} / {b}", LEVEL_NAMES[level])
    counts = ", ".join(f"{reason}: {n}" for reason, n in post.counts.most_common())
    return Group(header, tracks, alerts_table, f"messages: {counts or 'none yet'}")


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


def conflict_table(conflicts: Conflicts, limit: int = 40) -> Table:
    """A Rich table of the first ``limit`` conflicts, soonest loss of separation first."""
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


def _mmss(seconds: float) -> str:
    whole = int(round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning every user error into one line and exit 2."""
    try:
        result = app(args=argv, standalone_mode=False, prog_name="deconflict")
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except DeconflictError as error:  # every expected error: one line, exit 2
        _fail(str(error))
    except typer.TyperException as error:  # usage errors (typer's own click): missing argument, unknown option
        message = error.format_message() if hasattr(error, "format_message") else str(error)
        context = getattr(error, "ctx", None)
        command = f" {context.info_name}" if context is not None and context.parent is not None else ""
        _fail(f"{message} (see: deconflict{command} --help)")
    except BrokenPipeError:
        sys.stderr.close()  # output piped into e.g. `head`: not an error
        sys.exit(0)
    sys.exit(result if isinstance(result, int) else 0)


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


if __name__ == "__main__":
    main()
