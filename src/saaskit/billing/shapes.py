"""Reading Stripe objects in both the current API's shapes and older ones.

Stripe moved fields between API versions; saaskit reads both, so it works with any account's
API version and with localstripe (which answers in ~2017-2019 shapes):

- subscription periods: ``items.data[].current_period_*`` (2025-03-31 "basil" and later) or
  ``current_period_*`` on the subscription (older);
- what is subscribed: ``item.price`` (Prices) or ``item.plan`` / ``subscription.plan`` (Plans);
- an invoice's subscription: ``parent.subscription_details.subscription`` or ``subscription``;
- an invoice's payment: ``payments.data[].payment.payment_intent`` or ``payment_intent``;
- a line's proration: ``parent.*_details.proration`` or ``proration``; its price:
  ``pricing.price_details.price`` or ``price`` / ``plan``;
- expandable fields arrive as an id or as the expanded object (localstripe expands some).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]

# Stripe's subscription statuses in saaskit's words (seed 004 + seed 002's statistics).
SUBSCRIPTION_STATUS = {
    "trialing": "trialing",
    "active": "active",
    "past_due": "past_due",
    "unpaid": "past_due",
    "paused": "past_due",
    "canceled": "cancelled",
    "incomplete": "incomplete",
    "incomplete_expired": "expired",
}


def id_of(value: Any) -> str | None:
    """An expandable field: an id, an expanded object, or nothing."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        found = value.get("id")
        return found if isinstance(found, str) else None
    return None


def ts(value: Any) -> datetime | None:
    """Stripe's Unix seconds as an aware UTC datetime."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    return None


def dig(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def items(obj: Obj) -> list[Obj]:
    data = dig(obj, "items", "data")
    return [i for i in data if isinstance(i, dict)] if isinstance(data, list) else []


def subscription_period(sub: Obj) -> tuple[datetime | None, datetime | None]:
    start, end = sub.get("current_period_start"), sub.get("current_period_end")
    if start is None or end is None:
        first = items(sub)[0] if items(sub) else {}
        start = first.get("current_period_start", start)
        end = first.get("current_period_end", end)
    return ts(start), ts(end)


def subscription_item(sub: Obj) -> tuple[str | None, str | None, int]:
    """(item id, price or plan id, quantity) of the subscription's first item."""
    found = items(sub)
    if found:
        item = found[0]
        price = id_of(item.get("price")) or id_of(item.get("plan"))
        return item.get("id"), price, int(item.get("quantity") or 1)
    return None, id_of(sub.get("plan")), int(sub.get("quantity") or 1)


def price_interval(sub: Obj) -> str | None:
    found = items(sub)
    item = found[0] if found else sub
    interval = dig(item, "price", "recurring", "interval") or dig(item, "plan", "interval")
    return str(interval) if interval else None


def customer_id(obj: Obj) -> str | None:
    return id_of(obj.get("customer"))


def invoice_subscription_id(invoice: Obj) -> str | None:
    return id_of(dig(invoice, "parent", "subscription_details", "subscription")) or id_of(
        invoice.get("subscription")
    )


def invoice_payment_intent_id(invoice: Obj) -> str | None:
    direct = id_of(invoice.get("payment_intent"))
    if direct:
        return direct
    payments = dig(invoice, "payments", "data")
    if isinstance(payments, list):
        for payment in payments:
            found = id_of(dig(payment, "payment", "payment_intent"))
            if found:
                return found
    return None


def invoice_discount_cents(invoice: Obj) -> int:
    amounts = invoice.get("total_discount_amounts")
    if isinstance(amounts, list):
        return sum(int(a.get("amount") or 0) for a in amounts if isinstance(a, dict))
    subtotal, total = invoice.get("subtotal"), invoice.get("total")
    if isinstance(subtotal, int) and isinstance(total, int) and subtotal > total:
        return subtotal - total - int(invoice.get("tax") or 0)
    return 0


def line_proration(line: Obj) -> bool:
    parent = line.get("parent")
    if isinstance(parent, dict):
        for key in ("subscription_item_details", "invoice_item_details"):
            details = parent.get(key)
            if isinstance(details, dict) and details.get("proration") is not None:
                return bool(details["proration"])
    return bool(line.get("proration"))


def line_price_id(line: Obj) -> str | None:
    return (
        id_of(dig(line, "pricing", "price_details", "price"))
        or id_of(line.get("price"))
        or id_of(line.get("plan"))
    )


def line_subscription_id(line: Obj) -> str | None:
    return id_of(dig(line, "parent", "subscription_item_details", "subscription")) or id_of(
        line.get("subscription")
    )


def invoice_lines(invoice: Obj) -> list[Obj]:
    data = dig(invoice, "lines", "data")
    return [line for line in data if isinstance(line, dict)] if isinstance(data, list) else []


def payment_intent_charge(intent: Obj) -> Obj | str | None:
    """The latest charge: ``latest_charge`` (id or object) or the old ``charges.data[0]``."""
    latest = intent.get("latest_charge")
    if latest:
        return latest  # type: ignore[no-any-return]
    charges = dig(intent, "charges", "data")
    if isinstance(charges, list) and charges:
        return charges[-1]  # type: ignore[no-any-return]
    return None


def payment_error(intent: Obj) -> tuple[str | None, str | None]:
    error = intent.get("last_payment_error")
    if isinstance(error, dict):
        return error.get("decline_code") or error.get("code"), error.get("message")
    return None, None
