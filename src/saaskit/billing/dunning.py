"""Dunning: a subscription invoice that failed to be paid, followed to its end.

Stripe retries a failed invoice on its own schedule (Smart Retries or the dashboard's
schedule); saaskit observes it rather than running a second one. One ``dunning_cases`` row per
invoice, written from the invoice events after ``invoices.apply_invoice`` stored the invoice
(versioned, so events in any order leave the newest state):

- ``invoice.payment_failed``: the case opens (``first_failed_at`` = the event's time,
  ``grace_ends_at`` = that + ``SAASKIT_DUNNING_GRACE_DAYS``) or follows Stripe's
  ``attempt_count`` and ``next_payment_attempt`` (a stale event never lowers them). The
  'payment failed' notice per attempt is ``notices.payment_failed``'s (the existing handler).
- ``invoice.payment_action_required``: the case is ``action_required`` and the billing owners
  get the hosted invoice page (where the bank's authentication happens), once per invoice.
- ``invoice.paid`` / ``invoice.payment_succeeded``: ``recovered``; ``invoice.voided``: ``closed``.
  An invoice already stored as paid or void never opens a case (a late failure event).

The dunning job (``billing.dunning``, hourly) sends 'payment overdue' ``warn_days`` before the
grace period ends (once), and after it, for a case still unpaid, takes ``SAASKIT_DUNNING_ACTION``:
``downgrade`` cancels the subscription at Stripe (the tier follows, as for any cancellation),
``suspend`` suspends the paying user's account or archives the organization (read-only), ``none``
only tells. Each action writes an audit row (``activities``) and a final notice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit import notifications
from saaskit.accounts.models import User
from saaskit.audit import service as audit
from saaskit.billing import notices, shapes, sync, tiers
from saaskit.billing.models import BillingNotice, DunningCase, Invoice, Subscription
from saaskit.billing.models.ledger import OPEN_DUNNING
from saaskit.billing.models.subscriptions import ENTITLED_STATUSES
from saaskit.billing.owners import Owner
from saaskit.billing.stripe_client import gateway
from saaskit.kit.state import Runtime
from saaskit.tenancy.models import Organization

logger = logging.getLogger(__name__)
Obj = dict[str, Any]
FAILED = ("invoice.payment_failed", "invoice.payment_action_required")


def owner_of(row: DunningCase | Invoice) -> Owner | None:
    if row.user_id is not None:
        return Owner(user_id=row.user_id)
    if row.organization_id is not None:
        return Owner(organization_id=row.organization_id)
    return None


async def observe(
    session: AsyncSession,
    runtime: Runtime,
    owner: Owner,
    invoice: Invoice,
    event_type: str,
    obj: Obj,
    at: datetime,
) -> str | None:
    """Follow one invoice event; returns a note for the event log (None: not a dunning matter)."""
    if invoice.status in ("paid", "void"):
        resolved = "recovered" if invoice.status == "paid" else "closed"
        done = await session.execute(
            update(DunningCase)
            .where(
                DunningCase.stripe_invoice_id == invoice.stripe_invoice_id,
                DunningCase.status.in_(OPEN_DUNNING),
            )
            .values(status=resolved, resolved_at=sync.now(), next_payment_attempt=None)
            .returning(DunningCase.id)
        )
        return f"dunning {resolved}" if done.one_or_none() is not None else None
    if event_type not in FAILED or not invoice.stripe_subscription_id:
        return None
    grace = timedelta(days=runtime.settings.dunning.grace_days)
    await session.execute(
        insert(DunningCase)
        .values(
            **owner.columns,
            stripe_invoice_id=invoice.stripe_invoice_id,
            stripe_subscription_id=invoice.stripe_subscription_id,
            subscription_id=invoice.subscription_id,
            status="open",
            first_failed_at=at,
            grace_ends_at=at + grace,
            amount_due_cents=invoice.amount_due_cents,
            currency=invoice.currency,
        )
        .on_conflict_do_nothing(index_elements=["stripe_invoice_id"])
    )
    case = await session.scalar(
        select(DunningCase)
        .where(DunningCase.stripe_invoice_id == invoice.stripe_invoice_id)
        .with_for_update()
    )
    assert case is not None
    if case.status not in OPEN_DUNNING:
        return f"dunning already {case.status}"
    if at < case.first_failed_at:  # an earlier failure delivered late: the grace counts from it
        case.first_failed_at, case.grace_ends_at = at, at + grace
    attempts = int(obj.get("attempt_count") or 0)
    if attempts >= case.attempt_count:
        case.attempt_count = attempts
        case.next_payment_attempt = shapes.ts(obj.get("next_payment_attempt"))
    case.subscription_id = case.subscription_id or invoice.subscription_id
    case.hosted_invoice_url = (
        obj.get("hosted_invoice_url") or invoice.hosted_invoice_url or case.hosted_invoice_url
    )
    case.amount_due_cents = invoice.amount_due_cents
    note = f"dunning open: attempt {case.attempt_count}, grace until {case.grace_ends_at:%Y-%m-%d}"
    if event_type == "invoice.payment_action_required":
        case.status = "action_required"
        told = await notify(
            session,
            runtime,
            owner,
            f"payment_action_required:{invoice.stripe_invoice_id}",
            "payment_action_required",
            {
                "amount_cents": invoice.amount_due_cents,
                "currency": invoice.currency,
                "invoice_number": invoice.number,
                "hosted_invoice_url": case.hosted_invoice_url or notices.manage_url(runtime),
            },
            title="Confirm your payment",
            body="Your bank asks you to confirm a subscription payment.",
        )
        note = "action required: " + ("billing owners told" if told is not None else "already told")
    await session.flush()
    return note


async def notify(
    session: AsyncSession,
    runtime: Runtime,
    owner: Owner,
    key: str,
    template: str,
    context: Mapping[str, Any],
    *,
    title: str,
    body: str,
) -> int | None:
    """Tell the billing owners once per ``key`` (kind ``payment_failed``, mail ``template``)."""
    claimed = await session.scalar(
        insert(BillingNotice)
        .values(kind="payment_failed", notice_key=key, **owner.columns)
        .on_conflict_do_nothing(index_elements=["notice_key"])
        .returning(BillingNotice.id)
    )
    if claimed is None:
        return None
    values = {"manage_url": notices.manage_url(runtime), **context}
    people = await notices.recipients(session, owner)
    for user_id in people:
        await notifications.tell(
            session,
            runtime,
            user_id=user_id,
            kind="payment_failed",
            mail_template=template,
            context=values,
            title=title,
            body=body,
            link=str(context.get("hosted_invoice_url") or values["manage_url"]),
            organization_id=owner.organization_id,
            data={"notice": key},
        )
    await session.execute(
        update(BillingNotice).where(BillingNotice.id == claimed).values(recipient_count=len(people))
    )
    return len(people)


def _context(case: DunningCase, action: str | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {
        "amount_cents": case.amount_due_cents,
        "currency": case.currency,
        "ends_on": case.grace_ends_at.date(),
        "hosted_invoice_url": case.hosted_invoice_url,
    }
    if action:
        context["action_taken"] = action
    return context


async def run(session: AsyncSession, runtime: Runtime, now: datetime) -> dict[str, int]:
    """The job's pass: warnings before the grace period ends, the action after it."""
    settings = runtime.settings.dunning
    counts = {"warned": 0, "downgraded": 0, "suspended": 0, "closed": 0, "recovered": 0}
    warn_from = now + timedelta(days=settings.warn_days)
    warnable = await session.scalars(
        select(DunningCase).where(
            DunningCase.status.in_(OPEN_DUNNING),
            DunningCase.grace_ends_at > now,
            DunningCase.grace_ends_at <= warn_from,
        )
    )
    for case in list(warnable):
        owner = owner_of(case)
        if owner is None:
            continue
        told = await notify(
            session,
            runtime,
            owner,
            f"payment_overdue:{case.stripe_invoice_id}",
            "payment_overdue",
            _context(case),
            title="Payment overdue",
            body=f"Pay by {case.grace_ends_at:%Y-%m-%d} to keep your subscription.",
        )
        counts["warned"] += told is not None
    due = await session.scalars(
        select(DunningCase)
        .where(DunningCase.status.in_(OPEN_DUNNING), DunningCase.grace_ends_at <= now)
        .order_by(DunningCase.grace_ends_at)
        .limit(500)
        .with_for_update(skip_locked=True)
    )
    for case in list(due):
        outcome = await _act(session, runtime, case, settings.action)
        counts[outcome] += 1
    return counts


