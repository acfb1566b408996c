"""kit.columns: column names and PostgreSQL types taken from the models, and the hand-written SQL
of tracking, the demo and funnels that uses them (no database needed)."""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    Enum,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import saaskit.models  # noqa: F401  (every model, so Base.metadata is the whole schema)
from saaskit.accounts.models import User
from saaskit.demo import accounts, ledger, plan, presence, tenancy, usage, visitors, webhooks
from saaskit.insights.funnels import storage
from saaskit.kit.columns import (
    UnknownColumnError,
    column_list,
    column_names,
    copy_columns,
    insert_from_json,
    pg_type,
    record_columns,
    row_values,
)
from saaskit.kit.models import Base
from saaskit.tracking import ingest, records
from saaskit.tracking.models import ActivityEvent

TABLES = Base.metadata.tables


# -- the helper ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "build",
    [
        lambda: copy_columns(User, ("id", "emial")),
        lambda: record_columns(User, ("id", "emial")),
        lambda: column_names(User, ("emial",)),
        lambda: column_list(User, ("id", "emial")),
        lambda: insert_from_json(User, ("id", "emial")),
        lambda: row_values(User, ("id", "emial"), {}),
    ],
)
def test_a_name_that_is_not_a_column_raises(build: Any) -> None:
    with pytest.raises(UnknownColumnError, match="users has no column emial"):
        build()


def test_a_default_for_a_column_not_inserted_raises() -> None:
    with pytest.raises(UnknownColumnError, match="created_at"):
        insert_from_json(ActivityEvent, ("user_id", "event_type"), {"created_at": "now()"})


def test_a_column_named_twice_raises() -> None:
    with pytest.raises(ValueError, match="named twice"):
        copy_columns(User, ("id", "email", "id"))


def test_names_and_types_come_out_in_the_order_asked() -> None:
    assert copy_columns(User, ("created_at", "id", "email_verified")) == (
        ("created_at", "timestamptz"),
        ("id", "uuid"),
        ("email_verified", "bool"),
    )
    assert record_columns(User, ("id", "max_dashboards")) == "id uuid, max_dashboards int4"
    assert column_names(User, ("tier", "id")) == ("tier", "id")


def test_insert_from_json_is_the_statement_tracking_wrote_by_hand() -> None:
    assert insert_from_json(
        ActivityEvent, ("created_at", "user_id", "event_type"), {"created_at": "now()"}
    ) == (
        "INSERT INTO activity_events (created_at, user_id, event_type) "
        "SELECT coalesce(r.created_at, now()), r.user_id, r.event_type "
        "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(created_at timestamptz, user_id uuid, event_type text)"
    )


class _Scratch(DeclarativeBase):  # its own registry: nothing leaks into saaskit's metadata
    pass


class _Reserved(_Scratch):
    __tablename__ = "reserved_names"
    user: Mapped[str] = mapped_column(Text, primary_key=True)
    timestamp: Mapped[str] = mapped_column(Text)


def test_reserved_words_are_quoted_and_plain_names_are_not() -> None:
    assert record_columns(_Reserved, ("user", "timestamp")) == '"user" text, timestamp text'
    assert column_list(_Reserved, ("timestamp", "user")) == 'timestamp, "user"'
    assert row_values(_Reserved, ("user",), {}) == 'r."user"'


TYPES = [
    (Text(), "text"),
    (String(64), "varchar"),
    (DateTime(timezone=True), "timestamptz"),
    (DateTime(), "timestamp"),
    (UUID(as_uuid=True), "uuid"),
    (SmallInteger(), "int2"),
    (Integer(), "int4"),
    (BigInteger(), "int8"),
    (Double(), "float8"),
    (Boolean(), "bool"),
    (JSONB(), "jsonb"),
    (Date(), "date"),
    (Numeric(18, 4), "numeric"),
    (ARRAY(Text()), "text[]"),
    (ARRAY(UUID(as_uuid=True)), "uuid[]"),
]


@pytest.mark.parametrize(("sa_type", "expected"), TYPES, ids=[name for _, name in TYPES])
def test_pg_type_is_the_name_binary_copy_knows(sa_type: Any, expected: str) -> None:
    column = Column("c", sa_type)
    Table("t_types", MetaData(), column)
    assert pg_type(column) == expected
    assert psycopg.adapters.types[expected] is not None  # what copy.set_types() looks names up in


