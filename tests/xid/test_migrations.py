"""Schema migrations (xid.db_migrate, xid db): the migrations build the models, drift is caught, upgrades are safe.

Every test runs on SQLite and on PostgreSQL (``XID_TEST_DATABASE_URL``; skipped locally without it, failed in CI).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from sqlalchemy import (
    Column,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    inspect,
    select,
    text,
)

from foundation.db import sqlite_engine
from ledger.store import Store
from tests.database import KINDS, database_url, engine_for, postgres_url
from xid.cli import main
from xid.db_migrate import (
    LEDGER,
    SCHEMAS,
    SERVICES,
    MigrationError,
    Schema,
    SchemaBehindError,
    SchemaMismatchError,
    UnknownRevisionError,
    UpgradeReport,
    check,
    differences,
    history,
    new_revision,
    prepare,
    status,
    upgrade,
    upgrade_sql,
)

BOTH = pytest.mark.parametrize("schema", [SERVICES, LEDGER], ids=["services", "ledger"])
EVERY_KIND = pytest.mark.parametrize("kind", KINDS)

SERVICES_HEAD = "services_0002"
"""The newest services revision (the OIDC facade's tables)."""


def _scratch_url(kind: str) -> str | None:
    """What check() builds on: SQLite in memory (None), or a throwaway schema on the test PostgreSQL server."""
    return None if kind == "sqlite" else postgres_url()


@contextmanager
def _engine(kind: str, tmp_path: Path, name: str = "db") -> Iterator[Engine]:
    folder = tmp_path / name
    folder.mkdir()
    with database_url(kind, folder) as url:
        engine = engine_for(url)
        try:
            yield engine
        finally:
            engine.dispose()


def _create_all(engine: Engine, *, ledger: bool = True) -> None:
    """The schema as xid made it before migrations: every package's create_all."""
    from issuer.db import create_schema as issuer_schema
    from oidc.db import create_schema as oidc_schema
    from verifier.db import create_schema as verifier_schema

    issuer_schema(engine)
    verifier_schema(engine)
    oidc_schema(engine)
    if ledger:
        Store(engine).create_schema()


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


# -- the migrations build exactly the models (the CI check) -----------------------------------------------------


@EVERY_KIND
@BOTH
def test_the_migrations_build_exactly_the_models(kind: str, schema: Schema) -> None:
    assert check(schema, url=_scratch_url(kind)) == []


@EVERY_KIND
def test_the_check_fails_when_a_table_changes_without_a_migration(kind: str) -> None:
    models = SERVICES.metadata()  # a copy: the real table definitions stay as they are
    persons = models.tables["issuer_persons"]
    persons.append_column(Column("nickname", String(40), nullable=True))
    found = check(SERVICES, url=_scratch_url(kind), models=models)
    assert found == ["add_column issuer_persons.nickname (VARCHAR(40))"]

    models = SERVICES.metadata()
    Table("oidc_drill", models, Column("code_hash", String(64), primary_key=True))  # a facade table, no revision
    assert check(SERVICES, url=_scratch_url(kind), models=models) == ["add_table oidc_drill"]

    models = LEDGER.metadata()
    models.remove(models.tables["ledger_anchors"])
    assert check(LEDGER, url=_scratch_url(kind), models=models) == ["remove_table ledger_anchors"]

    models = LEDGER.metadata()
    note = models.tables["ledger_checkpoints"].c.note
    note.nullable = True
    found = check(LEDGER, url=_scratch_url(kind), models=models)
    assert found == ["modify_nullable ledger_checkpoints.note: False -> True"]

    assert check(SERVICES, url=_scratch_url(kind)) == []  # the real definitions were never touched


def test_xid_db_check_exits_1_with_the_list(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = Schema.metadata

    def drifted(self: Schema) -> MetaData:
        models = real(self)
        if self.name == "services":
            models.tables["verifier_rps"].append_column(Column("logo", Text, nullable=True))
        return models

    env = {"XID_HOME": str(tmp_path), "XID_DATABASE_URL": "", "XID_LEDGER_DATABASE_URL": ""}
    result = CliRunner().invoke(main, ["db", "check"], env=env)
    assert result.exit_code == 0, result.output
    assert "services (sqlite): the migrations match the models" in result.stdout
    monkeypatch.setattr(Schema, "metadata", drifted)
    result = CliRunner().invoke(main, ["db", "check", "--json"], env=env)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report == {
        "ok": False,
        "differences": {
            "services": {"sqlite": ["add_column verifier_rps.logo (TEXT)"]},
            "ledger": {"sqlite": []},
        },
    }
    assert result.stderr.startswith("error [schemaDrift]: 1 differences")


def test_xid_db_check_on_postgresql_and_live(tmp_path: Path) -> None:
    url = postgres_url()
    env = {"XID_HOME": str(tmp_path), "XID_DATABASE_URL": "", "XID_LEDGER_DATABASE_URL": ""}
    assert CliRunner().invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    result = CliRunner().invoke(main, ["db", "check", "--postgres", url, "--live", "--json"], env=env)
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)["differences"]
    assert found["services"] == {"sqlite": [], "postgresql": [], "live": []}
    assert found["ledger"] == {"sqlite": [], "postgresql": [], "live": []}


@EVERY_KIND
def test_a_migrated_database_equals_a_create_all_one(kind: str, tmp_path: Path) -> None:
    with _engine(kind, tmp_path, "create_all") as made, _engine(kind, tmp_path, "migrated") as migrated:
        _create_all(made)
        for schema in SCHEMAS.values():  # both schemas in one database: each ignores the other's tables
            upgrade(migrated, schema)
        for schema in SCHEMAS.values():
            assert differences(made, schema) == []
            assert differences(migrated, schema) == []
            reflected = MetaData()
            reflected.reflect(migrated, only=lambda name, _, s=schema: s.owns(name))  # type: ignore[misc]
            assert set(reflected.tables) == set(schema.metadata().tables)
            assert differences(made, schema, reflected) == []
        versions = {SERVICES.version_table, LEDGER.version_table}
        assert _tables(migrated) == _tables(made) | versions


# -- adoption of databases made before migrations ---------------------------------------------------------------


@EVERY_KIND
def test_a_create_all_database_is_adopted_and_stamped(kind: str, tmp_path: Path) -> None:
    with _engine(kind, tmp_path) as engine:
        _create_all(engine)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO ledger_state (id, origin, size, peaks) VALUES (1, 'x.example/log', 0, '')"))
        assert status(engine, SERVICES).state == "unversioned"
        report = upgrade(engine, SERVICES)
        # today's create_all matches the newest revision: stamped there, nothing applied on top
        assert report == UpgradeReport("services", None, SERVICES_HEAD, [SERVICES_HEAD], adopted=True)
        assert upgrade(engine, LEDGER).adopted
        assert upgrade(engine, SERVICES) == UpgradeReport("services", SERVICES_HEAD, SERVICES_HEAD)
        assert status(engine, SERVICES).state == status(engine, LEDGER).state == "current"
        with engine.connect() as conn:
            assert conn.execute(text("SELECT origin FROM ledger_state")).scalar_one() == "x.example/log"


@EVERY_KIND
def test_a_database_that_differs_from_the_first_revision_is_refused(kind: str, tmp_path: Path) -> None:
    with _engine(kind, tmp_path) as engine:
        _create_all(engine, ledger=False)
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE issuer_persons ADD COLUMN extra VARCHAR(10)"))
        before = _tables(engine)
        with pytest.raises(SchemaMismatchError, match=r"issuer_persons\.extra.*restore it from a backup"):
            upgrade(engine, SERVICES)
        assert _tables(engine) == before  # not stamped, nothing created
        assert status(engine, SERVICES).state == "unversioned"


@EVERY_KIND
def test_a_partial_create_all_database_is_refused(kind: str, tmp_path: Path) -> None:
    from verifier.db import create_schema

    with _engine(kind, tmp_path) as engine:
        create_schema(engine)  # what an old 'xid rp add' on a fresh home made: the verifier's tables only
        before = _tables(engine)
        with pytest.raises(SchemaMismatchError, match="add_table issuer_ca_root"):
            upgrade(engine, SERVICES)
        assert _tables(engine) == before


# -- what xid serve does at start --------------------------------------------------------------------------------


@EVERY_KIND
def test_a_configured_database_is_never_migrated_silently(kind: str, tmp_path: Path) -> None:
    with _engine(kind, tmp_path) as engine:
        with pytest.raises(SchemaBehindError, match=r"has no xid tables yet: run 'xid db upgrade'"):
            prepare(engine, SERVICES, automatic=False)
        assert _tables(engine) == set()
        _create_all(engine)
        with pytest.raises(SchemaBehindError, match=r"made before migrations.*'xid db upgrade'"):
            prepare(engine, LEDGER, automatic=False)
        assert status(engine, LEDGER).state == "unversioned"
        upgrade(engine, LEDGER)
        assert prepare(engine, LEDGER, automatic=False).state == "current"


@EVERY_KIND
def test_a_revision_this_xid_does_not_know_is_refused(kind: str, tmp_path: Path) -> None:
    with _engine(kind, tmp_path) as engine:
        assert prepare(engine, SERVICES, automatic=True).state == "current"
        with engine.begin() as conn:
            conn.execute(text(f"UPDATE {SERVICES.version_table} SET version_num = 'services_9999'"))
        assert status(engine, SERVICES).state == "unknown"
        for automatic in (True, False):
            with pytest.raises(UnknownRevisionError, match="services_9999, which this xid does not know"):
                prepare(engine, SERVICES, automatic=automatic)


@EVERY_KIND
def test_concurrent_upgrades_do_not_race(kind: str, tmp_path: Path) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    with database_url(kind, folder) as url:
        if kind == "postgresql":  # a wait that never ends (the lock missing) becomes an error, not a hung test
            url += quote(" -clock_timeout=60s")
        engines = [engine_for(url) for _ in range(4)]
        barrier = threading.Barrier(len(engines))
        reports: list[UpgradeReport] = []
        errors: list[BaseException] = []

        def run(engine: Engine) -> None:
            barrier.wait()
            try:
                reports.append(upgrade(engine, SERVICES))
            except BaseException as error:  # collected and asserted below
                errors.append(error)

        threads = [threading.Thread(target=run, args=(engine,), daemon=True) for engine in engines]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        try:
            assert not any(thread.is_alive() for thread in threads)
            assert errors == []
            assert sorted(len(report.applied) for report in reports) == [0, 0, 0, 2]
            assert status(engines[0], SERVICES).state == "current"
            assert differences(engines[0], SERVICES) == []
        finally:
            for engine in engines:
                engine.dispose()


# -- the next revision: written from the models, applied with the data kept ------------------------------------


def _toy_models(version: int) -> MetaData:
    models = MetaData()
    Table(
        "toy_parent",
        models,
        Column("id", String(8), primary_key=True),
        Column("name", String(20), nullable=version < 2),
        *([Column("note", Text, nullable=True)] if version >= 2 else []),
    )
    Table(
        "toy_child",
        models,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("parent", String(8), ForeignKey("toy_parent.id"), nullable=False),
    )
    return models


@dataclass(frozen=True)
class _Toy(Schema):
    """A schema with its revisions in a temporary folder and its models built here."""

    version: int = 1

    def metadata(self) -> MetaData:
        """The toy's models at its version."""
        return _toy_models(self.version)


@EVERY_KIND
def test_the_next_revision_is_written_from_the_models_and_keeps_the_data(kind: str, tmp_path: Path) -> None:
    folder = tmp_path / "versions"
    folder.mkdir()
    toy = _Toy("toy", str(folder), "toy_version", ("toy_",), (), 1234, version=1)
    first = new_revision(toy, "The toy tables")
    assert first is not None
    assert first.name == "toy_0001_the_toy_tables.py"
    with _engine(kind, tmp_path) as engine:
        assert upgrade(engine, toy).applied == ["toy_0001"]
        parent, child = _toy_models(1).tables["toy_parent"], _toy_models(1).tables["toy_child"]
        with engine.begin() as conn:
            conn.execute(insert(parent).values(id="p1", name="Alice"))
            conn.execute(insert(child).values(id=1, parent="p1"))

        changed = replace(toy, version=2)
        assert sorted(check(changed, url=_scratch_url(kind))) == [
            "add_column toy_parent.note (TEXT)",
            "modify_nullable toy_parent.name: True -> False",
        ]
        second = new_revision(changed, "Parents need a name; a note")
        assert second is not None
        assert "batch_alter_table" in second.read_text()
        assert [revision.revision for revision in history(changed)] == ["toy_0002", "toy_0001"]
        with pytest.raises(SchemaBehindError, match="is at revision toy_0001, this xid needs toy_0002"):
            prepare(engine, changed, automatic=False)
        assert status(engine, changed).revision == "toy_0001"

        # On SQLite the nullability change rebuilds toy_parent, which toy_child references: foreign keys stay intact.
        assert prepare(engine, changed, automatic=True).state == "current"
        assert check(changed, url=_scratch_url(kind)) == []
        assert differences(engine, changed) == []
        with engine.connect() as conn:
            assert conn.execute(select(text("id, name, note")).select_from(text("toy_parent"))).all() == [
                ("p1", "Alice", None)
            ]
            assert conn.execute(text("SELECT parent FROM toy_child")).scalar_one() == "p1"
        assert new_revision(changed, "nothing changed") is None


@EVERY_KIND
def test_a_revision_that_breaks_a_foreign_key_is_rolled_back(kind: str, tmp_path: Path) -> None:
    folder = tmp_path / "versions"
    folder.mkdir()
    toy = _Toy("toy", str(folder), "toy_version", ("toy_",), (), 1235, version=1)
    assert new_revision(toy, "The toy tables") is not None
    (folder / "toy_0002_orphan.py").write_text(
        '"""A child without its parent."""\n\n'
        "from alembic import op\n\n"
        'revision = "toy_0002"\ndown_revision = "toy_0001"\nbranch_labels = None\ndepends_on = None\n\n\n'
        "def upgrade() -> None:\n"
        '    """Insert the orphan."""\n'
        "    op.execute(\"INSERT INTO toy_child (id, parent) VALUES (7, 'nobody')\")\n\n\n"
        "def downgrade() -> None:\n"
        '    """Nothing to undo."""\n'
    )
    with _engine(kind, tmp_path) as engine:
        broken = "the toy migration broke 1 foreign keys" if kind == "sqlite" else "violates foreign key constraint"
        with pytest.raises(MigrationError, match=broken):
            upgrade(engine, toy)
        assert status(engine, toy).state == "empty"  # the first revision, applied in the same transaction, too
        assert upgrade(engine, toy, destination="toy_0001").applied == ["toy_0001"]
        with pytest.raises(MigrationError, match=broken):
            upgrade(engine, toy)
        assert status(engine, toy).revision == "toy_0001"
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM toy_child")).scalar_one() == 0


# -- the SQL of an upgrade, for review ---------------------------------------------------------------------------


@EVERY_KIND
@BOTH
def test_the_upgrade_sql_builds_the_same_database(kind: str, schema: Schema, tmp_path: Path) -> None:
    with _engine(kind, tmp_path) as engine:
        script = upgrade_sql(schema, engine.dialect.name, None)
        assert "CREATE TABLE" in script
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            if kind == "sqlite":
                raw.executescript(script)
            else:
                raw.execute(script)
                raw.commit()
        assert status(engine, schema).state == "current"
        assert differences(engine, schema) == []
        assert "CREATE TABLE" not in upgrade_sql(schema, engine.dialect.name, history(schema)[0].revision)


def test_xid_db_upgrade_sql_changes_nothing_and_refuses_an_unversioned_database(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"XID_HOME": str(home), "XID_DATABASE_URL": "", "XID_LEDGER_DATABASE_URL": ""}
    result = CliRunner().invoke(main, ["db", "upgrade", "--sql"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"-- services: empty -> {SERVICES_HEAD} (sqlite)\nBEGIN;")
    assert "-- ledger: empty -> ledger_0001 (sqlite)" in result.stdout
    assert not home.exists()
    home.mkdir()
    ledger = sqlite_engine(home / "ledger.sqlite3")
    Store(ledger).create_schema()
    ledger.dispose()
    result = CliRunner().invoke(main, ["db", "upgrade", "--sql", "--schema", "ledger"], env=env)
    assert result.exit_code == 1
    assert result.stderr.startswith("error [schemaNotScriptable]: the ledger database is unversioned")


def test_an_unreachable_database_is_one_error_line(tmp_path: Path) -> None:
    closed = "postgresql+psycopg://xid:secret@127.0.0.1:1/xid"
    env = {"XID_HOME": str(tmp_path), "XID_DATABASE_URL": closed, "XID_LEDGER_DATABASE_URL": ""}
    for args in (["db", "check", "--schema", "ledger", "--postgres", closed], ["db", "upgrade"], ["db", "current"]):
        result = CliRunner().invoke(main, args, env=env)
        assert result.exit_code == 1, args
        assert result.stderr.splitlines()[-1].startswith("error [databaseUnavailable]: "), result.stderr
        assert "secret" not in result.output
