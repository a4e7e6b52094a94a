"""Schema migrations of xid's two databases with Alembic: upgrade, status, the models-vs-migrations check, adoption.

xid has two databases, each with its own Alembic revisions under ``xid/migrations/`` and its own version table (so
both may live in one PostgreSQL database): the services database (``SERVICES``: the issuer's, the verifier's and the
OIDC facade's tables) and the ledger database (``LEDGER``). Alembic is configured here, in code: no ``alembic.ini``,
no ``env.py``.

- ``upgrade_sql`` prints the SQL an upgrade would run, for a DBA to review (Alembic's offline mode).
- ``upgrade`` brings a database to the newest revision inside one transaction, under a lock (a PostgreSQL advisory
  lock, SQLite's writer lock), so processes starting at once never race: the second finds the work done.
- A database created before migrations existed (by ``create_all``: tables but no version table) is adopted: it is
  compared with each revision's schema (oldest first) and stamped at the one it matches, then upgraded; otherwise
  refused.
- ``prepare`` is what ``xid serve`` runs at start: the embedded default (SQLite under ``$XID_HOME``) is upgraded
  automatically, a configured database is only checked, and refused with a message naming ``xid db upgrade`` when
  it is behind.
- ``check`` builds a scratch database from the migrations and compares it with the table definitions (``xid db
  check``, the CI check); ``new_revision`` writes the next revision from the differences (``make migration``).

Errors::

    XidError
    └── MigrationError           schemaMigration   (a migration failed; the transaction was rolled back)
        ├── SchemaBehindError    schemaBehind      (a configured database needs 'xid db upgrade')
        ├── SchemaMismatchError  schemaMismatch    (an unversioned database matches no revision)
        └── UnknownRevisionError schemaUnknown     (the database is at a revision this xid does not know)
"""

from __future__ import annotations

import importlib
import secrets
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, MetaData, create_engine, exc, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from foundation.db import configure_sqlite, first_line, transaction, unavailable
from foundation.errors import XidError

__all__ = [
    "LEDGER",
    "SCHEMAS",
    "SERVICES",
    "DatabaseStatus",
    "MigrationError",
    "Revision",
    "Schema",
    "SchemaBehindError",
    "SchemaMismatchError",
    "State",
    "UnknownRevisionError",
    "UpgradeReport",
    "check",
    "describe",
    "differences",
    "history",
    "new_revision",
    "prepare",
    "redacted",
    "status",
    "upgrade",
    "upgrade_sql",
]

State = Literal["current", "behind", "empty", "unversioned", "unknown"]

_MIGRATIONS = Path(__file__).parent / "migrations"


class MigrationError(XidError):
    """A schema migration failed (the transaction was rolled back, nothing changed)."""

    code = "schemaMigration"


class SchemaBehindError(MigrationError):
    """A configured database is behind this xid's schema: an operator runs ``xid db upgrade`` (after a backup)."""

    code = "schemaBehind"


class SchemaMismatchError(MigrationError):
    """A database without a version table matches no revision's tables, so it cannot be adopted."""

    code = "schemaMismatch"


class UnknownRevisionError(MigrationError):
    """The database is at a revision this xid does not know (a newer xid migrated it)."""

    code = "schemaUnknown"


@dataclass(frozen=True)
class Schema:
    """One database's migrations: its revisions' folder, version table, table-name prefixes and table modules."""

    name: str
    folder: str
    version_table: str
    prefixes: tuple[str, ...]
    metadata_modules: tuple[tuple[str, str], ...]
    """(module holding ``metadata``, attribute naming its table modules or "") for each part of the schema."""
    lock_key: int

    @property
    def directory(self) -> Path:
        """The folder of this schema's revision files (inside the installed package)."""
        return _MIGRATIONS / self.folder

    def metadata(self) -> MetaData:
        """The current table definitions of every part, combined into one new MetaData (a copy)."""
        combined = MetaData()
        for module_name, modules_attribute in self.metadata_modules:
            module = importlib.import_module(module_name)
            for name in getattr(module, modules_attribute) if modules_attribute else ():
                importlib.import_module(name)
            for table in module.metadata.tables.values():
                table.to_metadata(combined)
        return combined

    def owns(self, table: str) -> bool:
        """Whether a table name belongs to this schema (tables of the other schema or of others are ignored)."""
        return table.startswith(self.prefixes)


