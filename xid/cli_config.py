"""``xid config``: check the settings before starting (``check``) and show them with secrets redacted (``show``)."""

from __future__ import annotations

from pathlib import Path

import click

from xid.cli_group import CommandFailed, UsageFailed, XidGroup, echo_json, json_option
from xid.settings import Settings

__all__ = ["config", "load_settings"]

_CONFIG = click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="A TOML settings file (default: $XID_CONFIG); the environment's XID_* variables win over it.",
)


def load_settings(config_file: Path | None) -> Settings:
    """The settings (``xid.config.load``); a settings file that cannot be read or is not TOML is a usage error."""
    from xid.config import SettingsFileError, load

    try:
        return load(config=config_file)
    except SettingsFileError as error:
        raise UsageFailed("usageError", error.message) from None


@click.group(cls=XidGroup)
def config() -> None:
    """The server's settings: check them before starting, show them with secrets redacted."""


@config.command("check")
@_CONFIG
@json_option
def check_command(config_file: Path | None, as_json: bool) -> None:
    """Check the settings without starting: values, files, databases (short timeout) and the profile's rules.

    Prints each problem with the setting's name and how to fix it; exit status 1 when there is an error (warnings
    alone exit 0).
    """
    from xid.config import check

    settings = load_settings(config_file)
    problems = check(settings)
    errors = [p for p in problems if p.severity == "error"]
    if as_json:
        echo_json({"ok": not errors, "profile": settings.profile, "problems": [p.to_json() for p in problems]})
    else:
        for problem in problems:
            click.echo(str(problem))
        click.echo(f"{settings.profile} profile: {len(errors)} error(s), {len(problems) - len(errors)} warning(s)")
    if errors:
        raise CommandFailed("invalidSetting", f"{len(errors)} setting(s) must be fixed before 'xid serve' starts")


@config.command("show")
@_CONFIG
@json_option
def show_command(config_file: Path | None, as_json: bool) -> None:
    """Show the settings in effect, by variable name; tokens, the PIN and database passwords are never shown."""
    from xid.config import describe

    shown = describe(load_settings(config_file))
    if as_json:
        echo_json(shown)
        return
    effective = shown.pop("effective")
    for name, value in shown.items():
        click.echo(f"{name} = {value if value is not None else '(unset)'}")
    for name, value in effective.items():
        click.echo(f"# {name}: {value}")
