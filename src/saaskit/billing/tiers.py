"""What an owner is entitled to, derived from their subscriptions (never set by hand).

The newest subscription in an entitled status (trialing, active, past_due) decides the tier;
without one the owner is on the free tier: the active plan whose tier is ``free`` if there is
one, else ``free`` with one dashboard. A user's ``tier`` and ``max_dashboards`` are written on
``users``; an organization's current subscription on ``organizations.subscription_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts.models import User
from saaskit.billing.models import Subscription, SubscriptionPlan
from saaskit.billing.models.subscriptions import ENTITLED_STATUSES
from saaskit.billing.owners import Owner
from saaskit.tenancy.models import Organization

FREE_TIER = "free"
FREE_MAX_DASHBOARDS = 1


@dataclass(frozen=True)
class TierChange:
    old_tier: str
    new_tier: str

    @property
    def changed(self) -> bool:
        return self.old_tier != self.new_tier


async def entitled_subscription(session: AsyncSession, owner: Owner) -> Subscription | None:
    result = await session.scalars(
        select(Subscription)
        .where(owner.matches(Subscription), Subscription.status.in_(ENTITLED_STATUSES))
        .order_by(Subscription.started_at.desc(), Subscription.created_at.desc())
        .limit(1)
    )
    return result.first()


async def free_plan(session: AsyncSession) -> SubscriptionPlan | None:
    result = await session.scalars(
        select(SubscriptionPlan)
        .where(SubscriptionPlan.tier == FREE_TIER, SubscriptionPlan.is_active)
        .order_by(SubscriptionPlan.created_at)
        .limit(1)
    )
    return result.first()


async def limits_of(session: AsyncSession, owner: Owner) -> tuple[str, dict[str, Any]]:
    """(tier, limits) in force for the owner now."""
    subscription = await entitled_subscription(session, owner)
    plan = None
    if subscription is not None and subscription.plan_id is not None:
        plan = await session.get(SubscriptionPlan, subscription.plan_id)
    if subscription is None:
        plan = await free_plan(session)
    tier = subscription.tier if subscription is not None else FREE_TIER
    return tier, dict(plan.limits) if plan is not None else {}


async def refresh(session: AsyncSession, owner: Owner) -> TierChange:
    """Recompute the owner's tier from their subscriptions and store it."""
    tier, limits = await limits_of(session, owner)
    if owner.user_id is not None:
        user = await session.get(User, owner.user_id, with_for_update=True)
        assert user is not None
        old = user.tier
        max_dashboards = limits.get("max_dashboards", FREE_MAX_DASHBOARDS)
        user.tier = tier
        if isinstance(max_dashboards, int):
            user.max_dashboards = max_dashboards
        return TierChange(old, tier)
    org = await session.get(Organization, owner.organization_id, with_for_update=True)
    assert org is not None
    old = FREE_TIER
    if org.subscription_id is not None:
        current = await session.get(Subscription, org.subscription_id)
        if current is not None and current.status in ENTITLED_STATUSES:
            old = current.tier
    entitled = await entitled_subscription(session, owner)
    if entitled is None:
        newest = await session.scalars(
            select(Subscription)
            .where(Subscription.organization_id == owner.organization_id)
            .order_by(Subscription.started_at.desc())
            .limit(1)
        )
        entitled = newest.first()
    org.subscription_id = entitled.id if entitled is not None else None
    await session.flush()
    return TierChange(old, tier)
