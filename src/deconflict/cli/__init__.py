"""The `deconflict` command line (SPEC §4). Thin: parse, call, print; one module per command group.

    app.py         the Typer application and --version
    common.py      times, snapshots, flags checked before the work, tables
    tactical.py    detect, alerts, bands
    simulation.py  simulate
    plans.py       plans check
    station.py     station
    scan.py        scan
    service.py     serve, demo, admin, audit
    signing.py     keys new, sign (a party's own signatures)
    relay.py       relay (the picture as ASTERIX CAT062 datagrams)

Every expected error (`deconflict.errors.DeconflictError`: bad usage, a bad unit, unreadable input,
nothing usable read) is one line on stderr and exit 2; no traceback reaches a user. The heavy
libraries (numpy, numba, pyarrow, pandas, Dask, the service) are imported by the commands that need
them, so `deconflict --help` answers at once.
"""

from __future__ import annotations

import sys

import typer

from deconflict.cli import plans, relay, scan, service, signing, simulation, station, tactical  # noqa: F401 - they register commands
from deconflict.cli.app import app
from deconflict.errors import DeconflictError, UserError

EXIT_USAGE = 2
__all__ = ["app", "main", "UserError", "EXIT_USAGE"]


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
