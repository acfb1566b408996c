"""SQL functions, triggers and views, declared once beside the domain that owns them.

Each domain keeps its database code in ``<domain>/sql/*.sql``: plain SQL files, every statement
re-runnable (``CREATE OR REPLACE FUNCTION``, ``CREATE OR REPLACE TRIGGER``, ``CREATE OR REPLACE
VIEW``; a materialized view is dropped and created again), with the objects' ``COMMENT``s. Those
files are the current definitions: to change a function, edit its file, then generate a revision
(``saaskit migrate revision "what changed"``). Alembic's autogenerate calls ``compare`` below,
which finds what differs between the files and the database and writes the statements into the
new revision, with the previous definitions (read from the database's catalog) as its downgrade.
Old revisions keep the text they had: they are history.

How a difference is found: inside a savepoint on the database, every file is executed, the
catalog's definitions are read (``pg_get_functiondef``, ``pg_get_triggerdef``,
``pg_get_viewdef``, index definitions and comments), and the savepoint is rolled back. What the
catalog said before and after is compared, so formatting never matters, only meaning. The same
comparison is the drift test (``tests/kit/test_migrations.py``): a function edited in a
database by hand, or declared and never migrated, fails it.

Files run in ``DOMAIN_ORDER``, then by file name: a SQL-language function is checked when it is
created, so it must come after what it calls.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from alembic.autogenerate import comparators, renderers
from alembic.autogenerate.api import AutogenContext
from alembic.operations import MigrateOperation
from alembic.operations.ops import UpgradeOps
from sqlalchemy import text
from sqlalchemy.engine import Connection

PACKAGE = Path(__file__).resolve().parents[1]
DOMAIN_ORDER: tuple[str, ...] = (
    "kit",
    "accounts",
    "access",
    "tenancy",
    "audit",
    "system",
    "tracking",
    "billing",
    "devices",
    "insights",
    "flags",
    "experiments",
    "privacy",
    "trust",
    "bookings",
)
# Objects in the public schema that are not ours: the job queue's (procrastinate's own schema file).
FOREIGN_PREFIX = "procrastinate"

_HEADS = re.compile(
    r"CREATE\s+OR\s+REPLACE\s+FUNCTION\s+(?:public\.)?(?P<function>\w+)\s*\("
    r"|CREATE\s+OR\s+REPLACE\s+TRIGGER\s+(?P<trigger>\w+)\s.*?\sON\s+(?:public\.)?(?P<table>\w+)"
    r"|CREATE\s+OR\s+REPLACE\s+VIEW\s+(?:public\.)?(?P<view>\w+)"
    r"|CREATE\s+MATERIALIZED\s+VIEW\s+(?:public\.)?(?P<matview>\w+)",
    re.IGNORECASE | re.DOTALL,
)
_PLAIN_CREATE = re.compile(r"CREATE\s+(FUNCTION|TRIGGER|VIEW)\b", re.IGNORECASE)
_DOLLAR_BODY = re.compile(r"\$(\w*)\$.*?\$\1\$", re.DOTALL)
_LINE_COMMENT = re.compile(r"--[^\n]*")


@dataclass(frozen=True, order=True)
class Key:
    """What an object is: ``function app_heartbeat``, ``trigger users.users_counters_insert``."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class SqlFile:
    path: Path
    sql: str
    keys: tuple[Key, ...]

    @property
    def label(self) -> str:
        return str(self.path.relative_to(PACKAGE))

    @property
    def materialized_views(self) -> list[str]:
        return [k.name for k in self.keys if k.kind == "materialized view"]


