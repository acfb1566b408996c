"""The billing rows: the plan catalog, subscriptions, saved cards, invoices with their lines, and
the payment of every paid invoice (one transaction each, as ``billing.invoices`` records them).
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
from psycopg.types.json import Jsonb

from saaskit.billing import models as billing_models
from saaskit.demo.billing import Billing, Plan, Subscription, invoice_number, stripe_ids
from saaskit.demo.config import DAY_US, MINUTE_US, DemoConfig, from_us
from saaskit.demo.copying import Row, TableData
from saaskit.demo.metering import plan_limits
from saaskit.demo.people import People
from saaskit.demo.rand import fake_hash, new_uuid, rng_for, token
from saaskit.demo.tenancy import Tenancy
from saaskit.kit.columns import column_list, copy_columns

# name, tier, interval, price in cents, trial days, dashboards
DEMO_PLANS = (
    ("Free", "free", "month", 0, 0, 1),
    ("Pro (monthly)", "pro", "month", 800, 14, 3),
    ("Pro (yearly)", "pro", "year", 8000, 14, 3),
    ("Business (monthly)", "business", "month", 2400, 14, 10),
    ("Business (yearly)", "business", "year", 24000, 14, 10),
)
CARD_BRANDS = ("visa", "visa", "visa", "mastercard", "mastercard", "amex", "discover")
# The catalog's few rows go through text COPY: names only.
PLAN_COLUMNS = column_list(
    billing_models.SubscriptionPlan,
    (
        "id",
        "name",
        "tier",
        "description",
        "billing_interval",
        "price_cents",
        "trial_period_days",
        "features",
        "limits",
        "created_at",
        "updated_at",
    ),
)

SUBSCRIPTION_COLUMNS = copy_columns(
    billing_models.Subscription,
    (
        "id",
        "user_id",
        "organization_id",
        "plan_id",
        "plan_name",
        "tier",
        "billing_interval",
        "status",
        "stripe_status",
        "stripe_subscription_id",
        "stripe_subscription_item_id",
        "stripe_customer_id",
        "stripe_price_id",
        "quantity",
        "current_period_start",
        "current_period_end",
        "trial_start",
        "trial_end",
        "cancel_at_period_end",
        "cancel_at",
        "cancelled_at",
        "ended_at",
        "started_at",
        "ends_at",
        "stripe_updated_at",
        "created_at",
        "updated_at",
    ),
)
PAYMENT_METHOD_COLUMNS = copy_columns(
    billing_models.PaymentMethod,
    (
        "id",
        "user_id",
        "organization_id",
        "type",
        "provider",
        "provider_payment_method_id",
        "stripe_customer_id",
        "card_brand",
        "card_last4",
        "card_exp_month",
        "card_exp_year",
        "card_fingerprint_hash",
        "is_default",
        "created_at",
        "updated_at",
    ),
)
INVOICE_COLUMNS = copy_columns(
    billing_models.Invoice,
    (
        "id",
        "user_id",
        "organization_id",
        "subscription_id",
        "stripe_invoice_id",
        "stripe_customer_id",
        "stripe_subscription_id",
        "stripe_payment_intent_id",
        "number",
        "status",
        "billing_reason",
        "currency",
        "subtotal_cents",
        "discount_cents",
        "total_cents",
        "amount_due_cents",
        "amount_paid_cents",
        "attempt_count",
        "period_start",
        "period_end",
        "hosted_invoice_url",
        "invoice_pdf_url",
        "finalized_at",
        "paid_at",
        "last_payment_error",
        "stripe_created_at",
        "stripe_updated_at",
        "created_at",
        "updated_at",
    ),
)
LINE_COLUMNS = copy_columns(
    billing_models.InvoiceLineItem,
    (
        "id",
        "invoice_id",
        "user_id",
        "organization_id",
        "subscription_id",
        "plan_id",
        "stripe_line_item_id",
        "stripe_price_id",
        "description",
        "amount_cents",
        "quantity",
        "period_start",
        "period_end",
        "created_at",
    ),
)
TRANSACTION_COLUMNS = copy_columns(
    billing_models.PaymentTransaction,
    (
        "id",
        "user_id",
        "organization_id",
        "kind",
        "status",
        "amount_cents",
        "refunded_cents",
        "stripe_payment_intent_id",
        "stripe_charge_id",
        "stripe_invoice_id",
        "invoice_id",
        "subscription_id",
        "receipt_url",
        "succeeded_at",
        "description",
        "created_at",
        "updated_at",
    ),
)


def ensure_catalog(cursor: psycopg.Cursor[tuple[object, ...]], config: DemoConfig) -> list[Plan]:
    """The active plans; when no paid plan exists, the demo's free / pro / business catalog."""
    query = (
        "SELECT id, name, tier, billing_interval, price_cents, trial_period_days, "
        "coalesce((limits->>'max_dashboards')::int, 1), stripe_price_id "
        "FROM subscription_plans WHERE is_active ORDER BY price_cents, name"
    )
    rows = cursor.execute(query).fetchall()
    if not any(int(str(r[4])) > 0 for r in rows):
        rng = rng_for(config.seed, "plans")
        created = from_us(config.start_us - 30 * DAY_US)
        with cursor.copy(f"COPY subscription_plans ({PLAN_COLUMNS}) FROM STDIN") as copy:
            for name, tier, interval, price, trial, dashboards in DEMO_PLANS:
                features = {"custom_themes": tier != "free", "priority_support": tier == "business"}
                limits = plan_limits(dashboards, price)  # meters and quotas: demo/metering.py
                pitch = f"{dashboards} dashboard{'s' if dashboards > 1 else ''}, billed every {interval}"
                copy.write_row(
                    (
                        new_uuid(rng),
                        name,
                        tier,
                        pitch,
                        interval,
                        price,
                        trial,
                        Jsonb(features),
                        Jsonb(limits),
                        created,
                        created,
                    )
                )
        rows = cursor.execute(query).fetchall()
    return [
        Plan(
            id=r[0],  # type: ignore[arg-type]
            name=str(r[1]),
            tier=str(r[2]),
            interval=str(r[3]),
            price_cents=int(str(r[4])),
            trial_days=int(str(r[5])),
            max_dashboards=int(str(r[6])),
            stripe_price_id=str(r[7]) if r[7] else f"price_demo_{r[2]}_{r[3]}",
        )
        for r in rows
    ]


