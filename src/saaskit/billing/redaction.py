"""What of a Stripe event saaskit stores: an allow-list per Stripe object type.

Stripe's events carry personal data saaskit has no use for: cardholder names, e-mails, phone
numbers and addresses (``billing_details``, ``customer_email``, ``shipping`` ...), the card's
fingerprint, client secrets, free-text cancellation comments. ``redact_event`` keeps, for each
object type, only the fields processing reads (``billing.shapes``, ``sync``, ``invoices``,
``credits``, ``payment_methods``) and those an audit of the billing history needs (amounts,
statuses, times, Stripe ids); everything else is dropped *before* the event is inserted, so the
raw data never reaches the database. Processing and an admin's reprocess both work from the
stored, redacted event. The lists are documented in ``docs/privacy.md``; a test checks that
every personal value of Stripe's published samples is gone and that processing reads the same
values from the redacted event.

How a list is read (``Spec``):

- ``KEEP``: the value as it is (a scalar, an id, or a plain structure listed as safe); an
  expanded Stripe object found there is still redacted by its own type;
- a type name (``"customer"``): an expandable field, an id or an object of that type;
- a dict: a nested plain structure with its own allow-list;
- ``METADATA``: only the metadata keys saaskit writes itself (``saaskit_*``, ``tier``,
  ``credits_cents``, ``type``); other integrations' metadata may hold anything;
- ``HASHED``: the value replaced by its keyed hash under ``<field>_hash`` (the card
  fingerprint: ``payment_methods.card_fingerprint_hash`` is computed from it).

Lists (``[...]`` and Stripe's ``{"object": "list", "data": [...]}``) are read element-wise.
Objects of a type not listed keep only ``FALLBACK``'s fields (ids, type, status, amounts).
"""

from __future__ import annotations

from typing import Any, Final

from saaskit.kit.hashing import keyed_hash

Obj = dict[str, Any]


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


KEEP: Final = _Marker("KEEP")
METADATA: Final = _Marker("METADATA")
HASHED: Final = _Marker("HASHED")

Spec = _Marker | str | dict[str, Any]

# The metadata saaskit writes on Stripe objects (owners.Owner.metadata, plans, top-ups).
METADATA_KEYS = frozenset({"tier", "credits_cents", "type"})
METADATA_PREFIX = "saaskit_"
# The purpose of the card fingerprint's keyed hash (the same as payment_methods.upsert's).
FINGERPRINT_PURPOSE = "card"

_COMMON: dict[str, Spec] = {
    "id": KEEP,
    "object": KEEP,
    "created": KEEP,
    "livemode": KEEP,
    "metadata": METADATA,
}
_ERROR: dict[str, Spec] = {"type": KEEP, "code": KEEP, "decline_code": KEEP, "message": KEEP, "param": KEEP}
_CARD: dict[str, Spec] = {
    "brand": KEEP,
    "last4": KEEP,
    "exp_month": KEEP,
    "exp_year": KEEP,
    "funding": KEEP,
    "network": KEEP,
    "fingerprint": HASHED,
    "fingerprint_hash": KEEP,  # already redacted
}