def _keys_of(sql: str, path: Path) -> tuple[Key, ...]:
    # Bodies and comments may mention CREATE ...: look at the statements' heads only.
    heads = _LINE_COMMENT.sub("", _DOLLAR_BODY.sub("$$", sql))
    if plain := _PLAIN_CREATE.search(heads):
        raise ValueError(f"{path}: {plain.group(0)!r} is not re-runnable; write CREATE OR REPLACE")
    keys: list[Key] = []
    for match in _HEADS.finditer(heads):
        if match["function"]:
            keys.append(Key("function", match["function"].lower()))
        elif match["trigger"]:
            keys.append(Key("trigger", f"{match['table'].lower()}.{match['trigger'].lower()}"))
        elif match["view"]:
            keys.append(Key("view", match["view"].lower()))
        else:
            keys.append(Key("materialized view", match["matview"].lower()))
    if not keys:
        raise ValueError(f"{path}: declares no function, trigger or view")
    # Every object says what it does, as every table and column does; the comment is part of
    # the declaration (CREATE OR REPLACE keeps an old comment, so a file without one could
    # never correct it).
    for key in keys:
        name = key.name.split(".")[-1]
        on = rf"\s+ON\s+(?:public\.)?{key.name.split('.')[0]}" if key.kind == "trigger" else ""
        if not re.search(rf"COMMENT\s+ON\s+{key.kind}\s+(?:public\.)?{name}\b{on}", heads, re.IGNORECASE):
            raise ValueError(f"{path}: {key} has no COMMENT ON {key.kind.upper()} statement")
    return tuple(keys)


@cache
def declared() -> tuple[SqlFile, ...]:
    """Every ``<domain>/sql/*.sql`` file, in the order they must run."""
    # migrations/sql holds the job queue's vendored schema, applied by its own revision.
    domains = {p.parent.parent.name for p in PACKAGE.glob("*/sql/*.sql")} - {"migrations"}
    unknown = domains - set(DOMAIN_ORDER)
    if unknown:
        raise ValueError(f"add {sorted(unknown)} to kit/sqlobjects.DOMAIN_ORDER")
    files: list[SqlFile] = []
    seen: dict[Key, Path] = {}
    for domain in DOMAIN_ORDER:
        for path in sorted((PACKAGE / domain / "sql").glob("*.sql")):
            sql = path.read_text()
            keys = _keys_of(sql, path)
            for key in keys:
                if key in seen:
                    raise ValueError(f"{key} is declared in both {seen[key]} and {path}")
                seen[key] = path
            files.append(SqlFile(path, sql, keys))
    return tuple(files)


def declared_keys() -> set[Key]:
    return {key for f in declared() for key in f.keys}


# -- the catalog ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogObject:
    """One object as a database holds it: what to compare, and how to create or drop it again."""

    definition: str
    create_sql: str
    drop_sql: str


