"""``customer.subscription.*``: mirror the subscription, recompute the owner's tier, and tell the
billing owners of a cancellation or a trial about to end (``billing.notices``)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.billing import notices, sync, tiers
from saaskit.billing.handlers import Event, Outcome, handles
from saaskit.kit.state import Runtime


@handles(
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.trial_will_end",
    "customer.subscription.paused",
    "customer.subscription.resumed",
)
async def subscription_changed(session: AsyncSession, runtime: Runtime, event: Event) -> Outcome:
    row, owner, applied = await sync.apply_subscription(
        session, event.object, event.created, first_snapshot=event.type == "customer.subscription.created"
    )
    change = await tiers.refresh(session, owner)
    note = None if applied else "a newer state is stored: not applied"
    if event.type == "customer.subscription.trial_will_end":
        note = f"trial ends at {row.trial_end.isoformat() if row.trial_end else 'unknown'}"
        await notices.trial_ending(session, runtime, owner, row)
    elif event.type in ("customer.subscription.updated", "customer.subscription.deleted"):
        await notices.subscription_cancelled(session, runtime, owner, row)
    return Outcome(owner=owner, old_tier=change.old_tier, new_tier=change.new_tier, note=note)
