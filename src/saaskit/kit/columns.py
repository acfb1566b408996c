"""Column names and PostgreSQL types read from the models, for SQL that lists columns by hand.

The ingestion statements (``jsonb_to_recordset(...) AS r(id uuid, ...)``) and the demo's binary
COPY need each column's name and type spelled out. Written by hand, a renamed column or a changed
type broke them only when the statement ran (or, for the demo, only in a full demo run). Taken
from the model here, a name that is not a column raises when the module using it is imported,
and a type lives in one place.

Call these at import time (module constants): they compile types, which has no place on a
request's path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Table
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.orm import DeclarativeBase

_DIALECT = PGDialect()  # type: ignore[no-untyped-call]  # SQLAlchemy leaves __init__ unannotated
_TYPMOD = re.compile(r"\(.*\)$")
# The dialect spells these types by their SQL-standard names; binary COPY (psycopg's
# ``set_types``) and the demo's encoders go by PostgreSQL's own type names, which also read the
# same in SQL.
_RENAMED = {
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "TIMESTAMP WITHOUT TIME ZONE": "timestamp",
    "SMALLINT": "int2",
    "INTEGER": "int4",
    "BIGINT": "int8",
    "REAL": "float4",
    "DOUBLE PRECISION": "float8",
    "FLOAT": "float8",  # FLOAT without a precision is double precision in PostgreSQL
    "BOOLEAN": "bool",
    "VARCHAR": "varchar",
}
# Compiled under the same name as PostgreSQL's (only the case differs).
_SAME = frozenset({"TEXT", "UUID", "JSONB", "JSON", "DATE", "NUMERIC", "BYTEA", "INET", "INTERVAL"})


class UnknownColumnError(LookupError):
    """A name given for a model's columns is not one of them (renamed, removed or misspelt)."""


def pg_type(column: Column[Any]) -> str:
    """PostgreSQL's name for the column's type: ``timestamptz``, ``int4``, ``text[]``...

    A type modifier is left out (``numeric(18, 4)`` -> ``numeric``): a record or COPY field of
    the plain type is converted to the column's type on insert, as a hand-written list did.
    A type not listed above raises, rather than produce a name COPY might not know."""
    compiled = column.type.compile(dialect=_DIALECT)
    base = compiled
    dimensions = ""
    while base.endswith("[]"):
        base, dimensions = base[:-2], dimensions + "[]"
    base = _TYPMOD.sub("", base)
    name = _RENAMED.get(base) or (base.lower() if base in _SAME else None)
    if name is None:
        raise TypeError(f"{column.table.name}.{column.name}: no PostgreSQL type name known for {compiled}")
    return name + dimensions


def _table(model: type[DeclarativeBase]) -> Table:
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table


def columns(model: type[DeclarativeBase], names: Sequence[str]) -> tuple[Column[Any], ...]:
    """The model's columns called ``names``, in that order; raises ``UnknownColumnError``."""
    table = _table(model)
    by_name = {column.name: column for column in table.columns}
    missing = [name for name in names if name not in by_name]
    if missing:
        raise UnknownColumnError(f"{table.name} has no column {', '.join(missing)}")
    if len(set(names)) != len(names):
        raise ValueError(f"{table.name}: a column is named twice in {', '.join(names)}")
    return tuple(by_name[name] for name in names)


def quoted(name: str) -> str:
    """A column name as SQL: quoted only when it must be (``"user"``); ``timestamp`` stays bare."""
    return str(_DIALECT.identifier_preparer.quote(name))


def column_names(model: type[DeclarativeBase], names: Sequence[str]) -> tuple[str, ...]:
    """``names``, checked to be columns of the model (for COPY and INSERT column lists)."""
    return tuple(column.name for column in columns(model, names))


def column_list(model: type[DeclarativeBase], names: Sequence[str]) -> str:
    """``"a, b, c"``: the checked names as SQL, for ``INSERT INTO t (...)``."""
    return ", ".join(quoted(column.name) for column in columns(model, names))


def record_columns(model: type[DeclarativeBase], names: Sequence[str]) -> str:
    """``"a uuid, b timestamptz"``: the column definitions of ``jsonb_to_recordset(...) AS r(...)``."""
    return ", ".join(f"{quoted(column.name)} {pg_type(column)}" for column in columns(model, names))


def copy_columns(model: type[DeclarativeBase], names: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``(name, PostgreSQL type)`` pairs, in order, for a binary COPY (psycopg's ``set_types``)."""
    return tuple((column.name, pg_type(column)) for column in columns(model, names))


# -- jsonb_to_recordset: many rows in one parameter (tracking's ingestion) -------------------
def json_rows(model: type[DeclarativeBase], names: Sequence[str]) -> str:
    """The ``:rows`` parameter (a JSON array of objects) as rows ``r`` with the model's columns
    ``names``: each object's keys are read by name, others ignored, missing ones NULL."""
    return f"jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({record_columns(model, names)})"


def row_values(model: type[DeclarativeBase], names: Sequence[str], defaults: Mapping[str, str]) -> str:
    """``r.a, coalesce(r.b, <default>), ...``: a row's values, a missing one replaced by its default."""
    unknown = set(defaults) - set(names)
    if unknown:  # a default for a column not inserted would silently never apply
        raise UnknownColumnError(f"defaults for columns not inserted: {', '.join(sorted(unknown))}")
    values = [f"r.{quoted(name)}" for name in column_names(model, names)]
    return ", ".join(
        f"coalesce({value}, {defaults[name]})" if name in defaults else value
        for name, value in zip(names, values, strict=True)
    )


def insert_from_json(
    model: type[DeclarativeBase], names: Sequence[str], defaults: Mapping[str, str] | None = None
) -> str:
    """``INSERT INTO <table> (names) SELECT ... FROM jsonb_to_recordset(...)``, built once at
    import: the column names and types come from the model, so a renamed column fails here."""
    return (
        f"INSERT INTO {quoted(_table(model).name)} ({column_list(model, names)}) "
        f"SELECT {row_values(model, names, defaults or {})} FROM {json_rows(model, names)}"
    )