SERVICES = Schema(
    name="services",
    folder="services",
    version_table="xid_services_version",
    prefixes=("issuer_", "verifier_", "oidc_"),
    metadata_modules=(
        ("issuer.db", "TABLE_MODULES"),
        ("verifier.db", "TABLE_MODULES"),
        ("oidc.db", "TABLE_MODULES"),
    ),
    lock_key=0x78696400_00000001,
)
"""The services database: the issuer's, the verifier's and the OIDC facade's tables (``XID_DATABASE_URL``)."""

LEDGER = Schema(
    name="ledger",
    folder="ledger",
    version_table="xid_ledger_version",
    prefixes=("ledger_",),
    metadata_modules=(("ledger.store", ""),),
    lock_key=0x78696400_00000002,
)
"""The ledger database (``XID_LEDGER_DATABASE_URL``)."""

SCHEMAS: dict[str, Schema] = {SERVICES.name: SERVICES, LEDGER.name: LEDGER}
"""Both schemas by name, in the order ``xid db`` treats them."""


@dataclass(frozen=True)
class Revision:
    """One revision of a schema: its id, the one before it, and its message."""

    revision: str
    down_revision: str | None
    message: str

    def to_json(self) -> dict[str, Any]:
        """The revision as JSON."""
        return {"revision": self.revision, "down_revision": self.down_revision, "message": self.message}


@dataclass(frozen=True)
class DatabaseStatus:
    """Where a database stands: its revision, the newest this xid knows, and what that means."""

    schema: str
    revision: str | None
    head: str
    state: State
    """``current`` (at head), ``behind`` (needs an upgrade), ``empty`` (no xid tables), ``unversioned`` (tables
    made before migrations, to adopt) or ``unknown`` (a revision this xid does not know)."""

    def to_json(self) -> dict[str, Any]:
        """The status as JSON."""
        return {"schema": self.schema, "revision": self.revision, "head": self.head, "state": self.state}


@dataclass
class UpgradeReport:
    """What an upgrade did: the revision before and after, the revisions applied, and whether it adopted tables."""

    schema: str
    before: str | None
    after: str | None = None
    applied: list[str] = field(default_factory=list)
    adopted: bool = False

    def to_json(self) -> dict[str, Any]:
        """The report as JSON."""
        return {
            "schema": self.schema,
            "before": self.before,
            "after": self.after,
            "applied": self.applied,
            "adopted": self.adopted,
        }


# -- Alembic, configured in code -------------------------------------------------------------------------------


