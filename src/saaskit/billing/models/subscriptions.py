"""Subscriptions, their invoices and line items, and coupon redemptions (owned by a user or an
organization: exactly one of ``user_id`` / ``organization_id``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.billing.models._common import optional_fk, owner_check, owner_org, owner_user
from saaskit.kit.models import Base, created_at_column, updated_at_column, uuid_pk

SUBSCRIPTION_STATUSES = ("trialing", "active", "past_due", "cancelled", "expired", "incomplete")
# Statuses that grant the plan's tier (past_due: Stripe is still retrying the payment). SQL's
# twin is app_is_entitled() (billing/sql/subscription_states.sql); a test checks they agree.
ENTITLED_STATUSES = ("trialing", "active", "past_due")
# Not ended yet: entitled, or incomplete (waiting for its first payment). The owner cannot
# subscribe again while one is open, and the expiry job ends them when their end passes.
OPEN_STATUSES = (*ENTITLED_STATUSES, "incomplete")
INVOICE_STATUSES = ("draft", "open", "paid", "void", "uncollectible")


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        Index("idx_subscriptions_plan_id", "plan_id"),
        owner_check(),
        CheckConstraint(f"status IN {SUBSCRIPTION_STATUSES}", name="status_known"),
        Index("idx_subscriptions_user_id", "user_id"),
        Index("idx_subscriptions_organization_id", "organization_id"),
        Index("idx_subscriptions_status", "status"),
        Index("idx_subscriptions_current_period_end", "current_period_end"),
        Index("idx_subscriptions_ends_at", "ends_at"),
        # The statistics count entitled subscriptions whose end has passed before the expiry job
        # catches up: few rows, found without reading the ended ones (insights/stats.py).
        Index(
            "idx_subscriptions_live_ends_at",
            "ends_at",
            postgresql_where=text(f"status IN {ENTITLED_STATUSES}"),
        ),
        Index("idx_subscriptions_stripe_customer_id", "stripe_customer_id"),
        {"comment": "A user's or an organization's subscription to a plan, mirrored from Stripe."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID | None] = owner_user()
    organization_id: Mapped[uuid.UUID | None] = owner_org()
    plan_id: Mapped[uuid.UUID | None] = optional_fk(
        "subscription_plans.id",
        "The plan subscribed to (null if Stripe names a price saaskit does not know).",
    )
    plan_name: Mapped[str] = mapped_column(
        Text, nullable=False, comment="The plan's name when subscribed, kept beside plan_id for reports."
    )
    tier: Mapped[str] = mapped_column(Text, nullable=False, comment="Tier the plan grants, e.g. pro.")
    billing_interval: Mapped[str | None] = mapped_column(Text, comment="month or year (seed 002's duration).")
    status: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        comment="trialing, active, past_due, cancelled, expired or incomplete (Stripe's, in our words).",
    )
    stripe_status: Mapped[str | None] = mapped_column(
        Text, comment="Stripe's own status word (canceled, unpaid, incomplete_expired ...)."
    )
    stripe_subscription_id: Mapped[str | None] = mapped_column(
        Text, unique=True, comment="Stripe subscription (sub_...)."
    )
    stripe_subscription_item_id: Mapped[str | None] = mapped_column(
        Text, comment="The subscription's item (si_...) whose price changes on a plan change."
    )
    stripe_customer_id: Mapped[str | None] = mapped_column(Text, comment="Stripe customer (cus_...) billed.")
    stripe_price_id: Mapped[str | None] = mapped_column(
        Text, comment="Stripe price (or legacy plan) subscribed."
    )
    quantity: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("1"), comment="Units of the plan (seats)."
    )
    current_period_start: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Start of the period being billed (UTC)."
    )
    current_period_end: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="End of the period being billed: next renewal (UTC)."
    )
    trial_start: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Trial start (UTC)."
    )
    trial_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), comment="Trial end (UTC).")
    cancel_at_period_end: Mapped[bool] = mapped_column(
        Boolean,
        nullable=False,
        server_default=text("false"),
        comment="Ends when the current period ends instead of renewing.",
    )
    cancel_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Scheduled end (UTC), when one is set."
    )
    cancelled_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When the cancellation was requested (UTC)."
    )
    ended_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When the subscription actually ended (UTC)."
    )
    started_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        server_default=text("now()"),
        comment="When the subscription started (UTC) (seed 002).",
    )
    ends_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True),
        comment="When access ends unless renewed (UTC): trial end, period end, cancel date or end "
        "(seed 002).",
    )
    stripe_updated_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True),
        comment="Time of the Stripe state last applied, in whole seconds on Stripe's clock (an event's "
        "created, or the Date of Stripe's answer to saaskit's call): events of an earlier second "
        "are ignored.",
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        owner_check(),
        CheckConstraint(f"status IN {INVOICE_STATUSES}", name="status_known"),
        Index("idx_invoices_user_id", "user_id"),
        Index("idx_invoices_organization_id", "organization_id"),
        Index("idx_invoices_subscription_id", "subscription_id"),
        Index("idx_invoices_created_at", "created_at"),
        {"comment": "Invoices issued by Stripe for a subscription or a one-off charge, mirrored here."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID | None] = owner_user()
    organization_id: Mapped[uuid.UUID | None] = owner_org()
    subscription_id: Mapped[uuid.UUID | None] = optional_fk(
        "subscriptions.id", "Subscription billed, if any."
    )
    stripe_invoice_id: Mapped[str] = mapped_column(
        Text, unique=True, nullable=False, comment="Stripe invoice (in_...)."
    )
    stripe_customer_id: Mapped[str | None] = mapped_column(Text, comment="Stripe customer billed.")
    stripe_subscription_id: Mapped[str | None] = mapped_column(
        Text,
        comment="Stripe subscription billed (links the invoice when it arrives before the subscription).",
    )
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(
        Text, comment="PaymentIntent that paid the invoice, when Stripe says."
    )
    number: Mapped[str | None] = mapped_column(Text, comment="Invoice number shown to the customer.")
    status: Mapped[str] = mapped_column(
        Text, nullable=False, comment="draft, open, paid, void or uncollectible."
    )
    billing_reason: Mapped[str | None] = mapped_column(
        Text, comment="Why Stripe issued it: subscription_create, subscription_cycle, manual ..."
    )
    currency: Mapped[str] = mapped_column(Text, nullable=False, server_default="usd", comment="ISO 4217.")
    subtotal_cents: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0"), comment="Sum of the lines before discounts, cents."
    )
    discount_cents: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0"), comment="Discounts applied, cents."
    )
    total_cents: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0"), comment="Total after discounts and tax, cents."
    )
    amount_due_cents: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0"), comment="What is owed, cents."
    )
    amount_paid_cents: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0"), comment="What was paid, cents."
    )
    attempt_count: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0"), comment="Payment attempts made by Stripe."
    )
    period_start: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Start of the billed period (UTC)."
    )
    period_end: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="End of the billed period (UTC)."
    )
    hosted_invoice_url: Mapped[str | None] = mapped_column(Text, comment="Stripe page where it can be paid.")
    invoice_pdf_url: Mapped[str | None] = mapped_column(Text, comment="Stripe's PDF of the invoice.")
    finalized_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), comment="Finalized (UTC).")
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), comment="Paid (UTC).")
    voided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), comment="Voided (UTC).")
    last_payment_error: Mapped[str | None] = mapped_column(
        Text, comment="Why the latest payment attempt failed, if it did."
    )
    stripe_created_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When Stripe created the invoice (UTC)."
    )
    stripe_updated_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True),
        comment="Time of the Stripe state last applied, in whole seconds on Stripe's clock: events of an "
        "earlier second are ignored.",
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class InvoiceLineItem(Base):
    __tablename__ = "invoice_line_items"
    __table_args__ = (
        Index("idx_invoice_line_items_subscription_id", "subscription_id"),
        Index("idx_invoice_line_items_plan_id", "plan_id"),
        owner_check(),
        Index("idx_invoice_line_items_invoice_id", "invoice_id"),
        Index("idx_invoice_line_items_user_id", "user_id"),
        Index("idx_invoice_line_items_organization_id", "organization_id"),
        {"comment": "The lines of an invoice: plan charges, prorations (credits are negative), one-offs."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    invoice_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("invoices.id", ondelete="CASCADE"),
        nullable=False,
        comment="Invoice the line belongs to.",
    )
    user_id: Mapped[uuid.UUID | None] = owner_user("Owning user (copied from the invoice, for RLS).")
    organization_id: Mapped[uuid.UUID | None] = owner_org("Owning organization (copied from the invoice).")
    subscription_id: Mapped[uuid.UUID | None] = optional_fk(
        "subscriptions.id", "Subscription charged, if any."
    )
    plan_id: Mapped[uuid.UUID | None] = optional_fk("subscription_plans.id", "Plan charged, if known.")
    stripe_line_item_id: Mapped[str] = mapped_column(
        Text, unique=True, nullable=False, comment="Stripe line item (il_...)."
    )
    stripe_price_id: Mapped[str | None] = mapped_column(
        Text, comment="Stripe price (or legacy plan) charged."
    )
    description: Mapped[str | None] = mapped_column(Text, comment="Text of the line as Stripe shows it.")
    amount_cents: Mapped[int] = mapped_column(
        Integer, nullable=False, comment="Line amount in cents (negative for credits)."
    )
    currency: Mapped[str] = mapped_column(Text, nullable=False, server_default="usd", comment="ISO 4217.")
    quantity: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"), comment="Units.")
    proration: Mapped[bool] = mapped_column(
        Boolean,
        nullable=False,
        server_default=text("false"),
        comment="A proration from a plan change in the middle of a period.",
    )
    period_start: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Start of the period the line covers (UTC)."
    )
    period_end: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="End of the period the line covers (UTC)."
    )
    created_at: Mapped[datetime] = created_at_column()


class CouponRedemption(Base):
    __tablename__ = "coupon_redemptions"
    __table_args__ = (
        Index("idx_coupon_redemptions_user_id", "user_id"),
        Index("idx_coupon_redemptions_subscription_id", "subscription_id"),
        owner_check(),
        Index("idx_coupon_redemptions_coupon_id", "coupon_id"),
        Index(
            "uq_coupon_redemptions_coupon_id_user_id",
            "coupon_id",
            "user_id",
            unique=True,
            postgresql_where=text("user_id IS NOT NULL"),
        ),
        Index(
            "uq_coupon_redemptions_coupon_id_organization_id",
            "coupon_id",
            "organization_id",
            unique=True,
            postgresql_where=text("organization_id IS NOT NULL"),
        ),
        Index("idx_coupon_redemptions_organization_id", "organization_id"),
        {"comment": "A coupon used by a user or an organization: at most once each."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    coupon_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("coupons.id", ondelete="CASCADE"),
        nullable=False,
        comment="The coupon redeemed.",
    )
    user_id: Mapped[uuid.UUID | None] = owner_user("User who redeemed it (personal billing).")
    organization_id: Mapped[uuid.UUID | None] = owner_org("Organization that redeemed it.")
    subscription_id: Mapped[uuid.UUID | None] = optional_fk(
        "subscriptions.id", "Subscription the discount applies to."
    )
    coupon_code: Mapped[str] = mapped_column(Text, nullable=False, comment="The code, kept for reports.")
    discount_amount_cents: Mapped[int] = mapped_column(
        Integer, nullable=False, comment="Discount on the first charge of the plan, in cents."
    )
    redeemed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        server_default=text("now()"),
        comment="When it was redeemed (UTC).",
    )
