"""``xid oidc``: operate the OpenID Connect facade (rotate its ID token signing keys)."""

from __future__ import annotations

from pathlib import Path

import click

from xid.cli_group import XidGroup, echo_json, json_option
from xid.settings import Settings

__all__ = ["oidc", "oidc_keys_dir"]


def oidc_keys_dir(settings: Settings) -> Path:
    """The directory of the OP's ID token signing keys: ``$XID_HOME/keys/oidc`` (shared by every ``xid serve``)."""
    return settings.keys_dir / "oidc"


@click.group("oidc", cls=XidGroup)
def oidc() -> None:
    """The OpenID Connect facade: its ID token signing keys.

    Works on the key directory xid serve uses ($XID_HOME/keys/oidc), while it runs.
    """


@oidc.command("rotate-keys")
@json_option
def rotate_keys_command(as_json: bool) -> None:
    """Add new RS256 and ES256 signing keys (published now, signing after 15 minutes); drop expired ones."""
    from oidc.keys import KeyDirectory, rotate
    from xid.files import writable_directory

    settings = Settings.from_env()
    writable_directory(settings.home, "the xid home directory")
    report = rotate(KeyDirectory(oidc_keys_dir(settings)))
    if as_json:
        echo_json(report)
        return
    for key in report["created"]:
        click.echo(f"new {key['alg']} key {key['kid']} signs from {key['signs_from']}")
    for kid in report["removed"]:
        click.echo(f"removed key {kid}")
