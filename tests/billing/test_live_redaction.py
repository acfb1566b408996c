"""Stored Stripe events keep no personal data (billing.redaction), and processing, retries and an
admin's reprocess still work from what is stored: over real HTTP, with localstripe's own
deliveries and signed events built from Stripe's samples."""

from __future__ import annotations

import json
from typing import Any

import pytest

from saaskit.kit.hashing import keyed_hash
from tests.billing.conftest import Billing, event_of, eventually, sample
from tests.billing.test_live_webhooks import _processed
from tests.conftest import TEST_SECRET

pytestmark = pytest.mark.live

NAME = "Jenny Rosen"
PHONE = "+15555550123"
STREET = "1234 Main Street"
FINGERPRINT = "Xt5EWLLDS7FJjR1c"
ADDRESS = {
    "city": "Lisbon",
    "country": "PT",
    "line1": STREET,
    "line2": None,
    "postal_code": "1100-148",
    "state": None,
}


async def _stored(b: Billing, stripe_event_id: str) -> str:
    data = await b.scalar(
        "SELECT event_data::text FROM stripe_webhook_events WHERE stripe_event_id = :e", e=stripe_event_id
    )
    assert data is not None
    return str(data)


def _personal(text: str, *values: str) -> list[str]:
    return [value for value in values if value in text]


async def test_stored_events_keep_no_personal_data(billing_server: Billing) -> None:
    b = billing_server
    user = await b.signup()
    intent = await b.http.post("/api/billing/setup-intent", headers=user.headers)
    customer = intent.json()["stripe_customer_id"]

    # localstripe's own delivery: customer.created carries the e-mail saaskit gave Stripe.
    created = await eventually(
        lambda: b.sql(
            "SELECT stripe_event_id, processing_status FROM stripe_webhook_events "
            "WHERE event_type = 'customer.created' AND processing_status = 'processed'"
        ),
        what="localstripe's customer.created",
    )
    stored = await _stored(b, created[0].stripe_event_id)
    assert _personal(stored, user.email) == [] and customer in stored

    # customer.updated with everything Stripe can say about a person.
    updated = sample("customer")
    updated.update(
        {
            "id": customer,
            "email": user.email,
            "name": NAME,
            "phone": PHONE,
            "address": ADDRESS,
            "shipping": {"address": ADDRESS, "name": NAME, "phone": PHONE},
            "metadata": {"saaskit_user_id": str(user.id), "crm": NAME},
            "discount": None,
        }
    )
    # payment_method.attached: cardholder details and the card's fingerprint.
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}
    method_id = b.stripe.v1.payment_methods.create({"type": "card", "card": card}).id
    attached = sample("payment_method")
    attached.update({"id": method_id, "customer": customer})
    attached["billing_details"] = {"address": ADDRESS, "email": user.email, "name": NAME, "phone": PHONE}
    attached["card"].update({"last4": "4242", "brand": "visa", "fingerprint": FINGERPRINT})
    for event in (event_of("customer.updated", updated), event_of("payment_method.attached", attached)):
        assert b.post_event(event).status_code == 200
        done = await eventually(lambda e=event: _processed(b, e["id"]), what=event["type"])  # type: ignore[misc]
        assert done.processing_status == "processed", done
        assert _personal(await _stored(b, event["id"]), user.email, NAME, PHONE, STREET, FINGERPRINT) == []

    # Processing worked from the redacted events: the card and its fingerprint's keyed hash.
    row = (
        await b.sql(
            "SELECT card_last4, card_brand, card_fingerprint_hash, user_id FROM payment_methods "
            "WHERE provider_payment_method_id = :p",
            p=method_id,
        )
    )[0]
    assert (row.card_last4, row.card_brand, row.user_id) == ("4242", "visa", user.id)
    assert row.card_fingerprint_hash == keyed_hash(TEST_SECRET, "card", FINGERPRINT)
    # Nowhere in the webhook log (the admin's JSON list and event page read it from there).
    everything = await b.scalar("SELECT string_agg(event_data::text, ' ') FROM stripe_webhook_events")
    assert _personal(str(everything), user.email, NAME, PHONE, STREET, FINGERPRINT) == []


async def test_a_redacted_event_is_retried_and_reprocessed(billing_server: Billing) -> None:
    b = billing_server
    user = await b.signup()
    invoice: dict[str, Any] = sample("invoice")
    invoice.update(
        {
            "id": "in_redacted",
            "customer": "cus_not_linked_yet",
            "customer_email": user.email,
            "customer_name": NAME,
            "customer_phone": PHONE,
            "customer_address": ADDRESS,
            "customer_shipping": {"address": ADDRESS, "name": NAME, "phone": PHONE},
            "status": "paid",
            "currency": "usd",
            "subtotal": 2500,
            "total": 2500,
            "amount_due": 2500,
            "amount_paid": 2500,
            "total_discount_amounts": [],
            "lines": {"object": "list", "data": []},
            "status_transitions": {"finalized_at": 1, "paid_at": 2, "voided_at": None},
        }
    )
    event = event_of("invoice.paid", invoice)
    assert b.post_event(event).status_code == 200
    failed = await eventually(lambda: _processed(b, event["id"]), within=20, what="retries to run out")
    assert failed.processing_status == "failed" and "CustomerNotLinked" in failed.error_message
    stored = json.loads(await _stored(b, event["id"]))
    assert _personal(json.dumps(stored), user.email, NAME, PHONE, STREET) == []
    assert stored["data"]["object"]["amount_paid"] == 2500

    await b.sql("UPDATE users SET stripe_customer_id = 'cus_not_linked_yet' WHERE id = :u", u=user.id)
    queued = await b.http.post(
        f"/api/admin/billing/webhook-events/{failed.id}/reprocess", headers=b.admin.headers
    )
    assert queued.status_code == 202, queued.text
    await eventually(
        lambda: b.sql(
            "SELECT 1 FROM stripe_webhook_events WHERE id = :i AND processing_status = 'processed'",
            i=failed.id,
        ),
        what="the reprocessed event",
    )
    paid = (
        await b.sql(
            "SELECT status, amount_paid_cents, user_id FROM invoices WHERE stripe_invoice_id = 'in_redacted'"
        )
    )[0]
    assert (paid.status, paid.amount_paid_cents, paid.user_id) == ("paid", 2500, user.id)
    assert await b.scalar("SELECT total_spent_cents FROM users WHERE id = :u", u=user.id) == 2500
