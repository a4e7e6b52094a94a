"""``xid serve``: run the issuer, the verifier and the ledger's read API (and, as it arrives, the OIDC facade) on
one base URL, with /healthz, /readyz, /metrics and JSON logs."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import click

from xid.settings import Settings

__all__ = ["BANNER", "metrics_directory", "serve_command"]

BANNER = """\
xid serve: DEVELOPMENT configuration. Do not use it for real persons.
  - the TEST JPKI CA of the emulated card is trusted ({test_ca}), not the J-LIS roots;
  - keys are software keys under {keys} and the operator secrets are in {secrets};
  - data is in {database}.
  Set XID_PROFILE=production (and XID_JPKI_ROOTS, XID_PUBLIC_URL, XID_DATABASE_URL, ...) for a real deployment;
  'xid config check' lists what is missing. See docs/operations.md."""


def _banner(settings: Settings) -> str:
    database = settings.services_database
    return BANNER.format(
        test_ca=settings.test_ca_dir if settings.jpki_roots is None else "no: XID_JPKI_ROOTS is set",
        keys=settings.keys_dir,
        secrets=settings.operator_secrets,
        database=database.split("///")[-1] if database.startswith("sqlite:///") else "the configured database",
    )


def metrics_directory(home: Path, pid: int) -> Path:
    """An empty directory for the workers' metric files of the ``xid serve`` process ``pid`` (stale ones removed)."""
    run = home / "run"
    run.mkdir(parents=True, exist_ok=True)
    for old in run.glob("metrics-*"):
        other = old.name.removeprefix("metrics-")
        if other.isdigit() and int(other) != pid and not _alive(int(other)):
            shutil.rmtree(old, ignore_errors=True)
    directory = run / f"metrics-{pid}"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(mode=0o700)
    return directory


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.option(
    "--public-url",
    envvar="XID_PUBLIC_URL",
    metavar="URL",
    help="The https URL clients reach this server at (behind a proxy); it is the issuer identifier and names the "
    "did:web. Default: http://HOST:PORT (loopback only). Env XID_PUBLIC_URL.",
)
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True, help="Worker processes.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="A TOML settings file (default: $XID_CONFIG); the environment's XID_* variables win over it.",
)
def serve_command(host: str, port: int, public_url: str | None, workers: int, config_file: Path | None) -> None:
    """Serve everything on one origin: issuer, verifier, OpenID Connect provider, xid CA, VC API, ledger.

    With nothing configured this is the development configuration: SQLite and software keys under $XID_HOME,
    the emulated card's TEST CA trusted (a banner says so). The production profile refuses unsafe settings ('xid
    config check' lists them). Logs are JSON lines on stderr; /healthz, /readyz and /metrics are for operators.
    Stop it with Ctrl-C.
    """
    import uvicorn

    from xid.cli_config import load_settings
    from xid.config import CONFIG_ENV, refuse_unsafe
    from xid.observability import MULTIPROCESS_ENV, configure_logging
    from xid.serve import BASE_URL_ENV, base_url_for, build_services, create_app

    settings = load_settings(config_file)
    if public_url:  # --public-url is XID_PUBLIC_URL given on the command line: the profile's rules see it too
        settings = dataclasses.replace(settings, public_url=public_url.rstrip("/"))
    warnings = refuse_unsafe(settings)
    base_url = base_url_for(host, port, settings.public_url)
    if settings.profile == "development":
        click.echo(_banner(settings), err=True)
    for warning in warnings:
        click.echo(f"warning {warning.setting}: {warning.message}", err=True)
    directory = metrics_directory(settings.home, os.getpid()) if workers > 1 else None
    if directory is not None:  # before anything imports prometheus_client: its workers write their values there
        os.environ[MULTIPROCESS_ENV] = str(directory)
    services = build_services(settings, base_url)  # creates keys, schema and secrets once, before any worker
    click.echo(f"issuer {base_url}  ({services.issuer.did})", err=True)
    configure_logging(settings.log_level.upper())
    common = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "log_config": None,  # uvicorn's own records go through the JSON handler; its access log is replaced
        "access_log": False,
        "http": "httptools",
        "loop": "uvloop",
        "proxy_headers": True,
    }
    if workers == 1:
        services.start_housekeeping()
        app = create_app(services)
        try:
            uvicorn.run(app, **common)  # type: ignore[arg-type]
        finally:
            services.close()
        return
    services.close()
    os.environ[BASE_URL_ENV] = base_url
    if config_file is not None:
        os.environ[CONFIG_ENV] = str(config_file.resolve())
    try:
        uvicorn.run("xid.serve:app_factory", factory=True, workers=workers, **common)  # type: ignore[arg-type]
    finally:
        assert directory is not None
        shutil.rmtree(directory, ignore_errors=True)
