"""``xid db``: the schema of xid's databases: upgrade them, show their revision, check the migrations, list them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from xid.cli_group import CommandFailed, XidGroup, echo_json, json_option
from xid.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from xid.db_migrate import DatabaseStatus, Schema

__all__ = ["db"]

_SCHEMA_CHOICES = ("services", "ledger", "all")


def _schemas(name: str) -> list[Schema]:
    from xid.db_migrate import SCHEMAS

    return list(SCHEMAS.values()) if name == "all" else [SCHEMAS[name]]


def _url(settings: Settings, schema: Schema) -> tuple[str, bool]:
    """The database URL of a schema and whether it is the embedded default under $XID_HOME."""
    if schema.name == "services":
        return settings.services_database, settings.database_url is None
    return settings.ledger_database, settings.ledger_database_url is None


@contextmanager
def _engine(settings: Settings, schema: Schema) -> Iterator[Engine]:
    from foundation.db import open_engine
    from xid.files import writable_directory

    url, embedded = _url(settings, schema)
    if embedded:
        writable_directory(settings.home, "the xid home directory")
    engine = open_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def _schema_option(command: Any) -> Any:
    return click.option(
        "--schema",
        "schema_name",
        type=click.Choice(_SCHEMA_CHOICES),
        default="all",
        show_default=True,
        help="Which database: the services' (issuer, verifier, OIDC) or the ledger's.",
    )(command)


@click.group("db", cls=XidGroup)
def db() -> None:
    """The schema of xid's databases: upgrade, current revision, models-vs-migrations check, history.

    Two databases, each with its own revisions: the services' ($XID_DATABASE_URL, default SQLite
    $XID_HOME/xid.sqlite3) and the ledger's ($XID_LEDGER_DATABASE_URL, default $XID_HOME/ledger.sqlite3).
    xid serve upgrades the embedded defaults itself; a configured database is upgraded only by 'xid db upgrade'.
    """


@db.command("upgrade")
@_schema_option
@click.option(
    "--sql",
    "as_sql",
    is_flag=True,
    help="Print the SQL the upgrade would run (from each database's current revision) instead of running it.",
)
@json_option
def upgrade_command(schema_name: str, as_sql: bool, as_json: bool) -> None:
    """Upgrade the databases to this xid's newest revision (idempotent; safe while other processes start).

    A database made before migrations existed is compared with the first revision and adopted when it matches.
    Back up a production database first: each upgrade is one transaction, but it is not undone by a downgrade.
    """
    from xid.db_migrate import redacted, upgrade

    settings = Settings.from_env()
    if as_sql:
        if as_json:
            raise click.UsageError("--sql prints SQL; it takes no --json")
        _print_sql(settings, _schemas(schema_name))
        return
    reports = {}
    for schema in _schemas(schema_name):
        url, _ = _url(settings, schema)
        click.echo(f"{schema.name}: upgrading {redacted(url)}", err=True)

        def progress(revision: str, message: str, name: str = schema.name) -> None:
            click.echo(f"{name}: applied {revision}: {message}", err=True)

        with _engine(settings, schema) as engine:
            report = upgrade(engine, schema, on_step=progress)
        reports[schema.name] = report
        if report.adopted:
            click.echo(f"{schema.name}: adopted tables made before migrations at {report.applied[0]}", err=True)
    if as_json:
        echo_json({name: report.to_json() for name, report in reports.items()})
        return
    for name, report in reports.items():
        change = f"was {report.before or 'empty'}" if report.applied else "already there, nothing to do"
        click.echo(f"{name}: at {report.after} ({change})")


def _print_sql(settings: Settings, schemas: list[Schema]) -> None:
    """Print each database's pending upgrade as SQL for review (reads its revision, changes nothing)."""
    from sqlalchemy.engine import make_url

    from xid.db_migrate import upgrade_sql

    for schema in schemas:
        state = _status(settings, schema)
        if state.state in ("unversioned", "unknown"):
            raise CommandFailed(
                "schemaNotScriptable",
                f"the {schema.name} database is {state.state} ({_MEANING[state.state]}); "
                "only a database at a known revision (or empty) can be upgraded by a script",
            )
        dialect = make_url(_url(settings, schema)[0]).get_backend_name()
        click.echo(f"-- {schema.name}: {state.revision or 'empty'} -> {state.head} ({dialect})")
        click.echo(upgrade_sql(schema, dialect, state.revision))