def _t(us: int | None) -> object:
    return from_us(us) if us is not None else None


def billing_tables(config: DemoConfig, people: People, tenancy: Tenancy, billing: Billing) -> list[TableData]:
    subs = billing.subscriptions

    def owner(sub: Subscription) -> tuple[object, object]:
        if sub.user >= 0:
            return people.uuid(sub.user), None
        return None, tenancy.uuid(sub.org)

    def subscriptions() -> Iterator[Row]:
        for s in subs:
            user, org = owner(s)
            yield (
                s.id,
                user,
                org,
                s.plan.id,
                s.plan.name,
                s.plan.tier,
                s.plan.interval,
                s.status,
                s.stripe_status,
                s.stripe_id,
                f"si_demo{s.number:08d}",
                s.customer,
                s.plan.stripe_price_id,
                s.quantity,
                _t(s.period_start),
                _t(s.period_end),
                _t(s.trial_start),
                _t(s.trial_end),
                s.cancel_at_period_end,
                _t(s.cancel_at),
                _t(s.cancelled_at),
                _t(s.ended_at),
                _t(s.started),
                _t(s.ends_at),
                _t(s.updated),
                _t(s.started),
                _t(s.updated),
            )

    def payment_methods() -> Iterator[Row]:
        rng = rng_for(config.seed, "payment-methods")
        seen: set[tuple[int, int]] = set()
        for s in subs:
            if not s.invoices or (s.user, s.org) in seen:
                continue
            seen.add((s.user, s.org))
            user, org = owner(s)
            added = s.invoices[0].period_start - 2 * MINUTE_US
            year = from_us(added).year + 1 + int(rng.random() * 4)
            key = (s.user, s.org)
            yield (
                new_uuid(rng),
                user,
                org,
                "card",
                "stripe",
                f"pm_{token(config.seed, 'pm', key)}",
                s.customer,
                CARD_BRANDS[int(rng.random() * len(CARD_BRANDS))],
                f"{int(rng.random() * 10000):04d}",
                1 + int(rng.random() * 12),
                year,
                fake_hash(config.seed, "card", key),
                True,
                _t(added),
                _t(added),
            )

    invoice_ids = {}
    rng = rng_for(config.seed, "invoices")
    for s in subs:
        for inv in s.invoices:
            invoice_ids[(s.number, inv.index)] = new_uuid(rng)

    def invoices() -> Iterator[Row]:
        for s in subs:
            user, org = owner(s)
            for inv in s.invoices:
                if inv.withheld:
                    continue
                ids = stripe_ids(config, s, inv)
                paid = inv.amount_cents if inv.status == "paid" else 0
                error = None if inv.status == "paid" else "Your card was declined."
                url = f"https://invoice.stripe.com/i/acct_demo/{ids['invoice']}"
                last_change = inv.paid_at or inv.period_start + (inv.attempts - 1) * 7 * DAY_US
                yield (
                    invoice_ids[(s.number, inv.index)],
                    user,
                    org,
                    s.id,
                    ids["invoice"],
                    s.customer,
                    s.stripe_id,
                    ids["payment_intent"],
                    invoice_number(s, inv),
                    inv.status,
                    inv.reason,
                    "usd",
                    inv.amount_cents,
                    0,
                    inv.amount_cents,
                    inv.amount_cents,
                    paid,
                    inv.attempts,
                    _t(inv.period_start),
                    _t(inv.period_end),
                    url,
                    url + "/pdf",
                    _t(inv.period_start),
                    _t(inv.paid_at),
                    error,
                    _t(inv.period_start),
                    _t(last_change),
                    _t(inv.period_start),
                    _t(last_change),
                )

    def lines() -> Iterator[Row]:
        lrng = rng_for(config.seed, "invoice-lines")
        for s in subs:
            user, org = owner(s)
            for inv in s.invoices:
                if inv.withheld:
                    continue
                unit = f"${s.plan.price_cents / 100:,.2f} / {s.plan.interval}"
                yield (
                    new_uuid(lrng),
                    invoice_ids[(s.number, inv.index)],
                    user,
                    org,
                    s.id,
                    s.plan.id,
                    stripe_ids(config, s, inv)["line"],
                    s.plan.stripe_price_id,
                    f"{s.quantity} x {s.plan.name} (at {unit})",
                    inv.amount_cents,
                    s.quantity,
                    _t(inv.period_start),
                    _t(inv.period_end),
                    _t(inv.period_start),
                )

    def transactions() -> Iterator[Row]:
        trng = rng_for(config.seed, "transactions")
        for s in subs:
            user, org = owner(s)
            for inv in s.invoices:
                if inv.withheld or inv.paid_at is None:
                    continue
                ids = stripe_ids(config, s, inv)
                status = "succeeded"
                if inv.refunded_cents:
                    status = "refunded" if inv.refunded_cents == inv.amount_cents else "partially_refunded"
                yield (
                    new_uuid(trng),
                    user,
                    org,
                    "subscription",
                    status,
                    inv.amount_cents,
                    inv.refunded_cents,
                    ids["payment_intent"],
                    ids["charge"],
                    ids["invoice"],
                    invoice_ids[(s.number, inv.index)],
                    s.id,
                    f"https://pay.stripe.com/receipts/demo/{ids['charge']}",
                    _t(inv.paid_at),
                    f"Invoice {invoice_number(s, inv)}",
                    _t(inv.paid_at),
                    _t(inv.paid_at),
                )

    invoice_total = sum(1 for s in subs for i in s.invoices if not i.withheld)
    paid_total = sum(1 for s in subs for i in s.invoices if not i.withheld and i.paid_at is not None)
    return [
        TableData("subscriptions", SUBSCRIPTION_COLUMNS, subscriptions(), len(subs)),
        TableData("payment_methods", PAYMENT_METHOD_COLUMNS, payment_methods(), None),
        TableData("invoices", INVOICE_COLUMNS, invoices(), invoice_total),
        TableData("invoice_line_items", LINE_COLUMNS, lines(), invoice_total),
        TableData("payment_transactions", TRANSACTION_COLUMNS, transactions(), paid_total),
    ]
