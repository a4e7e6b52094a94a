"""``xid issuer``: operate the issuer's database: credentials and their status, persons, evidence, the VC API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from xid.cli_group import CommandFailed, XidGroup, echo_json, json_option
from xid.settings import Settings

if TYPE_CHECKING:
    from issuer.app import IssuerParts

__all__ = ["issuer"]

DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class _Config:
    public_url: str | None


@contextmanager
def _parts(config: _Config) -> Iterator[IssuerParts]:
    """The issuer's wired parts over the configured database (the same objects ``xid serve`` builds)."""
    from issuer.app import wire
    from xid.serve import base_url_for, build_services

    settings = Settings.from_env()
    base_url = base_url_for("127.0.0.1", 8000, config.public_url or settings.public_url)
    services = build_services(settings, base_url)
    try:
        yield wire(services.issuer)
    finally:
        services.close()


def _report(data: Any, as_json: bool, lines: list[str]) -> None:
    if as_json:
        echo_json(data)
    else:
        for line in lines:
            click.echo(line)


@click.group("issuer", cls=XidGroup)
@click.option(
    "--public-url",
    envvar="XID_PUBLIC_URL",
    metavar="URL",
    help=f"The issuer's base URL, as xid serve uses it (env XID_PUBLIC_URL; default {DEFAULT_URL}).",
)
@click.pass_context
def issuer(ctx: click.Context, public_url: str | None) -> None:
    """Operate the issuer: credentials and their status, persons, evidence, the VC API's instances.

    Works on the database xid serve uses ($XID_DATABASE_URL, default SQLite under $XID_HOME), while it runs.
    """
    ctx.obj = _Config(public_url.rstrip("/") if public_url else None)


@issuer.command("instances")
@json_option
@click.pass_obj
def instances_command(config: _Config, as_json: bool) -> None:
    """List the W3C VC API's issuer instances: identifier, securing mechanism, issue and status URLs."""
    from issuer.vc_api import instances_json

    with _parts(config) as parts:
        listed = instances_json(parts.ctx)
    lines = [f"{i['name']:<16} {i['cryptosuite']:<16} {i['id']}\n{'':<16} issue: {i['issue']}" for i in listed]
    _report(listed, as_json, lines)


@issuer.command("credentials")
@click.argument("person")
@json_option
@click.pass_obj
def credentials_command(config: _Config, person: str, as_json: bool) -> None:
    """List the credentials issued to PERSON (a person ID): configuration, state, validity; never claims."""
    from foundation.db import transaction
    from issuer.status import list_credentials

    with _parts(config) as parts, transaction(parts.ctx.engine) as conn:
        records = [record.to_json() for record in list_credentials(conn, person)]
    lines = [f"{r['id']}  {r['configuration_id']:<22} {r['status']:<10} until {r['expires_at']}" for r in records]
    _report(records, as_json, lines or [f"no credentials issued to {person}"])


def _change(config: _Config, action: str, credential: str | None, person: str | None) -> int:
    """Apply a status action to one credential or to every credential of a person; returns how many changed."""
    from foundation.db import transaction
    from issuer import status

    if (credential is None) == (person is None):
        raise click.UsageError("name a CREDENTIAL or give --person, not both")
    one = {"revoke": status.revoke, "suspend": status.suspend, "reinstate": status.reinstate}[action]
    many = {"revoke": status.revoke_person, "suspend": status.suspend_person, "reinstate": status.reinstate_person}
    with _parts(config) as parts, transaction(parts.ctx.engine, write=True) as conn:
        if credential is not None:
            return int(one(parts.ctx, conn, credential))
        assert person is not None
        return many[action](parts.ctx, conn, person)


def _status_command(action: str, summary: str) -> click.Command:
    @click.argument("credential", required=False)
    @click.option("--person", help="Act on every credential of this person ID instead.")
    @json_option
    @click.pass_obj
    def command(config: _Config, credential: str | None, person: str | None, as_json: bool) -> None:
        changed = _change(config, action, credential, person)
        target = credential or f"the credentials of {person}"
        _report({"changed": changed}, as_json, [f"{action}: {changed} changed ({target})"])

    command.__doc__ = summary
    return issuer.command(action)(command)


_status_command("revoke", "Revoke a credential (by its ID) or every credential of --person; revocation is final.")
_status_command("suspend", "Suspend a credential (by its ID) or every credential of --person (undo: reinstate).")
_status_command("reinstate", "Lift the suspension of a credential (by its ID) or of every credential of --person.")


@issuer.command("revoke-certificate")
@click.argument("serial")
@click.option("--reason", default="unspecified", show_default=True, help="RFC 5280 reason, e.g. keyCompromise.")
@json_option
@click.pass_obj
def revoke_certificate_command(config: _Config, serial: str, reason: str, as_json: bool) -> None:
    """Revoke an xid CA certificate by its serial number (hex, as openssl prints it)."""
    from foundation.db import transaction
    from issuer import ca

    try:
        number = int(serial.replace(":", ""), 16)
    except ValueError:
        raise click.BadParameter("the serial number must be hexadecimal", param_hint="SERIAL") from None
    with _parts(config) as parts, transaction(parts.ctx.engine, write=True) as conn:
        changed = ca.revoke(parts.ctx, conn, number, reason)
    _report({"revoked": changed}, as_json, [f"certificate {serial}: {'revoked' if changed else 'already revoked'}"])


@issuer.command("merge-persons")
@click.argument("keep")
@click.argument("absorb")
@json_option
@click.pass_obj
def merge_command(config: _Config, keep: str, absorb: str, as_json: bool) -> None:
    """Merge person ABSORB into KEEP (one human enrolled twice): links, evidence, credentials, certificates move."""
    with _parts(config) as parts:
        parts.merge(keep, absorb)
    _report({"kept": keep, "merged": absorb}, as_json, [f"merged {absorb} into {keep}"])


@issuer.command("recheck")
@json_option
@click.pass_obj
def recheck_command(config: _Config, as_json: bool) -> None:
    """Re-check the revocation of every stored card certificate; revoke what was issued from revoked ones."""
    from dataclasses import asdict

    with _parts(config) as parts:
        report = parts.recheck()
    lines = [f"{name.replace('_', ' ')}: {value}" for name, value in asdict(report).items()]
    _report(asdict(report), as_json, lines)
    if report.unavailable or report.failed:
        raise CommandFailed("recheckIncomplete", "some certificates could not be checked; run the re-check again")


@issuer.command("purge")
@json_option
@click.pass_obj
def purge_command(config: _Config, as_json: bool) -> None:
    """Delete enrollment evidence past its retention period and expired offers, tokens and nonces."""
    from issuer import evidence, oid4vci

    with _parts(config) as parts:
        purged = {
            "evidence": evidence.purge_expired(parts.ctx, parts.ctx.clock()),
            "oid4vci": oid4vci.purge_expired(parts.ctx),
        }
    _report(purged, as_json, [f"evidence rows deleted: {purged['evidence']}", f"expired rows: {purged['oid4vci']}"])


@issuer.command("secrets")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def secrets_command(out: Path) -> None:
    """Create a new operator secrets file OUT (mode 0600; refuses to overwrite) for XID_OPERATOR_SECRETS."""
    from issuer.context import OperatorSecrets
    from xid.files import write_file

    document = json.dumps(OperatorSecrets.generate().to_json(), indent=2) + "\n"
    write_file(out, document, secret=True, overwrite=False)
    click.echo(
        f"wrote {out}: keep it off the database host's backups; losing it makes the evidence unreadable", err=True
    )