def test_a_type_without_a_known_name_raises() -> None:
    column = Column("mood", Enum("happy", "sad", name="mood"))
    Table("t_enum", MetaData(), column)
    with pytest.raises(TypeError, match=r"t_enum\.mood"):
        pg_type(column)


def test_every_column_of_the_schema_has_a_type_name() -> None:
    for table in TABLES.values():
        for column in table.columns:
            assert psycopg.adapters.types[pg_type(column)] is not None, f"{table.name}.{column.name}"


# -- the lists declared with it -----------------------------------------------------------------
# Every table the demo writes by binary COPY, with its declared (name, type) list.
DEMO_COPIES = {
    "users": accounts.USER_COLUMNS,
    "user_profiles": accounts.PROFILE_COLUMNS,
    "user_preferences": accounts.PREFERENCE_COLUMNS,
    "dashboards": presence.DASHBOARD_COLUMNS,
    "user_heartbeats": presence.HEARTBEAT_COLUMNS,
    "user_sessions": presence.SESSION_COLUMNS,
    "subscriptions": ledger.SUBSCRIPTION_COLUMNS,
    "payment_methods": ledger.PAYMENT_METHOD_COLUMNS,
    "invoices": ledger.INVOICE_COLUMNS,
    "invoice_line_items": ledger.LINE_COLUMNS,
    "payment_transactions": ledger.TRANSACTION_COLUMNS,
    "organizations": tenancy.ORG_COLUMNS,
    "organization_members": tenancy.MEMBER_COLUMNS,
    "teams": tenancy.TEAM_COLUMNS,
    "team_members": tenancy.TEAM_MEMBER_COLUMNS,
    "workspaces": tenancy.WORKSPACE_COLUMNS,
    "workspace_members": tenancy.WORKSPACE_MEMBER_COLUMNS,
    "invitations": tenancy.INVITATION_COLUMNS,
    "stripe_webhook_events": webhooks.COLUMNS,
    "visitor_sessions": visitors.COLUMNS,
}


@pytest.mark.parametrize("table", sorted(DEMO_COPIES))
def test_demo_copy_columns_match_the_model(table: str) -> None:
    declared = DEMO_COPIES[table]
    assert declared, table
    for name, kind in declared:
        assert kind == pg_type(TABLES[table].c[name]), f"{table}.{name}"


def test_demo_partition_columns_are_columns_of_their_tables() -> None:
    assert plan.COLUMNS["widget_analytics"] is usage.WIDGET_COLUMNS
    for table, names in plan.COLUMNS.items():
        assert set(names) <= set(TABLES[table].c.keys()), table
    assert set(ledger.PLAN_COLUMNS.split(", ")) <= set(TABLES["subscription_plans"].c.keys())


TRACKING_STATEMENTS = {
    name: value.text
    for module in (ingest, records)
    for name, value in vars(module).items()
    if name.startswith("INSERT_")
}


@pytest.mark.parametrize("name", sorted(TRACKING_STATEMENTS))
def test_tracking_statements_match_the_models(name: str) -> None:
    """The INSERT column lists and the ``AS r(...)`` record types name columns of the table,
    with the model's types."""
    sql = TRACKING_STATEMENTS[name]
    inserts = re.findall(r"INSERT INTO (\w+) \(([^)]*)\)", sql)
    assert inserts, name
    for table, names in inserts:
        assert set(names.split(", ")) <= set(TABLES[table].c.keys()), f"{name}: {table}"
    table = inserts[-1][0]  # the fact table (events' statement claims receipts first)
    (record,) = re.findall(r"AS r\(([^)]*)\)", sql)
    for field in record.split(", "):
        column, kind = field.split(" ")
        assert kind == pg_type(TABLES[table].c[column]), f"{name}: {table}.{column}"


def test_funnel_progress_arrays_have_the_column_types() -> None:
    sql = storage.INSERT.text
    casts = re.findall(r"CAST\(:(\w+) AS (\w+)\[\]\)", sql)
    assert [param for param, _ in casts] == [param for param, _ in storage.ARRAYS]
    for (_, kind), (_, column) in zip(casts, storage.ARRAYS, strict=True):
        assert kind == pg_type(TABLES["conversion_funnel_events"].c[column])
