"""``xid rp``: register, list and remove the relying parties of the verifier's RP API (and the OIDC facade)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from xid.cli_group import XidGroup, echo_json, json_option
from xid.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["rp"]


@contextmanager
def _engine() -> Iterator[Engine]:
    """The services database xid serve uses, at the newest schema revision (the embedded one is migrated)."""
    from foundation.db import open_engine
    from xid.db_migrate import SERVICES, prepare
    from xid.files import writable_directory

    settings = Settings.from_env()
    writable_directory(settings.home, "the xid home directory")
    engine = open_engine(settings.services_database)
    try:
        prepare(engine, SERVICES, automatic=settings.database_url is None)
        yield engine
    finally:
        engine.dispose()


@click.group("rp", cls=XidGroup)
def rp() -> None:
    """Relying parties (clients of the verifier and the OpenID Connect provider): add, list, remove.

    Works on the database xid serve uses ($XID_DATABASE_URL, default SQLite under $XID_HOME), while it runs.
    """


@rp.command("add")
@click.option("--name", required=True, help="The relying party's name (shown to operators).")
@click.option(
    "--redirect-uri",
    "redirect_uris",
    multiple=True,
    metavar="URI",
    help="A same-device redirect URI (https, or http on a loopback host); repeat for several.",
)
@click.option("--sector", metavar="HOST", help="The sector host (default: the first redirect URI's host).")
@click.option(
    "--auth-method",
    type=click.Choice(["client_secret_basic", "client_secret_post", "private_key_jwt"]),
    help="How it authenticates at the OIDC token endpoint (default: its client secret, Basic or form).",
)
@click.option(
    "--jwks",
    "jwks_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A JSON file with its public JWK Set (for --auth-method private_key_jwt).",
)
@click.option(
    "--id-token-alg", type=click.Choice(["RS256", "ES256"]), help="Its ID token signing algorithm (default RS256)."
)
@json_option
def add_command(
    name: str,
    redirect_uris: tuple[str, ...],
    sector: str | None,
    auth_method: str | None,
    jwks_file: Path | None,
    id_token_alg: str | None,
    as_json: bool,
) -> None:
    """Register a relying party; prints its client_id and client secret (the secret only this once)."""
    from foundation.errors import XidError
    from foundation.strict_json import strict_json
    from verifier import rps

    jwks = None
    if jwks_file is not None:
        raw = jwks_file.read_bytes()
        if len(raw) > 64 * 1024:
            raise click.BadParameter("the JWK Set file is larger than 64 KiB", param_hint="--jwks")
        try:
            jwks = strict_json(raw, "the JWK Set file")
        except XidError as error:
            raise click.BadParameter(error.message, param_hint="--jwks") from None
    with _engine() as engine:
        party, secret = rps.register(
            engine, name, redirect_uris, sector, auth_method=auth_method, jwks=jwks, id_token_alg=id_token_alg
        )
    if as_json:
        echo_json({"client_id": party.client_id, "client_secret": secret})
        return
    click.echo(f"client_id:     {party.client_id}")
    click.echo(f"client_secret: {secret}")
    click.echo("The secret is shown only now; store it with the relying party.", err=True)


@rp.command("list")
@json_option
def list_command(as_json: bool) -> None:
    """List the registered relying parties (never their secrets)."""
    from verifier import rps

    with _engine() as engine:
        parties = [party.to_json() for party in rps.list_all(engine)]
    if as_json:
        echo_json(parties)
        return
    if not parties:
        click.echo("no relying parties registered")
    for party in parties:
        uris = " ".join(party["redirect_uris"]) or "-"  # type: ignore[arg-type]
        click.echo(f"{party['client_id']}  {party['name']}  sector {party['sector']}  redirect {uris}")


@rp.command("remove")
@click.argument("client_id")
@json_option
def remove_command(client_id: str, as_json: bool) -> None:
    """Remove the relying party CLIENT_ID (its presentation requests go with it)."""
    from verifier import rps

    with _engine() as engine:
        rps.remove(engine, client_id)
    if as_json:
        echo_json({"removed": client_id})
    else:
        click.echo(f"removed {client_id}")
