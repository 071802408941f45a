"""`deconflict serve`, `demo`, `admin` and `audit`: the multi-party service and its record."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from deconflict.cli.app import app
from deconflict.errors import UserError


admin_app = typer.Typer(help="Parties and members of the service (works on the database directly).",
                        no_args_is_help=True)
app.add_typer(admin_app, name="admin")
EXIT_LOST_LEAD = 3  # `serve` stopped because another node leads now: a supervisor restarts it as a standby
DbOption = Annotated[Optional[str], typer.Option("--db", help="SQLite file or database URL (as for serve).")]
audit_app = typer.Typer(help="The tamper-evident audit record.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


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
    from deconflict.core.units import parse_duration
    from rich.console import Console
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
                  f"conflicts, {result.nonconforming} nonconformances (aircraft off plan), {result.proposals} proposals, "
                  f"{result.accepted} accepted, {result.party_signatures} party signatures verified; audit verified: "
                  + ", ".join(f"{k} {v} entries" for k, v in result.verified.items()))


@app.command()
def serve(
    config: Annotated[Optional[Path], typer.Option(help="TOML settings file (host, port, database, key, standard, vtol, "
                                                        "equal_priority, advertise, log_format, events_kept); "
                                                        "DECONFLICT_* variables override it, flags override both.")] = None,
    db: Annotated[Optional[str], typer.Option(help="SQLite file or database URL (default: $DECONFLICT_DATABASE_URL "
                                                   "or deconflict.db).")] = None,
    host: Annotated[Optional[str], typer.Option(help="Address to listen on (default 127.0.0.1).")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port to listen on (default 8000).")] = None,
    key: Annotated[Optional[Path], typer.Option(help="Ed25519 audit key (PEM; created if missing).")] = None,
    standard: Annotated[Optional[str], typer.Option(help="Alert standard: en-route (default), terminal, do-365.")] = None,
    vtol: Annotated[Optional[str], typer.Option(help="Vertical tolerance for level pairs (SPEC §3; default 200ft).")] = None,
    equal_priority: Annotated[Optional[str], typer.Option(
        help="Plans of equal priority: accept (both notified; default) or reject.")] = None,
    advertise: Annotated[Optional[str], typer.Option(
        help="This node's URL as clients reach it (default http://HOST:PORT): standbys send clients there.")] = None,
    log_format: Annotated[Optional[str], typer.Option(help="Logs on stderr: text (default) or json (one object a line).")] = None,
) -> None:
    """Run the multi-party service (HTTP API, live detection, hotline, audit record).

    Several nodes may run on one database: one leads, the others stand by (503 to every request,
    with the leader's URL) and take over within about a second when the leader stops or dies. A node
    that loses the lead exits with status 3, so that its supervisor restarts it as a standby."""
    import os
    import signal

    from deconflict.core.units import parse_distance
    from rich.console import Console
    import uvicorn

    from deconflict.service.app import create_app
    from deconflict.service.config import configure_logging, load

    settings = load(config, os.environ, {"database": db, "host": host, "port": port, "key": None if key is None else str(key),
                                         "standard": standard, "vtol": vtol, "equal_priority": equal_priority,
                                         "advertise": advertise, "log_format": log_format})
    configure_logging(settings.log_format)
    service = _service(settings.database, Path(settings.key) if settings.key else None, standard=settings.standard,
                       vtol=parse_distance(settings.vtol, "vtol"), equal_priority=settings.equal_priority,
                       advertise=settings.advertise or f"http://{settings.host}:{settings.port}",
                       events_kept=settings.events_kept)
    role = "leading" if service.role == "leader" else "standing by for " + (service.node()["leader"] or "another node")
    Console(stderr=True).print(f"deconflict service on http://{settings.host}:{settings.port} (docs /docs, metrics "
                               f"/metrics), {role}; database {service.settings.database}, audit key "
                               f"{service.settings.key_path}")
    server = uvicorn.Server(uvicorn.Config(create_app(service), host=settings.host, port=settings.port,
                                           log_level="warning", log_config=None))
    lost: list[str] = []

    def deposed(reason: str) -> None:
        lost.append(reason)
        server.should_exit = True

    service.on_deposed = deposed
    # uvicorn stops gracefully on SIGTERM (docker stop) and Ctrl-C, then restores the handlers it found
    # and raises the signal again: with Python's defaults that killed the process before the service
    # was closed, so a standby waited for the lease to expire. These handlers only let run() return.
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: None)
    server.run()
    service.close()  # a clean stop: the plan index snapshot written, the lead given up
    if lost:
        print(f"error: this node lost the lead ({lost[0]}); restart it to stand by", file=sys.stderr)
        raise typer.Exit(EXIT_LOST_LEAD)


def _service(db: str | None, key: Path | None = None, serving: bool = True, **options):  # noqa: ANN202
    from deconflict.service.deconfliction import Deconfliction
    from deconflict.service.settings import ServiceSettings

    settings = ServiceSettings(**({"database": db} if db else {}), key_file=str(key) if key else None, **options)
    return Deconfliction(settings, serving=serving)


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


@audit_app.command("verify")
def audit_verify(
    record: Annotated[Path, typer.Argument(help="Receipts or whole chain as downloaded (JSON lines with a head).")],
    key: Annotated[Path, typer.Option(help="The service's public key (PEM, from GET /v1/audit/key).")],
    since: Annotated[Optional[Path], typer.Option(
        help="An earlier download of the same record (or its head line): the record must extend it.")] = None,
) -> None:
    """Check every hash, link, signature and receipt number, and every party's own signature of its
    commitments; exit 1 naming the first entry that fails. With --since, also that nothing held
    earlier was removed or rewritten (append-only)."""
    import json

    from deconflict.store.audit import AuditError, load_public_key, read_records, verify
    from deconflict.store.signatures import SignatureError, check_party_signatures

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
    try:
        parties = check_party_signatures([json.loads(r["body"]) for r in records])
    except SignatureError as error:
        print(f"FORGED: {record}: {error}", file=sys.stderr)
        raise typer.Exit(1) from None
    scope = "whole chain" if result.scope == "*" else f"receipts of {result.scope}"
    extends = f", extends {since} ({earlier['count']} entries)" if since is not None else ""
    print(f"verified: {record}: {scope}, {result.entries} entries, signed by the key{extends}")
    print(f"party signatures: {parties.verified} verified; {parties.unsigned} commitments unsigned "
          f"(by members without a key)")
