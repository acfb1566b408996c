"""Checkout (a plan, a credit pack) and the customer portal with the real stripe SDK: against a
local fake of the two APIs localstripe lacks (request shapes checked against Stripe's published
objects, ``fake_stripe``), everything else against localstripe; completion by signed
``checkout.session.completed`` events through the live webhook pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.billing.conftest import Billing, event_of, eventually, org_of
from tests.billing.fake_stripe import FakeStripe, parse_form
from tests.helpers import error_of

pytestmark = pytest.mark.live
FAKES: dict[str, FakeStripe] = {}


@pytest.fixture
def localstripe_url(localstripe_url: str) -> Iterator[str]:
    """The suite's localstripe, behind the fake (Checkout and portal answered, the rest forwarded)."""
    with FakeStripe(localstripe_url) as fake:
        FAKES[fake.url] = fake
        yield fake.url
        del FAKES[fake.url]


def _fake(b: Billing) -> FakeStripe:
    return FAKES[b.localstripe_url]


async def _processed(b: Billing, event_id: str) -> Any:
    rows = await b.sql(
        "SELECT processing_status, error_message FROM stripe_webhook_events WHERE stripe_event_id = :e",
        e=event_id,
    )
    return rows[0] if rows and rows[0].processing_status in ("processed", "failed", "ignored") else None


def _completed(b: Billing, session_id: str, **changes: Any) -> dict[str, Any]:
    obj = dict(_fake(b).sessions[session_id])
    obj.update({"status": "complete", **changes})
    return event_of("checkout.session.completed", obj)


def test_form_parser_reads_stripes_encoding() -> None:
    parsed = parse_form("a=1&line_items[0][price_data][unit_amount]=5&line_items[1][price]=p&metadata[k]=v")
    assert parsed == {
        "a": "1",
        "line_items": [{"price_data": {"unit_amount": "5"}}, {"price": "p"}],
        "metadata": {"k": "v"},
    }


async def test_credit_pack_checkout_grants_once_by_webhook(billing_server: Billing) -> None:
    b = billing_server
    user = await b.signup()
    foreign = await b.http.post(
        "/api/billing/checkout",
        json={"credits_cents": 2500, "success_url": "https://evil.example.com/thanks"},
        headers=user.headers,
    )
    assert foreign.status_code == 422 and error_of(foreign)["field"] == "success_url"
    neither = await b.http.post("/api/billing/checkout", json={}, headers=user.headers)
    assert neither.status_code == 422

    started = await b.http.post("/api/billing/checkout", json={"credits_cents": 2500}, headers=user.headers)
    assert started.status_code == 201, started.text
    body = started.json()
    assert body["mode"] == "payment" and body["url"].startswith("https://checkout.stripe.com/")
    sent = list(_fake(b).created("/v1/checkout/sessions"))[-1]
    customer = await b.scalar("SELECT stripe_customer_id FROM users WHERE id = :u", u=user.id)
    assert customer and sent["customer"] == customer  # a real localstripe customer
    assert sent["line_items"] == [
        {
            "price_data": {
                "currency": "usd",
                "unit_amount": "2500",
                "product_data": {"name": "saaskit credits"},
            },
            "quantity": "1",
        }
    ]
    assert sent["metadata"]["saaskit_checkout"] == "credits" and sent["metadata"]["saaskit_user_id"] == str(
        user.id
    )
    assert sent["payment_intent_data"]["metadata"]["saaskit_credits_cents"] == "2500"
    assert sent["success_url"].endswith("/billing?checkout=success")

    # Not paid yet (an asynchronous payment method): nothing granted.
    pending = _completed(b, body["id"], payment_status="unpaid")
    assert b.post_event(pending).status_code == 200
    assert (await eventually(lambda: _processed(b, pending["id"]))).processing_status == "processed"
    assert await b.scalar("SELECT credits_cents FROM users WHERE id = :u", u=user.id) == 0

    paid = _completed(
        b,
        body["id"],
        payment_status="paid",
        payment_intent="pi_checkout_1",
        amount_total=2500,
        currency="usd",
    )
    again = dict(paid, id=paid["id"] + "x")  # the same completion under another event id
    for event in (paid, again):
        assert b.post_event(event).status_code == 200
        assert (await eventually(lambda e=event: _processed(b, e["id"]))).processing_status == "processed"
    assert await b.scalar("SELECT credits_cents FROM users WHERE id = :u", u=user.id) == 2500
    assert await b.scalar("SELECT total_spent_cents FROM users WHERE id = :u", u=user.id) == 2500
    rows = await b.sql(
        "SELECT kind, amount_cents, balance_after_cents, payment_transaction_id FROM credit_ledger WHERE user_id = :u",
        u=user.id,
    )
    assert [(r.kind, r.amount_cents, r.balance_after_cents) for r in rows] == [("purchase", 2500, 2500)]
    transaction = (
        await b.sql(
            "SELECT id, kind, status, amount_cents FROM payment_transactions WHERE user_id = :u", u=user.id
        )
    )[0]
    assert rows[0].payment_transaction_id == transaction.id and transaction.status == "succeeded"
    history = await b.http.get("/api/billing/ledger", headers=user.headers)
    assert history.json()["items"][0]["reason"] == "Credit pack bought with Checkout"
    stored = await b.scalar(
        "SELECT event_data::text FROM stripe_webhook_events WHERE stripe_event_id = :e", e=paid["id"]
    )
    assert "example@example.com" not in stored  # customer_details dropped before storing


