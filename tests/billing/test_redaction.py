"""What a stored Stripe event keeps (billing.redaction): Stripe's published samples, filled with
personal data where Stripe puts it, lose all of it, and processing reads the same values from
the redacted event as from the original."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from saaskit.billing import redaction, shapes
from saaskit.kit.hashing import keyed_hash
from tests.billing.conftest import event_of, sample
from tests.billing.test_shapes_and_admin import OLD_INVOICE, OLD_SUBSCRIPTION

SECRET = "redaction-test-secret-" + "y" * 20
EMAIL = "jenny.rosen@example.com"
NAME = "Jenny Rosen"
PHONE = "+15555550123"
STREET = "1234 Main Street"
POSTCODE = "94111"
FINGERPRINT = "Xt5EWLLDS7FJjR1c"
CLIENT_SECRET = "seti_123_secret_abcdefghijklmnop"
COMMENT = "I am moving to Lisbon with my family"
FOREIGN = "crm-contact-jenny"
PERSONAL = [EMAIL, NAME, PHONE, STREET, POSTCODE, FINGERPRINT, CLIENT_SECRET, COMMENT, FOREIGN]
ADDRESS = {
    "city": "San Francisco",
    "country": "US",
    "line1": STREET,
    "line2": None,
    "postal_code": POSTCODE,
    "state": "CA",
}
DETAILS = {"address": ADDRESS, "email": EMAIL, "name": NAME, "phone": PHONE, "tax_id": None}
METADATA = {"saaskit_user_id": "0b7e7a8e-1d2f-4a4c-9d59-3c1e8d6a1f00", "crm_contact": FOREIGN}


def _customer() -> dict[str, Any]:
    customer = sample("customer")
    customer.update(
        {
            "email": EMAIL,
            "name": NAME,
            "phone": PHONE,
            "address": ADDRESS,
            "description": f"{NAME} ({EMAIL})",
            "shipping": {"address": ADDRESS, "name": NAME, "phone": PHONE},
            "metadata": METADATA,
        }
    )
    customer["invoice_settings"]["default_payment_method"] = "pm_default"
    customer["invoice_settings"]["footer"] = f"Thanks {NAME}"
    return customer


def _payment_method() -> dict[str, Any]:
    method = sample("payment_method")
    method.update({"billing_details": DETAILS, "customer": "cus_1", "metadata": METADATA})
    method["card"]["fingerprint"] = FINGERPRINT
    return method


def _charge() -> dict[str, Any]:
    charge = sample("charge")
    charge.update(
        {
            "billing_details": DETAILS,
            "receipt_email": EMAIL,
            "shipping": {"address": ADDRESS, "name": NAME, "phone": PHONE},
            "description": f"Top-up for {EMAIL}",
            "payment_intent": "pi_1",
            "amount_refunded": 50,
            "metadata": METADATA,
        }
    )
    charge["payment_method_details"]["card"]["fingerprint"] = FINGERPRINT
    return charge


def _payment_intent() -> dict[str, Any]:
    intent = sample("payment_intent")
    intent.update(
        {
            "client_secret": CLIENT_SECRET,
            "receipt_email": EMAIL,
            "shipping": {"address": ADDRESS, "name": NAME, "phone": PHONE},
            "description": NAME,
            "status": "requires_payment_method",
            "customer": "cus_1",
            "latest_charge": _charge(),  # expanded: still redacted as a charge
            "payment_method": _payment_method(),
            "metadata": {**METADATA, "saaskit_transaction_id": "5b0e0b8c-3f0a-4b7e-8a51-2f5d1c2e9a10"},
            "last_payment_error": {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "insufficient_funds",
                "message": "Your card has insufficient funds.",
                "payment_method": _payment_method(),
            },
        }
    )
    return intent


def _setup_intent() -> dict[str, Any]:
    intent = sample("setup_intent")
    intent.update(
        {"client_secret": CLIENT_SECRET, "customer": "cus_1", "payment_method": "pm_1", "status": "succeeded"}
    )
    intent["metadata"] = METADATA
    return intent


def _subscription() -> dict[str, Any]:
    sub = sample("subscription")
    sub["cancellation_details"] = {
        "comment": COMMENT,
        "feedback": "too_expensive",
        "reason": "cancellation_requested",
    }
    sub["customer"] = _customer()  # expanded
    sub["metadata"] = {**METADATA, "saaskit_plan_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7"}
    sub["description"] = f"For {NAME}"
    return sub


def _invoice() -> dict[str, Any]:
    invoice = sample("invoice")
    invoice.update(
        {
            "customer_email": EMAIL,
            "customer_name": NAME,
            "customer_phone": PHONE,
            "customer_address": ADDRESS,
            "customer_shipping": {"address": ADDRESS, "name": NAME, "phone": PHONE},
            "customer_tax_ids": [{"type": "eu_vat", "value": POSTCODE}],
            "footer": f"Thanks, {NAME}",
            "metadata": METADATA,
            "status_transitions": {
                "finalized_at": 1,
                "paid_at": 2,
                "voided_at": None,
                "marked_uncollectible_at": None,
            },
            "total_discount_amounts": [{"amount": 100, "discount": "di_1"}],
            "payments": {
                "object": "list",
                "data": [
                    {
                        "payment": {"type": "payment_intent", "payment_intent": "pi_1"},
                        "object": "invoice_payment",
                    }
                ],
            },
        }
    )
    invoice["parent"]["subscription_details"]["metadata"] = METADATA
    invoice["last_finalization_error"] = {"type": "invalid_request_error", "message": "No payment method."}
    return invoice


SAMPLES: dict[str, Callable[[], dict[str, Any]]] = {
    "customer.updated": _customer,
    "payment_method.attached": _payment_method,
    "charge.refunded": _charge,
    "payment_intent.payment_failed": _payment_intent,
    "setup_intent.succeeded": _setup_intent,
    "customer.subscription.updated": _subscription,
    "invoice.paid": _invoice,
}


def _stored(event_type: str, obj: dict[str, Any], **extra: Any) -> dict[str, Any]:
    event = event_of(event_type, obj)
    event["data"].update(extra)
    return redaction.redact_event(event, SECRET)


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_personal_data_is_not_stored(event_type: str) -> None:
    original = SAMPLES[event_type]()
    previous = {"email": "old." + EMAIL, "metadata": {"crm_contact": FOREIGN}}
    stored = _stored(event_type, original, previous_attributes=previous)
    text = json.dumps(stored)
    assert [value for value in PERSONAL if value in text] == []
    assert "old." + EMAIL not in text
    # The envelope, the object's id and saaskit's own metadata are kept.
    assert stored["type"] == event_type and stored["data"]["object"]["id"] == original["id"]
    assert stored["data"]["object"]["metadata"].get("saaskit_user_id") == METADATA["saaskit_user_id"]


def _own(metadata: Any) -> Any:
    """What processing reads of metadata: saaskit's own keys."""
    return (
        {k: v for k, v in metadata.items() if k.startswith("saaskit_")}
        if isinstance(metadata, dict)
        else None
    )


