"""Billing notices: telling the people who pay that something needs them (docs/notifications.md).

Each notice is a ``notifications.tell`` to every **billing owner** (``recipients``): the paying
user for personal billing; for an organization, its active members whose role manages billing
(the system roles holding ``billing:manage``: owner and admin) or who were given
``billing:manage`` as an extra permission. ``tell`` applies each one's preferences (in the app,
by e-mail) and writes in the caller's transaction, so a notice exists only if what caused it
commits.

What causes each one:

- ``payment_failed``: ``invoice.payment_failed`` (one per invoice and attempt);
- ``subscription_cancelled``: ``customer.subscription.updated`` setting a cancellation at the
  period's end, or ``customer.subscription.deleted`` (one per subscription);
- ``trial_ending``: ``customer.subscription.trial_will_end``, or the daily job for trials ending
  within ``trial_ending_days`` (one per subscription and trial end, whichever comes first);
- ``card_expiring``: the daily job, for saved cards expiring within ``card_expiring_days`` (one
  per card and expiry);
- ``topup_failed``: a credit top-up that failed (one per top-up);
- ``credits_low``: a spend taking the balance from at least the threshold to below it (once per
  crossing: the spend's own UPDATE says whether it crossed, so no state is kept).

All but ``credits_low`` first claim their key in ``billing_notices`` (``INSERT ... ON CONFLICT DO
NOTHING``): the same Stripe event processed twice, a re-delivery under a new event id, or the job
running twice notifies once. Those paths run as the service (webhook processing, jobs).
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit import notifications
from saaskit.access.permissions import ALL, SYSTEM_ROLES
from saaskit.accounts.models import User
from saaskit.billing.models import BillingNotice, Invoice, PaymentMethod, PaymentTransaction, Subscription
from saaskit.billing.owners import Owner
from saaskit.kit.state import Runtime
from saaskit.tenancy.models import OrganizationMember

MANAGING_ROLES = tuple(
    name
    for name, (scope, _, permissions) in SYSTEM_ROLES.items()
    if scope == "organization" and (ALL in permissions or "billing:manage" in permissions)
)


def manage_url(runtime: Runtime) -> str:
    settings = runtime.settings
    return settings.product.url.rstrip("/") + settings.billing_notices.manage_path


async def recipients(session: AsyncSession, owner: Owner) -> list[uuid.UUID]:
    """The billing owners: the paying user, or the organization's members who manage billing."""
    if owner.user_id is not None:
        return [owner.user_id]
    rows = await session.scalars(
        select(OrganizationMember.user_id)
        .join(User, User.id == OrganizationMember.user_id)
        .where(
            OrganizationMember.organization_id == owner.organization_id,
            OrganizationMember.is_active.is_(True),
            User.deleted_at.is_(None),
            or_(
                OrganizationMember.role.in_(MANAGING_ROLES),
                OrganizationMember.permissions.contains(["billing:manage"]),
            ),
        )
        .order_by(OrganizationMember.joined_at)
    )
    return list(rows)


async def tell_owners(
    session: AsyncSession,
    runtime: Runtime,
    owner: Owner,
    kind: str,
    context: Mapping[str, Any],
    data: Mapping[str, Any] | None = None,
) -> int:
    """Tell every billing owner (``kind`` is also the mail template); how many were told."""
    values = {"manage_url": manage_url(runtime), **context}
    people = await recipients(session, owner)
    for user_id in people:
        await notifications.tell(
            session,
            runtime,
            user_id=user_id,
            kind=kind,
            mail_template=kind,
            context=values,
            organization_id=owner.organization_id,
            data=data,
        )
    return len(people)


async def send_once(
    session: AsyncSession,
    runtime: Runtime,
    owner: Owner,
    kind: str,
    key: str,
    context: Mapping[str, Any],
    data: Mapping[str, Any] | None = None,
) -> int | None:
    """``tell_owners`` unless a notice with ``key`` was sent already (None then)."""
    claimed = await session.scalar(
        insert(BillingNotice)
        .values(kind=kind, notice_key=key, **owner.columns)
        .on_conflict_do_nothing(index_elements=["notice_key"])
        .returning(BillingNotice.id)
    )
    if claimed is None:
        return None
    told = await tell_owners(session, runtime, owner, kind, context, data)
    await session.execute(
        update(BillingNotice).where(BillingNotice.id == claimed).values(recipient_count=told)
    )
    return told


def _day(moment: datetime | None) -> date | None:
    return moment.astimezone(UTC).date() if moment is not None else None


# -- Stripe events -----------------------------------------------------------------------------
async def payment_failed(
    session: AsyncSession, runtime: Runtime, owner: Owner, invoice: Invoice, next_attempt: datetime | None
) -> int | None:
    return await send_once(
        session,
        runtime,
        owner,
        "payment_failed",
        f"payment_failed:{invoice.stripe_invoice_id}:{invoice.attempt_count}",
        {
            "amount_cents": invoice.amount_due_cents,
            "currency": invoice.currency,
            "invoice_number": invoice.number,
            "next_attempt_on": _day(next_attempt),
        },
        {"invoice_id": str(invoice.id), "attempt": invoice.attempt_count},
    )


async def subscription_cancelled(
    session: AsyncSession, runtime: Runtime, owner: Owner, row: Subscription
) -> int | None:
    """A cancellation: at once (the row is ``cancelled``) or at the period's end (``ends_on``)."""
    ended = row.status in ("cancelled", "expired")
    if not ended and not (row.cancel_at_period_end or row.cancel_at is not None):
        return None
    return await send_once(
        session,
        runtime,
        owner,
        "subscription_cancelled",
        f"subscription_cancelled:{row.stripe_subscription_id or row.id}",
        {"plan_name": row.plan_name, "ends_on": None if ended else _day(row.ends_at)},
        {"subscription_id": str(row.id)},
    )


