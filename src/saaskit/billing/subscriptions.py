"""Subscribing, changing plan, cancelling and resuming, for a user or an organization.

Each operation asks Stripe first and then applies Stripe's answer through ``sync`` (the path
webhooks use too) as of the moment Stripe answered, so the row is right even where a Stripe
server sends no event for the change (localstripe has no ``customer.subscription.updated``),
and later events, those of the same second included, are applied idempotently.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.audit import service as audit
from saaskit.audit.service import Actor
from saaskit.billing import coupons, invoices, owners, sync, tiers
from saaskit.billing.models import PaymentMethod, Subscription, SubscriptionPlan
from saaskit.billing.models.subscriptions import OPEN_STATUSES
from saaskit.billing.owners import Owner
from saaskit.billing.stripe_client import Answer, gateway
from saaskit.kit.errors import Conflict, NotFound, PaymentRequired
from saaskit.kit.pagination import keyset_page
from saaskit.kit.state import Runtime
from saaskit.trust import signals as trust_signals


async def _plan(session: AsyncSession, plan_id: uuid.UUID) -> SubscriptionPlan:
    plan = await session.get(SubscriptionPlan, plan_id)
    if plan is None or not plan.is_active:
        raise NotFound("no such plan", field="plan_id", code="plan_not_found")
    if not plan.stripe_price_id:
        raise Conflict(
            "this plan is not on Stripe yet: run `saaskit billing sync-plans`",
            field="plan_id",
            code="plan_not_synced",
        )
    return plan


async def _has_payment_method(session: AsyncSession, owner: Owner) -> bool:
    found = await session.scalar(
        select(PaymentMethod.id)
        .where(owner.matches(PaymentMethod), PaymentMethod.is_default, PaymentMethod.detached_at.is_(None))
        .limit(1)
    )
    return found is not None


async def _audit(
    session: AsyncSession, actor: Actor | None, owner: Owner, action: str, sub: Subscription
) -> None:
    if actor is None or owner.organization_id is None:
        return
    await audit.record(
        session,
        actor,
        organization_id=owner.organization_id,
        action=action,
        entity_type="subscription",
        entity_id=sub.id,
        entity_name=sub.plan_name,
        description=f"Subscription to {sub.plan_name}: {action.split('.')[-1]}, status {sub.status}.",
        metadata={"status": sub.status, "plan_id": str(sub.plan_id) if sub.plan_id else None},
    )


async def subscribe(
    session: AsyncSession,
    runtime: Runtime,
    owner: Owner,
    *,
    plan_id: uuid.UUID,
    coupon_code: str | None,
    idempotency_key: str | None,
    actor: Actor | None = None,
) -> tuple[Subscription, int | None]:
    """Create the subscription at Stripe and here; returns it and the coupon discount (cents)."""
    plan = await _plan(session, plan_id)
    live = await session.scalar(
        select(Subscription.id)
        .where(owner.matches(Subscription), Subscription.status.in_(OPEN_STATUSES))
        .limit(1)
    )
    if live is not None:
        raise Conflict(
            "there is already a subscription: change its plan instead",
            field="plan_id",
            code="already_subscribed",
        )
    # Trust and safety (docs/trust.md): an account found abusing trials gets none, and one
    # required to add a card must have one even for a plan with a trial.
    restricted = await trust_signals.restrictions(session, owner.user_id) if owner.user_id else set()
    trial_days = 0 if "trial_blocked" in restricted else plan.trial_period_days
    if (trial_days == 0 or "card_required" in restricted) and not await _has_payment_method(session, owner):
        raise PaymentRequired(
            "add a payment method first (SetupIntent flow)",
            field="payment_method",
            code="payment_method_required",
        )
    coupon = await coupons.find(session, coupon_code) if coupon_code else None
    if coupon is not None:
        coupons.check(coupon, plan)
        if not coupon.stripe_coupon_id and not gateway(runtime).legacy_plans:
            raise Conflict(
                "this coupon is not on Stripe yet: run `saaskit billing sync-plans`",
                field="coupon_code",
                code="coupon_not_synced",
            )
    customer = await owners.ensure_customer(session, runtime, owner)
    redemption = None
    if coupon is not None:
        # Counted before Stripe is asked and rolled back with this transaction if Stripe refuses.
        redemption = await coupons.redeem(session, owner, coupon, plan)
    key = f"saaskit-subscribe-{owner.user_id or owner.organization_id}-{idempotency_key or uuid.uuid4()}"
    created = await gateway(runtime).create_subscription(
        customer=customer,
        price_id=plan.stripe_price_id or "",
        metadata={**owner.metadata, "saaskit_plan_id": str(plan.id)},
        trial_period_days=trial_days,
        stripe_coupon_id=coupon.stripe_coupon_id if coupon else None,
        idempotency_key=key,
    )
    sub, _, _ = await sync.apply_subscription(session, created.object, created.at, owner)
    latest = created.object.get("latest_invoice")
    if isinstance(latest, dict):
        await invoices.apply_invoice(session, latest, created.at, owner)
    if redemption is not None:
        redemption.subscription_id = sub.id
    await tiers.refresh(session, owner)
    await _audit(session, actor, owner, "subscription.created", sub)
    await session.flush()
    return sub, redemption.discount_amount_cents if redemption else None


async def get(
    session: AsyncSession, owner: Owner, subscription_id: uuid.UUID, *, lock: bool = False
) -> Subscription:
    query = select(Subscription).where(Subscription.id == subscription_id, owner.matches(Subscription))
    sub = await session.scalar(query.with_for_update() if lock else query)
    if sub is None:
        raise NotFound("no such subscription", field="subscription_id")
    return sub


def _stripe_id(sub: Subscription) -> str:
    if not sub.stripe_subscription_id:
        raise Conflict("this subscription is not managed by Stripe", code="not_on_stripe")
    if sub.status in ("cancelled", "expired"):
        raise Conflict("this subscription has ended", code="subscription_ended")
    return sub.stripe_subscription_id


async def _apply(
    session: AsyncSession, owner: Owner, answer: Answer, actor: Actor | None, action: str
) -> Subscription:
    sub, _, _ = await sync.apply_subscription(session, answer.object, answer.at, owner)
    await tiers.refresh(session, owner)
    await _audit(session, actor, owner, action, sub)
    return sub


async def change_plan(
    session: AsyncSession,
    runtime: Runtime,
    owner: Owner,
    subscription_id: uuid.UUID,
    plan_id: uuid.UUID,
    actor: Actor | None = None,
) -> Subscription:
    sub = await get(session, owner, subscription_id)
    stripe_id = _stripe_id(sub)
    plan = await _plan(session, plan_id)
    if plan.id == sub.plan_id:
        raise Conflict("the subscription is already on that plan", field="plan_id", code="same_plan")
    if not sub.stripe_subscription_item_id:
        raise Conflict("the subscription has no item to change", code="no_subscription_item")
    answer = await gateway(runtime).change_subscription_price(
        stripe_id, sub.stripe_subscription_item_id, plan.stripe_price_id or ""
    )
    return await _apply(session, owner, answer, actor, "subscription.plan_changed")


async def cancel(
    session: AsyncSession,
    runtime: Runtime,
    owner: Owner,
    subscription_id: uuid.UUID,
    *,
    at_period_end: bool,
    actor: Actor | None = None,
) -> Subscription:
    sub = await get(session, owner, subscription_id)
    stripe_id = _stripe_id(sub)
    stripe = gateway(runtime)
    if at_period_end:
        answer = await stripe.set_cancel_at_period_end(stripe_id, True)
    else:
        answer = await stripe.cancel_subscription(stripe_id)
    return await _apply(session, owner, answer, actor, "subscription.cancelled")


async def resume(
    session: AsyncSession,
    runtime: Runtime,
    owner: Owner,
    subscription_id: uuid.UUID,
    actor: Actor | None = None,
) -> Subscription:
    sub = await get(session, owner, subscription_id)
    stripe_id = _stripe_id(sub)
    if not sub.cancel_at_period_end:
        raise Conflict("the subscription is not set to end", code="not_cancelling")
    answer = await gateway(runtime).set_cancel_at_period_end(stripe_id, False)
    return await _apply(session, owner, answer, actor, "subscription.resumed")


async def list_for(
    session: AsyncSession, owner: Owner, *, limit: int, cursor: str | None
) -> tuple[list[Subscription], str | None]:
    query: Select[Any] = select(Subscription).where(owner.matches(Subscription))
    return await keyset_page(
        session, query, created_at=Subscription.created_at, row_id=Subscription.id, limit=limit, cursor=cursor
    )
