"""The Typer application every command module registers on (kept light: `deconflict --help` imports
no numeric library)."""

from __future__ import annotations

from typing import Annotated

import typer

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
