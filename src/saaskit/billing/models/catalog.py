"""The catalog: plans and coupons. Readable by everyone, written by platform admins and jobs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, Boolean, CheckConstraint, DateTime, Index, Integer, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.kit.models import Base, created_at_column, updated_at_column, uuid_pk

BILLING_INTERVALS = ("month", "year")
DISCOUNT_TYPES = ("percent", "fixed")
COUPON_DURATIONS = ("once", "repeating", "forever")


class SubscriptionPlan(Base):
    __tablename__ = "subscription_plans"
    __table_args__ = (
        # info: how a violation is answered (kit/errors.py), as the services' own checks answer.
        UniqueConstraint("name", info={"code": "plan_exists"}),
        CheckConstraint(f"billing_interval IN {BILLING_INTERVALS}", name="billing_interval_known"),
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        Index("idx_subscription_plans_tier", "tier"),
        {"comment": "What can be bought: a tier at a price per month or year, with its features and limits."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(
        Text, nullable=False, comment="Display name, unique, e.g. Pro (monthly)."
    )
    tier: Mapped[str] = mapped_column(
        Text, nullable=False, comment="Tier granted while subscribed (written to users.tier), e.g. pro."
    )
    description: Mapped[str | None] = mapped_column(Text, comment="One-line pitch shown on the pricing page.")
    billing_interval: Mapped[str] = mapped_column(Text, nullable=False, comment="month or year.")
    price_cents: Mapped[int] = mapped_column(Integer, nullable=False, comment="Price per interval, in cents.")
    currency: Mapped[str] = mapped_column(
        Text, nullable=False, server_default="usd", comment="ISO 4217 currency, lower case (usd, eur)."
    )
    trial_period_days: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0"), comment="Free trial length in days (0: none)."
    )
    features: Mapped[dict[str, Any]] = mapped_column(
        JSONB,
        nullable=False,
        server_default=text("'{}'::jsonb"),
        comment='Feature flags of the plan as a JSON object, e.g. {"exports": true}.',
    )
    limits: Mapped[dict[str, Any]] = mapped_column(
        JSONB,
        nullable=False,
        server_default=text("'{}'::jsonb"),
        comment='Limits: {"max_dashboards": n, "quotas": {feature_name: uses per billing period}}.',
    )
    is_active: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("true"), comment="New subscriptions may choose it."
    )
    is_public: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("true"), comment="Listed on the public pricing endpoint."
    )
    stripe_product_id: Mapped[str | None] = mapped_column(
        Text, unique=True, comment="Stripe product (prod_...) created by sync-plans."
    )
    stripe_price_id: Mapped[str | None] = mapped_column(
        Text,
        unique=True,
        comment="Stripe price (price_...) for the current amount and interval; "
        "a plan id on servers without Prices.",
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Coupon(Base):
    __tablename__ = "coupons"
    __table_args__ = (
        CheckConstraint(f"discount_type IN {DISCOUNT_TYPES}", name="discount_type_known"),
        CheckConstraint(f"duration IN {COUPON_DURATIONS}", name="duration_known"),
        CheckConstraint(
            "discount_value > 0 AND (discount_type <> 'percent' OR discount_value <= 100)",
            name="discount_value_range",
        ),
        CheckConstraint(
            "max_redemptions IS NULL OR times_redeemed <= max_redemptions", name="redemptions_within_max"
        ),
        CheckConstraint("code = upper(code)", name="code_upper_case"),
        UniqueConstraint("code", info={"code": "coupon_exists"}),
        {"comment": "Discount codes: percent or fixed, valid in a window, limited in redemptions and plans."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    code: Mapped[str] = mapped_column(
        Text, nullable=False, comment="What customers type, upper case, e.g. WELCOME20."
    )
    name: Mapped[str | None] = mapped_column(Text, comment="Internal description of the campaign.")
    discount_type: Mapped[str] = mapped_column(Text, nullable=False, comment="percent or fixed.")
    discount_value: Mapped[int] = mapped_column(
        Integer,
        nullable=False,
        comment="Percent off (1-100) for percent coupons; cents off for fixed ones.",
    )
    currency: Mapped[str] = mapped_column(
        Text, nullable=False, server_default="usd", comment="Currency of a fixed discount (ISO 4217)."
    )
    duration: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        server_default="once",
        comment="How long the discount lasts on a subscription: once, repeating or forever.",
    )
    duration_in_months: Mapped[int | None] = mapped_column(
        Integer, comment="Months of discount when duration is repeating."
    )
    valid_from: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Redeemable from this time (UTC); null: already."
    )
    valid_until: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Redeemable until this time (UTC); null: no end."
    )
    max_redemptions: Mapped[int | None] = mapped_column(
        Integer, comment="Redemptions allowed in total; null: unlimited."
    )
    times_redeemed: Mapped[int] = mapped_column(
        Integer,
        nullable=False,
        server_default=text("0"),
        comment="Redemptions so far (incremented atomically, never above max_redemptions).",
    )
    plan_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(UUID(as_uuid=True)),
        nullable=False,
        server_default=text("'{}'::uuid[]"),
        comment="Plans the coupon is restricted to; empty: every plan.",
    )
    is_active: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("true"), comment="Switch to turn the coupon off."
    )
    stripe_coupon_id: Mapped[str | None] = mapped_column(
        Text, unique=True, comment="The matching Stripe coupon, created by sync-plans."
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