def _read_subscription(obj: dict[str, Any]) -> Any:
    keys = ("id", "status", "quantity", "trial_start", "trial_end", "cancel_at_period_end", "cancel_at",
            "canceled_at", "ended_at", "start_date", "created")  # fmt: skip
    return (
        shapes.customer_id(obj),
        shapes.subscription_item(obj),
        shapes.subscription_period(obj),
        shapes.price_interval(obj),
        [obj.get(k) for k in keys],
        _own(obj.get("metadata")),
    )


def _read_invoice(obj: dict[str, Any]) -> Any:
    keys = ("id", "status", "number", "billing_reason", "currency", "subtotal", "total", "amount_due",
            "amount_paid", "attempt_count", "period_start", "period_end", "hosted_invoice_url",
            "invoice_pdf", "created", "status_transitions")  # fmt: skip
    lines = [
        (
            line.get("id"),
            shapes.line_price_id(line),
            shapes.line_proration(line),
            shapes.line_subscription_id(line),
            [line.get(k) for k in ("description", "amount", "currency", "quantity", "period")],
        )
        for line in shapes.invoice_lines(obj)
    ]
    return (
        shapes.customer_id(obj),
        shapes.invoice_subscription_id(obj),
        shapes.invoice_payment_intent_id(obj),
        shapes.invoice_discount_cents(obj),
        shapes.dig(obj, "last_finalization_error", "message"),
        [obj.get(k) for k in keys],
        _own(obj.get("metadata")),
        lines,
    )


def _read_payment_intent(obj: dict[str, Any]) -> Any:
    charge = shapes.payment_intent_charge(obj)
    receipt = charge.get("receipt_url") if isinstance(charge, dict) else None
    return (
        obj["id"],
        obj.get("status"),
        _own(obj.get("metadata")),
        shapes.id_of(charge),
        receipt,
        shapes.payment_error(obj),
    )


def _read_charge(obj: dict[str, Any]) -> Any:
    return (
        obj["id"],
        obj.get("amount_refunded"),
        shapes.id_of(obj.get("payment_intent")),
        shapes.id_of(obj.get("invoice")),
    )


def _read_setup_intent(obj: dict[str, Any]) -> Any:
    return (shapes.customer_id(obj), shapes.id_of(obj.get("payment_method")), _own(obj.get("metadata")))


def _read_customer(obj: dict[str, Any]) -> Any:
    default = shapes.id_of(shapes.dig(obj, "invoice_settings", "default_payment_method"))
    return (obj["id"], _own(obj.get("metadata")), default)