OBJECTS: dict[str, dict[str, Spec]] = {
    "customer": {
        **_COMMON,
        "deleted": KEEP,
        "currency": KEEP,
        "balance": KEEP,
        "delinquent": KEEP,
        "default_source": KEEP,
        "discount": "discount",
        "invoice_settings": {"default_payment_method": "payment_method"},
        "test_clock": KEEP,
    },
    "subscription": {
        **_COMMON,
        "customer": "customer",
        "status": KEEP,
        "items": "subscription_item",
        "plan": "plan",
        "quantity": KEEP,
        "currency": KEEP,
        "collection_method": KEEP,
        "billing_cycle_anchor": KEEP,
        "start_date": KEEP,
        "current_period_start": KEEP,
        "current_period_end": KEEP,
        "trial_start": KEEP,
        "trial_end": KEEP,
        "cancel_at_period_end": KEEP,
        "cancel_at": KEEP,
        "canceled_at": KEEP,
        "ended_at": KEEP,
        "cancellation_details": {"reason": KEEP, "feedback": KEEP},
        "pause_collection": {"behavior": KEEP, "resumes_at": KEEP},
        "days_until_due": KEEP,
        "default_payment_method": "payment_method",
        "latest_invoice": "invoice",
        "discount": "discount",
        "discounts": "discount",
        "schedule": KEEP,
        "test_clock": KEEP,
    },
    "subscription_item": {
        **_COMMON,
        "subscription": KEEP,
        "price": "price",
        "plan": "plan",
        "quantity": KEEP,
        "current_period_start": KEEP,
        "current_period_end": KEEP,
        "discounts": "discount",
    },
    "price": {
        **_COMMON,
        "active": KEEP,
        "currency": KEEP,
        "unit_amount": KEEP,
        "unit_amount_decimal": KEEP,
        "billing_scheme": KEEP,
        "type": KEEP,
        "recurring": {"interval": KEEP, "interval_count": KEEP, "usage_type": KEEP},
        "product": "product",
        "lookup_key": KEEP,
        "nickname": KEEP,
    },
    "plan": {
        **_COMMON,
        "active": KEEP,
        "amount": KEEP,
        "amount_decimal": KEEP,
        "currency": KEEP,
        "interval": KEEP,
        "interval_count": KEEP,
        "usage_type": KEEP,
        "billing_scheme": KEEP,
        "trial_period_days": KEEP,
        "product": "product",
        "nickname": KEEP,
    },
    "product": {**_COMMON, "active": KEEP, "name": KEEP, "type": KEEP},
    "coupon": {
        **_COMMON,
        "name": KEEP,
        "amount_off": KEEP,
        "percent_off": KEEP,
        "currency": KEEP,
        "duration": KEEP,
        "duration_in_months": KEEP,
        "valid": KEEP,
    },
    "discount": {
        "id": KEEP,
        "object": KEEP,
        "coupon": "coupon",
        "source": {"type": KEEP, "coupon": "coupon"},
        "promotion_code": KEEP,
        "start": KEEP,
        "end": KEEP,
        "subscription": KEEP,
        "subscription_item": KEEP,
        "invoice": KEEP,
        "invoice_item": KEEP,
        "customer": "customer",
    },
    "invoice": {
        **_COMMON,
        "date": KEEP,  # the old name of created (API versions before 2019, localstripe)
        "customer": "customer",
        "subscription": "subscription",
        "parent": {
            "type": KEEP,
            "subscription_details": {"subscription": "subscription", "metadata": METADATA},
        },
        "status": KEEP,
        "number": KEEP,
        "billing_reason": KEEP,
        "collection_method": KEEP,
        "currency": KEEP,
        "subtotal": KEEP,
        "subtotal_excluding_tax": KEEP,
        "tax": KEEP,
        "total": KEEP,
        "total_excluding_tax": KEEP,
        "total_discount_amounts": {"amount": KEEP, "discount": "discount"},
        "discount": "discount",
        "discounts": "discount",
        "amount_due": KEEP,
        "amount_paid": KEEP,
        "amount_remaining": KEEP,
        "amount_overpaid": KEEP,
        "attempt_count": KEEP,
        "attempted": KEEP,
        "paid": KEEP,
        "period_start": KEEP,
        "period_end": KEEP,
        "due_date": KEEP,
        "effective_at": KEEP,
        "next_payment_attempt": KEEP,
        "status_transitions": KEEP,
        "hosted_invoice_url": KEEP,
        "invoice_pdf": KEEP,
        "payment_intent": "payment_intent",
        "charge": "charge",
        "payments": "invoice_payment",
        "lines": "line_item",
        "last_finalization_error": _ERROR,
        "test_clock": KEEP,
    },
    "line_item": {
        **_COMMON,
        "invoice": KEEP,
        "type": KEEP,
        "amount": KEEP,
        "currency": KEEP,
        "description": KEEP,
        "quantity": KEEP,
        "period": KEEP,
        "proration": KEEP,
        "subscription": KEEP,
        "subscription_item": KEEP,
        "price": "price",
        "plan": "plan",
        "pricing": {
            "type": KEEP,
            "unit_amount_decimal": KEEP,
            "price_details": {"price": "price", "product": "product"},
        },
        "parent": {
            "type": KEEP,
            "subscription_item_details": {
                "subscription": KEEP,
                "subscription_item": KEEP,
                "invoice_item": KEEP,
                "proration": KEEP,
            },
            "invoice_item_details": {"subscription": KEEP, "invoice_item": KEEP, "proration": KEEP},
        },
    },
    "invoice_payment": {
        **_COMMON,
        "invoice": KEEP,
        "amount_paid": KEEP,
        "amount_requested": KEEP,
        "currency": KEEP,
        "is_default": KEEP,
        "status": KEEP,
        "status_transitions": KEEP,
        "payment": {"type": KEEP, "payment_intent": "payment_intent", "charge": "charge"},
    },
    "payment_intent": {
        **_COMMON,
        "customer": "customer",
        "invoice": "invoice",
        "status": KEEP,
        "amount": KEEP,
        "amount_received": KEEP,
        "amount_capturable": KEEP,
        "currency": KEEP,
        "capture_method": KEEP,
        "canceled_at": KEEP,
        "cancellation_reason": KEEP,
        "payment_method": "payment_method",
        "payment_method_types": KEEP,
        "setup_future_usage": KEEP,
        "latest_charge": "charge",
        "charges": "charge",
        "last_payment_error": _ERROR,
    },
    "charge": {
        **_COMMON,
        "customer": "customer",
        "invoice": "invoice",
        "payment_intent": "payment_intent",
        "payment_method": KEEP,
        "status": KEEP,
        "amount": KEEP,
        "amount_captured": KEEP,
        "amount_refunded": KEEP,
        "currency": KEEP,
        "paid": KEEP,
        "captured": KEEP,
        "refunded": KEEP,
        "disputed": KEEP,
        "failure_code": KEEP,
        "failure_message": KEEP,
        "outcome": {"type": KEEP, "reason": KEEP, "network_status": KEEP, "seller_message": KEEP},
        "payment_method_details": {"type": KEEP, "card": _CARD},
        "receipt_url": KEEP,
        "refunds": "refund",
        "balance_transaction": KEEP,
    },
    "refund": {
        **_COMMON,
        "amount": KEEP,
        "currency": KEEP,
        "status": KEEP,
        "reason": KEEP,
        "charge": KEEP,
        "payment_intent": KEEP,
    },
    # A chargeback: which payment, how much, where it stands (billing/disputes.py). Its evidence
    # (names, e-mail and IP addresses, documents) is never stored.
    "dispute": {
        **_COMMON,
        "charge": "charge",
        "payment_intent": "payment_intent",
        "amount": KEEP,
        "currency": KEEP,
        "status": KEEP,
        "reason": KEEP,
        "is_charge_refundable": KEEP,
    },
    "setup_intent": {
        **_COMMON,
        "customer": "customer",
        "status": KEEP,
        "usage": KEEP,
        "payment_method": "payment_method",
        "payment_method_types": KEEP,
        "cancellation_reason": KEEP,
        "last_setup_error": _ERROR,
    },
    "payment_method": {**_COMMON, "customer": "customer", "type": KEEP, "card": _CARD},
    # Checkout (billing.checkout): what was bought and whether it is paid; customer_details
    # (e-mail, name, address) and the redirect addresses are dropped.
    "checkout.session": {
        **_COMMON,
        "customer": "customer",
        "mode": KEEP,
        "status": KEEP,
        "payment_status": KEEP,
        "client_reference_id": KEEP,
        "amount_subtotal": KEEP,
        "amount_total": KEEP,
        "currency": KEEP,
        "payment_intent": "payment_intent",
        "subscription": "subscription",
        "setup_intent": "setup_intent",
        "invoice": "invoice",
        "expires_at": KEEP,
    },
}