async def test_plan_checkout_links_the_subscription_and_the_portal_opens(billing_server: Billing) -> None:
    b = billing_server
    pro = await b.create_plan("Pro", "pro", 1500)
    await b.sync()
    price = await b.scalar("SELECT stripe_price_id FROM subscription_plans WHERE id = :p", p=pro["id"])
    user = await b.signup()
    await b.save_card(user)
    started = await b.http.post("/api/billing/checkout", json={"plan_id": pro["id"]}, headers=user.headers)
    assert started.status_code == 201, started.text
    sent = list(_fake(b).created("/v1/checkout/sessions"))[-1]
    assert sent["mode"] == "subscription" and sent["line_items"] == [{"price": price, "quantity": "1"}]
    assert sent["subscription_data"]["metadata"]["saaskit_plan_id"] == pro["id"]
    assert "payment_intent_data" not in sent

    # What Checkout does at Stripe: the subscription, created for the customer (here in localstripe).
    customer = sent["customer"]
    sub = b.stripe.v1.subscriptions.create(
        {"customer": customer, "items": [{"plan": price}], "metadata": sent["subscription_data"]["metadata"]}
    )
    done = _completed(b, started.json()["id"], payment_status="paid", subscription=sub.id)
    assert b.post_event(done).status_code == 200
    outcome = await eventually(lambda: _processed(b, done["id"]), what="checkout completion")
    assert outcome.processing_status == "processed", outcome.error_message
    row = (
        await b.sql(
            "SELECT user_id, tier, status FROM subscriptions WHERE stripe_subscription_id = :s", s=sub.id
        )
    )[0]
    assert (row.user_id, row.tier, row.status) == (user.id, "pro", "active")
    assert await b.scalar("SELECT tier FROM users WHERE id = :u", u=user.id) == "pro"

    portal = await b.http.post(
        "/api/billing/portal", json={"return_url": "http://127.0.0.1:8000/settings"}, headers=user.headers
    )
    assert portal.status_code == 201, portal.text
    assert portal.json()["url"].startswith("https://billing.stripe.com/")
    assert list(_fake(b).created("/v1/billing_portal/sessions"))[-1] == {
        "customer": customer,
        "return_url": "http://127.0.0.1:8000/settings",
    }
    off_site = await b.http.post(
        "/api/billing/portal", json={"return_url": "https://x.example/"}, headers=user.headers
    )
    assert off_site.status_code == 422 and error_of(off_site)["field"] == "return_url"


async def test_an_organization_buys_credits(billing_server: Billing) -> None:
    b = billing_server
    owner = await b.signup()
    org_id = await org_of(b, owner)
    started = await b.http.post(
        f"/api/orgs/{org_id}/billing/checkout", json={"credits_cents": 900}, headers=owner.headers
    )
    assert started.status_code == 201, started.text
    sent = list(_fake(b).created("/v1/checkout/sessions"))[-1]
    assert sent["metadata"]["saaskit_organization_id"] == org_id
    paid = _completed(
        b, started.json()["id"], payment_status="paid", payment_intent="pi_org_pack", amount_total=900
    )
    assert b.post_event(paid).status_code == 200
    assert (await eventually(lambda: _processed(b, paid["id"]))).processing_status == "processed"
    balance = await b.http.get(f"/api/orgs/{org_id}/billing/ledger/balance", headers=owner.headers)
    assert balance.json() == {"balance_cents": 900, "ledger_sum_cents": 900}
    member = await b.signup()
    refused = await b.http.post(
        f"/api/orgs/{org_id}/billing/checkout", json={"credits_cents": 900}, headers=member.headers
    )
    assert refused.status_code in (403, 404)


async def test_fake_refuses_what_stripe_would(billing_server: Billing) -> None:
    """The fake's checks bite: an unknown parameter is Stripe's 400 naming it."""
    b = billing_server
    user = await b.signup()
    customer = (await b.http.post("/api/billing/setup-intent", headers=user.headers)).json()[
        "stripe_customer_id"
    ]
    import stripe

    client = stripe.StripeClient(
        "sk_test_x", base_addresses={"api": b.localstripe_url}, max_network_retries=0
    )
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.checkout.sessions.create(
            {
                "customer": customer,
                "mode": "payment",
                "success_url": "http://x/",
                "line_items": [{"price": "p", "quantity": 1}],
                "colour": "red",
            }  # type: ignore[typeddict-unknown-key]
        )
    assert refused.value.param == "colour"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.checkout.sessions.create(
            {"customer": customer, "mode": "payment", "success_url": "http://x/"}
        )
    assert missing.value.param == "line_items"
    assert [v.split(": ")[1] for v in _fake(b).violations] == ["colour", "line_items"]
