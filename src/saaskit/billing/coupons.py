"""Coupons: created by platform admins, redeemed when subscribing.

Every limit is enforced by the database, so concurrent redemptions cannot overshoot:
``app_claim_coupon`` counts a redemption only while the coupon is active, inside its window and
under ``max_redemptions`` (one conditional UPDATE: concurrent claims queue on the row and
re-check), and the unique indexes on ``coupon_redemptions`` allow one redemption per coupon and
user or organization. Both happen in the subscribing request's transaction, so a failed
subscription (Stripe refusing, say) rolls the redemption back too.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import exists, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.billing.models import Coupon, CouponRedemption, SubscriptionPlan
from saaskit.billing.owners import Owner
from saaskit.billing.schemas import CouponIn
from saaskit.kit.errors import Conflict, NotFound, Unprocessable

CLAIM = text("SELECT app_claim_coupon(:coupon_id)")


def discount_cents(coupon: Coupon, price_cents: int) -> int:
    if coupon.discount_type == "percent":
        return price_cents * coupon.discount_value // 100
    return min(coupon.discount_value, price_cents)


async def create(session: AsyncSession, data: CouponIn) -> Coupon:
    if await session.scalar(select(exists().where(Coupon.code == data.code))):
        raise Conflict(f"a coupon with the code {data.code} exists", field="code", code="coupon_exists")
    if data.discount_type == "percent" and data.discount_value > 100:
        raise Unprocessable("discount_value: a percentage is at most 100", field="discount_value")
    coupon = Coupon(**data.model_dump())
    session.add(coupon)
    await session.flush()
    return coupon


async def find(session: AsyncSession, code: str) -> Coupon:
    coupon = await session.scalar(select(Coupon).where(Coupon.code == code.strip().upper()))
    if coupon is None:
        raise NotFound("no such coupon", field="coupon_code", code="coupon_not_found")
    return coupon


def check(coupon: Coupon, plan: SubscriptionPlan, now: datetime | None = None) -> None:
    """The limits that do not depend on other redemptions (refused with 422 naming the rule)."""
    now = now or datetime.now(UTC)
    if not coupon.is_active:
        raise Unprocessable("this coupon is no longer active", field="coupon_code", code="coupon_inactive")
    if coupon.valid_from is not None and now < coupon.valid_from:
        raise Unprocessable("this coupon is not valid yet", field="coupon_code", code="coupon_not_yet_valid")
    if coupon.valid_until is not None and now >= coupon.valid_until:
        raise Unprocessable("this coupon has expired", field="coupon_code", code="coupon_expired")
    if coupon.plan_ids and plan.id not in coupon.plan_ids:
        raise Unprocessable(
            "this coupon does not apply to that plan", field="coupon_code", code="coupon_not_for_plan"
        )


async def redeem(
    session: AsyncSession,
    owner: Owner,
    coupon: Coupon,
    plan: SubscriptionPlan,
    subscription_id: uuid.UUID | None = None,
) -> CouponRedemption:
    """Count one redemption for ``owner``: 409 when already used by them or when none is left."""
    check(coupon, plan)
    already = await session.scalar(
        select(exists().where(CouponRedemption.coupon_id == coupon.id, owner.matches(CouponRedemption)))
    )
    if already:
        raise Conflict("this coupon was already used", field="coupon_code", code="coupon_already_redeemed")
    claimed = await session.scalar(CLAIM, {"coupon_id": coupon.id})
    if not claimed:
        raise Conflict(
            "this coupon has reached its maximum number of redemptions",
            field="coupon_code",
            code="coupon_exhausted",
        )
    values: dict[str, Any] = {
        **owner.columns,
        "coupon_id": coupon.id,
        "coupon_code": coupon.code,
        "subscription_id": subscription_id,
        "discount_amount_cents": discount_cents(coupon, plan.price_cents),
    }
    redemption_id = await session.scalar(
        insert(CouponRedemption).values(**values).on_conflict_do_nothing().returning(CouponRedemption.id)
    )
    if redemption_id is None:
        raise Conflict("this coupon was already used", field="coupon_code", code="coupon_already_redeemed")
    redemption = await session.get_one(CouponRedemption, redemption_id)
    return redemption
