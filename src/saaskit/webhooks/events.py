"""The events other domains emit, each built from what the caller already holds: one call per
hook, so a hook in tenancy or billing stays one line.

Billing objects are read through their attributes only (no import of billing's models here):
billing calls webhooks, never the reverse. Personal subscriptions and invoices (a user's, not an
organization's) emit nothing: webhooks belong to organizations.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.webhooks.service import emit

SUBSCRIPTION_FIELDS = (
    "status",
    "plan_id",
    "plan_name",
    "tier",
    "quantity",
    "billing_interval",
    "current_period_end",
    "cancel_at_period_end",
    "cancel_at",
    "ended_at",
)


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


async def _email(session: AsyncSession, user_id: uuid.UUID) -> str | None:
    from saaskit.accounts.models import User

    return await session.scalar(select(User.email).where(User.id == user_id))


async def member_added(session: AsyncSession, member: Any, invited_by: uuid.UUID | None) -> None:
    """``member`` is the organization_members row that is now active."""
    data = {
        "user_id": str(member.user_id),
        "email": await _email(session, member.user_id),
        "role": member.role,
        "invited_by": _iso(invited_by),
    }
    await emit(session, member.organization_id, "member.added", data)


async def member_removed(
    session: AsyncSession,
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    email: str | None,
    member: Any,
    left: bool,
) -> None:
    data = {
        "user_id": str(user_id),
        "email": email,
        "role": member.role,
        "reason": "left" if left else "removed",
    }
    await emit(session, organization_id, "member.removed", data)


async def invitation_accepted(session: AsyncSession, invitation: Any, user_id: uuid.UUID) -> None:
    data = {
        "invitation_id": str(invitation.id),
        "email": invitation.invitee_email,
        "role": invitation.role,
        "user_id": str(user_id),
        "team_id": _iso(invitation.team_id),
        "workspace_id": _iso(invitation.workspace_id),
    }
    await emit(session, invitation.organization_id, "invitation.accepted", data)


def subscription_state(row: Any) -> dict[str, Any] | None:
    """What a subscription row shows before a snapshot is applied; None for a row that was just
    inserted (no Stripe state applied yet), whose first application is its creation."""
    if row.stripe_updated_at is None:
        return None
    return {name: _iso(getattr(row, name)) for name in SUBSCRIPTION_FIELDS}


async def subscription_applied(session: AsyncSession, row: Any, before: dict[str, Any] | None) -> None:
    """``subscription.created`` / ``.canceled`` / ``.changed`` after a snapshot was applied, if
    it changed anything a customer cares about (a repeated snapshot emits nothing)."""
    if row.organization_id is None:
        return
    after = {name: _iso(getattr(row, name)) for name in SUBSCRIPTION_FIELDS}
    changed = sorted(name for name in SUBSCRIPTION_FIELDS if before is None or before[name] != after[name])
    if not changed:
        return
    if before is None:
        event_type = "subscription.created"
    elif row.status == "cancelled" and before["status"] != "cancelled":
        event_type = "subscription.canceled"
    else:
        event_type = "subscription.changed"
    data = {
        "id": str(row.id),
        "stripe_subscription_id": row.stripe_subscription_id,
        **after,
        "changed": changed if before is not None else [],
    }
    await emit(session, row.organization_id, event_type, data)


async def invoice_paid(session: AsyncSession, invoice: Any) -> None:
    """Called once per paid invoice (when its payment is first recorded)."""
    if invoice.organization_id is None:
        return
    data = {
        "id": str(invoice.id),
        "stripe_invoice_id": invoice.stripe_invoice_id,
        "number": invoice.number,
        "amount_paid_cents": invoice.amount_paid_cents,
        "currency": invoice.currency,
        "paid_at": _iso(invoice.paid_at),
        "subscription_id": _iso(invoice.subscription_id),
        "hosted_invoice_url": invoice.hosted_invoice_url,
    }
    await emit(session, invoice.organization_id, "invoice.paid", data)


async def payment_failed(session: AsyncSession, invoice: Any, next_payment_attempt: datetime | None) -> None:
    """Once per invoice and attempt, however often Stripe's event is processed."""
    if invoice.organization_id is None:
        return
    data = {
        "invoice_id": str(invoice.id),
        "stripe_invoice_id": invoice.stripe_invoice_id,
        "number": invoice.number,
        "amount_due_cents": invoice.amount_due_cents,
        "currency": invoice.currency,
        "attempt_count": invoice.attempt_count,
        "next_payment_attempt": _iso(next_payment_attempt),
    }
    key = f"payment.failed:{invoice.stripe_invoice_id}:{invoice.attempt_count}"
    await emit(session, invoice.organization_id, "payment.failed", data, dedupe_key=key)