def _literal(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


_FUNCTIONS = text(
    f"""
SELECT p.proname AS name, p.oid::regprocedure::text AS signature, pg_get_functiondef(p.oid) AS body,
       obj_description(p.oid, 'pg_proc') AS comment
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public' AND p.prokind = 'f' AND p.proname NOT LIKE '{FOREIGN_PREFIX}%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
"""
)
# Triggers of partitions are clones of their parent's (tgparentid): the parent's one is declared.
_TRIGGERS = text(
    f"""
SELECT t.tgname AS name, c.relname AS table_name, pg_get_triggerdef(t.oid) AS body,
       obj_description(t.oid, 'pg_trigger') AS comment
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND NOT t.tgisinternal AND t.tgparentid = 0
  AND c.relname NOT LIKE '{FOREIGN_PREFIX}%'
"""
)
_VIEWS = text(
    f"""
SELECT c.relname AS name, c.relkind::text AS kind, pg_get_viewdef(c.oid) AS body,
       obj_description(c.oid, 'pg_class') AS comment,
       ARRAY(SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = c.oid
             ORDER BY 1) AS indexes,
       ARRAY(SELECT format('COMMENT ON COLUMN %I.%I IS %L', c.relname, a.attname,
                           col_description(c.oid, a.attnum))
             FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
               AND col_description(c.oid, a.attnum) IS NOT NULL ORDER BY a.attnum) AS column_comments
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm') AND c.relname NOT LIKE '{FOREIGN_PREFIX}%'
"""
)


def catalog(conn: Connection) -> dict[Key, CatalogObject]:
    """Every function, trigger and view of ours that the database holds."""
    objects: dict[Key, CatalogObject] = {}
    for row in conn.execute(_FUNCTIONS):
        if Key("function", row.name) in objects:
            # Functions are known by name alone: a changed argument list means a new name, so
            # the revision drops the old function instead of leaving an overload behind.
            raise ValueError(f"function {row.name} is overloaded; give each signature its own name")
        comment = f"COMMENT ON FUNCTION {row.signature} IS {_literal(row.comment)};"
        objects[Key("function", row.name)] = CatalogObject(
            definition=f"{row.body}\n{comment}",
            create_sql=f"{row.body.rstrip()};\n{comment}",
            drop_sql=f"DROP FUNCTION {row.signature};",
        )
    for row in conn.execute(_TRIGGERS):
        body = re.sub(r"^CREATE (CONSTRAINT )?TRIGGER", r"CREATE OR REPLACE \1TRIGGER", row.body)
        comment = f'COMMENT ON TRIGGER "{row.name}" ON "{row.table_name}" IS {_literal(row.comment)};'
        objects[Key("trigger", f"{row.table_name}.{row.name}")] = CatalogObject(
            definition=f"{row.body}\n{comment}",
            create_sql=f"{body};\n{comment}",
            drop_sql=f'DROP TRIGGER "{row.name}" ON "{row.table_name}";',
        )
    for row in conn.execute(_VIEWS):
        materialized = row.kind == "m"
        kind = "materialized view" if materialized else "view"
        extras = [f"{index};" for index in row.indexes] + [f"{c};" for c in row.column_comments]
        comment = f'COMMENT ON {kind.upper()} "{row.name}" IS {_literal(row.comment)};'
        head = (
            f'CREATE MATERIALIZED VIEW "{row.name}" AS\n{row.body.rstrip().rstrip(";")}\nWITH DATA;'
            if materialized
            else f'CREATE OR REPLACE VIEW "{row.name}" AS\n{row.body.rstrip().rstrip(";")};'
        )
        objects[Key(kind, row.name)] = CatalogObject(
            definition="\n".join([row.body, comment, *extras]),
            create_sql="\n".join([head, *extras, comment]),
            drop_sql=f'DROP {kind.upper()} "{row.name}";',
        )
    return objects


def apply(conn: Connection, files: Iterable[SqlFile] | None = None) -> None:
    """Run the declared files (all of them by default) on ``conn``, in order."""
    # Through the driver's cursor without parameters: bodies hold % and : that a parameter
    # parser would take for placeholders (format('%I'), casts).
    cursor = conn.connection.cursor()
    try:
        for sql_file in declared() if files is None else files:
            for name in sql_file.materialized_views:
                cursor.execute(f'DROP MATERIALIZED VIEW IF EXISTS "{name}"')
            cursor.execute(sql_file.sql)
    finally:
        cursor.close()


# -- comparison ---------------------------------------------------------------------------------


@dataclass
class Drift:
    """How the database differs from the declarations."""

    changed: list[Key] = field(default_factory=list)  # declared differently from what the database holds
    missing: list[Key] = field(default_factory=list)  # declared, absent from the database
    undeclared: list[Key] = field(default_factory=list)  # in the database, declared nowhere
    before: dict[Key, CatalogObject] = field(default_factory=dict)
    after: dict[Key, CatalogObject] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.changed or self.missing or self.undeclared)

    def describe(self) -> list[str]:
        return (
            [f"changed: {k}" for k in self.changed]
            + [f"missing from the database: {k}" for k in self.missing]
            + [f"not declared in any <domain>/sql file: {k}" for k in self.undeclared]
        )


def compare(conn: Connection) -> Drift:
    """Declarations against the database ``conn`` reaches (nothing is left changed)."""
    before = catalog(conn)
    savepoint = conn.begin_nested()
    try:
        # Bodies are not checked here: a function may use a table or column that the revision
        # being written adds before it runs these statements (where bodies are checked).
        conn.exec_driver_sql("SET LOCAL check_function_bodies = off")
        apply(conn)
        after = catalog(conn)
    finally:
        savepoint.rollback()
    keys = declared_keys()
    return Drift(
        changed=sorted(k for k in keys if k in before and before[k].definition != after[k].definition),
        missing=sorted(k for k in keys if k not in before),
        undeclared=sorted(k for k in before if k not in keys),
        before=before,
        after=after,
    )


