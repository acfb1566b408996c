"""Credits with Stripe for real: top-up, auto top-up under concurrency (one PaymentIntent), a
declined card (4000000000000341) and refunds."""

from __future__ import annotations

import asyncio

import pytest

from tests.billing.conftest import Billing, event_of, eventually, sample

pytestmark = pytest.mark.live

DECLINED_ON_CHARGE = "4000000000000341"  # attaches fine, every charge is declined


async def _credits(b: Billing, user_id: object) -> int:
    return int(await b.scalar("SELECT credits_cents FROM users WHERE id = :u", u=user_id))


async def test_top_up_credits_then_refund(billing_server: Billing) -> None:
    b = billing_server
    user = await b.signup()
    refused = await b.http.post(
        "/api/billing/credits/top-up", json={"amount_cents": 1000}, headers=user.headers
    )
    assert refused.status_code == 402
    await b.save_card(user)

    started = await b.http.post(
        "/api/billing/credits/top-up", json={"amount_cents": 1000}, headers=user.headers
    )
    assert started.status_code == 202, started.text
    transaction_id = started.json()["id"]
    assert started.json()["status"] == "pending"
    # The job charges the saved card off-session; the credits arrive once.
    await eventually(lambda: _credits(b, user.id), what="credits after the top-up")
    assert await _credits(b, user.id) == 1000
    row = (
        await b.sql(
            "SELECT status, stripe_payment_intent_id, credited_at FROM payment_transactions WHERE id = :t",
            t=transaction_id,
        )
    )[0]
    assert row.status == "succeeded" and row.stripe_payment_intent_id.startswith("pi_") and row.credited_at
    intent = b.stripe.v1.payment_intents.retrieve(row.stripe_payment_intent_id)
    assert intent.metadata["saaskit_transaction_id"] == transaction_id
    assert intent.metadata["saaskit_user_id"] == str(user.id) and intent.metadata["credits_cents"] == "1000"

    # localstripe's payment_intent.succeeded webhook arrives and is processed: no second credit.
    await eventually(
        lambda: b.scalar(
            "SELECT processing_status = 'processed' FROM stripe_webhook_events WHERE event_type = 'payment_intent.succeeded'"
        ),
        what="payment_intent.succeeded",
    )
    # The same success re-sent under another event id (Stripe may): still credited once.
    resent = event_of("payment_intent.succeeded", intent.to_dict())
    assert b.post_event(resent).status_code == 200
    await eventually(
        lambda: b.scalar(
            "SELECT processing_status = 'processed' FROM stripe_webhook_events WHERE stripe_event_id = :e",
            e=resent["id"],
        ),
        what="the re-sent success",
    )
    assert await _credits(b, user.id) == 1000
    assert await b.scalar("SELECT total_spent_cents FROM users WHERE id = :u", u=user.id) == 1000

    spent = await b.http.post("/api/billing/credits/spend", json={"amount_cents": 300}, headers=user.headers)
    assert spent.status_code == 200 and spent.json()["credits_cents"] == 700
    short = await b.http.post("/api/billing/credits/spend", json={"amount_cents": 701}, headers=user.headers)
    assert short.status_code == 402 and short.json()["error"]["code"] == "insufficient_credits"
    assert short.json()["error"]["quota"] == "credits_cents"

    # A partial refund at Stripe. localstripe sends no charge.refunded: the event is built from
    # Stripe's published charge sample and signed like Stripe signs it.
    b.stripe.v1.refunds.create({"payment_intent": row.stripe_payment_intent_id, "amount": 400})
    charge = sample("charge")
    charge.update(
        {
            "id": "ch_refund_test",
            "payment_intent": row.stripe_payment_intent_id,
            "amount": 1000,
            "amount_refunded": 400,
            "refunded": False,
            "currency": "usd",
        }
    )
    for _ in range(2):  # delivered twice: the cumulative amount makes it count once
        assert b.post_event(event_of("charge.refunded", charge)).status_code == 200
    await eventually(
        lambda: b.scalar(
            "SELECT count(*) = 2 FROM stripe_webhook_events WHERE event_type = 'charge.refunded' AND processing_status = 'processed'"
        ),
        what="charge.refunded",
    )
    refunded = (
        await b.sql("SELECT status, refunded_cents FROM payment_transactions WHERE id = :t", t=transaction_id)
    )[0]
    assert tuple(refunded) == ("partially_refunded", 400)
    assert await b.scalar("SELECT total_spent_cents FROM users WHERE id = :u", u=user.id) == 600
    assert await _credits(b, user.id) == 300  # the refunded credits are taken back


