"""The webhook pipeline over real HTTP: signatures, re-deliveries, unknown types, events in the
wrong order in today's API shapes (built from Stripe's samples, signed like Stripe signs), and a
failing handler retried with backoff, then reprocessed by an admin."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.billing.conftest import Billing, event_of, eventually, sample, sign
from tests.helpers import SignedUp

pytestmark = pytest.mark.live


def new_shape_subscription(
    sub_id: str, customer: str, price_id: str, status: str, **extra: Any
) -> dict[str, Any]:
    """Stripe's current subscription sample: periods on the items, a ``price`` per item."""
    sub = sample("subscription")
    item = sub["items"]["data"][0]
    now = int(time.time())
    item.update(
        {"current_period_start": now - 86_400, "current_period_end": now + 29 * 86_400, "quantity": 1}
    )
    item["price"]["id"] = price_id
    item["price"]["recurring"]["interval"] = "month"
    item.pop("plan", None)
    sub.update(
        {
            "id": sub_id,
            "customer": customer,
            "status": status,
            "metadata": {},
            "cancel_at": None,
            "canceled_at": None,
            "ended_at": None,
            "trial_end": None,
            "trial_start": None,
            "cancel_at_period_end": False,
            "start_date": now - 86_400,
            **extra,
        }
    )
    assert "current_period_end" not in sub  # the shape under test
    return sub


async def _processed(b: Billing, event_id: str) -> Any:
    rows = await b.sql(
        "SELECT processing_status, retry_count, error_message, old_tier, new_tier, id FROM stripe_webhook_events "
        "WHERE stripe_event_id = :e",
        e=event_id,
    )
    return rows[0] if rows and rows[0].processing_status in ("processed", "failed", "ignored") else None


async def _customer_for(b: Billing, user: SignedUp) -> str:
    intent = await b.http.post("/api/billing/setup-intent", headers=user.headers)  # creates the customer
    return str(intent.json()["stripe_customer_id"])


async def test_signatures_redeliveries_unknown_types(billing_server: Billing) -> None:
    b = billing_server
    event = event_of("customer.updated", {**sample("customer"), "id": "cus_nobody", "metadata": {}})
    payload = json.dumps(event)
    url = "/api/billing/stripe/webhook"
    for headers in (
        {},
        {"Stripe-Signature": sign(payload, "whsec_wrong")},
        {"Stripe-Signature": sign(payload, b.webhook_secret, int(time.time()) - 3600)},  # replayed, too old
        {"Stripe-Signature": "t=1,v1=garbage"},
    ):
        refused = await b.http.post(url, content=payload, headers=headers)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["code"] == "bad_signature"
    tampered = payload.replace("cus_nobody", "cus_somebody")
    forged = await b.http.post(
        url, content=tampered, headers={"Stripe-Signature": sign(payload, b.webhook_secret)}
    )
    assert forged.status_code == 400
    assert await b.scalar("SELECT count(*) FROM stripe_webhook_events") == 0

    first = b.post_event(event)
    again = b.post_event(event)
    assert first.status_code == 200 and again.status_code == 200
    assert first.json()["duplicate"] is False and again.json()["duplicate"] is True
    assert (
        await eventually(lambda: _processed(b, event["id"]), what="the customer event")
    ).processing_status == "processed"
    assert await b.scalar("SELECT count(*) FROM stripe_webhook_events") == 1

    unknown = event_of("issuing_card.created", {"id": "ic_123", "object": "issuing_card"})
    assert b.post_event(unknown).status_code == 200
    stored = await b.sql(
        "SELECT processing_status, processed_at FROM stripe_webhook_events WHERE stripe_event_id = :e",
        e=unknown["id"],
    )
    assert stored[0].processing_status == "ignored" and stored[0].processed_at is not None