# Objects of any other type (events saaskit stores as ``ignored``, nested objects it never reads).
FALLBACK: dict[str, Spec] = {
    **_COMMON,
    "type": KEEP,
    "status": KEEP,
    "customer": "customer",
    "amount": KEEP,
    "currency": KEEP,
}

# The event's envelope; data.object and data.previous_attributes go by the object's type.
ENVELOPE: dict[str, Spec] = {
    "id": KEEP,
    "object": KEEP,
    "api_version": KEEP,
    "created": KEEP,
    "livemode": KEEP,
    "pending_webhooks": KEEP,
    "type": KEEP,
    "account": KEEP,
    "request": {"id": KEEP, "idempotency_key": KEEP},
}
_LIST_ENVELOPE = ("object", "has_more", "total_count", "url")


def redact_event(event: Obj, secret: str | None) -> Obj:
    """The event as saaskit stores it. ``secret`` keys the fingerprint hash (without it, the
    fingerprint is dropped)."""
    redactor = _Redactor(secret)
    stored = redactor.fields(event, ENVELOPE)
    data = event.get("data")
    if isinstance(data, dict):
        obj = data.get("object")
        kind = obj.get("object") if isinstance(obj, dict) else None
        if not isinstance(kind, str):
            kind = object_type_of(str(event.get("type") or ""))
        spec = OBJECTS.get(kind, FALLBACK)
        stored_data: Obj = {"object": redactor.value(obj, spec)}
        previous = data.get("previous_attributes")
        if isinstance(previous, dict):
            stored_data["previous_attributes"] = redactor.fields(previous, spec)
        stored["data"] = stored_data
    return stored


