"""Applying Stripe's subscription objects to ``subscriptions``: the one path used by the API (with
the object Stripe answered) and by webhooks (with the event's snapshot).

Order independence: each row keeps ``stripe_updated_at``, the time of the Stripe state it shows,
on Stripe's clock and at Stripe's resolution, whole seconds: an event's ``created``, or the
``Date`` of Stripe's answer to saaskit's own call (``stripe_client.Answer``). A snapshot is
applied unless a strictly newer state is stored:

- an older second is not applied (a late ``customer.subscription.created`` cannot undo a
  cancellation);
- the same second is applied: events of the second of saaskit's own call (a
  ``customer.subscription.updated`` setting ``cancel_at_period_end`` just after the subscription
  was created) are not lost. Of two snapshots of the same second, the one applied last wins,
  except that a creation snapshot (``customer.subscription.created``) never replaces a state of
  its own second already stored (the creation is a subscription's first state, so anything
  else of that second is at least as new);
- Stripe never revives a canceled subscription, so a row Stripe ended stays ended whatever
  arrives afterwards (this settles a ``deleted`` and an ``updated`` of the same second).

Invoices (``invoices.apply_invoice``) follow the same rules (``invoice.created`` is their
creation snapshot), and their status only moves forward.

What remains ambiguous: two different updates within one second (say a plan change and a
cancellation made in Stripe's dashboard in the same second) delivered in the reverse order
leave the earlier state until the subscription's next event.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.billing import shapes
from saaskit.billing.models import Invoice, Subscription, SubscriptionPlan
from saaskit.billing.owners import CustomerNotLinked, Owner, owner_for_customer
from saaskit.webhooks import events as webhook_events

Obj = dict[str, Any]


def now() -> datetime:
    return datetime.now(UTC)


def whole_second(moment: datetime) -> datetime:
    """Stripe's resolution: its ``created`` times are Unix seconds."""
    return moment.replace(microsecond=0)


def is_older(version: datetime, stored: datetime | None, *, first_snapshot: bool = False) -> bool:
    """Whether a strictly newer state than the snapshot of ``version`` is stored (see above)."""
    if stored is None:
        return False
    version, stored = whole_second(version), whole_second(stored)
    return version < stored or (first_snapshot and version == stored)


async def plan_for_price(
    session: AsyncSession, price_id: str | None, metadata: Any
) -> SubscriptionPlan | None:
    if price_id:
        plan = await session.scalar(
            select(SubscriptionPlan).where(SubscriptionPlan.stripe_price_id == price_id)
        )
        if plan is not None:
            return plan
    raw = metadata.get("saaskit_plan_id") if isinstance(metadata, dict) else None
    try:
        plan_id = uuid.UUID(str(raw)) if raw else None
    except ValueError:  # foreign or malformed metadata: an unknown plan
        return None
    return await session.get(SubscriptionPlan, plan_id) if plan_id else None


def _ends_at(status: str, values: dict[str, Any]) -> datetime | None:
    if status in ("cancelled", "expired"):
        ended: datetime | None = values["ended_at"] or values["cancelled_at"]
        return ended or now()
    if status == "trialing" and values["trial_end"] is not None:
        trial_end: datetime = values["trial_end"]
        return trial_end
    cancel_at: datetime | None = values["cancel_at"]
    return cancel_at or values["current_period_end"]


async def apply_subscription(
    session: AsyncSession,
    obj: Obj,
    version: datetime,
    owner: Owner | None = None,
    *,
    first_snapshot: bool = False,
) -> tuple[Subscription, Owner, bool]:
    """Upsert the row for Stripe subscription ``obj`` as of ``version`` (whole seconds;
    ``first_snapshot``: ``obj`` is the subscription's creation state).

    Returns the row, its owner, and whether the snapshot was applied (False only when a strictly
    newer state is stored: see the module's docstring)."""
    metadata = obj.get("metadata") or {}
    owner = owner or await owner_for_customer(session, shapes.customer_id(obj), metadata)
    if owner is None:
        raise CustomerNotLinked(
            f"Stripe customer {shapes.customer_id(obj)} is not linked to a user or organization"
        )
    item_id, price_id, quantity = shapes.subscription_item(obj)
    plan = await plan_for_price(session, price_id, metadata)
    period_start, period_end = shapes.subscription_period(obj)
    status = shapes.SUBSCRIPTION_STATUS.get(str(obj.get("status")), "incomplete")
    values: dict[str, Any] = {
        "plan_id": plan.id if plan else None,
        "plan_name": plan.name if plan else (price_id or "unknown"),
        "tier": plan.tier if plan else "unknown",
        "billing_interval": shapes.price_interval(obj) or (plan.billing_interval if plan else None),
        "status": status,
        "stripe_status": obj.get("status"),
        "stripe_subscription_item_id": item_id,
        "stripe_customer_id": shapes.customer_id(obj),
        "stripe_price_id": price_id,
        "quantity": quantity,
        "current_period_start": period_start,
        "current_period_end": period_end,
        "trial_start": shapes.ts(obj.get("trial_start")),
        "trial_end": shapes.ts(obj.get("trial_end")),
        "cancel_at_period_end": bool(obj.get("cancel_at_period_end")),
        "cancel_at": shapes.ts(obj.get("cancel_at")),
        "cancelled_at": shapes.ts(obj.get("canceled_at")),
        "ended_at": shapes.ts(obj.get("ended_at")),
    }
    values["ends_at"] = _ends_at(status, values)
    started = shapes.ts(obj.get("start_date")) or shapes.ts(obj.get("created")) or now()
    await session.execute(
        insert(Subscription)
        .values(**owner.columns, stripe_subscription_id=obj["id"], started_at=started, **values)
        .on_conflict_do_nothing(index_elements=["stripe_subscription_id"])
    )
    row = await session.scalar(
        select(Subscription).where(Subscription.stripe_subscription_id == obj["id"]).with_for_update()
    )
    assert row is not None
    stale = is_older(version, row.stripe_updated_at, first_snapshot=first_snapshot)
    revived = row.status == "cancelled" and row.ended_at is not None and status != "cancelled"
    if stale or revived:
        return row, owner, False
    before = webhook_events.subscription_state(row)
    for key, value in values.items():
        setattr(row, key, value)
    row.stripe_updated_at = whole_second(version)
    await session.flush()
    await webhook_events.subscription_applied(session, row, before)
    # Invoices that arrived before their subscription get linked now.
    await session.execute(
        update(Invoice)
        .where(Invoice.stripe_subscription_id == obj["id"], Invoice.subscription_id.is_(None))
        .values(subscription_id=row.id)
    )
    return row, owner, True