async def test_events_out_of_order_in_current_shapes(billing_server: Billing) -> None:
    b = billing_server
    plan = await b.create_plan("Pro", "pro", 1500, limits={"max_dashboards": 5})
    await b.sync()
    price_id = await b.scalar("SELECT stripe_price_id FROM subscription_plans WHERE id = :p", p=plan["id"])
    user = await b.signup()
    customer = await _customer_for(b, user)
    now = int(time.time())

    active = new_shape_subscription("sub_shapes", customer, price_id, "active")
    cancelled = new_shape_subscription(
        "sub_shapes", customer, price_id, "canceled", canceled_at=now - 10, ended_at=now - 10
    )
    created = event_of("customer.subscription.created", active, created=now - 100)
    deleted = event_of("customer.subscription.deleted", cancelled, created=now - 10)
    # The newer event first, the older one last: the older one must not revive the subscription.
    assert b.post_event(deleted).status_code == 200
    await eventually(lambda: _processed(b, deleted["id"]), what="deleted")
    assert b.post_event(created).status_code == 200
    stale = await eventually(lambda: _processed(b, created["id"]), what="created")
    assert stale.processing_status == "processed"
    row = (
        await b.sql(
            "SELECT status, plan_id, current_period_end, ended_at FROM subscriptions WHERE stripe_subscription_id = 'sub_shapes'"
        )
    )[0]
    assert row.status == "cancelled" and str(row.plan_id) == plan["id"] and row.ended_at is not None
    assert int(row.current_period_end.timestamp()) == active["items"]["data"][0]["current_period_end"]
    assert await b.scalar("SELECT tier FROM users WHERE id = :u", u=user.id) == "free"

    # A second subscription, trialing then active, in order: the tier follows and the change is recorded.
    trialing = new_shape_subscription("sub_trial", customer, price_id, "trialing", trial_end=now + 7 * 86_400)
    first = event_of("customer.subscription.created", trialing, created=now - 5)
    assert b.post_event(first).status_code == 200
    changed = await eventually(lambda: _processed(b, first["id"]), what="trialing")
    assert (changed.old_tier, changed.new_tier) == ("free", "pro")
    sub = (
        await b.sql(
            "SELECT status, ends_at, trial_end FROM subscriptions WHERE stripe_subscription_id = 'sub_trial'"
        )
    )[0]
    assert sub.status == "trialing" and sub.ends_at == sub.trial_end
    assert await b.scalar("SELECT max_dashboards FROM users WHERE id = :u", u=user.id) == 5

    # An invoice in today's shape (subscription under parent, proration under the line's parent),
    # paid, then its older draft snapshot: it stays paid, and is counted once.
    invoice = sample("invoice")
    line = invoice["lines"]["data"][0]
    line.update({"id": "il_shapes", "amount": 1500, "currency": "usd", "quantity": 1})
    line["parent"] = {
        "type": "subscription_item_details",
        "subscription_item_details": {
            "proration": True,
            "subscription": "sub_trial",
            "subscription_item": "si_x",
            "invoice_item": None,
        },
        "invoice_item_details": None,
    }
    line["pricing"] = {"type": "price_details", "price_details": {"price": price_id, "product": "prod_x"}}
    invoice.update(
        {
            "id": "in_shapes",
            "customer": customer,
            "currency": "usd",
            "parent": {
                "type": "subscription_details",
                "subscription_details": {"subscription": "sub_trial", "metadata": {}},
            },
            "subtotal": 1500,
            "total": 1500,
            "amount_due": 1500,
            "amount_paid": 1500,
            "total_discount_amounts": [],
            "status": "paid",
            "status_transitions": {
                "finalized_at": now - 4,
                "paid_at": now - 3,
                "voided_at": None,
                "marked_uncollectible_at": None,
            },
        }
    )
    invoice.pop("subscription", None)
    draft = {
        **invoice,
        "status": "draft",
        "amount_paid": 0,
        "status_transitions": {"finalized_at": None, "paid_at": None},
    }
    paid_event = event_of("invoice.paid", invoice, created=now - 3)
    draft_event = event_of("invoice.created", draft, created=now - 4)
    for event in (paid_event, draft_event, paid_event):
        assert b.post_event(event).status_code == 200
    await eventually(lambda: _processed(b, draft_event["id"]), what="draft")
    await eventually(lambda: _processed(b, paid_event["id"]), what="paid")
    stored = (
        await b.sql(
            "SELECT status, subscription_id, amount_paid_cents FROM invoices WHERE stripe_invoice_id = 'in_shapes'"
        )
    )[0]
    assert stored.status == "paid" and stored.subscription_id is not None and stored.amount_paid_cents == 1500
    lines = await b.sql(
        "SELECT amount_cents, proration, plan_id::text FROM invoice_line_items WHERE stripe_line_item_id = 'il_shapes'"
    )
    assert [tuple(x) for x in lines] == [(1500, True, plan["id"])]
    assert await b.scalar("SELECT total_spent_cents FROM users WHERE id = :u", u=user.id) == 1500

    # A voided invoice and a trial about to end: recorded, nothing paid, the tier unchanged.
    voided = {**invoice, "id": "in_void", "status": "void", "amount_paid": 0, "lines": {"data": []}}
    voided["status_transitions"] = {"finalized_at": now - 2, "paid_at": None, "voided_at": now - 1}
    will_end = event_of("customer.subscription.trial_will_end", trialing, created=now - 1)
    for event in (event_of("invoice.voided", voided, created=now - 1), will_end):
        assert b.post_event(event).status_code == 200
        await eventually(lambda e=event: _processed(b, e["id"]), what=event["type"])  # type: ignore[misc]
    assert await b.scalar("SELECT status FROM invoices WHERE stripe_invoice_id = 'in_void'") == "void"
    assert await b.scalar("SELECT total_spent_cents FROM users WHERE id = :u", u=user.id) == 1500
    assert await b.scalar("SELECT tier FROM users WHERE id = :u", u=user.id) == "pro"


