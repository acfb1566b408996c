"""Metered usage to Stripe with the real SDK against a fake of the Billing Meters API
(localstripe has no meters: tests/billing/fake_stripe.py checks request shapes against Stripe's
published samples): sent by the job, retried, reconciled on the records (acknowledged, refused
with Stripe's error, failed after the retries, skipped with the reason), shown on the invoice
preview; and the legacy usage-records path behind ``legacy_plans``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

from saaskit.billing import meter_tasks, meters
from saaskit.config import StripeSettings
from saaskit.jobs import defer, run_worker
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from tests.billing.conftest import service_rows
from tests.billing.fake_stripe import FakeStripe
from tests.factories import insert_plan, insert_subscription
from tests.helpers import SignedUp, signup

pytestmark = pytest.mark.live  # committed data in a fresh database, a real worker

PLAN_PRICE = "price_team_monthly"
ITEM = "si_team_1"


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe(meters={"api_calls"}, plan_price=PLAN_PRICE, plan_cents=9900, legacy_item=ITEM) as stub:
        yield stub


def _point_at(runtime: Runtime, fake: FakeStripe, legacy: bool) -> None:
    stripe_settings = StripeSettings(
        api_key="sk_test_fake_meters",
        api_base=fake.url,
        legacy_plans=legacy,
        webhook_max_attempts=3,
        webhook_retry_base_seconds=30,
    )
    runtime.settings = runtime.settings.model_copy(update={"stripe": stripe_settings})
    runtime.extras.pop("stripe", None)


async def _metered_user(client: httpx.AsyncClient, runtime: Runtime, customer: str | None) -> SignedUp:
    user = await signup(client)
    now = datetime.now(UTC)
    async with runtime.db.session(SERVICE) as session:
        plan = await insert_plan(
            session,
            "Team " + uuid.uuid4().hex[:6],
            "team",
            9900,
            limits={"meters": {"api_calls": "api_calls", "exports": "no_such_meter"}},
        )
        await session.execute(
            text("UPDATE users SET stripe_customer_id = :c WHERE id = :u"), {"c": customer, "u": user.id}
        )
        await insert_subscription(
            session,
            user_id=user.id,
            plan_id=plan,
            stripe_subscription_id="sub_" + uuid.uuid4().hex[:10],
            stripe_subscription_item_id=ITEM,
            stripe_customer_id=customer,
            stripe_price_id=PLAN_PRICE,
            current_period_start=now - timedelta(days=5),
            current_period_end=now + timedelta(days=25),
        )
    return user


async def _use(
    client: httpx.AsyncClient, user: SignedUp, metric: str, quantity: int, key: str
) -> dict[str, object]:
    body = {"metric_name": metric, "quantity": quantity, "idempotency_key": key}
    answer = await client.post("/api/billing/usage", json=body, headers=user.headers)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def _states(runtime: Runtime) -> dict[str, tuple[object, ...]]:
    rows = await service_rows(
        runtime,
        "SELECT idempotency_key, stripe_status, stripe_attempts, stripe_error, stripe_identifier, "
        "stripe_reported_at IS NOT NULL FROM usage_records",
    )
    return {str(r[0]): r[1:] for r in rows}


async def test_meter_events_are_sent_retried_and_reconciled(
    app_client: httpx.AsyncClient, fresh_runtime: Runtime, fake: FakeStripe
) -> None:
    _point_at(fresh_runtime, fake, legacy=False)
    user = await _metered_user(app_client, fresh_runtime, "cus_meter_1")
    nobody = await _metered_user(app_client, fresh_runtime, None)
    records = {
        "a": await _use(app_client, user, "api_calls", 5, "a"),
        "b": await _use(app_client, user, "api_calls", 7, "b"),
        "flaky": await _use(app_client, user, "api_calls", 11, "flaky"),
        "down": await _use(app_client, user, "api_calls", 13, "down"),
        "refused": await _use(app_client, user, "exports", 2, "refused"),
        "unmetered": await _use(app_client, user, "logins", 1, "unmetered"),
        "no-customer": await _use(app_client, nobody, "api_calls", 3, "no-customer"),
    }
    ident = {k: meters.identifier_of(uuid.UUID(str(r["id"]))) for k, r in records.items()}
    fake.failures = {ident["flaky"]: 1, ident["down"]: 99}

    # The job, deferred and run by a real worker.
    async with fresh_runtime.db.session(SERVICE) as session:
        await defer(session, meter_tasks.report_usage, timestamp=0)
    await asyncio.wait_for(
        run_worker(fresh_runtime, fresh_runtime.extras["app_url"], concurrency=1, wait=False), timeout=60
    )
    states = await _states(fresh_runtime)
    assert states["a"] == ("sent", 1, None, ident["a"], True)
    assert states["b"] == ("sent", 1, None, ident["b"], True)
    assert states["flaky"][:2] == ("pending", 1) and str(states["flaky"][2]).startswith("500: ")
    assert states["refused"][:2] == ("refused", 1)
    assert "resource_missing" in str(states["refused"][2]) and "no_such_meter" in str(states["refused"][2])
    assert states["unmetered"][:3] == ("skipped", 0, "the plan does not meter logins")
    assert states["no-customer"][:3] == ("skipped", 0, "no Stripe customer")
    # What Stripe received: the record's identifier (also the Idempotency-Key), customer, value, time.
    sent = fake.events[ident["a"]]
    assert sent["event_name"] == "api_calls" and sent["payload"] == {
        "stripe_customer_id": "cus_meter_1",
        "value": "5",
    }
    recorded_at = datetime.fromisoformat(str(records["a"]["recorded_at"]))
    assert int(sent["timestamp"]) == int(recorded_at.timestamp())

    # Not yet due: the retry waits for its backoff (30 s, then 120 s).
    assert (await meters.report_pending(fresh_runtime))["pending"] == 0
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert await meters.report_pending(fresh_runtime, now=later) == {
        "sent": 1,
        "refused": 0,
        "failed": 0,
        "pending": 1,
        "skipped": 0,
    }
    assert await meters.report_pending(fresh_runtime, now=later + timedelta(minutes=5)) == {
        "sent": 0,
        "refused": 0,
        "failed": 1,
        "pending": 0,
        "skipped": 0,
    }
    states = await _states(fresh_runtime)
    assert states["flaky"][:3] == ("sent", 2, None)
    assert states["down"][:2] == ("failed", 3) and str(states["down"][2]).startswith("500: ")
    # Stripe counted each identifier once: 5 + 7 + 11.
    assert fake.usage_for("cus_meter_1") == 23
    attempts = [p["identifier"] for p in fake.created("/v1/billing/meter_events")]
    assert attempts.count(ident["down"]) == 3 and attempts.count(ident["flaky"]) == 2
    assert fake.violations == []

    # The owner sees the refusal, and the upcoming invoice with the usage Stripe has.
    refused = await app_client.get("/api/billing/usage/records?stripe_status=refused", headers=user.headers)
    assert refused.status_code == 200, refused.text
    assert [(r["metric_name"], r["stripe_status"]) for r in refused.json()] == [("exports", "refused")]
    assert "No active meter" in refused.json()[0]["stripe_error"]
    preview = await app_client.get("/api/billing/invoice-preview", headers=user.headers)
    assert preview.status_code == 200, preview.text
    body = preview.json()
    lines = {line["price_id"]: line for line in body["lines"]}
    assert lines["price_metered"]["quantity"] == 23 and lines["price_metered"]["metered"] is True
    assert lines["price_metered"]["amount_cents"] == 46
    assert lines[PLAN_PRICE]["metered"] is False and body["total_cents"] == 9900 + 46
    usage = {u.pop("metric_name"): u for u in body["usage"]}
    assert usage["api_calls"] == {"pending": 0, "sent": 23, "refused": 0, "failed": 13, "skipped": 0}
    assert usage["exports"] == {"pending": 0, "sent": 0, "refused": 2, "failed": 0, "skipped": 0}
    preview_calls = list(fake.created("/v1/invoices/create_preview"))
    assert preview_calls[-1]["customer"] == "cus_meter_1" and preview_calls[-1]["subscription"].startswith(
        "sub_"
    )
    bad = await app_client.get("/api/billing/usage/records?stripe_status=lost", headers=user.headers)
    assert bad.status_code == 422


async def test_legacy_usage_records_behind_the_compatibility_setting(
    app_client: httpx.AsyncClient, fresh_runtime: Runtime, fake: FakeStripe
) -> None:
    _point_at(fresh_runtime, fake, legacy=True)
    user = await _metered_user(app_client, fresh_runtime, "cus_legacy_1")
    first = await _use(app_client, user, "api_calls", 4, "l1")
    second = await _use(app_client, user, "api_calls", 6, "l2")
    counts = await meters.report_pending(fresh_runtime)
    assert counts["sent"] == 2
    # Sent again (a lost answer): the same Idempotency-Key, counted once.
    record_id = uuid.UUID(str(first["id"]))
    await service_rows(
        fresh_runtime,
        "UPDATE usage_records SET stripe_status = 'pending', stripe_next_attempt_at = now() WHERE id = :i",
        i=record_id,
    )
    assert (await meters.report_pending(fresh_runtime))["sent"] == 1
    received = {r["key"]: r["quantity"] for r in fake.usage_records[ITEM]}
    assert len(fake.usage_records[ITEM]) == 2
    assert received == {
        meters.identifier_of(record_id): 4,
        meters.identifier_of(uuid.UUID(str(second["id"]))): 6,
    }
    assert not list(fake.created("/v1/billing/meter_events"))
    preview = await app_client.get("/api/billing/invoice-preview", headers=user.headers)
    assert preview.status_code == 200, preview.text
    (line,) = preview.json()["lines"]
    assert line == {**line, "quantity": 10, "amount_cents": 20, "metered": True, "price_id": "plan_metered"}
    assert fake.violations == []


async def test_preview_without_a_stripe_subscription_is_404(
    app_client: httpx.AsyncClient, fresh_runtime: Runtime, fake: FakeStripe
) -> None:
    _point_at(fresh_runtime, fake, legacy=False)
    user = await signup(app_client)
    answer = await app_client.get("/api/billing/invoice-preview", headers=user.headers)
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "no_subscription"


def test_fake_refuses_what_stripe_would(fake: FakeStripe) -> None:
    """The double's shape checks bite: Stripe's 400 naming the parameter, listed as a violation."""
    import stripe

    client = stripe.StripeClient("sk_test_x", base_addresses={"api": fake.url}, max_network_retries=0)
    with pytest.raises(stripe.InvalidRequestError) as bad_payload:
        client.v1.billing.meter_events.create(
            {"event_name": "api_calls", "payload": {"customer": "cus_1", "value": "1"}}
        )
    assert bad_payload.value.param == "payload"
    with pytest.raises(stripe.InvalidRequestError) as not_increment:
        client.raw_request("post", "/v1/subscription_items/si_1/usage_records", quantity=1, timestamp=1)
    assert not_increment.value.param == "action"
    with pytest.raises(stripe.InvalidRequestError):
        client.raw_request("get", "/v1/customers/cus_1")  # no localstripe behind: not a route
    assert [v.split(": ")[1] for v in fake.violations[:2]] == ["payload", "action"]
    assert fake.violations[2] == "unexpected GET /v1/customers/cus_1" and len(fake.requests) == 3
