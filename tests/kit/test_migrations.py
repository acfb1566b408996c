"""The migrated schema equals the models, round-trips, and documents itself."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, pool, text

from saaskit.kit import sqlobjects
from saaskit.kit.db import libpq_url, sqlalchemy_url, with_database
from saaskit.kit.migrations import downgrade, head_revision, include_object, upgrade
from saaskit.models import Base
from saaskit.system import database
from tests.conftest import DbUnderTest

VERSIONS = Path(__file__).parents[2] / "src" / "saaskit" / "migrations" / "versions"


def _diff(owner_url: str) -> list[object]:
    engine = create_engine(sqlalchemy_url(owner_url), poolclass=pool.NullPool)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"include_object": include_object, "compare_type": True, "compare_server_default": True},
        )
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    return list(diff)


@pytest.fixture
def empty_database(pg_server: str) -> Iterator[str]:
    name = f"saaskit_mig_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq_url(pg_server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    try:
        yield with_database(pg_server, name)
    finally:
        with psycopg.connect(libpq_url(pg_server), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def test_migrated_schema_matches_the_models(migrated_db: DbUnderTest) -> None:
    assert _diff(with_database(migrated_db.server_url, migrated_db.template or migrated_db.name)) == []


def _tables(url: str) -> set[str]:
    with psycopg.connect(libpq_url(url)) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows}


def test_downgrade_to_base_and_upgrade_again(empty_database: str) -> None:
    upgrade(empty_database)
    tables_at_head = _tables(empty_database)
    assert {"users", "user_sessions", "procrastinate_jobs"} <= tables_at_head
    downgrade(empty_database, "base")
    assert _tables(empty_database) == {"alembic_version"}
    with psycopg.connect(libpq_url(empty_database)) as conn:
        leftovers = conn.execute(
            "SELECT proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'public'"
        ).fetchall()
        types = conn.execute(
            "SELECT typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = 'public' AND t.typtype IN ('e', 'c') "
            "AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid)"
        ).fetchall()
    assert leftovers == [] and types == []
    upgrade(empty_database)
    assert _tables(empty_database) == tables_at_head
    assert _diff(empty_database) == []


def test_each_revision_downgrades_one_step(empty_database: str) -> None:
    upgrade(empty_database)
    head = head_revision()
    downgrade(empty_database, "-1")
    upgrade(empty_database, "head")
    with psycopg.connect(libpq_url(empty_database)) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (head,)


def test_every_table_and_column_has_a_comment(migrated_db: DbUnderTest) -> None:
    url = with_database(migrated_db.server_url, migrated_db.template or migrated_db.name)
    with psycopg.connect(libpq_url(url)) as conn:
        tables = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition "
            "AND c.relname <> 'alembic_version' AND obj_description(c.oid, 'pg_class') IS NULL"
        ).fetchall()
        columns = conn.execute(
            "SELECT c.relname || '.' || a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition "
            "AND c.relname <> 'alembic_version' AND a.attnum > 0 AND NOT a.attisdropped "
            "AND col_description(c.oid, a.attnum) IS NULL"
        ).fetchall()
    assert tables == [] and columns == []


def test_every_foreign_key_has_an_index(migrated_db: DbUnderTest) -> None:
    """Seed 003: deleting a parent row finds its children through an index, not a scan."""
    url = with_database(migrated_db.server_url, migrated_db.template or migrated_db.name)
    with psycopg.connect(libpq_url(url)) as conn:
        missing = [r[0] for r in conn.execute(database.UNINDEXED_FOREIGN_KEYS).fetchall()]
    assert missing == [], "\n".join(missing)


def test_revision_files_are_date_prefixed_and_chained() -> None:
    files = sorted(p.name for p in VERSIONS.glob("*.py"))
    assert files, "no revisions found"
    pattern = re.compile(r"^\d{4}_\d{2}_\d{2}_\d{4}_[a-z0-9_]+\.py$")
    assert [f for f in files if not pattern.match(f)] == []
    numbers = [f.split("_")[3] for f in files]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    previous = None
    for name in files:
        source = (VERSIONS / name).read_text()
        revision = re.search(r'^revision: str = "(\w+)"', source, re.M)
        down = re.search(r"^down_revision: .* = (None|\"(\w+)\")", source, re.M)
        assert revision and down, name
        assert (down.group(2) if down.group(2) else None) == previous, name
        previous = revision.group(1)
    assert previous == head_revision()


def test_application_role_cannot_change_alembic_version(migrated_db: DbUnderTest) -> None:
    from tests.conftest import make_settings

    settings = make_settings()
    with (
        psycopg.connect(libpq_url(migrated_db.app_url(settings))) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(text("UPDATE alembic_version SET version_num = 'x'").text)  # type: ignore[arg-type]


def _owner_engine(url: str) -> Engine:
    return create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)


def test_sql_objects_match_their_declarations(migrated_db: DbUnderTest) -> None:
    """Every function, trigger and view in the migrated database is the one its domain's
    sql/*.sql file declares (and nothing undeclared is there)."""
    engine = _owner_engine(with_database(migrated_db.server_url, migrated_db.template or migrated_db.name))
    with engine.connect() as conn:
        drift = sqlobjects.compare(conn)
    engine.dispose()
    assert drift.describe() == []
    assert len(drift.before) == len(sqlobjects.declared_keys()) >= 35


def test_a_function_edited_in_the_database_only_is_drift(fresh_database: DbUnderTest) -> None:
    engine = _owner_engine(fresh_database.owner_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE OR REPLACE FUNCTION app_no_end() RETURNS timestamptz LANGUAGE sql IMMUTABLE "
                "PARALLEL SAFE AS $$ SELECT TIMESTAMPTZ '9999-12-31 00:00:00+00' $$"
            )
        )
        conn.execute(text("CREATE FUNCTION app_stray() RETURNS int LANGUAGE sql AS 'SELECT 1'"))
        conn.execute(text("COMMENT ON TRIGGER users_counters_insert ON users IS 'edited by hand'"))
        conn.execute(text("DROP TRIGGER visitor_sessions_counters_delete ON visitor_sessions"))
    with engine.connect() as conn:
        drift = sqlobjects.compare(conn)
        # The comparison leaves the database as it found it.
        assert sqlobjects.compare(conn).describe() == drift.describe()
    engine.dispose()
    assert [str(k) for k in drift.changed] == ["function app_no_end", "trigger users.users_counters_insert"]
    assert [str(k) for k in drift.missing] == ["trigger visitor_sessions.visitor_sessions_counters_delete"]
    assert [str(k) for k in drift.undeclared] == ["function app_stray"]
    # What a generated revision would run brings the database back to the declarations, and
    # its downgrade to the edited state.
    with engine.begin() as conn:
        raw = conn.connection.cursor()
        for statement in sqlobjects.upgrade_statements(drift):
            raw.execute(statement)
    with engine.connect() as conn:
        assert sqlobjects.compare(conn).describe() == []
    with engine.begin() as conn:
        raw = conn.connection.cursor()
        for statement in sqlobjects.downgrade_statements(drift):
            raw.execute(statement)
    with engine.connect() as conn:
        assert sqlobjects.compare(conn).describe() == drift.describe()
    engine.dispose()


def test_declarations_are_rerunnable_and_commented() -> None:
    """Each file can run again on a database that has it (CREATE OR REPLACE) and comments every
    object it declares; a plain CREATE FUNCTION or a missing comment is refused."""
    files = sqlobjects.declared()
    assert {f.path.parent.parent.name for f in files} >= {"kit", "accounts", "devices", "insights"}
    with pytest.raises(ValueError, match="not re-runnable"):
        sqlobjects._keys_of("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;", Path("x"))
    with pytest.raises(ValueError, match="has no COMMENT"):
        sqlobjects._keys_of(
            "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;", Path("x")
        )