def object_type_of(event_type: str) -> str:
    """``customer.subscription.updated`` -> ``subscription``; ``invoice.paid`` -> ``invoice``."""
    if event_type.startswith("customer.subscription."):
        return "subscription"
    return event_type.split(".", 1)[0]


def redact_object(obj: Obj, secret: str | None = None) -> Obj:
    """One Stripe object, redacted by its own type."""
    kind = obj.get("object")
    return _Redactor(secret).fields(obj, OBJECTS.get(kind, FALLBACK) if isinstance(kind, str) else FALLBACK)


class _Redactor:
    def __init__(self, secret: str | None) -> None:
        self.secret = secret

    def fields(self, obj: Obj, spec: dict[str, Spec]) -> Obj:
        kept: Obj = {}
        for key, value in obj.items():
            rule = spec.get(key)
            if rule is None:
                continue
            if rule is HASHED:
                if isinstance(value, str) and self.secret:
                    kept[f"{key}_hash"] = keyed_hash(self.secret, FINGERPRINT_PURPOSE, value)
                elif value is None:
                    kept[f"{key}_hash"] = None
                continue
            kept[key] = self.value(value, rule)
        return kept

    def value(self, value: Any, rule: Spec) -> Any:
        if isinstance(value, list):
            return [self.value(item, rule) for item in value]
        if not isinstance(value, dict):
            return value  # a scalar: an id, an amount, a status, a time
        is_list = value.get("object") == "list" or (
            "object" not in value and isinstance(value.get("data"), list) and isinstance(rule, str)
        )
        if is_list:
            listed = {key: value[key] for key in _LIST_ENVELOPE if key in value}
            listed["data"] = self.value(value.get("data") or [], rule)
            return listed
        if rule is METADATA:
            return {
                key: item
                for key, item in value.items()
                if key.startswith(METADATA_PREFIX) or key in METADATA_KEYS
            }
        kind = value.get("object")
        if isinstance(kind, str):  # a Stripe object, wherever it is found: by its own type
            return self.fields(value, OBJECTS.get(kind, FALLBACK))
        if isinstance(rule, str):  # an object of the expected type without its "object" key
            return self.fields(value, OBJECTS.get(rule, FALLBACK))
        if isinstance(rule, dict):
            return self.fields(value, rule)
        return {key: self.value(item, KEEP) for key, item in value.items()}
