"""`deconflict station`: a receiver's feed, live or recorded, decoded into tracks and alerts."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from deconflict.cli.app import app
from deconflict.errors import UserError

if TYPE_CHECKING:
    from deconflict.io.station import Station
    from rich.console import Group


@app.command()
def station(
    replay_file: Annotated[Optional[Path], typer.Option("--replay", help="Recorded feed: AVR (.avr, .jsonl, text), Beast (.bin), SBS (.sbs), aircraft.json, ASTERIX (.ast).")] = None,
    connect_to: Annotated[Optional[str], typer.Option("--connect", help="Live feed HOST:PORT (reconnects by itself), the URL of an aircraft.json to poll every --update, or "
                                       "udp://HOST:PORT for ASTERIX datagrams (a multicast group is joined), tcp://HOST:PORT for an ASTERIX stream.")] = None,
    format: Annotated[str, typer.Option(help="auto, avr, beast, sbs, json (aircraft.json), trace (readsb trace_full JSON), "
                                             "states (SPEC §2 file) or asterix (CAT021/CAT062: .ast recordings, or "
                                             "datagrams with --connect udp://HOST:PORT, a stream with tcp://HOST:PORT).")] = "auto",
    receiver: Annotated[Optional[str], typer.Option(help="Receiver position LAT,LON: the reference for surface positions.")] = None,
    decoder: Annotated[str, typer.Option(help="Mode-S decoder: rs1090 (batches, about 2.6x faster) or pymodes.")] = "rs1090",
    speed: Annotated[float, typer.Option(help="Replay speed, times real time (0: as fast as possible).", min=0)] = 0.0,
    update: Annotated[str, typer.Option(help="Picture every ... of feed time.")] = "1s",
    standard: Annotated[str, typer.Option(help="Separation standard: en-route, terminal or do-365.")] = "en-route",
    vtol: Annotated[str, typer.Option(help="Vertical tolerance for level pairs (SPEC §3; 200ft for live data).")] = "200ft",
    staleness: Annotated[str, typer.Option(help="Tracks not updated for this long are dropped.")] = "60s",
    clock_origin: Annotated[Optional[str], typer.Option(help="UNIX time or ISO 8601 of receiver clock zero (Beast/MLAT); default: first frame's arrival.")] = None,
    receiver_tz: Annotated[str, typer.Option("--receiver-tz", help="Time zone of SBS times, which carry none: UTC or +HH:MM.")] = "UTC",
    parquet: Annotated[Optional[Path], typer.Option(help="Write every picture's state vectors (SPEC §2) to this Parquet file.")] = None,
    attempts: Annotated[Optional[int], typer.Option(help="With --connect: stop after this many connections (polls for a URL).", min=1)] = None,
    push: Annotated[Optional[str], typer.Option(help="Push every picture's state vectors to a deconflict service (http://HOST:PORT; several nodes of one "
                                                          "service comma-separated: the feed follows the leader).")] = None,
    token: Annotated[Optional[str], typer.Option(help="With --push: the member's bearer token (default $DECONFLICT_TOKEN).")] = None,
    party: Annotated[str, typer.Option(help="With --push and a cell token: the party of these aircraft (empty: unknown).")] = "",
    retime: Annotated[bool, typer.Option(help="With --push: stamp each picture of a recording now, its reports keeping "
                                              "their ages (a service drops reports older than its staleness limit).")] = False,
) -> None:
    """The portable ATC station: decode a receiver feed, assemble tracks, show them and their conflicts live."""
    from deconflict.cli.common import _parse_time
    from deconflict.core.standards import standard as named_standard
    from deconflict.core.units import parse_distance, parse_duration
    from deconflict.io.receivers import parse_timezone
    from deconflict.io.states_file import write_states
    from deconflict.io.station import connect, DEFAULT_PORTS, guess_format, replay, Station
    from rich.console import Console
    from rich.live import Live
    if (replay_file is None) == (connect_to is None):
        raise UserError("give either --replay FILE or --connect HOST:PORT")
    reference = _lat_lon(receiver) if receiver else None
    chosen = named_standard(standard)
    from deconflict.io.mode_s import BACKENDS

    if decoder not in BACKENDS:
        raise UserError(f"--decoder: {decoder!r} is not {' or '.join(BACKENDS)}")
    post = Station(receiver=reference, staleness=parse_duration(staleness, "--staleness"), standard=chosen,
                   vtol=parse_distance(vtol, "--vtol"), decoder=decoder, record=parquet is not None)
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
    elif connect_to.startswith(("http://", "https://")):  # a web map's aircraft.json, polled
        from deconflict.io.station import poll

        pictures = poll(post, connect_to, step=step, attempts=attempts)
        source = f"{connect_to} (aircraft.json, polled every {update})"
    elif connect_to.startswith("udp://"):  # ASTERIX datagrams (unicast or multicast)
        from deconflict.io.station import listen_asterix

        host, _, port = connect_to.removeprefix("udp://").rpartition(":")
        if not port.isdigit():
            raise UserError(f"--connect: {connect_to!r} is not udp://HOST:PORT (ASTERIX over UDP, e.g. udp://239.1.1.1:8600)")
        pictures = listen_asterix(post, host or "0.0.0.0", int(port), step=step, pictures=attempts)
        source = f"{connect_to} (ASTERIX CAT021/CAT062 over UDP)"
    else:
        tcp = connect_to.startswith("tcp://")
        host, _, port = connect_to.removeprefix("tcp://").rpartition(":")
        kind = "asterix" if tcp and format == "auto" else "avr" if format == "auto" else format
        if kind not in ("avr", "beast", "sbs", "asterix"):
            raise UserError(f"--format {kind}: a TCP feed is avr, beast, sbs or asterix")
        if not host or not port.isdigit():
            raise UserError(f"--connect: {connect_to!r} is not HOST:PORT (e.g. localhost:{DEFAULT_PORTS.get(kind, 8600)})")
        pictures = connect(post, host, int(port), kind, step=step, attempts=attempts, timezone=zone)
        source = f"{connect_to} ({kind})"
    pusher = None
    if push is not None:
        import os

        from deconflict.io.service_feed import TrackPusher

        token = token or os.environ.get("DECONFLICT_TOKEN")
        if not token:
            raise UserError("--push needs --token (or DECONFLICT_TOKEN): a member's bearer token")
        pusher = TrackPusher(push, token, party, retime=retime)
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
    if not post.events_read:
        failures = post.counts["connection failures"]
        raise UserError(f"{source}: nothing read" + (f" ({failures} connection failures)" if failures else ""))
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
    from deconflict.core.standards import LEVEL_NAMES
    from deconflict.core.units import FOOT, KNOT, NAUTICAL_MILE
    from rich.console import Group
    from rich.table import Table
    when = datetime.fromtimestamp(picture.time, timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if picture.time == picture.time else "-"
    header = (f"[bold]deconflict station[/bold] {source}  {when} UTC  {len(post.tracks.tracks)} tracks, "
              f"{len(picture.states)} airborne with a fresh state, {len(picture.shown)} alerts shown")
    tracks = Table(title="tracks", header_style="bold")
    for heading in ("icao24", "callsign", "squawk", "lat", "lon", "alt ft", "gs kt", "track", "vs ft/min", "age s"):
        tracks.add_column(heading, justify="right" if heading not in ("icao24", "callsign") else "left")
    recent = sorted(post.tracks.tracks.values(), key=lambda t: -(t.last_seen if t.last_seen == t.last_seen else 0))[:15]
    def shown(value: float, scale: float = 1.0, digits: int = 0) -> str:
        return f"{value / scale:.{digits}f}" if value == value else "-"  # NaN: not received yet

    for t in recent:
        tracks.add_row(t.icao24, t.callsign, t.squawk, shown(t.lat, digits=4), shown(t.lon, digits=4),
                       "ground" if t.onground else shown(t.altitude, FOOT), shown(t.velocity, KNOT),
                       shown(t.heading), shown(t.vertrate, FOOT / 60), shown(picture.time - t.last_seen))
    alerts_table = Table(title="alerts", header_style="bold")
    for heading in ("pair", "level", "loss in", "closest", "vertical"):
        alerts_table.add_column(heading, justify="left" if heading in ("pair", "level") else "right")
    found = picture.alerts
    raw = {tuple(sorted((str(a), str(b)))): k for k, (a, b) in enumerate(zip(found.a, found.b))}
    shown = {tuple(sorted(pair)): level for pair, level in picture.shown.items()}
    rows = []
    for pair in set(raw) | set(shown):
        k = raw.get(pair)
        level = shown.get(pair, 0)
        unconfirmed = k is not None and int(found.level[k]) > level  # seen, not yet steady (one picture alone)
        label = LEVEL_NAMES[int(found.level[k])] + " (unconfirmed)" if unconfirmed else LEVEL_NAMES[level]
        timing = ("-", "-", "-") if k is None else (
            "now" if found.t_in[k] == 0.0 else f"{found.t_in[k]:.0f} s", f"{found.d_cpa[k] / NAUTICAL_MILE:.1f} NM",
            f"{found.dz_cpa[k] / FOOT:.0f} ft")
        rows.append((-(max(level, int(found.level[k]) if k is not None else 0)), f"{pair[0]} / {pair[1]}", label, *timing))
    for _, *row in sorted(rows):
        alerts_table.add_row(*row)
    counts = ", ".join(f"{reason}: {n}" for reason, n in post.counts.most_common())
    notes = []
    unplaced = [t for t in post.tracks.tracks.values() if t.onground and not t.lat == t.lat]
    if unplaced and post.decoder.receiver is None:
        notes.append(f"{len(unplaced)} aircraft on the ground have no position: surface positions are decoded "
                     f"relative to the receiver, give --receiver LAT,LON")
    return Group(header, tracks, alerts_table, *notes, f"messages: {counts or 'none yet'}")