def upgrade_statements(drift: Drift) -> list[str]:
    """Bring a database to the declarations: the files holding a changed or missing object,
    then drops of what is declared nowhere."""
    touched = set(drift.changed) | set(drift.missing)
    statements = [
        "\n".join(
            [f"-- {f.label}"]
            + [f'DROP MATERIALIZED VIEW IF EXISTS "{name}";' for name in f.materialized_views]
            + [f.sql.strip()]
        )
        for f in declared()
        if touched & set(f.keys)
    ]
    statements += [drift.before[k].drop_sql for k in reversed(drift.undeclared)]
    return statements


def downgrade_statements(drift: Drift) -> list[str]:
    """Undo ``upgrade_statements``: the previous definitions, as the catalog held them."""
    statements = [drift.before[k].create_sql for k in drift.undeclared]
    order = {key: i for i, key in enumerate(k for f in declared() for k in f.keys)}
    for key in sorted(drift.changed + drift.missing, key=order.__getitem__, reverse=True):
        if key in drift.missing:
            statements.append(drift.after[key].drop_sql)
        elif key.kind == "materialized view":
            statements.append(f"{drift.before[key].drop_sql}\n{drift.before[key].create_sql}")
        else:
            statements.append(drift.before[key].create_sql)
    return statements


# -- Alembic: autogenerate writes the statements into new revisions -------------------------------


class SqlObjectsOp(MigrateOperation):
    """Statements that bring the database's functions, triggers and views to the declarations."""

    def __init__(self, statements: Sequence[str], reverse_statements: Sequence[str], keys: Sequence[str]):
        self.statements = list(statements)
        self.reverse_statements = list(reverse_statements)
        self.keys = list(keys)

    def reverse(self) -> SqlObjectsOp:
        return SqlObjectsOp(self.reverse_statements, self.statements, self.keys)

    def to_diff_tuple(self) -> tuple[str, list[str]]:
        return ("sql_objects", self.keys)


@comparators.dispatch_for("schema")
def _compare_sql_objects(autogen_context: AutogenContext, upgrade_ops: UpgradeOps, schemas: object) -> None:
    conn = autogen_context.connection
    if conn is None:
        return
    drift = compare(conn)
    if drift:
        upgrade_ops.ops.append(
            SqlObjectsOp(upgrade_statements(drift), downgrade_statements(drift), drift.describe())
        )


def _python_literal(sql: str) -> str:
    # Alembic indents the rendered code, string contents included: dedent gives the SQL back
    # exactly (function bodies are compared to the declarations, whitespace and all).
    if '"""' not in sql and not sql.endswith("\\"):
        return 'textwrap.dedent(r"""\n' + sql + '\n""")'
    return repr(sql)


@renderers.dispatch_for(SqlObjectsOp)
def _render_sql_objects(autogen_context: AutogenContext, op: SqlObjectsOp) -> str:
    autogen_context.imports.add("import textwrap")
    lines = [f"# {key}" for key in op.keys]
    lines += [f"op.execute({_python_literal(statement)})" for statement in op.statements]
    return "\n".join(lines)


def order_directives(context: object, revision: object, directives: list[Any]) -> None:
    """Alembic's ``process_revision_directives``: functions and views run after the revision's
    table changes on the way up (a function may use a new table or column) and before them on
    the way down (the previous definitions come back while what they read still exists)."""
    for script in directives:
        ups: list[MigrateOperation] = script.upgrade_ops.ops
        downs: list[MigrateOperation] = script.downgrade_ops.ops
        ups.sort(key=lambda op: isinstance(op, SqlObjectsOp))
        downs.sort(key=lambda op: not isinstance(op, SqlObjectsOp))