async def test_concurrent_spends_start_at_most_one_auto_top_up(billing_server: Billing) -> None:
    b = billing_server
    user = await b.signup()
    await b.save_card(user)
    enabled = await b.http.put(
        "/api/billing/credits/auto-topup",
        json={"enabled": True, "threshold_cents": 600, "amount_cents": 2400},
        headers=user.headers,
    )
    assert enabled.status_code == 200 and enabled.json()["auto_topup_enabled"] is True
    await b.sql("UPDATE users SET credits_cents = 1000 WHERE id = :u", u=user.id)

    async def spend() -> int:
        answer = await b.http.post(
            "/api/billing/credits/spend", json={"amount_cents": 40}, headers=user.headers
        )
        return answer.status_code

    # 25 spends of 40 race for 1000 cents; most leave the balance under the 600 threshold.
    codes = await asyncio.gather(*(spend() for _ in range(25)))
    assert codes.count(200) == 25, codes
    await eventually(
        lambda: b.scalar(
            "SELECT count(*) = 1 FROM payment_transactions WHERE user_id = :u AND status = 'succeeded'",
            u=user.id,
        ),
        what="the auto top-up",
    )
    # Let any stray job or webhook run, then count: one top-up, one PaymentIntent, credited once.
    await asyncio.sleep(1.5)
    assert await b.scalar("SELECT count(*) FROM payment_transactions WHERE user_id = :u", u=user.id) == 1
    customer = await b.scalar("SELECT stripe_customer_id FROM users WHERE id = :u", u=user.id)
    intents = [i for i in b.stripe.v1.payment_intents.list({"limit": 100}).data if i.customer == customer]
    assert len(intents) == 1 and intents[0].amount == 2400
    assert intents[0].metadata["type"] == "auto_topup"
    assert await _credits(b, user.id) == 1000 - 25 * 40 + 2400


async def test_declined_card(billing_server: Billing) -> None:
    b = billing_server
    plan = await b.create_plan("Pro", "pro", 1500, limits={"max_dashboards": 5})
    await b.sync()
    user = await b.signup()
    await b.save_card(user, DECLINED_ON_CHARGE)  # saving works: only charges fail

    created = await b.http.post(
        "/api/billing/subscriptions", json={"plan_id": plan["id"]}, headers=user.headers
    )
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "incomplete"
    assert await b.scalar("SELECT tier FROM users WHERE id = :u", u=user.id) == "free"
    invoice = (await b.http.get("/api/billing/invoices", headers=user.headers)).json()["items"][0]
    assert invoice["status"] == "open" and invoice["amount_paid_cents"] == 0

    # Top-ups fail: recorded with Stripe's decline, and after three failed automatic ones in a
    # row auto top-up turns itself off.
    await b.http.put(
        "/api/billing/credits/auto-topup",
        json={"enabled": True, "threshold_cents": 600},
        headers=user.headers,
    )
    for attempt in range(3):
        await b.sql("UPDATE users SET credits_cents = 700 WHERE id = :u", u=user.id)
        spent = await b.http.post(
            "/api/billing/credits/spend", json={"amount_cents": 200}, headers=user.headers
        )
        assert spent.status_code == 200 and spent.json()["topup_transaction_id"], spent.text
        await eventually(
            lambda n=attempt + 1: b.scalar(  # type: ignore[misc]
                "SELECT count(*) >= :n FROM payment_transactions WHERE user_id = :u AND status = 'failed'",
                u=user.id,
                n=n,
            ),
            what="the failure count",
        )
    failures = await b.sql("SELECT failure_code FROM payment_transactions WHERE user_id = :u", u=user.id)
    assert len(failures) == 3 and all(f.failure_code for f in failures)
    assert await b.scalar("SELECT auto_topup_enabled FROM users WHERE id = :u", u=user.id) is False
    assert await _credits(b, user.id) == 500
    # localstripe reports the declines by webhook too; they change nothing more.
    await eventually(
        lambda: b.scalar(
            "SELECT count(*) = 3 FROM stripe_webhook_events WHERE event_type = 'payment_intent.payment_failed' "
            "AND processing_status = 'processed'"
        ),
        what="payment_intent.payment_failed webhooks",
    )
    assert await b.scalar("SELECT count(*) FROM payment_transactions WHERE user_id = :u", u=user.id) == 3
