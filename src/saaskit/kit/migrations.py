"""Running Alembic from code (``saaskit migrate``, ``serve`` and the tests) and the app role.

``migrate`` upgrades the schema as the owner and then (re)creates the application role and its
grants, so a fresh database is usable by ``serve`` right after one command.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from saaskit.kit import sqlobjects  # noqa: F401  (registers its comparison with Alembic autogenerate)
from saaskit.kit.db import create_owner_engine

logger = logging.getLogger(__name__)

# Tables the application role may read and append to but never change: the audit trail.
APPEND_ONLY_TABLES: set[str] = {"activities"}
# Tables the application role may only read.
READ_ONLY_TABLES: set[str] = {"alembic_version", "dim_dates"}
# Tables the application role may not touch at all (the service context's keys: kit/db.py).
PRIVATE_TABLES: set[str] = {"context_keys"}


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """procrastinate's objects come from its own schema file and time partitions from the
    partition job, not from our models: the schema comparison skips both."""
    if name is None:
        return True
    if name.startswith("procrastinate"):
        return False
    from saaskit.tracking.partitions import is_partition_name

    table = getattr(getattr(obj, "table", None), "name", None)
    return not (is_partition_name(name) or (type_ == "index" and table and is_partition_name(table)))


def alembic_config(owner_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "saaskit:migrations")
    config.set_main_option("sqlalchemy.url", owner_url)
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    return config


def head_revision() -> str | None:
    script = ScriptDirectory.from_config(alembic_config("postgresql://unused"))
    return script.get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(owner_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(owner_url), revision)


def downgrade(owner_url: str, revision: str) -> None:
    command.downgrade(alembic_config(owner_url), revision)


def next_revision_id() -> str:
    """Revisions are numbered 0001, 0002, ...: the next number after the head's."""
    head = head_revision()
    return f"{int(head or 0) + 1:04d}"


def revision(owner_url: str, message: str) -> str:
    """Write a new revision comparing the models and the declared SQL objects (kit/sqlobjects.py)
    with the database at ``owner_url``, which must be at head. Returns the new file's path."""
    script = command.revision(
        alembic_config(owner_url), message=message, autogenerate=True, rev_id=next_revision_id()
    )
    scripts = script if isinstance(script, list) else [script]
    return ", ".join(str(s.path) for s in scripts if s is not None)


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ensure_app_role(
    owner_url: str, role: str, password: str | None, *, service_key: str | None = None
) -> None:
    """Create the application role if missing and grant it what the service needs.

    The role logs in, is no superuser, cannot bypass RLS, owns nothing and is a member of no
    role (so ``SET ROLE`` leads nowhere): every policy applies to it. With ``service_key``, store
    its SHA-256 so that the server can enter the service context (kit/db.py). Safe to run
    repeatedly.
    """
    engine = create_owner_engine(owner_url)
    quoted = _quote_ident(role)
    with engine.begin() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
        if not exists:
            conn.execute(
                text(f"CREATE ROLE {quoted} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT")
            )
        if password:
            # Literal, not a bind parameter: utility statements take no parameters.
            literal = "'" + password.replace("'", "''") + "'"
            conn.execute(text(f"ALTER ROLE {quoted} WITH LOGIN PASSWORD {literal}"))
        database = conn.execute(text("SELECT current_database()")).scalar_one()
        conn.execute(text(f"GRANT CONNECT, TEMPORARY ON DATABASE {_quote_ident(database)} TO {quoted}"))
        for schema in _schemas(conn):
            _grant_schema(conn, schema, quoted)
        if service_key is not None:
            _store_service_key(conn, service_key)
    engine.dispose()


STATS_SCHEMA = "monitoring"


def enable_statement_stats(owner_url: str, role: str) -> bool:
    """``pg_stat_statements`` in its own schema (``monitoring``: its functions and view stay out
    of ``public``, whose objects the drift test owns), readable by the application role. Needs a
    superuser and the library preloaded (the embedded server does both); False where the
    server cannot (the Database page then says how to turn it on)."""
    engine = create_owner_engine(owner_url)
    try:
        with engine.begin() as conn:
            can = conn.execute(
                text(
                    "SELECT rolsuper FROM pg_roles WHERE rolname = current_user "
                    "AND EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_stat_statements')"
                )
            ).scalar()
            if not can:
                return False
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {STATS_SCHEMA}"))
            conn.execute(text(f"CREATE EXTENSION IF NOT EXISTS pg_stat_statements SCHEMA {STATS_SCHEMA}"))
            quoted = _quote_ident(role)
            conn.execute(text(f"GRANT USAGE ON SCHEMA {STATS_SCHEMA} TO {quoted}"))
            conn.execute(text(f"GRANT SELECT ON {STATS_SCHEMA}.pg_stat_statements TO {quoted}"))
        return True
    finally:
        engine.dispose()


def _store_service_key(conn: Connection, key: str) -> None:
    if conn.execute(text("SELECT to_regclass('public.context_keys')")).scalar() is None:
        return  # a database below the revision that creates it (migrate revision runs here)
    conn.execute(
        text(
            "UPDATE context_keys SET service_key_hash = encode(sha256(convert_to(:key, 'UTF8')), 'hex') "
            "WHERE id = 1"
        ),
        {"key": key},
    )


def _schemas(conn: Connection) -> Iterable[str]:
    rows = conn.execute(text("SELECT nspname FROM pg_namespace WHERE nspname IN ('public', 'procrastinate')"))
    return [row[0] for row in rows]


def _grant_schema(conn: Connection, schema: str, role: str) -> None:
    s = _quote_ident(schema)
    conn.execute(text(f"GRANT USAGE ON SCHEMA {s} TO {role}"))
    # Tables and views, but never partitions: a partition queried directly would bypass its
    # parent's row-level security. Partitioned tables are reached through their parent only.
    relations = conn.execute(
        text(
            "SELECT c.relname, c.relispartition FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p', 'v', 'm')"
        ),
        {"schema": schema},
    ).all()
    for name, is_partition in relations:
        relation = f"{s}.{_quote_ident(name)}"
        if is_partition:
            conn.execute(text(f"REVOKE ALL ON {relation} FROM {role}"))
        else:
            conn.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {relation} TO {role}"))
    conn.execute(text(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {s} TO {role}"))
    conn.execute(text(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {s} TO {role}"))
    if schema != "public":
        return
    for table in sorted(READ_ONLY_TABLES | APPEND_ONLY_TABLES | PRIVATE_TABLES):
        if conn.execute(text("SELECT to_regclass(:t)"), {"t": f"public.{table}"}).scalar() is None:
            continue
        if table in PRIVATE_TABLES:
            conn.execute(text(f"REVOKE ALL ON {_quote_ident(table)} FROM {role}"))
            continue
        revoked = "INSERT, UPDATE, DELETE" if table in READ_ONLY_TABLES else "UPDATE, DELETE"
        conn.execute(text(f"REVOKE {revoked} ON {_quote_ident(table)} FROM {role}"))
