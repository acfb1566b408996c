"""The plan catalog, and its sync to Stripe (``saaskit billing sync-plans``).

Sync, per plan: a Stripe product (created once, kept in ``stripe_product_id``) and a price for
the plan's amount, currency and interval. Stripe prices are immutable, so a changed amount gets
a new price (the old one is archived; existing subscriptions keep it until they change plan).
Coupons get their Stripe coupon the same way. Each plan is read, sent to Stripe and written
back in short transactions of its own: no lock is held while Stripe answers.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import stripe
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.billing.models import Coupon, SubscriptionPlan
from saaskit.billing.schemas import PlanIn, PlanUpdate
from saaskit.billing.stripe_client import gateway
from saaskit.kit.db import SERVICE
from saaskit.kit.errors import Conflict, NotFound
from saaskit.kit.state import Runtime


async def list_plans(session: AsyncSession, *, public_only: bool) -> list[SubscriptionPlan]:
    query: Select[Any] = select(SubscriptionPlan).order_by(
        SubscriptionPlan.price_cents, SubscriptionPlan.name
    )
    if public_only:
        query = query.where(SubscriptionPlan.is_active, SubscriptionPlan.is_public)
    return list(await session.scalars(query))


async def create(session: AsyncSession, data: PlanIn) -> SubscriptionPlan:
    if await session.scalar(select(SubscriptionPlan.id).where(SubscriptionPlan.name == data.name)):
        raise Conflict(f"a plan named {data.name} exists", field="name", code="plan_exists")
    plan = SubscriptionPlan(**data.model_dump())
    session.add(plan)
    await session.flush()
    return plan


async def update(session: AsyncSession, plan_id: uuid.UUID, data: PlanUpdate) -> SubscriptionPlan:
    plan = await session.get(SubscriptionPlan, plan_id, with_for_update=True)
    if plan is None:
        raise NotFound("no such plan", field="plan_id")
    if data.name is not None and data.name != plan.name:
        taken = select(SubscriptionPlan.id).where(
            SubscriptionPlan.name == data.name, SubscriptionPlan.id != plan_id
        )
        if await session.scalar(taken):
            raise Conflict(f"a plan named {data.name} exists", field="name", code="plan_exists")
    for key, value in data.model_dump(exclude_unset=True).items():
        if value is not None:
            setattr(plan, key, value)
    await session.flush()
    return plan


@dataclass
class SyncReport:
    products_created: int = 0
    prices_created: int = 0
    coupons_created: int = 0
    plans: list[str] = field(default_factory=list)


def _price_matches(plan: SubscriptionPlan, price: dict[str, Any] | None) -> bool:
    if price is None:
        return False
    amount = price.get("unit_amount", price.get("amount"))
    interval = (price.get("recurring") or {}).get("interval", price.get("interval"))
    return bool(
        amount == plan.price_cents
        and interval == plan.billing_interval
        and price.get("currency") == plan.currency
    )


async def _current_price(runtime: Runtime, price_id: str | None) -> dict[str, Any] | None:
    if not price_id:
        return None
    client = gateway(runtime)
    try:
        if client.legacy_plans:
            return (await client.client.v1.plans.retrieve_async(price_id)).to_dict()
        return (await client.client.v1.prices.retrieve_async(price_id)).to_dict()
    except stripe.InvalidRequestError:  # a price Stripe no longer knows is replaced
        return None


async def sync_plans(runtime: Runtime) -> SyncReport:
    report = SyncReport()
    stripe = gateway(runtime)
    async with runtime.db.session(SERVICE) as session:
        plans = [
            (p.id, p.name, p.stripe_product_id, p.stripe_price_id)
            for p in await list_plans(session, public_only=False)
        ]
    for plan_id, name, product_id, price_id in plans:
        async with runtime.db.session(SERVICE) as session:
            plan = await session.get_one(SubscriptionPlan, plan_id)
            snapshot = {c: getattr(plan, c) for c in ("price_cents", "currency", "billing_interval", "tier")}
        if not product_id:
            product = await stripe.create_product(
                name=name,
                metadata={"saaskit_plan_id": str(plan_id)},
                idempotency_key=f"saaskit-product-{plan_id}",
            )
            product_id = product["id"]
            report.products_created += 1
        current = await _current_price(runtime, price_id)
        new_price_id = price_id
        if not _price_matches(plan, current):
            amount, currency = snapshot["price_cents"], snapshot["currency"]
            interval = snapshot["billing_interval"]
            key = f"saaskit-{plan_id}-{amount}-{currency}-{interval}"
            price = await stripe.create_price(
                product=product_id,
                amount_cents=snapshot["price_cents"],
                currency=snapshot["currency"],
                interval=snapshot["billing_interval"],
                metadata={"saaskit_plan_id": str(plan_id), "tier": snapshot["tier"]},
                key=key,
            )
            new_price_id = price["id"]
            report.prices_created += 1
            if price_id and current is not None:
                await stripe.archive_price(price_id)
        async with runtime.db.session(SERVICE) as session:
            plan = await session.get_one(SubscriptionPlan, plan_id, with_for_update=True)
            plan.stripe_product_id = product_id
            plan.stripe_price_id = new_price_id
        report.plans.append(name)
    report.coupons_created = await sync_coupons(runtime)
    return report


async def sync_coupons(runtime: Runtime) -> int:
    async with runtime.db.session(SERVICE) as session:
        pending = list(await session.scalars(select(Coupon).where(Coupon.stripe_coupon_id.is_(None))))
    created = 0
    for coupon in pending:
        params: dict[str, Any] = {"id": f"saaskit-{coupon.code}", "duration": coupon.duration}
        if coupon.discount_type == "percent":
            params["percent_off"] = coupon.discount_value
        else:
            params["amount_off"] = coupon.discount_value
            params["currency"] = coupon.currency
        if coupon.duration == "repeating":
            params["duration_in_months"] = coupon.duration_in_months
        answer = await gateway(runtime).create_coupon(params)
        async with runtime.db.session(SERVICE) as session:
            row = await session.get_one(Coupon, coupon.id, with_for_update=True)
            row.stripe_coupon_id = answer["id"]
        created += 1
    return created