def _script(schema: Schema) -> Any:
    """The Alembic ScriptDirectory of a schema (the shared template in xid/migrations, revisions in its folder)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(
        str(_MIGRATIONS), version_locations=[str(schema.directory)], file_template="%(rev)s_%(slug)s"
    )


def _context(conn: Connection, schema: Schema, **opts: Any) -> Any:
    """An Alembic MigrationContext on a connection, for this schema's version table and tables."""
    from alembic.runtime.migration import MigrationContext

    def include_object(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
        # Tables of the other schema (or anything else) sharing the database are none of this schema's business.
        if kind == "table" and reflected and compare_to is None:
            return name is not None and schema.owns(name)
        return True

    options = {
        "version_table": schema.version_table,
        "render_as_batch": True,
        "include_object": include_object,
        "compare_type": True,
        **opts,
    }
    return MigrationContext.configure(connection=conn, opts=options)


def history(schema: Schema) -> list[Revision]:
    """A schema's revisions, newest first."""
    return [
        Revision(str(rev.revision), rev.down_revision if isinstance(rev.down_revision, str) else None, rev.doc or "")
        for rev in _script(schema).walk_revisions()
    ]


def _head(schema: Schema) -> str:
    heads = _script(schema).get_heads()
    if len(heads) != 1:
        raise MigrationError(f"the {schema.name} revisions have {len(heads)} heads; they must form one line")
    return str(heads[0])


def _baseline(schema: Schema) -> str:
    bases = _script(schema).get_bases()
    if len(bases) != 1:
        raise MigrationError(f"the {schema.name} revisions have {len(bases)} bases; they must form one line")
    return str(bases[0])


def _current(conn: Connection, schema: Schema) -> str | None:
    heads = _context(conn, schema).get_current_heads()
    if len(heads) > 1:
        raise UnknownRevisionError(f"the {schema.name} database is at several revisions: {', '.join(heads)}")
    return str(heads[0]) if heads else None


def _state(conn: Connection, schema: Schema) -> DatabaseStatus:
    head = _head(schema)
    revision = _current(conn, schema)
    if revision is None:
        owned = [name for name in inspect(conn).get_table_names() if schema.owns(name)]
        return DatabaseStatus(schema.name, None, head, "unversioned" if owned else "empty")
    known = {rev.revision for rev in history(schema)}
    state: State = "current" if revision == head else "behind" if revision in known else "unknown"
    return DatabaseStatus(schema.name, revision, head, state)


def status(engine: Engine, schema: Schema) -> DatabaseStatus:
    """Where a database stands against this xid's revisions (reads only)."""
    with _reported(schema, "status"), transaction(engine) as conn:
        return _state(conn, schema)


@contextmanager
def _reported(schema: Schema, what: str) -> Iterator[None]:
    """Driver errors other than unavailability (no privilege, a broken table) as a MigrationError naming what."""
    try:
        yield
    except (exc.OperationalError, exc.InterfaceError) as error:
        raise unavailable(error) from error
    except exc.SQLAlchemyError as error:
        raise MigrationError(f"the {schema.name} {what} failed: {first_line(error)}") from error


def redacted(url: str) -> str:
    """A database URL as it may be shown: without its password."""
    return make_url(url).render_as_string(hide_password=True)


# -- upgrade ----------------------------------------------------------------------------------------------------


@contextmanager
def _locked(engine: Engine, schema: Schema) -> Iterator[Connection]:
    """One writer transaction that no other process's upgrade of this schema runs beside.

    PostgreSQL: a transaction-scoped advisory lock (DDL is transactional, so the upgrade is all or nothing).
    SQLite: ``BEGIN IMMEDIATE`` with foreign keys off for the duration (SQLite's procedure for table rebuilds, which
    Alembic's batch mode does), and ``PRAGMA foreign_key_check`` before commit.
    """
    configure_sqlite(engine)
    if engine.dialect.name != "sqlite":
        with transaction(engine, write=True) as conn:
            conn.execute(select(func.pg_advisory_xact_lock(schema.lock_key)))
            yield conn
        return
    try:
        with engine.connect() as conn:
            raw = conn.connection.driver_connection  # the same connection the transaction below runs on
            assert raw is not None
            raw.execute("PRAGMA foreign_keys=OFF")  # outside any transaction: inside one it is a no-op
            try:
                conn.execution_options(xid_write=True)  # BEGIN IMMEDIATE (foundation.db.configure_sqlite)
                with conn.begin():
                    yield conn
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise MigrationError(f"the {schema.name} migration broke {len(broken)} foreign keys")
            finally:
                raw.execute("PRAGMA foreign_keys=ON")
    except (exc.OperationalError, exc.InterfaceError) as error:
        raise unavailable(error) from error


def _run(conn: Connection, schema: Schema, destination: str, on_step: Callable[[str, str], None] | None) -> list[str]:
    """Upgrade the connection's database to destination with Alembic; return the revisions applied."""
    from alembic.config import Config
    from alembic.runtime.environment import EnvironmentContext

    script = _script(schema)
    applied: list[str] = []

    def steps(rev: Any, _: Any) -> Any:
        return script._upgrade_revs(destination, rev)

    def applied_one(ctx: Any, step: Any, heads: Collection[Any], run_args: Mapping[str, Any]) -> None:
        revision = str(step.up_revision_id)
        applied.append(revision)
        if on_step is not None:
            on_step(revision, step.up_revision.doc or "")

    with EnvironmentContext(Config(), script, fn=steps, destination_rev=destination) as env:
        env.configure(
            connection=conn,
            version_table=schema.version_table,
            render_as_batch=True,
            on_version_apply=applied_one,
        )
        with env.begin_transaction():
            env.run_migrations()
    return applied


def _metadata_at(schema: Schema, revision: str) -> MetaData:
    """A revision's tables, reflected from a scratch SQLite database built up to that revision."""
    scratch = create_engine("sqlite://", poolclass=StaticPool)
    try:
        with scratch.begin() as conn:
            _run(conn, schema, revision, None)
            reflected = MetaData()
            reflected.reflect(conn, only=lambda name, _: schema.owns(name))
        return reflected
    finally:
        scratch.dispose()


def _adopt(conn: Connection, schema: Schema) -> str:
    """Stamp an unversioned database at the revision its tables match (oldest first); return that revision.

    Compared: tables, columns, nullability, indexes, unique constraints and foreign keys (not types or comments).
    """
    closest: list[str] | None = None
    for revision in reversed([str(r.revision) for r in _script(schema).walk_revisions()]):
        # Reflected from SQLite, which keeps neither exact types nor comments: compare the rest.
        found = [
            line
            for line in _differences(conn, schema, _metadata_at(schema, revision), compare_type=False)
            if not line.startswith(("modify_comment", "add_table_comment", "remove_table_comment"))
        ]
        if not found:
            _context(conn, schema).stamp(_script(schema), revision)
            return revision
        closest = found if closest is None or len(found) < len(closest) else closest
    listed = "; ".join((closest or [])[:10]) + ("; …" if len(closest or []) > 10 else "")
    raise SchemaMismatchError(
        f"the {schema.name} database has xid tables but no schema revision, and they match no revision (against "
        f"the closest: {listed}): restore it from a backup taken with a matching xid, or start from an empty one"
    )


def upgrade(
    engine: Engine,
    schema: Schema,
    *,
    destination: str = "head",
    on_step: Callable[[str, str], None] | None = None,
) -> UpgradeReport:
    """Bring a database to a revision (default: the newest), adopting create_all tables; idempotent and locked."""
    with _locked(engine, schema) as conn:
        try:
            state = _state(conn, schema)
            report = UpgradeReport(schema.name, state.revision)
            if state.state == "unknown":
                raise UnknownRevisionError(_unknown(schema, state))
            if state.state == "unversioned":
                report.applied.append(_adopt(conn, schema))
                report.adopted = True
            report.applied += _run(conn, schema, destination, on_step)
            report.after = _current(conn, schema)
            return report
        except exc.SQLAlchemyError as error:  # a failed statement: the transaction is rolled back; say why
            raise MigrationError(f"the {schema.name} upgrade failed: {first_line(error)}") from error


def upgrade_sql(schema: Schema, dialect: str, starting: str | None, destination: str = "head") -> str:
    """The SQL an upgrade from ``starting`` (None: an empty database) would run, for review (changes nothing)."""
    from io import StringIO

    from alembic.config import Config
    from alembic.runtime.environment import EnvironmentContext

    script = _script(schema)
    buffer = StringIO()

    def steps(rev: Any, _: Any) -> Any:
        return script._upgrade_revs(destination, rev)

    with EnvironmentContext(
        Config(), script, fn=steps, as_sql=True, starting_rev=starting, destination_rev=destination
    ) as env:
        env.configure(
            dialect_name=dialect,
            output_buffer=buffer,
            version_table=schema.version_table,
            render_as_batch=True,
            literal_binds=True,
            transactional_ddl=True,
        )
        with env.begin_transaction():
            env.run_migrations()
    return buffer.getvalue()


def _unknown(schema: Schema, state: DatabaseStatus) -> str:
    return (
        f"the {schema.name} database is at revision {state.revision}, which this xid does not know (its newest is "
        f"{state.head}): run the xid version that migrated it"
    )


def prepare(engine: Engine, schema: Schema, *, automatic: bool) -> DatabaseStatus:
    """Make sure a database is at the newest revision before serving: upgrade it if automatic, else refuse.

    ``automatic`` is for the embedded default (SQLite under ``$XID_HOME``): a fresh home just works. A configured
    database is never migrated silently: anything but ``current`` raises, naming ``xid db upgrade``.
    """
    if automatic:
        upgrade(engine, schema)
        return status(engine, schema)
    state = status(engine, schema)
    if state.state == "current":
        return state
    if state.state == "unknown":
        raise UnknownRevisionError(_unknown(schema, state))
    where = {
        "behind": f"is at revision {state.revision}, this xid needs {state.head}",
        "empty": "has no xid tables yet",
        "unversioned": "has xid tables made before migrations (no schema revision)",
    }[state.state]
    raise SchemaBehindError(f"the {schema.name} database {where}: run 'xid db upgrade' (after a backup), then start")


# -- models vs migrations ---------------------------------------------------------------------------------------


def describe(diff: Any) -> str:
    """One Alembic autogenerate difference as a line for people (what the migrations would have to do)."""
    if isinstance(diff, list):  # modifications of one column come as a list of tuples
        return "; ".join(describe(item) for item in diff)
    kind = diff[0]
    if kind in ("add_table", "remove_table"):
        return f"{kind} {diff[1].name}"
    if kind in ("add_column", "remove_column"):
        return f"{kind} {diff[2]}.{diff[3].name} ({diff[3].type})"
    if kind.startswith("modify_"):
        return f"{kind} {diff[2]}.{diff[3]}: {diff[5]} -> {diff[6]}"
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint"):
        item = diff[1]
        columns = ", ".join(column.name for column in getattr(item, "columns", ()))
        return f"{kind} {item.name or 'unnamed'} on {item.table.name} ({columns})"
    if kind in ("add_fk", "remove_fk"):
        item = diff[1]
        return f"{kind} {item.parent.name} -> {item.referred_table.name}"
    return f"{kind} {diff[1:]!r}"


def _differences(conn: Connection, schema: Schema, models: MetaData, *, compare_type: bool = True) -> list[str]:
    from alembic.autogenerate import compare_metadata

    context = _context(conn, schema, compare_type=compare_type)
    return [describe(diff) for diff in compare_metadata(context, models)]


def differences(engine: Engine, schema: Schema, models: MetaData | None = None) -> list[str]:
    """How a database differs from the table definitions (empty: they match); one line per difference."""
    with _reported(schema, "comparison"), transaction(engine) as conn:
        return _differences(conn, schema, schema.metadata() if models is None else models)


@contextmanager
def _scratch(url: str | None) -> Iterator[Engine]:
    """An empty database: SQLite in memory, or a throwaway schema on the PostgreSQL server at url."""
    if url is None or url.startswith("sqlite"):
        engine = create_engine("sqlite://", poolclass=StaticPool)
        try:
            yield engine
        finally:
            engine.dispose()
        return
    from foundation.db import open_engine

    admin = open_engine(url)
    name = f"xid_check_{secrets.token_hex(6)}"
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        scratch = create_engine(admin.url, connect_args={"options": f"-csearch_path={name}"}, poolclass=StaticPool)
        try:
            yield scratch
        finally:
            scratch.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        admin.dispose()


def check(schema: Schema, *, url: str | None = None, models: MetaData | None = None) -> list[str]:
    """How the table definitions differ from what the migrations build (empty: they match).

    The migrations run on a scratch database: SQLite in memory, or with ``url`` a throwaway schema on that
    PostgreSQL server (dropped afterwards). ``models`` defaults to the schema's current table definitions.
    """
    with _reported(schema, "check"), _scratch(url) as engine:
        upgrade(engine, schema)
        return differences(engine, schema, models)


def new_revision(schema: Schema, message: str) -> Path | None:
    """Write the next revision from the differences between the migrations and the models; None if none."""
    from alembic.autogenerate import produce_migrations, render_python_code

    script = _script(schema)
    heads = script.get_heads()
    with _scratch(None) as engine:
        if heads:
            upgrade(engine, schema)
        with transaction(engine) as conn:
            context = _context(conn, schema)
            migration = produce_migrations(context, schema.metadata())
    upgrades, downgrades = migration.upgrade_ops, migration.downgrade_ops
    if upgrades is None or downgrades is None or upgrades.is_empty():
        return None
    number = len(history(schema)) + 1
    revision = script.generate_revision(
        f"{schema.name}_{number:04d}",
        message,
        head=heads[0] if heads else "base",
        schema=schema.name,
        upgrades=_indented(render_python_code(upgrades, render_as_batch=True)),
        downgrades=_indented(render_python_code(downgrades, render_as_batch=True)),
    )
    return Path(revision.path) if revision is not None else None


def _indented(code: str) -> str:
    """Alembic's rendered operations, as the body of a function in the template (first line indented there)."""
    lines = [line.removeprefix("    ") for line in code.strip("\n").splitlines() if not line.strip().startswith("#")]
    return "\n    ".join(line for line in lines if line.strip())


def _main(argv: Sequence[str] | None = None) -> int:
    """``python -m xid.db_migrate revision SCHEMA MESSAGE``: write the next revision (``make migration``)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m xid.db_migrate")
    commands = parser.add_subparsers(dest="command", required=True)
    revision = commands.add_parser("revision", help="write the next revision from the table definitions")
    revision.add_argument("schema", choices=sorted(SCHEMAS))
    revision.add_argument("message")
    args = parser.parse_args(argv)
    path = new_revision(SCHEMAS[args.schema], args.message)
    if path is None:
        print(f"{args.schema}: the migrations already match the table definitions; nothing written")
        return 1
    print(f"{args.schema}: wrote {path}; read it, tidy it, and commit it with the table change")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