def _status(settings: Settings, schema: Schema) -> DatabaseStatus:
    """A database's status, without creating an embedded SQLite file that does not exist yet."""
    from xid.db_migrate import DatabaseStatus, history, status

    url, embedded = _url(settings, schema)
    if embedded and not Path(url.removeprefix("sqlite:///")).exists():
        return DatabaseStatus(schema.name, None, history(schema)[0].revision, "empty")
    with _engine(settings, schema) as engine:
        return status(engine, schema)


_MEANING = {
    "current": "up to date",
    "behind": "behind: run 'xid db upgrade'",
    "empty": "no xid tables yet: 'xid db upgrade' (or xid serve, on the embedded default) creates them",
    "unversioned": "made before migrations: 'xid db upgrade' adopts it",
    "unknown": "a revision this xid does not know: a newer xid migrated it",
}


@db.command("current")
@_schema_option
@json_option
def current_command(schema_name: str, as_json: bool) -> None:
    """Show each database's schema revision beside the newest this xid knows (changes nothing)."""
    from xid.db_migrate import redacted

    settings = Settings.from_env()
    found = [(schema, _status(settings, schema)) for schema in _schemas(schema_name)]
    if as_json:
        echo_json({s.name: {**state.to_json(), "database": redacted(_url(settings, s)[0])} for s, state in found})
        return
    for schema, state in found:
        click.echo(f"{schema.name}: {state.revision or 'none'} (newest {state.head}): {_MEANING[state.state]}")
        click.echo(f"  database: {redacted(_url(settings, schema)[0])}")


@db.command("check")
@_schema_option
@click.option(
    "--postgres",
    "postgres_url",
    metavar="URL",
    help="Also build on this PostgreSQL server, in a throwaway schema dropped afterwards (needs CREATE there).",
)
@click.option("--live", is_flag=True, help="Also compare the configured databases themselves with the models.")
@json_option
def check_command(schema_name: str, postgres_url: str | None, live: bool, as_json: bool) -> None:
    """Check that the migrations build exactly the tables the code defines (exit 1 with the differences).

    The migrations run on a scratch SQLite database in memory (and with --postgres on a throwaway PostgreSQL
    schema); the result is compared with the table definitions. A difference means a table changed without a
    revision: write one with 'make migration MSG="..."'.
    """
    from xid.db_migrate import check, differences

    settings = Settings.from_env()
    found: dict[str, dict[str, list[str]]] = {}
    for schema in _schemas(schema_name):
        where = {"sqlite": check(schema)}
        if postgres_url:
            where["postgresql"] = check(schema, url=postgres_url)
        if live:
            with _engine(settings, schema) as engine:
                where["live"] = differences(engine, schema)
        found[schema.name] = where
    problems = sum(len(lines) for where in found.values() for lines in where.values())
    if as_json:
        echo_json({"ok": problems == 0, "differences": found})
    else:
        for name, where in found.items():
            for kind, lines in where.items():
                verdict = "the migrations match the models" if not lines else f"{len(lines)} differences:"
                click.echo(f"{name} ({kind}): {verdict}")
                for line in lines:
                    click.echo(f"  {line}")
    if problems:
        raise CommandFailed(
            "schemaDrift",
            f"{problems} differences between the table definitions and the migrations (or a live database): "
            "write a revision with 'make migration MSG=...', or run 'xid db upgrade'",
        )


@db.command("history")
@_schema_option
@json_option
def history_command(schema_name: str, as_json: bool) -> None:
    """List each database's revisions, newest first."""
    from xid.db_migrate import history

    revisions = {schema.name: history(schema) for schema in _schemas(schema_name)}
    if as_json:
        echo_json({name: [revision.to_json() for revision in found] for name, found in revisions.items()})
        return
    for name, found in revisions.items():
        click.echo(f"{name}:")
        for revision in found:
            click.echo(f"  {revision.revision}  {revision.message}")
