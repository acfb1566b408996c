"""Organization-owned billing rows are invisible to other organizations (raw SQL, app role)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.factories import insert_org, set_rls

OWNED = [
    "subscriptions",
    "invoices",
    "invoice_line_items",
    "payment_methods",
    "payment_transactions",
    "usage_records",
    "coupon_redemptions",
]

ORG_ROWS = """
WITH sub AS (
  INSERT INTO subscriptions (organization_id, plan_name, tier, status) VALUES (:o, 'Team', 'team', 'active')
  RETURNING id
), inv AS (
  INSERT INTO invoices (organization_id, subscription_id, stripe_invoice_id, status)
  SELECT :o, id, 'in_' || md5(random()::text), 'paid' FROM sub RETURNING id
), line AS (
  INSERT INTO invoice_line_items (invoice_id, organization_id, stripe_line_item_id, amount_cents)
  SELECT id, :o, 'il_' || md5(random()::text), 9900 FROM inv RETURNING id
), pm AS (
  INSERT INTO payment_methods (organization_id, provider_payment_method_id) VALUES (:o, 'pm_' || md5(random()::text))
  RETURNING id
), tx AS (
  INSERT INTO payment_transactions (organization_id, kind, status, amount_cents)
  VALUES (:o, 'subscription', 'succeeded', 9900) RETURNING id
), usage AS (
  INSERT INTO usage_records (organization_id, metric_name, quantity, idempotency_key, billing_period_start,
                             billing_period_end)
  VALUES (:o, 'seats', 3, md5(random()::text), now(), now() + interval '1 month') RETURNING id
), coupon AS (
  INSERT INTO coupons (code, discount_type, discount_value) VALUES (upper(md5(random()::text)), 'fixed', 100)
  RETURNING id, code
)
INSERT INTO coupon_redemptions (coupon_id, organization_id, coupon_code, discount_amount_cents)
SELECT id, :o, code, 100 FROM coupon
"""


async def _org(conn: AsyncConnection, slug: str) -> uuid.UUID:
    await set_rls(conn, service=True)
    org_id = await insert_org(conn, slug, slug)
    await conn.execute(text(ORG_ROWS), {"o": org_id})
    return org_id


@pytest.mark.parametrize("table", OWNED)
async def test_an_organization_sees_only_its_billing_rows(connection: AsyncConnection, table: str) -> None:
    alpha = await _org(connection, "alpha-billing")
    bravo = await _org(connection, "bravo-billing")
    await set_rls(connection, organization_id=alpha)
    owners = (await connection.execute(text(f"SELECT DISTINCT organization_id FROM {table}"))).scalars().all()
    assert owners == [alpha]
    changed = await connection.execute(
        text(f"UPDATE {table} SET organization_id = organization_id WHERE organization_id = :b"), {"b": bravo}
    )
    assert changed.rowcount == 0  # type: ignore[attr-defined]
    await set_rls(connection)
    assert (await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() == 0


async def test_the_webhook_log_is_the_services_alone(connection: AsyncConnection) -> None:
    alpha = await _org(connection, "gamma-billing")
    await set_rls(connection, service=True)
    await connection.execute(
        text(
            "INSERT INTO stripe_webhook_events (stripe_event_id, event_type, event_data, stripe_created_at, "
            "organization_id) VALUES ('evt_1', 'invoice.paid', '{}', now(), :o)"
        ),
        {"o": alpha},
    )
    await set_rls(connection, organization_id=alpha)
    assert (await connection.execute(text("SELECT count(*) FROM stripe_webhook_events"))).scalar_one() == 0
    savepoint = await connection.begin_nested()
    with pytest.raises(DBAPIError, match="row-level security"):
        await connection.execute(
            text(
                "INSERT INTO stripe_webhook_events (stripe_event_id, event_type, event_data, stripe_created_at) "
                "VALUES ('evt_2', 'invoice.paid', '{}', now())"
            )
        )
    await savepoint.rollback()


async def test_credit_ledgers_and_dunning_cases_are_their_owners_and_only_spends_are_self_written(
    connection: AsyncConnection,
) -> None:
    alpha = await _org(connection, "delta-billing")
    bravo = await _org(connection, "echo-billing")
    await set_rls(connection, service=True)
    for org in (alpha, bravo):
        await connection.execute(
            text(
                "INSERT INTO credit_ledger (organization_id, kind, amount_cents, balance_after_cents) "
                "VALUES (:o, 'grant', 100, 100)"
            ),
            {"o": org},
        )
        await connection.execute(
            text(
                "INSERT INTO dunning_cases (organization_id, stripe_invoice_id, status, first_failed_at, "
                "grace_ends_at) VALUES (:o, 'in_' || md5(random()::text), 'open', now(), now())"
            ),
            {"o": org},
        )
    await set_rls(connection, organization_id=alpha)
    for table in ("credit_ledger", "dunning_cases"):
        owners = (
            (await connection.execute(text(f"SELECT DISTINCT organization_id FROM {table}"))).scalars().all()
        )
        assert owners == [alpha]
    # Its own spend: allowed. A grant to itself, or a spend in another's name: refused.
    await connection.execute(
        text(
            "INSERT INTO credit_ledger (organization_id, kind, amount_cents, balance_after_cents) "
            "VALUES (:o, 'spend', -40, 60)"
        ),
        {"o": alpha},
    )
    for org, kind, amount in ((alpha, "grant", 500), (bravo, "spend", -10)):
        savepoint = await connection.begin_nested()
        with pytest.raises(DBAPIError, match="row-level security"):
            await connection.execute(
                text(
                    "INSERT INTO credit_ledger (organization_id, kind, amount_cents, balance_after_cents) "
                    "VALUES (:o, :k, :a, 0)"
                ),
                {"o": org, "k": kind, "a": amount},
            )
        await savepoint.rollback()
    changed = await connection.execute(
        text("UPDATE credit_ledger SET amount_cents = 1000 WHERE organization_id = :o"), {"o": alpha}
    )
    assert changed.rowcount == 0  # type: ignore[attr-defined]