async def _has_card(session: AsyncSession, owner: Owner) -> bool:
    found = await session.scalar(
        select(PaymentMethod.id)
        .where(owner.matches(PaymentMethod), PaymentMethod.detached_at.is_(None))
        .limit(1)
    )
    return found is not None


async def trial_ending(
    session: AsyncSession, runtime: Runtime, owner: Owner, row: Subscription
) -> int | None:
    if row.status != "trialing" or row.trial_end is None:
        return None
    trial_end = _day(row.trial_end)
    return await send_once(
        session,
        runtime,
        owner,
        "trial_ending",
        f"trial_ending:{row.stripe_subscription_id or row.id}:{trial_end}",
        {
            "plan_name": row.plan_name,
            "trial_ends_on": trial_end,
            "has_payment_method": await _has_card(session, owner),
        },
        {"subscription_id": str(row.id)},
    )


# -- credits -----------------------------------------------------------------------------------
async def topup_failed(
    session: AsyncSession,
    runtime: Runtime,
    transaction: PaymentTransaction,
    *,
    reason: str | None,
    auto_topup_disabled: bool,
) -> int | None:
    if transaction.user_id is None:
        return None
    return await send_once(
        session,
        runtime,
        Owner(user_id=transaction.user_id),
        "topup_failed",
        f"topup_failed:{transaction.id}",
        {
            "amount_cents": transaction.amount_cents,
            "currency": transaction.currency,
            "reason": reason,
            "auto_topup_disabled": auto_topup_disabled,
        },
        {"transaction_id": str(transaction.id)},
    )


async def credits_spent(
    session: AsyncSession, runtime: Runtime, user_id: uuid.UUID, *, before_cents: int, after_cents: int
) -> bool:
    """After a spend: 'credits low' if it took the balance from at least the threshold to below
    it. The spend's UPDATE locked the user's row, so two spends cannot both see the crossing."""
    threshold = runtime.settings.billing_notices.credits_low_threshold_cents
    if not before_cents >= threshold > after_cents:
        return False
    await tell_owners(
        session,
        runtime,
        Owner(user_id=user_id),
        "credits_low",
        {
            "balance_cents": after_cents,
            "currency": runtime.settings.stripe.currency,
            "threshold_cents": threshold,
        },
    )
    return True


# -- the daily job -----------------------------------------------------------------------------
def card_expires_at(year: int, month: int) -> datetime:
    """A card works until the end of its expiry month."""
    last = calendar.monthrange(year, month)[1]
    return datetime(year, month, last, 23, 59, 59, tzinfo=UTC)


async def remind_expiring_cards(session: AsyncSession, runtime: Runtime, today: date) -> int:
    """Cards (not detached) whose expiry month ends within ``card_expiring_days`` of ``today``
    and has not ended yet; each reminded once per card and expiry. Returns how many notices."""
    horizon = today + timedelta(days=runtime.settings.billing_notices.card_expiring_days)
    # Candidates by month (this month through the horizon's), checked precisely below.
    months = {(today.year, today.month), (horizon.year, horizon.month)}
    month = date(today.year, today.month, 1)
    while (month.year, month.month) < (horizon.year, horizon.month):
        month = (month + timedelta(days=32)).replace(day=1)
        months.add((month.year, month.month))
    in_months = (and_(PaymentMethod.card_exp_year == y, PaymentMethod.card_exp_month == m) for y, m in months)
    rows = await session.scalars(
        select(PaymentMethod).where(PaymentMethod.detached_at.is_(None), or_(*in_months))
    )
    sent = 0
    for card in rows:
        assert card.card_exp_year is not None and card.card_exp_month is not None
        expires = card_expires_at(card.card_exp_year, card.card_exp_month).date()
        if not today <= expires <= horizon:
            continue
        owner = Owner(user_id=card.user_id) if card.user_id else Owner(organization_id=card.organization_id)
        told = await send_once(
            session,
            runtime,
            owner,
            "card_expiring",
            f"card_expiring:{card.provider_payment_method_id}:{card.card_exp_year}-{card.card_exp_month:02d}",
            {
                "card_brand": card.card_brand or "card",
                "card_last4": card.card_last4 or "????",
                "expires_month": f"{card.card_exp_month:02d}/{card.card_exp_year}",
            },
            {"payment_method_id": str(card.id)},
        )
        sent += told is not None
    return sent


async def remind_ending_trials(session: AsyncSession, runtime: Runtime, now: datetime) -> int:
    """Trials ending within ``trial_ending_days`` that Stripe's ``trial_will_end`` did not
    already announce (localstripe never sends it; a lost event is covered the same way)."""
    horizon = now + timedelta(days=runtime.settings.billing_notices.trial_ending_days)
    rows = await session.scalars(
        select(Subscription).where(
            Subscription.status == "trialing", Subscription.trial_end > now, Subscription.trial_end <= horizon
        )
    )
    sent = 0
    for row in rows:
        owner = Owner(user_id=row.user_id) if row.user_id else Owner(organization_id=row.organization_id)
        sent += await trial_ending(session, runtime, owner, row) is not None
    return sent


async def run_daily(session: AsyncSession, runtime: Runtime, now: datetime) -> dict[str, int]:
    return {
        "cards_expiring": await remind_expiring_cards(session, runtime, now.date()),
        "trials_ending": await remind_ending_trials(session, runtime, now),
    }