async def _act(session: AsyncSession, runtime: Runtime, case: DunningCase, action: str) -> str:
    owner = owner_of(case)
    paid = await session.scalar(
        select(Invoice.status).where(Invoice.stripe_invoice_id == case.stripe_invoice_id)
    )
    if paid in ("paid", "void") or owner is None:
        case.status = "recovered" if paid == "paid" else "closed"
        case.resolved_at = sync.now()
        return case.status if case.status == "recovered" else "closed"
    done = {"downgrade": "downgraded", "suspend": "suspended"}.get(action)
    if action == "downgrade":
        await _downgrade(session, runtime, owner, case)
    elif action == "suspend":
        await _suspend(session, owner)
    case.status = done or "closed"
    case.resolved_at = sync.now()
    case.next_payment_attempt = None
    await audit.record(
        session,
        audit.SYSTEM_ACTOR,
        organization_id=owner.organization_id,
        action=f"billing.dunning_{case.status}",
        entity_type="organization" if owner.organization_id else "user",
        entity_id=owner.organization_id or owner.user_id,
        description=f"Invoice {case.stripe_invoice_id} unpaid after the grace period: {case.status}.",
        metadata={"stripe_invoice_id": case.stripe_invoice_id, "attempt_count": case.attempt_count},
    )
    await notify(
        session,
        runtime,
        owner,
        f"payment_overdue_final:{case.stripe_invoice_id}",
        "payment_overdue",
        _context(case, done),
        title="Subscription " + (done or "payment overdue"),
        body=f"Invoice unpaid after {case.grace_ends_at:%Y-%m-%d}.",
    )
    await session.flush()
    return case.status


async def _downgrade(session: AsyncSession, runtime: Runtime, owner: Owner, case: DunningCase) -> None:
    sub = await session.scalar(
        select(Subscription).where(Subscription.stripe_subscription_id == case.stripe_subscription_id)
    )
    if sub is None or sub.status not in ENTITLED_STATUSES or not sub.stripe_subscription_id:
        await tiers.refresh(session, owner)
        return
    answer = await gateway(runtime).cancel_subscription(sub.stripe_subscription_id)
    await sync.apply_subscription(session, answer.object, answer.at, owner)
    await tiers.refresh(session, owner)


async def _suspend(session: AsyncSession, owner: Owner) -> None:
    if owner.user_id is not None:
        await session.execute(
            update(User).where(User.id == owner.user_id, User.status == "active").values(status="suspended")
        )
    else:
        await session.execute(
            update(Organization)
            .where(Organization.id == owner.organization_id, Organization.archived_at.is_(None))
            .values(archived_at=sync.now())
        )


async def list_for(session: AsyncSession, owner: Owner) -> list[DunningCase]:
    rows = await session.scalars(
        select(DunningCase)
        .where(owner.matches(DunningCase))
        .order_by(DunningCase.created_at.desc())
        .limit(50)
    )
    return list(rows)
