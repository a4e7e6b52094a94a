"""``xid did``: create keys and DIDs, resolve DIDs, produce did:web documents.

Imports of the ``did`` package happen inside the commands, and did:web's HTTP client only when a did:web DID is
resolved, so ``xid did resolve did:key:...`` starts fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from xid.cli_group import CommandFailed, XidGroup, echo_json, json_option

if TYPE_CHECKING:
    from did.did_web import DidWebResolver
    from did.document import DidDocument
    from did.syntax import Did

__all__ = ["did"]


def _positive_seconds(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not 0 < value <= 300:  # also refuses NaN
        raise click.BadParameter(f"{value} is not a number of seconds in (0, 300]")
    return value


class _LazyWebResolver:
    """did:web for the resolver, creating the HTTP client only when a did:web DID is resolved."""

    method = "web"
    cacheable = True

    def __init__(self, timeout: float, allow_loopback: bool) -> None:
        self._timeout = timeout
        self._allow_loopback = allow_loopback
        self._web: DidWebResolver | None = None

    def resolve(self, did: Did) -> DidDocument:
        """Resolve a did:web DID over HTTPS."""
        if self._web is None:
            from did.did_web import DidWebResolver

            self._web = DidWebResolver(timeout=self._timeout, allow_loopback=self._allow_loopback)
        return self._web.resolve(did)

    def close(self) -> None:
        """Close the HTTP client, if one was made."""
        if self._web is not None:
            self._web.close()


@click.group("did", cls=XidGroup)
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
@json_option
def did_create(method: str, key_type: str, out: Path | None, as_json: bool) -> None:
    """Generate a key pair and its DID; the private key goes to a new file.

    The key file is never overwritten and the private key never printed. The report names the DID, its
    verification method id and the key file; with --json it is an object with did, verificationMethod, keyFile and
    publicJwk.
    """
    from did import KeyType, SoftwareSigner, did_jwk, did_key
    from xid.files import save_signer
    from xid.settings import Settings

    signer = SoftwareSigner.generate(KeyType.parse(key_type))
    if method == "key":
        did_value = did_key.create(signer.public_key)
        vm_id = did_key.verification_method_id(signer.public_key)
    else:
        did_value = did_jwk.create(signer.public_key)
        vm_id = f"{did_value}#0"
    signer = signer.with_key_id(vm_id)
    path = out or Settings.from_env().keys_dir / f"{signer.public_key.thumbprint()}.jwk"
    save_signer(signer, path, parents=out is None)
    if as_json:
        echo_json({"did": did_value, "verificationMethod": vm_id, "keyFile": str(path), "publicJwk": signer.public_jwk})
    else:
        click.echo(f"did:                 {did_value}")
        click.echo(f"verification method: {vm_id}")
        click.echo(f"key file:            {path} (private key, mode 0600)")


@did.command("resolve")
@click.argument("did_value", metavar="DID")
@click.option("--metadata", is_flag=True, help="Print the whole DID resolution result, not only the document.")
@click.option("--timeout", type=float, default=5.0, show_default=True, callback=_positive_seconds,
              help="did:web: total time limit in seconds (at most 300).")  # fmt: skip
@click.option("--allow-loopback", is_flag=True, help="did:web: allow loopback hosts (development only).")
def did_resolve(did_value: str, metadata: bool, timeout: float, allow_loopback: bool) -> None:
    """Resolve a DID (did:key, did:jwk, did:web) and print its DID document (JSON).

    Exit status is 0 when resolution succeeded and 1 otherwise; the error code follows the DID Resolution
    specification (invalidDid, notFound, methodNotSupported, ...).
    """
    from did.resolver import Resolver

    web = _LazyWebResolver(timeout, allow_loopback)
    try:
        result = Resolver.standard(web).resolve(did_value)
    finally:
        web.close()
    if metadata:
        echo_json(result.to_json())
    elif result.did_document is not None:
        echo_json(result.did_document.to_json())
    if result.error is not None:
        raise CommandFailed(result.error, str(result.did_resolution_metadata.get("errorMessage", "")))


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
    from did.did_web import web_document
    from xid.files import load_signer, write_file

    entries = []
    for i, spec in enumerate(keys, start=1):
        fragment, sep, file = spec.partition("=")
        if not sep:
            fragment, file = f"key-{i}", spec
        entries.append((fragment, load_signer(Path(file), "--key").public_key))
    try:
        document = web_document(did_value, entries)
    except ValueError as exc:  # a fragment that is malformed or used twice
        raise click.BadParameter(str(exc), param_hint="--key") from None
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        write_file(out, text)
        click.echo(f"wrote {out}", err=True)
