"""Row-level security, checked with raw SQL on an application-role connection.

The application role is what ``serve`` uses; if these pass, a query that forgets its
``WHERE user_id = ...`` still cannot return another user's sessions or preferences.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.factories import insert_dashboard, insert_user, set_rls

USER_OWNED = [
    "user_sessions",
    "user_preferences",
    "user_profiles",
    "dashboards",
    "user_heartbeats",
    # billing (issue 6): rows owned by a user (or, in other rows, an organization)
    "subscriptions",
    "invoices",
    "invoice_line_items",
    "payment_methods",
    "payment_transactions",
    "usage_records",
    "feature_usage",
    "coupon_redemptions",
]

BILLING_ROWS = """
WITH sub AS (
  INSERT INTO subscriptions (user_id, plan_name, tier, status) VALUES (:u, 'Pro', 'pro', 'active') RETURNING id
), inv AS (
  INSERT INTO invoices (user_id, subscription_id, stripe_invoice_id, status)
  SELECT :u, id, 'in_' || md5(random()::text), 'paid' FROM sub RETURNING id
), line AS (
  INSERT INTO invoice_line_items (invoice_id, user_id, stripe_line_item_id, amount_cents)
  SELECT id, :u, 'il_' || md5(random()::text), 1000 FROM inv RETURNING id
), pm AS (
  INSERT INTO payment_methods (user_id, provider_payment_method_id) VALUES (:u, 'pm_' || md5(random()::text))
  RETURNING id
), tx AS (
  INSERT INTO payment_transactions (user_id, kind, status, amount_cents) VALUES (:u, 'topup', 'succeeded', 500)
  RETURNING id
), usage AS (
  INSERT INTO usage_records (user_id, metric_name, quantity, idempotency_key, billing_period_start,
                             billing_period_end)
  VALUES (:u, 'api_calls', 1, md5(random()::text), now(), now() + interval '1 month') RETURNING id
), coupon AS (
  INSERT INTO coupons (code, discount_type, discount_value) VALUES (upper(md5(random()::text)), 'percent', 10)
  RETURNING id, code
), redemption AS (
  INSERT INTO coupon_redemptions (coupon_id, user_id, coupon_code, discount_amount_cents)
  SELECT id, :u, code, 100 FROM coupon RETURNING id
)
INSERT INTO feature_usage (user_id, feature_name, period_start, reset_date, usage_count)
VALUES (:u, 'api_calls', current_date, current_date + 30, 1)
"""


async def _make_user_with_rows(conn: AsyncConnection, email: str) -> uuid.UUID:
    await set_rls(conn, service=True)
    user_id = await insert_user(conn, email)
    await conn.execute(text("INSERT INTO user_profiles (user_id) VALUES (:u)"), {"u": user_id})
    await conn.execute(
        text(
            "INSERT INTO user_preferences (user_id, category, key, value) "
            "VALUES (:u, 'display', 'theme', '\"dark\"')"
        ),
        {"u": user_id},
    )
    await conn.execute(
        text(
            "INSERT INTO user_sessions (user_id, session_token_hash, expires_at) "
            "VALUES (:u, md5(random()::text), now() + interval '1 day')"
        ),
        {"u": user_id},
    )
    await conn.execute(text(BILLING_ROWS), {"u": user_id})
    await insert_dashboard(conn, user_id, "Kitchen TV")
    await conn.execute(
        text("INSERT INTO user_heartbeats (user_id, last_seen_at) VALUES (:u, now())"), {"u": user_id}
    )
    return user_id


async def test_the_connection_is_the_restricted_application_role(connection: AsyncConnection) -> None:
    row = (
        await connection.execute(
            text("SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        )
    ).one()
    assert row.current_user == "saaskit_test_app"
    assert row.rolsuper is False and row.rolbypassrls is False
    owned = (
        await connection.execute(
            text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user")
        )
    ).scalar_one()
    assert owned == 0


@pytest.mark.parametrize("table", USER_OWNED)
async def test_a_user_sees_only_their_own_rows(connection: AsyncConnection, table: str) -> None:
    alice = await _make_user_with_rows(connection, "alice@example.com")
    bob = await _make_user_with_rows(connection, "bob@example.com")
    await set_rls(connection, user_id=alice)
    owners = (await connection.execute(text(f"SELECT DISTINCT user_id FROM {table}"))).scalars().all()
    assert owners == [alice]
    # A query that forgets its WHERE, or asks for bob by id, still gets nothing of bob's.
    assert (
        await connection.execute(text(f"SELECT count(*) FROM {table} WHERE user_id = :b"), {"b": bob})
    ).scalar_one() == 0
    updated = (
        await connection.execute(text(f"UPDATE {table} SET user_id = user_id WHERE user_id = :b"), {"b": bob})
    ).rowcount  # type: ignore[attr-defined]
    deleted = (await connection.execute(text(f"DELETE FROM {table} WHERE user_id = :b"), {"b": bob})).rowcount  # type: ignore[attr-defined]
    assert updated == 0 and deleted == 0
    await set_rls(connection, service=True)
    assert (
        await connection.execute(
            text(f"SELECT count(DISTINCT user_id) FROM {table} WHERE user_id IN (:a, :b)"),
            {"a": alice, "b": bob},
        )
    ).scalar_one() == 2


@pytest.mark.parametrize("table", USER_OWNED)
async def test_no_context_means_no_rows(connection: AsyncConnection, table: str) -> None:
    await _make_user_with_rows(connection, "carol@example.com")
    await set_rls(connection)
    assert (await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() == 0


async def test_writing_a_row_for_another_user_is_refused(connection: AsyncConnection) -> None:
    alice = await _make_user_with_rows(connection, "dave@example.com")
    bob = await _make_user_with_rows(connection, "erin@example.com")
    await set_rls(connection, user_id=alice)
    savepoint = await connection.begin_nested()
    with pytest.raises(ProgrammingError, match="row-level security"):
        await connection.execute(
            text("INSERT INTO user_preferences (user_id, category, key, value) VALUES (:b, 'x', 'y', '1')"),
            {"b": bob},
        )
    await savepoint.rollback()


async def test_every_table_with_a_user_id_has_a_policy(connection: AsyncConnection) -> None:
    """Fails when a new user-owned table is added without row-level security."""
    rows = (
        await connection.execute(
            text(
                """
        SELECT c.relname, c.relrowsecurity,
               EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid) AS has_policy
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'user_id' AND NOT a.attisdropped
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        """
            )
        )
    ).all()
    exempt = set(RLS_EXEMPT_USER_TABLES)
    missing = [r.relname for r in rows if r.relname not in exempt and not (r.relrowsecurity and r.has_policy)]
    assert missing == []


# Tables with a user_id that are deliberately not user-private, and why (docs/schema.md).
RLS_EXEMPT_USER_TABLES: dict[str, str] = {}
