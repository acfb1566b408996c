"""Invoices and their lines, mirrored from Stripe; a paid invoice is a payment transaction.

An invoice only moves forward (draft -> open -> paid / void / uncollectible): a snapshot whose
status is behind the stored one, or older than it, changes nothing, so ``invoice.created``
arriving after ``invoice.paid`` cannot reopen a paid invoice. The payment of a paid invoice is
recorded once (one transaction per Stripe invoice) and added to ``total_spent_cents`` once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts.models import User
from saaskit.billing import shapes
from saaskit.billing.models import (
    Invoice,
    InvoiceLineItem,
    PaymentTransaction,
    Subscription,
    SubscriptionPlan,
)
from saaskit.billing.owners import CustomerNotLinked, Owner, owner_for_customer
from saaskit.billing.sync import is_older, now, whole_second
from saaskit.kit.errors import NotFound
from saaskit.kit.pagination import keyset_page
from saaskit.webhooks import events as webhook_events

Obj = dict[str, Any]
STATUS_RANK = {"draft": 0, "open": 1, "uncollectible": 2, "paid": 3, "void": 3}


async def _subscription_id(session: AsyncSession, stripe_subscription_id: str | None) -> uuid.UUID | None:
    if not stripe_subscription_id:
        return None
    return await session.scalar(
        select(Subscription.id).where(Subscription.stripe_subscription_id == stripe_subscription_id)
    )


async def apply_invoice(
    session: AsyncSession,
    obj: Obj,
    version: datetime,
    owner: Owner | None = None,
    *,
    first_snapshot: bool = False,
) -> Invoice:
    owner = owner or await owner_for_customer(session, shapes.customer_id(obj), obj.get("metadata"))
    if owner is None:
        raise CustomerNotLinked(
            f"Stripe customer {shapes.customer_id(obj)} is not linked to a user or organization"
        )
    stripe_sub = shapes.invoice_subscription_id(obj)
    subscription_id = await _subscription_id(session, stripe_sub)
    status = str(obj.get("status") or "draft")
    if status not in STATUS_RANK:
        status = "open"
    transitions = obj.get("status_transitions") or {}
    values: dict[str, Any] = {
        "subscription_id": subscription_id,
        "stripe_customer_id": shapes.customer_id(obj),
        "stripe_subscription_id": stripe_sub,
        "stripe_payment_intent_id": shapes.invoice_payment_intent_id(obj),
        "number": obj.get("number"),
        "status": status,
        "billing_reason": obj.get("billing_reason"),
        "currency": str(obj.get("currency") or "usd"),
        "subtotal_cents": int(obj.get("subtotal") or 0),
        "discount_cents": shapes.invoice_discount_cents(obj),
        "total_cents": int(obj.get("total") or 0),
        "amount_due_cents": int(obj.get("amount_due") or 0),
        "amount_paid_cents": int(obj.get("amount_paid") or 0),
        "attempt_count": int(obj.get("attempt_count") or 0),
        "period_start": shapes.ts(obj.get("period_start")),
        "period_end": shapes.ts(obj.get("period_end")),
        "hosted_invoice_url": obj.get("hosted_invoice_url"),
        "invoice_pdf_url": obj.get("invoice_pdf"),
        "finalized_at": shapes.ts(transitions.get("finalized_at")),
        "paid_at": shapes.ts(transitions.get("paid_at")),
        "voided_at": shapes.ts(transitions.get("voided_at")),
        "stripe_created_at": shapes.ts(obj.get("created")),
    }
    await session.execute(
        insert(Invoice)
        .values(**owner.columns, stripe_invoice_id=obj["id"], **values)
        .on_conflict_do_nothing(index_elements=["stripe_invoice_id"])
    )
    row = await session.scalar(
        select(Invoice).where(Invoice.stripe_invoice_id == obj["id"]).with_for_update()
    )
    assert row is not None
    # Whole seconds, as for subscriptions (sync): an equal second is applied, except a creation
    # snapshot (invoice.created); the status rank keeps an earlier status from winning.
    stale = row.stripe_updated_at is not None and (
        is_older(version, row.stripe_updated_at, first_snapshot=first_snapshot)
        or STATUS_RANK[status] < STATUS_RANK[row.status]
    )
    if not stale:
        for key, value in values.items():
            if value is not None or key not in ("subscription_id", "stripe_payment_intent_id"):
                setattr(row, key, value)
        row.stripe_updated_at = whole_second(version)
        await session.flush()
        await _apply_lines(session, row, obj)
    if row.status == "paid":
        await record_payment(session, row, owner)
    return row


async def _apply_lines(session: AsyncSession, invoice: Invoice, obj: Obj) -> None:
    for line in shapes.invoice_lines(obj):
        line_id = line.get("id")
        if not isinstance(line_id, str):
            continue
        price_id = shapes.line_price_id(line)
        plan_id = None
        if price_id:
            plan_id = await session.scalar(
                select(SubscriptionPlan.id).where(SubscriptionPlan.stripe_price_id == price_id)
            )
        period = line.get("period") or {}
        values: dict[str, Any] = {
            "stripe_price_id": price_id,
            "plan_id": plan_id,
            "subscription_id": await _subscription_id(session, shapes.line_subscription_id(line))
            or invoice.subscription_id,
            "description": line.get("description"),
            "amount_cents": int(line.get("amount") or 0),
            "currency": str(line.get("currency") or invoice.currency),
            "quantity": int(line.get("quantity") or 1),
            "proration": shapes.line_proration(line),
            "period_start": shapes.ts(period.get("start")),
            "period_end": shapes.ts(period.get("end")),
        }
        statement = insert(InvoiceLineItem).values(
            invoice_id=invoice.id,
            user_id=invoice.user_id,
            organization_id=invoice.organization_id,
            stripe_line_item_id=line_id,
            **values,
        )
        await session.execute(
            statement.on_conflict_do_update(index_elements=["stripe_line_item_id"], set_=values)
        )


async def record_payment(session: AsyncSession, invoice: Invoice, owner: Owner) -> None:
    """One succeeded transaction per paid invoice; counted in total_spent_cents once."""
    inserted = await session.scalar(
        insert(PaymentTransaction)
        .values(
            **owner.columns,
            kind="subscription",
            status="succeeded",
            amount_cents=invoice.amount_paid_cents,
            currency=invoice.currency,
            stripe_invoice_id=invoice.stripe_invoice_id,
            stripe_payment_intent_id=invoice.stripe_payment_intent_id,
            invoice_id=invoice.id,
            subscription_id=invoice.subscription_id,
            succeeded_at=invoice.paid_at or now(),
            description=f"Invoice {invoice.number or invoice.stripe_invoice_id}",
        )
        .on_conflict_do_nothing()
        .returning(PaymentTransaction.id)
    )
    if inserted is not None:
        await webhook_events.invoice_paid(session, invoice)
    if inserted is not None and owner.user_id is not None and invoice.amount_paid_cents:
        await session.execute(
            update(User)
            .where(User.id == owner.user_id)
            .values(total_spent_cents=User.total_spent_cents + invoice.amount_paid_cents)
        )


async def list_for(
    session: AsyncSession, owner: Owner, *, limit: int, cursor: str | None
) -> tuple[list[Invoice], str | None]:
    query: Select[Any] = select(Invoice).where(owner.matches(Invoice))
    return await keyset_page(
        session, query, created_at=Invoice.created_at, row_id=Invoice.id, limit=limit, cursor=cursor
    )


async def get_with_lines(
    session: AsyncSession, owner: Owner, invoice_id: uuid.UUID
) -> tuple[Invoice, list[InvoiceLineItem]]:
    invoice = await session.scalar(select(Invoice).where(Invoice.id == invoice_id, owner.matches(Invoice)))
    if invoice is None:
        raise NotFound("no such invoice", field="invoice_id")
    lines = await session.scalars(
        select(InvoiceLineItem)
        .where(InvoiceLineItem.invoice_id == invoice.id)
        .order_by(InvoiceLineItem.created_at)
    )
    return invoice, list(lines)
