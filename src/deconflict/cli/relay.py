"""`deconflict relay`: the service's picture as ASTERIX CAT062 datagrams on UDP, for a display that
shows system tracks (radar displays listen to a multicast group)."""

from __future__ import annotations

import time
from typing import Annotated, Optional

import typer

from deconflict.cli.app import app
from deconflict.errors import UserError


@app.command()
def relay(
    service: Annotated[str, typer.Option("--from", help="The service: http://HOST:PORT (several nodes comma-separated: "
                                                          "the relay follows the leader).")],
    to: Annotated[str, typer.Option(help="udp://HOST:PORT: a multicast group (e.g. udp://239.1.1.1:8600) or a display's address.")],
    token: Annotated[Optional[str], typer.Option(help="The member's bearer token (default $DECONFLICT_TOKEN): the "
                                                      "relay sends what this member may see.")] = None,
    every: Annotated[str, typer.Option(help="A picture every ... (a radar display's update period).")] = "4s",
    count: Annotated[Optional[int], typer.Option(help="Stop after this many pictures (default: never).", min=1)] = None,
    ttl: Annotated[int, typer.Option(help="Multicast time-to-live (hops).", min=1, max=255)] = 1,
) -> None:
    """Send the picture the member may see as ASTERIX CAT062 (edition 1.20) datagrams, one datablock
    of up to 1,000 tracks each, every period; a failed fetch is counted and tried again next period."""
    import ipaddress
    import os
    import socket

    from deconflict.client import Client, ServiceError
    from deconflict.core.units import parse_duration
    from deconflict.io.asterix import frame_datablocks

    period = parse_duration(every, "--every")
    host, _, port = to.removeprefix("udp://").rpartition(":")
    if not to.startswith("udp://") or not host or not port.isdigit():
        raise UserError(f"--to: {to!r} is not udp://HOST:PORT (e.g. udp://239.1.1.1:8600)")
    token = token or os.environ.get("DECONFLICT_TOKEN")
    if not token:
        raise UserError("--token (or DECONFLICT_TOKEN): a member's bearer token is needed")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if ipaddress.ip_address(socket.gethostbyname(host)).is_multicast:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
    except (OSError, ValueError) as error:
        raise UserError(f"--to: cannot resolve {host!r} ({error})") from None
    sent = failed = pictures = 0
    with Client(service, token) as client:
        while count is None or pictures < count:
            started = time.monotonic()
            try:
                for block in frame_datablocks(client.tracks_asterix())[0]:  # one datablock a datagram, as displays expect
                    sock.sendto(block, (host, int(port)))
                    sent += 1
            except ServiceError as error:
                failed += 1
                if error.status in (401, 403):
                    raise UserError(f"--from {service}: {error}") from None
            pictures += 1
            if count is not None and pictures >= count:
                break
            time.sleep(max(0.0, period - (time.monotonic() - started)))
    sock.close()
    print(f"relayed {pictures} pictures as {sent} CAT062 datagrams to {to}" + (f"; {failed} fetches failed" if failed else ""))

