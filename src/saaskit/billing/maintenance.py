"""The daily billing upkeep: end what has run out, and restart usage counters.

- Subscriptions still trialing, active, past_due or incomplete whose ``ends_at`` has passed
  become ``expired`` (seed 002's "expired"). Rows Stripe renews (no cancel pending) get a day of
  grace, because Stripe moves their period forward at renewal and says so by webhook; this job
  is the safety net for missed events, not the renewal clock. Trials that ended without
  conversion are covered by the same rule (``ends_at`` is the trial end while trialing).
- The owners' tiers are recomputed, so an expired plan stops granting its tier.
- ``feature_usage`` counters past their ``reset_date`` start a new period at zero.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.billing import tiers, usage
from saaskit.billing.models.subscriptions import OPEN_STATUSES
from saaskit.billing.owners import Owner

EXPIRE = text(
    """
    UPDATE subscriptions SET status = 'expired', ended_at = coalesce(ended_at, ends_at), updated_at = now()
    WHERE status = ANY(CAST(:open_statuses AS text[])) AND ends_at IS NOT NULL
      AND ends_at < :now - CASE
        WHEN stripe_subscription_id IS NOT NULL AND NOT cancel_at_period_end AND status <> 'trialing'
        THEN interval '1 day' ELSE interval '0' END
    RETURNING user_id, organization_id
    """
)


async def expire_subscriptions(session: AsyncSession, now: datetime | None = None) -> dict[str, int]:
    rows = (
        await session.execute(EXPIRE, {"now": now or datetime.now(UTC), "open_statuses": list(OPEN_STATUSES)})
    ).all()
    owners: set[tuple[uuid.UUID | None, uuid.UUID | None]] = {(r.user_id, r.organization_id) for r in rows}
    for user_id, organization_id in owners:
        await tiers.refresh(session, Owner(user_id=user_id, organization_id=organization_id))
    return {"expired": len(rows), "owners_refreshed": len(owners)}


async def run_daily(session: AsyncSession, now: datetime | None = None) -> dict[str, int]:
    now = now or datetime.now(UTC)
    result = await expire_subscriptions(session, now)
    result["counters_reset"] = await usage.reset_counters(session, now.date())
    return result