def _read_payment_method(obj: dict[str, Any]) -> Any:
    card = obj.get("card") or {}
    fingerprint = card.get("fingerprint_hash") or (
        keyed_hash(SECRET, "card", card["fingerprint"]) if card.get("fingerprint") else None
    )
    keys = ("brand", "last4", "exp_month", "exp_year")
    return (obj["id"], obj.get("type"), shapes.customer_id(obj), [card.get(k) for k in keys], fingerprint)


READERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "customer.updated": _read_customer,
    "payment_method.attached": _read_payment_method,
    "charge.refunded": _read_charge,
    "payment_intent.payment_failed": _read_payment_intent,
    "setup_intent.succeeded": _read_setup_intent,
    "customer.subscription.updated": _read_subscription,
    "invoice.paid": _read_invoice,
}


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_processing_reads_the_same_values(event_type: str) -> None:
    original = SAMPLES[event_type]()
    stored = _stored(event_type, original)["data"]["object"]
    read = READERS[event_type]
    assert read(stored) == read(original)


def test_older_shapes_and_objects_without_their_type() -> None:
    """localstripe's 2017 shapes (Plans, periods on the subscription), even without "object"."""
    for event_type, obj, read in (
        ("customer.subscription.created", OLD_SUBSCRIPTION, _read_subscription),
        ("invoice.payment_succeeded", OLD_INVOICE, _read_invoice),
    ):
        stored = _stored(event_type, dict(obj))["data"]["object"]
        assert read(stored) == read(dict(obj))


def test_card_fingerprint_is_kept_as_its_keyed_hash_only() -> None:
    card = _stored("payment_method.attached", _payment_method())["data"]["object"]["card"]
    assert card == {
        "brand": "visa",
        "last4": "4242",
        "exp_month": 8,
        "exp_year": 2030,
        "funding": "credit",
        "fingerprint_hash": keyed_hash(SECRET, "card", FINGERPRINT),
    }
    # Without the instance secret (re-redacting old rows in a migration) it is dropped.
    unkeyed = redaction.redact_event(event_of("payment_method.attached", _payment_method()), None)
    assert "fingerprint_hash" not in unkeyed["data"]["object"]["card"]


def test_unknown_types_keep_ids_and_amounts_only() -> None:
    session = {
        "id": "qt_1",
        "object": "quote",
        "customer_details": {"email": EMAIL, "name": NAME, "address": ADDRESS, "phone": PHONE},
        "customer_email": EMAIL,
        "amount_total": 1500,
        "status": "complete",
        "customer": "cus_1",
        "metadata": METADATA,
    }
    stored = _stored("quote.finalized", session)
    assert stored["data"]["object"] == {
        "id": "qt_1",
        "object": "quote",
        "status": "complete",
        "customer": "cus_1",
        "metadata": {"saaskit_user_id": METADATA["saaskit_user_id"]},
    }
    assert stored["request"] == {"id": None, "idempotency_key": None}


def test_checkout_sessions_keep_what_completion_reads_only() -> None:
    session = {
        "id": "cs_1",
        "object": "checkout.session",
        "customer_details": {"email": EMAIL, "name": NAME, "address": ADDRESS, "phone": PHONE},
        "customer_email": EMAIL,
        "success_url": "https://app.example.com/billing?checkout=success",
        "mode": "payment",
        "payment_status": "paid",
        "payment_intent": "pi_1",
        "amount_total": 1500,
        "currency": "usd",
        "status": "complete",
        "customer": "cus_1",
        "metadata": METADATA,
    }
    stored = _stored("checkout.session.completed", session)["data"]["object"]
    assert EMAIL not in str(stored) and NAME not in str(stored) and "success_url" not in stored
    assert {
        k: stored[k] for k in ("mode", "payment_status", "payment_intent", "amount_total", "customer")
    } == {
        "mode": "payment",
        "payment_status": "paid",
        "payment_intent": "pi_1",
        "amount_total": 1500,
        "customer": "cus_1",
    }


def test_redaction_is_idempotent() -> None:
    """Redacting a stored event again (the migration over old rows) changes nothing."""
    for event_type, make in SAMPLES.items():
        stored = _stored(event_type, make())
        assert redaction.redact_event(stored, SECRET) == stored


def test_docs_list_every_kept_field() -> None:
    """docs/privacy.md's table names every top-level field each list keeps."""
    doc = (Path(__file__).parents[2] / "docs" / "privacy.md").read_text()
    rows = {
        m.group(1): m.group(2) for m in re.finditer(r"^\| `([a-z_.]+)` \| (.+) \|$", doc, flags=re.MULTILINE)
    }
    common = set(redaction.OBJECTS["customer"]) & set(redaction.OBJECTS["payment_method"])
    for kind, spec in redaction.OBJECTS.items():
        assert kind in rows, kind
        missing = [key for key in spec if key not in common and f"`{key}" not in rows[kind]]
        assert missing == [], (kind, missing)
