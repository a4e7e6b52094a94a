"""``xid serve``: run the issuer (and, as they arrive, the verifier and the OIDC facade) on one base URL."""

from __future__ import annotations

import os

import click

from xid.settings import Settings

__all__ = ["serve_command"]

BANNER = """\
xid serve: DEVELOPMENT configuration. Do not use it for real persons.
  - the TEST JPKI CA of the emulated card is trusted ({test_ca}), not the J-LIS roots;
  - keys are software keys under {keys} and the operator secrets are in {secrets};
  - data is in {database}.
  Set XID_JPKI_ROOTS (and XID_PUBLIC_URL, XID_DATABASE_URL, ...) for a real deployment: see docs/operations.md."""


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
def serve_command(host: str, port: int, public_url: str | None, workers: int) -> None:
    """Serve the issuer: enrollment, OpenID4VCI, status lists, the xid CA, the VC API and the ledger's tiles.

    With nothing configured this is the development configuration: SQLite and software keys under $XID_HOME,
    the emulated card's TEST CA trusted (a banner says so). Stop it with Ctrl-C.
    """
    import uvicorn

    from xid.serve import BASE_URL_ENV, base_url_for, build_services, create_app

    settings = Settings.from_env()
    base_url = base_url_for(host, port, public_url.rstrip("/") if public_url else settings.public_url)
    services = build_services(settings, base_url)  # creates keys, schema and secrets once, before any worker
    if settings.development:
        click.echo(
            BANNER.format(
                test_ca=settings.test_ca_dir,
                keys=settings.keys_dir,
                secrets=settings.operator_secrets,
                database=settings.services_database.split("///")[-1]
                if "///" in settings.services_database
                else "the configured database",
            ),
            err=True,
        )
    click.echo(f"issuer {base_url}  ({services.issuer.did})", err=True)
    common = {
        "host": host,
        "port": port,
        "log_level": "warning",
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
    uvicorn.run("xid.serve:app_factory", factory=True, workers=workers, **common)  # type: ignore[arg-type]
