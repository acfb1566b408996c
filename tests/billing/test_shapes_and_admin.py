"""Reading Stripe objects in current and older shapes; the admin catalog API; the CLI."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from saaskit.billing import shapes
from saaskit.cli import app
from saaskit.config import get_settings
from tests.billing.conftest import API_KEY, sample
from tests.conftest import APP_ROLE, TEST_SECRET, DbUnderTest
from tests.factories import make_admin
from tests.helpers import error_of, signup

# What localstripe (API 2017-08-15) sends, trimmed to the fields read.
OLD_SUBSCRIPTION = {
    "id": "sub_old",
    "customer": "cus_1",
    "status": "active",
    "current_period_start": 1795294094,
    "current_period_end": 1797886094,
    "items": {
        "data": [{"id": "si_1", "plan": {"id": "pro", "interval": "month", "amount": 1500}, "quantity": 1}]
    },
    "plan": {"id": "pro", "interval": "month"},
}
OLD_INVOICE = {
    "id": "in_old",
    "subscription": "sub_old",
    "payment_intent": "pi_old",
    "charge": {"id": "ch_old", "object": "charge"},
    "subtotal": 1500,
    "total": 1200,
    "tax": 0,
    "lines": {"data": [{"id": "il_1", "proration": True, "plan": {"id": "pro"}, "subscription": "sub_old"}]},
}


def test_subscription_periods_and_prices_in_both_shapes() -> None:
    assert shapes.subscription_period(OLD_SUBSCRIPTION) == (shapes.ts(1795294094), shapes.ts(1797886094))
    assert shapes.subscription_item(OLD_SUBSCRIPTION) == ("si_1", "pro", 1)
    assert shapes.price_interval(OLD_SUBSCRIPTION) == "month"
    current = sample("subscription")
    item = current["items"]["data"][0]
    assert "current_period_end" not in current
    assert shapes.subscription_period(current) == (
        shapes.ts(item["current_period_start"]),
        shapes.ts(item["current_period_end"]),
    )
    assert shapes.subscription_item(current)[1] == item["price"]["id"]
    assert shapes.price_interval(current) == item["price"]["recurring"]["interval"]
    assert shapes.SUBSCRIPTION_STATUS["canceled"] == "cancelled"
    assert shapes.SUBSCRIPTION_STATUS["incomplete_expired"] == "expired"


def test_invoices_and_lines_in_both_shapes() -> None:
    assert shapes.invoice_subscription_id(OLD_INVOICE) == "sub_old"
    assert shapes.invoice_payment_intent_id(OLD_INVOICE) == "pi_old"
    assert shapes.invoice_discount_cents(OLD_INVOICE) == 300
    old_line = OLD_INVOICE["lines"]["data"][0]  # type: ignore[index]
    assert shapes.line_proration(old_line) and shapes.line_price_id(old_line) == "pro"
    assert shapes.line_subscription_id(old_line) == "sub_old"
    current = sample("invoice")
    assert (
        shapes.invoice_subscription_id(current) == current["parent"]["subscription_details"]["subscription"]
    )
    current["payments"] = {"data": [{"payment": {"type": "payment_intent", "payment_intent": "pi_new"}}]}
    assert shapes.invoice_payment_intent_id(current) == "pi_new"
    line = sample("line_item")
    line["parent"]["subscription_item_details"]["proration"] = False
    line["parent"]["invoice_item_details"]["proration"] = True
    assert shapes.line_proration(line) is False
    line["pricing"]["price_details"] = {"price": "price_new"}
    assert shapes.line_price_id(line) == "price_new"


def test_payment_intent_charge_as_id_object_or_old_list() -> None:
    assert shapes.payment_intent_charge({"latest_charge": "ch_1"}) == "ch_1"
    assert shapes.id_of(shapes.payment_intent_charge({"latest_charge": {"id": "ch_2"}})) == "ch_2"
    assert shapes.id_of(shapes.payment_intent_charge({"charges": {"data": [{"id": "ch_3"}]}})) == "ch_3"
    assert shapes.payment_error({"last_payment_error": {"code": "card_declined", "message": "no"}}) == (
        "card_declined",
        "no",
    )


async def test_catalog_admin_only_and_validated(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await signup(client)
    body = {"name": "Pro", "tier": "pro", "billing_interval": "month", "price_cents": 1500}
    assert (await client.post("/api/admin/billing/plans", json=body, headers=user.headers)).status_code == 403
    admin = await make_admin(client, session)
    bad = await client.post(
        "/api/admin/billing/plans",
        json={**body, "limits": {"quotas": {"exports": -1}}},
        headers=admin.headers,
    )
    assert bad.status_code == 422 and error_of(bad)["field"] == "limits"
    weekly = await client.post(
        "/api/admin/billing/plans", json={**body, "billing_interval": "week"}, headers=admin.headers
    )
    assert weekly.status_code == 422
    created = await client.post(
        "/api/admin/billing/plans", json={**body, "limits": {"max_dashboards": 3}}, headers=admin.headers
    )
    assert created.status_code == 201, created.text
    hidden = await client.post(
        "/api/admin/billing/plans",
        json={**body, "name": "Internal", "is_public": False},
        headers=admin.headers,
    )
    assert hidden.status_code == 201
    public = (await client.get("/api/billing/plans")).json()
    assert [p["name"] for p in public] == ["Pro"] and public[0]["limits"] == {"max_dashboards": 3}
    # Not synced to Stripe yet: subscribing says what to do, it does not fail obscurely.
    attempt = await client.post(
        "/api/billing/subscriptions", json={"plan_id": created.json()["id"]}, headers=user.headers
    )
    assert attempt.status_code == 409 and error_of(attempt)["code"] == "plan_not_synced"
    events = await client.get("/api/admin/billing/webhook-events", headers=admin.headers)
    assert events.status_code == 200 and events.json()["items"] == []


async def test_webhook_without_a_configured_secret_stores_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    answer = await client.post(
        "/api/billing/stripe/webhook", content=b"{}", headers={"Stripe-Signature": "t=1,v1=x"}
    )
    assert answer.status_code == 503 and error_of(answer)["code"] == "stripe_not_configured"
    missing = await client.post("/api/billing/stripe/webhook", content=b"{}")
    assert missing.status_code == 400
    count = (await session.execute(text("SELECT count(*) FROM stripe_webhook_events"))).scalar_one()
    assert count == 0


@pytest.mark.live
def test_cli_sync_plans(fresh_database: DbUnderTest, tmp_path: Path, localstripe_url: str) -> None:
    env = {
        "SAASKIT_DATABASE_URL": fresh_database.owner_url,
        "SAASKIT_SECRET_KEY": TEST_SECRET,
        "SAASKIT_DATABASE_APP_ROLE": APP_ROLE,
        "SAASKIT_DATA_DIR": str(tmp_path / "data"),
        "SAASKIT_LOG_LEVEL": "WARNING",
        "SAASKIT_STRIPE_API_KEY": API_KEY,
        "SAASKIT_STRIPE_API_BASE": localstripe_url,
        "SAASKIT_STRIPE_LEGACY_PLANS": "true",
    }
    import psycopg

    with psycopg.connect(fresh_database.owner_url) as conn:
        conn.execute(
            "INSERT INTO subscription_plans (name, tier, billing_interval, price_cents) VALUES "
            "('Starter', 'starter', 'month', 900), ('Starter yearly', 'starter', 'year', 9000)"
        )
    runner = CliRunner()
    try:
        get_settings.cache_clear()
        first = runner.invoke(app, ["billing", "sync-plans"], env=env, catch_exceptions=False)
        assert first.exit_code == 0, first.output
        assert "synced 2 plan(s): 2 product(s), 2 price(s)" in first.output
        get_settings.cache_clear()
        second = runner.invoke(app, ["billing", "sync-plans"], env=env, catch_exceptions=False)
        assert "0 product(s), 0 price(s)" in second.output  # in sync: nothing recreated
        with psycopg.connect(fresh_database.owner_url) as conn:
            conn.execute("UPDATE subscription_plans SET price_cents = 1200 WHERE name = 'Starter'")
        get_settings.cache_clear()
        third = runner.invoke(app, ["billing", "sync-plans"], env=env, catch_exceptions=False)
        assert "0 product(s), 1 price(s)" in third.output  # a new price for the new amount
        get_settings.cache_clear()
        listed = runner.invoke(app, ["billing", "plans"], env=env, catch_exceptions=False)
        assert "Starter yearly" in listed.output and "not synced" not in listed.output
    finally:
        get_settings.cache_clear()
    with psycopg.connect(fresh_database.owner_url) as conn:
        ids = conn.execute("SELECT stripe_price_id FROM subscription_plans WHERE name = 'Starter'").fetchone()
    assert ids is not None and ids[0].endswith("-1200-usd-month")


@pytest.mark.parametrize("command", ["sync-plans", "plans"])
def test_billing_help(command: str) -> None:
    assert command in CliRunner().invoke(app, ["billing", "--help"]).output
