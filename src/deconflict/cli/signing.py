"""`deconflict keys new` and `deconflict sign`: a party's own signing key and the signatures of its
commitments (issue 15). Everything happens on the party's machine: the private key never leaves it;
what `sign` prints is the value of the ``X-Deconflict-Signature`` header to send with the request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from deconflict.cli.app import app
from deconflict.errors import UserError

keys_app = typer.Typer(help="Your party's own Ed25519 signing keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
sign_app = typer.Typer(help="Sign a commitment (hotline message, plan write or deletion) with your key; prints "
                            "the X-Deconflict-Signature header value.", no_args_is_help=True)
app.add_typer(sign_app, name="sign")
KeyOption = Annotated[Path, typer.Option("--key", help="Your private key (PEM, from deconflict keys new).")]
PartyOption = Annotated[str, typer.Option("--party", help="Your party id.")]


@keys_app.command("new")
def keys_new(out: Annotated[Path, typer.Argument(help="Where to write the private key (PEM, mode 0600; must not exist).")]) -> None:
    """Make a key pair: the private key goes to OUT, the public key (to register with POST /v1/me/keys)
    is printed."""
    from deconflict.store.signatures import PartyKey

    key = PartyKey.generate()
    try:
        key.save(out)
    except FileExistsError:
        raise UserError(f"{out}: exists; choose another file (a key is never overwritten)") from None
    except OSError as error:
        raise UserError(f"{out}: cannot write ({error.strerror})") from None
    print(f"public key (register it: POST /v1/me/keys {{\"public_key\": ...}}): {key.public_text}")
    print(f"key id: {key.id}")


@sign_app.command("message")
def sign_message(
    key: KeyOption, party: PartyOption,
    thread: Annotated[int, typer.Option(help="Thread id.")],
    kind: Annotated[str, typer.Option(help="proposal, accept, reject, message or acknowledge.")],
    text: Annotated[str, typer.Option(help="The message text, exactly as sent.")] = "",
    proposal: Annotated[Optional[str], typer.Option(help="The proposal as JSON, as sent.")] = None,
    reply_to: Annotated[Optional[int], typer.Option(help="The message answered (accept, reject).")] = None,
    answer_within: Annotated[Optional[str], typer.Option(help="A proposal's answer_within, as sent.")] = None,
) -> None:
    """Sign a hotline message (POST /v1/threads/THREAD/messages)."""
    from deconflict.store.signatures import message_commitment

    if kind not in ("message", "proposal", "acknowledge", "accept", "reject"):
        raise UserError(f"--kind: expected message, proposal, acknowledge, accept or reject, got {kind!r}")
    body = _json(proposal, "--proposal") if proposal is not None else None
    print(_key(key).header(message_commitment(party, thread, kind, text, body, reply_to, answer_within)))


@sign_app.command("plan")
def sign_plan(
    key: KeyOption, party: PartyOption,
    document: Annotated[Path, typer.Argument(help="The plan document (JSON) exactly as sent.")],
    after_version: Annotated[int, typer.Option(help="The version it replaces (If-Match); 0 for a new plan.")] = 0,
) -> None:
    """Sign a plan submission (POST /v1/plans) or edit (PUT /v1/plans/PARTY/ID)."""
    from deconflict.store.signatures import plan_commitment

    try:
        text = document.read_text()
    except OSError as error:
        raise UserError(f"{document}: cannot read ({error.strerror})") from None
    data = _json(text, str(document))
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise UserError(f"{document}: expected a plan document (a JSON object with an id)")
    print(_key(key).header(plan_commitment(party, data["id"], data, after_version)))


@sign_app.command("delete")
def sign_delete(key: KeyOption, party: PartyOption, plan: Annotated[str, typer.Argument(help="Plan id.")],
                version: Annotated[int, typer.Option(help="Its version (If-Match).")]) -> None:
    """Sign a plan deletion (DELETE /v1/plans/PARTY/ID)."""
    from deconflict.store.signatures import plan_commitment

    print(_key(key).header(plan_commitment(party, plan, None, version)))


def _key(path: Path):  # noqa: ANN202
    from deconflict.store.signatures import PartyKey

    return PartyKey.load(path)  # a SignatureError (one line) when it cannot be used


def _json(text: str, where: str):  # noqa: ANN202
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"{where}: not valid JSON ({error.msg}, line {error.lineno})") from None