async def test_failing_handler_is_retried_then_reprocessed(billing_server: Billing) -> None:
    b = billing_server
    plan = await b.create_plan("Pro", "pro", 1500, limits={"max_dashboards": 5})
    await b.sync()
    price_id = await b.scalar("SELECT stripe_price_id FROM subscription_plans WHERE id = :p", p=plan["id"])
    user = await b.signup()
    # A subscription event for a customer saaskit cannot link (yet): the handler fails.
    event = event_of(
        "customer.subscription.created", new_shape_subscription("sub_ghost", "cus_ghost", price_id, "active")
    )
    assert b.post_event(event).status_code == 200
    failed = await eventually(lambda: _processed(b, event["id"]), within=20, what="retries to run out")
    assert failed.processing_status == "failed" and failed.retry_count == 3
    assert "cus_ghost" in failed.error_message and "CustomerNotLinked" in failed.error_message

    # The link appears (say the customer was created in Stripe's dashboard for this user).
    await b.sql("UPDATE users SET stripe_customer_id = 'cus_ghost' WHERE id = :u", u=user.id)
    url = f"/api/admin/billing/webhook-events/{failed.id}/reprocess"
    assert (await b.http.post(url, headers=user.headers)).status_code == 403
    queued = await b.http.post(url, headers=b.admin.headers)
    assert queued.status_code == 202, queued.text
    assert queued.json()["processing_status"] == "pending"
    done = await eventually(
        lambda: b.sql(
            "SELECT processing_status, old_tier, new_tier, user_id FROM stripe_webhook_events "
            "WHERE id = :i AND processing_status = 'processed'",
            i=failed.id,
        ),
        what="the reprocessed event",
    )
    assert (done[0].old_tier, done[0].new_tier, done[0].user_id) == ("free", "pro", user.id)
    assert await b.scalar("SELECT tier FROM users WHERE id = :u", u=user.id) == "pro"
    listed = await b.http.get("/api/admin/billing/webhook-events?status=processed", headers=b.admin.headers)
    assert any(e["id"] == str(failed.id) for e in listed.json()["items"])
    again = await b.http.post(url, headers=b.admin.headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_processed"


async def test_payment_method_and_customer_events(billing_server: Billing) -> None:
    b = billing_server
    user = await b.signup()
    intent = (await b.http.post("/api/billing/setup-intent", headers=user.headers)).json()
    customer = intent["stripe_customer_id"]
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}
    first = b.stripe.v1.payment_methods.create({"type": "card", "card": card})
    b.stripe.v1.payment_methods.attach(first.id, {"customer": customer})
    second = b.stripe.v1.payment_methods.create(
        {"type": "card", "card": {**card, "number": "5555555555554444"}}
    )

    # setup_intent.succeeded (localstripe sends none): saaskit reads the card from Stripe.
    setup = sample("setup_intent")
    setup.update(
        {
            "id": intent["setup_intent_id"],
            "customer": customer,
            "payment_method": first.id,
            "status": "succeeded",
        }
    )
    saved = event_of("setup_intent.succeeded", setup)
    assert b.post_event(saved).status_code == 200
    await eventually(lambda: _processed(b, saved["id"]), what="setup_intent.succeeded")
    row = (
        await b.sql(
            "SELECT card_last4, is_default, card_brand FROM payment_methods WHERE provider_payment_method_id = :p",
            p=first.id,
        )
    )[0]
    assert (row.card_last4, row.is_default) == ("4242", True)
    assert await b.scalar("SELECT stripe_payment_method_id FROM users WHERE id = :u", u=user.id) == first.id

    # payment_method.attached in today's shape, then customer.updated making it the default.
    attached = sample("payment_method")
    attached.update({"id": second.id, "customer": customer})
    attached["card"].update({"last4": "4444", "brand": "mastercard", "fingerprint": "fp_second"})
    updated = sample("customer")
    updated.update({"id": customer, "metadata": {"saaskit_user_id": str(user.id)}, "discount": None})
    updated["invoice_settings"]["default_payment_method"] = second.id
    for event in (event_of("payment_method.attached", attached), event_of("customer.updated", updated)):
        assert b.post_event(event).status_code == 200
        await eventually(lambda e=event: _processed(b, e["id"]), what=event["type"])  # type: ignore[misc]
    defaults = await b.sql("SELECT provider_payment_method_id FROM payment_methods WHERE is_default")
    assert [d[0] for d in defaults] == [second.id]
    listed = (await b.http.get("/api/billing/payment-methods", headers=user.headers)).json()
    assert {m["card_last4"] for m in listed} == {"4242", "4444"}

    # payment_method.detached: no longer default, no longer charged by auto top-up.
    detached = event_of("payment_method.detached", {**attached, "customer": None})
    assert b.post_event(detached).status_code == 200
    await eventually(lambda: _processed(b, detached["id"]), what="detached")
    assert await b.scalar("SELECT stripe_payment_method_id FROM users WHERE id = :u", u=user.id) is None
    assert [
        m["card_last4"]
        for m in (await b.http.get("/api/billing/payment-methods", headers=user.headers)).json()
    ] == ["4242"]

    # Removing the last card through the API detaches it at Stripe too.
    remaining = (await b.http.get("/api/billing/payment-methods", headers=user.headers)).json()[0]
    removed = await b.http.delete(f"/api/billing/payment-methods/{remaining['id']}", headers=user.headers)
    assert removed.status_code == 204
    assert b.stripe.v1.payment_methods.retrieve(first.id).customer is None
    assert (await b.http.get("/api/billing/payment-methods", headers=user.headers)).json() == []
    gone = await b.http.delete(f"/api/billing/payment-methods/{remaining['id']}", headers=user.headers)
    assert gone.status_code == 404

    # customer.deleted: the link goes.
    deleted = event_of("customer.deleted", {"id": customer, "object": "customer", "deleted": True})
    assert b.post_event(deleted).status_code == 200
    outcome = await eventually(lambda: _processed(b, deleted["id"]), what="customer.deleted")
    assert outcome.processing_status == "processed"
    assert await b.scalar("SELECT stripe_customer_id FROM users WHERE id = :u", u=user.id) is None
