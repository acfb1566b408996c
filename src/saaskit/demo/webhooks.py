"""The Stripe webhook log of the last 30 days: every subscription change and invoice payment as
Stripe would have sent it (current API shapes, which ``billing.shapes`` reads), processed.

A few ``invoice.paid`` deliveries failed after every retry (a transient database error): their
invoice, line and payment are not in the tables and the customer's ``total_spent_cents`` does
not count them, so the admin's "reprocess" applies them for real.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from psycopg.types.json import Jsonb

from saaskit.billing import models as billing_models
from saaskit.demo.billing import Billing, Invoice, Subscription, invoice_number, stripe_ids
from saaskit.demo.config import WEBHOOK_WINDOW_DAYS, DemoConfig, from_us
from saaskit.demo.copying import Row, TableData
from saaskit.demo.people import People
from saaskit.demo.rand import new_uuid, rng_for, token
from saaskit.demo.tenancy import Tenancy
from saaskit.kit.columns import copy_columns

API_VERSION = "2025-03-31.basil"
MAX_ATTEMPTS = 6  # StripeSettings.webhook_max_attempts' default
FAILURE = "OperationalError: terminating connection due to administrator command"
COLUMNS = copy_columns(
    billing_models.StripeWebhookEvent,
    (
        "id",
        "stripe_event_id",
        "event_type",
        "user_id",
        "organization_id",
        "old_tier",
        "new_tier",
        "processed_at",
        "event_data",
        "processing_status",
        "error_message",
        "retry_count",
        "stripe_created_at",
        "api_version",
        "livemode",
        "created_at",
    ),
)


def _sec(us: int | None) -> int | None:
    return us // 1_000_000 if us is not None else None


def _metadata(sub: Subscription, people: People, tenancy: Tenancy) -> dict[str, str]:
    if sub.user >= 0:
        return {"saaskit_user_id": str(people.uuid(sub.user))}
    return {"saaskit_organization_id": str(tenancy.uuid(sub.org))}


def subscription_object(sub: Subscription, status: str, at: int, meta: dict[str, str]) -> dict[str, Any]:
    cancelled = sub.cancelled_at is not None and sub.cancelled_at <= at
    ended = sub.ended_at is not None and sub.ended_at <= at
    return {
        "id": sub.stripe_id,
        "object": "subscription",
        "customer": sub.customer,
        "status": status,
        "created": _sec(sub.started),
        "start_date": _sec(sub.started),
        "trial_start": _sec(sub.trial_start),
        "trial_end": _sec(sub.trial_end),
        "cancel_at_period_end": sub.cancel_at_period_end and cancelled,
        "cancel_at": _sec(sub.cancel_at) if cancelled else None,
        "canceled_at": _sec(sub.cancelled_at) if cancelled else None,
        "ended_at": _sec(sub.ended_at) if ended else None,
        "currency": "usd",
        "livemode": False,
        "metadata": meta,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_demo{sub.number:08d}",
                    "object": "subscription_item",
                    "quantity": sub.quantity,
                    "current_period_start": _sec(sub.period_start),
                    "current_period_end": _sec(sub.period_end),
                    "price": {
                        "id": sub.plan.stripe_price_id,
                        "object": "price",
                        "currency": "usd",
                        "unit_amount": sub.plan.price_cents,
                        "product": f"prod_demo_{sub.plan.tier}",
                        "recurring": {"interval": sub.plan.interval, "interval_count": 1},
                    },
                }
            ],
        },
    }


def invoice_object(
    config: DemoConfig, sub: Subscription, inv: Invoice, meta: dict[str, str]
) -> dict[str, Any]:
    ids = stripe_ids(config, sub, inv)
    url = f"https://invoice.stripe.com/i/acct_demo/{ids['invoice']}"
    paid = inv.amount_cents if inv.status == "paid" else 0
    return {
        "id": ids["invoice"],
        "object": "invoice",
        "customer": sub.customer,
        "status": inv.status,
        "number": invoice_number(sub, inv),
        "billing_reason": inv.reason,
        "currency": "usd",
        "subtotal": inv.amount_cents,
        "total": inv.amount_cents,
        "amount_due": inv.amount_cents,
        "amount_paid": paid,
        "attempt_count": inv.attempts,
        "created": _sec(inv.period_start),
        "period_start": _sec(inv.period_start),
        "period_end": _sec(inv.period_end),
        "hosted_invoice_url": url,
        "invoice_pdf": url + "/pdf",
        "metadata": meta,
        "status_transitions": {
            "finalized_at": _sec(inv.period_start),
            "paid_at": _sec(inv.paid_at),
            "voided_at": None,
            "marked_uncollectible_at": None,
        },
        "parent": {"type": "subscription_details", "subscription_details": {"subscription": sub.stripe_id}},
        "payments": {
            "object": "list",
            "data": [{"payment": {"type": "payment_intent", "payment_intent": ids["payment_intent"]}}],
        },
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": ids["line"],
                    "object": "line_item",
                    "amount": inv.amount_cents,
                    "currency": "usd",
                    "description": f"{sub.quantity} x {sub.plan.name}",
                    "quantity": sub.quantity,
                    "period": {"start": _sec(inv.period_start), "end": _sec(inv.period_end)},
                    "pricing": {
                        "type": "price_details",
                        "price_details": {"price": sub.plan.stripe_price_id},
                    },
                    "parent": {
                        "type": "subscription_item_details",
                        "subscription_item_details": {"subscription": sub.stripe_id, "proration": False},
                    },
                }
            ],
        },
    }


def _moments(sub: Subscription) -> Iterator[tuple[str, int, str, Invoice | None]]:
    """(event type, when, Stripe status then, invoice) of everything Stripe told about ``sub``."""
    yield "customer.subscription.created", sub.started, "trialing" if sub.trial_start else "active", None
    if sub.trial_end is not None and any(i.reason == "subscription_cycle" for i in sub.invoices):
        yield "customer.subscription.updated", sub.trial_end, "active", None
    for inv in sub.invoices:
        if inv.paid_at is not None:
            yield "invoice.paid", inv.paid_at, "active", inv
        else:
            yield "invoice.payment_failed", inv.period_start + 60_000_000, "past_due", inv
    if sub.cancelled_at is not None and sub.ended_at != sub.cancelled_at:
        yield "customer.subscription.updated", sub.cancelled_at, sub.stripe_status, None
    if sub.ended_at is not None:
        yield "customer.subscription.deleted", sub.ended_at, sub.stripe_status, None


def mark_failed_deliveries(config: DemoConfig, billing: Billing) -> None:
    """Withhold the invoices whose ``invoice.paid`` delivery failed (about 1 in 200, at least 2)."""
    rng = rng_for(config.seed, "webhooks", "failed")
    window = config.now_us - WEBHOOK_WINDOW_DAYS * 86_400_000_000
    paid = [
        inv for sub in billing.subscriptions for inv in sub.invoices if inv.paid_at and inv.paid_at >= window
    ]
    wanted = max(min(2, len(paid)), len(paid) // 200)
    for inv in sorted(paid, key=lambda i: rng.random())[:wanted]:
        inv.withheld = True


def webhook_table(config: DemoConfig, people: People, tenancy: Tenancy, billing: Billing) -> TableData:
    window = max(config.start_us, config.now_us - WEBHOOK_WINDOW_DAYS * 86_400_000_000)
    rng = rng_for(config.seed, "webhooks")
    found: list[tuple[int, int, str, Subscription, str, Invoice | None]] = []
    for sub in billing.subscriptions:
        for n, (kind, at, status, inv) in enumerate(_moments(sub)):
            if window <= at < config.now_us - 5_000_000:
                found.append((at, sub.number * 1000 + n, kind, sub, status, inv))
    found.sort(key=lambda item: (item[0], item[1]))

    def rows() -> Iterator[Row]:
        for at, key, kind, sub, status, inv in found:
            meta = _metadata(sub, people, tenancy)
            obj = (
                invoice_object(config, sub, inv, meta) if inv else subscription_object(sub, status, at, meta)
            )
            event = {
                "id": f"evt_{token(config.seed, 'evt', key)}",
                "object": "event",
                "api_version": API_VERSION,
                "created": _sec(at),
                "livemode": False,
                "pending_webhooks": 0,
                "request": {"id": None, "idempotency_key": None},
                "type": kind,
                "data": {"object": obj},
            }
            received = at + 500_000 + int(rng.random() * 4_000_000)
            user: uuid.UUID | None = people.uuid(sub.user) if sub.user >= 0 else None
            org: uuid.UUID | None = tenancy.uuid(sub.org) if sub.org >= 0 else None
            old_tier = new_tier = None
            if kind.startswith("customer.subscription."):
                old_tier = "free" if kind.endswith("created") else sub.plan.tier
                new_tier = "free" if kind.endswith("deleted") else sub.plan.tier
            if inv is not None and inv.withheld:
                yield (
                    new_uuid(rng),
                    event["id"],
                    kind,
                    None,
                    None,
                    None,
                    None,
                    None,
                    Jsonb(event),
                    "failed",
                    FAILURE,
                    MAX_ATTEMPTS,
                    from_us(at),
                    API_VERSION,
                    False,
                    from_us(received),
                )
                continue
            processed = from_us(received + 200_000 + int(rng.random() * 2_000_000))
            yield (
                new_uuid(rng),
                event["id"],
                kind,
                user,
                org,
                old_tier,
                new_tier,
                processed,
                Jsonb(event),
                "processed",
                None,
                0,
                from_us(at),
                API_VERSION,
                False,
                from_us(received),
            )

    return TableData("stripe_webhook_events", COLUMNS, rows(), len(found))
