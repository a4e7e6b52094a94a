"""The ``xid`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from did import DidError, DidWebResolver, KeyType, Resolver, SoftwareSigner, did_jwk, did_key, web_document
from xid import __version__
from xid.cli_card import card
from xid.cli_ledger import ledger
from xid.cli_status import status_list
from xid.cli_vc import vc
from xid.settings import Settings


class _Group(click.Group):
    """A click group that turns xid errors into one clear line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, reporting DidError (and friends) without a traceback."""
        try:
            return super().invoke(ctx)
        except DidError as exc:
            click.echo(f"error [{exc.code}]: {exc.message}", err=True)
            sys.exit(1)


def _print_json(value: Any) -> None:
    text = json.dumps(value, indent=2, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a \ud800 escape: keep the escapes, so the output stays valid
        text = json.dumps(value, indent=2)
    click.echo(text)


def _positive_seconds(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not 0 < value <= 300:  # also refuses NaN
        raise click.BadParameter(f"{value} is not a number of seconds in (0, 300]")
    return value


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="xid")
def main() -> None:
    """xid: digital identity anchored in the My Number card.

    State lives under $XID_HOME (default ./.xid).
    """


@main.group(cls=_Group)
def did() -> None:
    """Decentralized identifiers: create keys and DIDs, resolve DIDs, publish did:web documents."""


@did.command("create")
@click.option(
    "--method", type=click.Choice(["key", "jwk"]), default="key", show_default=True, help="DID method to use."
)
@click.option(
    "--type",
    "key_type",
    type=click.Choice(["ed25519", "p256", "p384", "secp256k1"]),
    default="ed25519",
    show_default=True,
    help="Key type to generate.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the private key (a JWK, mode 0600). Default: $XID_HOME/keys/<thumbprint>.jwk",
)
def did_create(method: str, key_type: str, out: Path | None) -> None:
    """Generate a key pair and print its DID.

    The private key is written to a new file (never overwritten) and never printed. The output is JSON:
    the DID, its verification method id, the key file and the public JWK.
    """
    signer = SoftwareSigner.generate(KeyType.parse(key_type))
    if method == "key":
        did_value = did_key.create(signer.public_key)
        vm_id = did_key.verification_method_id(signer.public_key)
    else:
        did_value = did_jwk.create(signer.public_key)
        vm_id = f"{did_value}#0"
    signer = signer.with_key_id(vm_id)
    path = out or Settings.from_env().keys_dir / f"{signer.public_key.thumbprint()}.jwk"
    signer.save(path)
    _print_json({"did": did_value, "verificationMethod": vm_id, "keyFile": str(path), "publicJwk": signer.public_jwk})


@did.command("resolve")
@click.argument("did_value", metavar="DID")
@click.option("--metadata", is_flag=True, help="Print the whole DID resolution result, not only the document.")
@click.option("--timeout", type=float, default=5.0, show_default=True, callback=_positive_seconds,
              help="did:web: total time limit in seconds (at most 300).")  # fmt: skip
@click.option("--allow-loopback", is_flag=True, help="did:web: allow loopback hosts (development only).")
def did_resolve(did_value: str, metadata: bool, timeout: float, allow_loopback: bool) -> None:
    """Resolve a DID (did:key, did:jwk, did:web) and print its DID document as JSON.

    Exit status is 0 when resolution succeeded and 1 otherwise; the error code follows the DID Resolution
    specification (invalidDid, notFound, methodNotSupported, ...).
    """
    with DidWebResolver(timeout=timeout, allow_loopback=allow_loopback) as web:
        resolver = Resolver.standard(web)
        result = resolver.resolve(did_value)
    if metadata:
        _print_json(result.to_json())
    elif result.did_document is not None:
        _print_json(result.did_document.to_json())
    if result.error is not None:
        message = result.did_resolution_metadata.get("errorMessage", "")
        click.echo(f"error [{result.error}]: {message}", err=True)
        sys.exit(1)


@did.command("web-document")
@click.argument("did_value", metavar="DID")
@click.option(
    "--key",
    "keys",
    multiple=True,
    required=True,
    metavar="[FRAGMENT=]KEYFILE",
    help="A key file (private JWK, as written by 'xid did create'); repeat for several keys. "
    "Only the public part is published. FRAGMENT names the method (default key-1, key-2, ...).",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write did.json here instead of stdout.")
def did_web_document(did_value: str, keys: tuple[str, ...], out: Path | None) -> None:
    """Produce the did.json to publish for a did:web DID.

    Example: xid did web-document did:web:issuer.example.jp --key signing=issuer.jwk --out did.json
    then serve did.json at https://issuer.example.jp/.well-known/did.json.
    """
    entries = []
    for i, spec in enumerate(keys, start=1):
        fragment, sep, file = spec.partition("=")
        if not sep:
            fragment, file = f"key-{i}", spec
        entries.append((fragment, SoftwareSigner.load(Path(file)).public_key))
    try:
        document = web_document(did_value, entries)
    except ValueError as exc:  # a fragment that is malformed or used twice
        raise click.BadParameter(str(exc), param_hint="--key") from None
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}", err=True)


@main.command("demo")
def demo_command() -> None:
    """Tell the story of what xid can do so far, running each step for real."""
    from xid.demo import run

    run()


main.add_command(card)
main.add_command(ledger)
main.add_command(status_list)
main.add_command(vc)

if __name__ == "__main__":
    main()
