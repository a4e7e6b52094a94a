"""``xid mynumber``: a business's side of the My Number handover: make its key, run its receiver.

``keygen`` writes a new private key (a JWK, mode 0600) and prints the public key; ``receive`` serves
``GET /mynumber/key`` and ``POST /mynumber`` (``verifier.mynumber``) and prints one line per accepted handover on
stdout: its id, then the number (``--keep number``) or its keyed hash (``--keep hash``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from xid.cli_group import XidGroup, echo_json
from xid.files import read_json, write_file

if TYPE_CHECKING:
    from verifier.mynumber import Handover

__all__ = ["mynumber"]


@click.group("mynumber", cls=XidGroup)
def mynumber() -> None:
    """Receive My Numbers as a business: make the receiver's key, run the receiver."""


@mynumber.command("keygen")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the private key (a JWK, mode 0600; never overwritten).",
)
@click.option(
    "--curve",
    type=click.Choice(["P-256", "P-384", "X25519"]),
    default="P-256",
    show_default=True,
    help="The key's curve.",
)
def keygen_command(out: Path, curve: str) -> None:
    """Make a receiver's private key (ECDH-ES) and print its public JWK."""
    import json

    from verifier.mynumber import generate_key

    key = generate_key(curve)
    write_file(out, json.dumps(key, indent=2) + "\n", secret=True, overwrite=False)
    click.echo(f"wrote the private key to {out}", err=True)
    echo_json({k: v for k, v in key.items() if k != "d"})


def _load_key(path: Path) -> dict[str, Any]:
    key = read_json(path, "--key")
    kinds = {("EC", "P-256"), ("EC", "P-384"), ("OKP", "X25519")}
    if not isinstance(key, dict) or (key.get("kty"), key.get("crv")) not in kinds or "d" not in key:
        raise click.BadParameter(
            f"{path} is not a private EC P-256/P-384 or X25519 JWK (make one with 'xid mynumber keygen')",
            param_hint="--key",
        )
    if not isinstance(key.get("kid"), str) or not key["kid"]:
        raise click.BadParameter(f"{path} has no kid", param_hint="--key")
    return key


@mynumber.command("receive")
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The private key file ('xid mynumber keygen').",
)
@click.option("--audience", required=True, help="This business's public base URL (what wallets hand over to).")
@click.option("--purpose", "purposes", required=True, multiple=True, help="A purpose accepted (repeatable).")
@click.option(
    "--keep",
    type=click.Choice(["number", "hash", "none"]),
    default="none",
    show_default=True,
    help="What is kept and printed of each number: the number, its keyed hash (HMAC-SHA256), or nothing.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8090, show_default=True, help="Port to listen on.")
def receive_command(key_file: Path, audience: str, purposes: tuple[str, ...], keep: str, host: str, port: int) -> None:
    """Run the receiver until Ctrl-C, printing each accepted handover's id (and what is kept) on stdout.

    Wallets fetch the key at {audience}/mynumber/key and post to {audience}/mynumber; a handover for another
    audience or purpose, expired or replayed is refused. The number is printed only with --keep number.
    """
    import uvicorn
    from starlette.applications import Starlette

    from verifier.mynumber import Keep, Receiver, routes

    key = _load_key(key_file)
    kept: Keep = "number" if keep == "number" else "hash" if keep == "hash" else "none"

    def store(handover: Handover) -> None:
        value = handover.my_number or handover.my_number_hash
        click.echo(handover.id + (f" {value}" if value else ""))

    receiver = Receiver(key, audience, set(purposes), kept, store)
    click.echo(f"receiving My Numbers for {receiver.audience} on http://{host}:{port} (keeping: {keep})", err=True)
    app = Starlette(routes=routes(receiver))
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=True)
