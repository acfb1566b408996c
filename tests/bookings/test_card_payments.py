"""Paying a booking by card: a PaymentIntent through the billing layer (the Stripe SDK against
localstripe), refunded through Stripe when staff refund the booking."""

from __future__ import annotations

import httpx
import pytest
import stripe
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.state import Runtime
from tests.billing.conftest import stripe_settings
from tests.bookings.helpers import book, make_customer, make_laundry, ok, scalar, uid
from tests.helpers import SignedUp, error_of


@pytest.fixture
def with_stripe(runtime: Runtime, localstripe_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime.settings, "stripe", stripe_settings(localstripe_url, "whsec_bookings"))
    runtime.extras.pop("stripe", None)


async def _save_card(client: httpx.AsyncClient, stripe_api: stripe.StripeClient, account: SignedUp) -> None:
    intent = await ok(await client.post("/api/billing/setup-intent", headers=account.headers))
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}
    method = stripe_api.v1.payment_methods.create({"type": "card", "card": card})  # type: ignore[typeddict-item]
    stripe_api.v1.setup_intents.confirm(intent["setup_intent_id"], {"payment_method": method.id})
    await ok(
        await client.post(
            "/api/billing/payment-methods",
            headers=account.headers,
            json={"setup_intent_id": intent["setup_intent_id"]},
        ),
        201,
    )


@pytest.mark.usefixtures("with_stripe")
async def test_pay_by_card_then_refund(
    client: httpx.AsyncClient, session: AsyncSession, stripe_api: stripe.StripeClient
) -> None:
    laundry = await make_laundry(client)
    customer, address_id = await make_customer(client, laundry)
    booking = await book(client, laundry, customer, address_id)
    url = f"{laundry.shop}/bookings/{booking['id']}/pay"
    # No card saved yet: refused, the booking stays pending and unpaid.
    refused = await client.post(url, headers=customer.headers, json={"method": "card"})
    assert refused.status_code == 402 and error_of(refused)["field"] == "method"
    assert (
        await scalar(session, "SELECT status FROM bookings WHERE id = :b", b=uid(booking["id"])) == "pending"
    )

    await _save_card(client, stripe_api, customer)
    paid = await ok(await client.post(url, headers=customer.headers, json={"method": "card"}))
    assert paid["status"] == "confirmed" and paid["payment_method"] == "card"
    intent = stripe_api.v1.payment_intents.retrieve(paid["stripe_payment_intent_id"])
    assert (intent.amount, intent.currency, intent.status) == (booking["total_amount"], "eur", "succeeded")
    assert intent.metadata["saaskit_booking_id"] == booking["id"]
    # Paying twice is a wrong move, not a second charge.
    again = await client.post(url, headers=customer.headers, json={"method": "card"})
    assert again.status_code == 409 and error_of(again)["code"] == "invalid_transition"

    staff = f"{laundry.staff}/bookings/{booking['id']}/status"
    for status in ("cancelled", "refunded"):
        await ok(await client.post(staff, headers=laundry.owner.headers, json={"status": status}))
    refunds = stripe_api.v1.refunds.list()
    assert [(r.payment_intent, r.amount) for r in refunds.data] == [(intent.id, booking["total_amount"])]
