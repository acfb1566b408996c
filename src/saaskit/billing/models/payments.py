"""Saved payment methods (tokenized by Stripe) and every payment or refund that moved money."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, DateTime, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.billing.models._common import optional_fk, owner_check, owner_org, owner_user
from saaskit.kit.models import Base, created_at_column, updated_at_column, uuid_pk

TRANSACTION_KINDS = ("subscription", "topup", "auto_topup")
TRANSACTION_STATUSES = ("pending", "processing", "succeeded", "failed", "refunded", "partially_refunded")
# A top-up still waiting for its PaymentIntent: at most one per user (the auto top-up guard).
IN_FLIGHT_TOPUP = "kind IN ('topup', 'auto_topup') AND status IN ('pending', 'processing')"


class PaymentMethod(Base):
    __tablename__ = "payment_methods"
    __table_args__ = (
        owner_check(),
        Index("idx_payment_methods_user_id", "user_id"),
        Index("idx_payment_methods_organization_id", "organization_id"),
        Index("idx_payment_methods_card_fingerprint_hash", "card_fingerprint_hash"),
        Index(
            "uq_payment_methods_default_user",
            "user_id",
            unique=True,
            postgresql_where=text("is_default AND user_id IS NOT NULL"),
        ),
        Index(
            "uq_payment_methods_default_organization",
            "organization_id",
            unique=True,
            postgresql_where=text("is_default AND organization_id IS NOT NULL"),
        ),
        {"comment": "Cards saved at Stripe (never the number): brand, last 4 digits, hashed fingerprint."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID | None] = owner_user()
    organization_id: Mapped[uuid.UUID | None] = owner_org()
    type: Mapped[str] = mapped_column(
        Text, nullable=False, server_default="card", comment="card, sepa_debit ..."
    )
    provider: Mapped[str] = mapped_column(
        Text, nullable=False, server_default="stripe", comment="Payment provider holding the token."
    )
    provider_payment_method_id: Mapped[str] = mapped_column(
        Text, unique=True, nullable=False, comment="The provider's token for it (Stripe pm_...)."
    )
    stripe_customer_id: Mapped[str | None] = mapped_column(Text, comment="Stripe customer it is attached to.")
    card_brand: Mapped[str | None] = mapped_column(Text, comment="visa, mastercard, amex ...")
    card_last4: Mapped[str | None] = mapped_column(Text, comment="Last four digits of the card number.")
    card_exp_month: Mapped[int | None] = mapped_column(Integer, comment="Expiry month (1-12).")
    card_exp_year: Mapped[int | None] = mapped_column(Integer, comment="Expiry year (4 digits).")
    card_fingerprint_hash: Mapped[str | None] = mapped_column(
        Text,
        comment="Salted HMAC of Stripe's card fingerprint: the same card across accounts (abuse checks).",
    )
    is_default: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false"), comment="Charged for renewals and top-ups."
    )
    detached_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Removed from the customer at this time (UTC)."
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class PaymentTransaction(Base):
    __tablename__ = "payment_transactions"
    __table_args__ = (
        Index("idx_payment_transactions_subscription_id", "subscription_id"),
        Index("idx_payment_transactions_invoice_id", "invoice_id"),
        owner_check(),
        CheckConstraint(f"kind IN {TRANSACTION_KINDS}", name="kind_known"),
        CheckConstraint(f"status IN {TRANSACTION_STATUSES}", name="status_known"),
        CheckConstraint(
            "refunded_cents >= 0 AND refunded_cents <= amount_cents", name="refund_within_amount"
        ),
        CheckConstraint(
            "disputed_cents >= 0 AND disputed_cents <= amount_cents", name="dispute_within_amount"
        ),
        Index("idx_payment_transactions_user_id", "user_id"),
        Index("idx_payment_transactions_organization_id", "organization_id"),
        Index("idx_payment_transactions_created_at", "created_at"),
        Index(
            "uq_payment_transactions_in_flight_topup",
            "user_id",
            unique=True,
            postgresql_where=text(IN_FLIGHT_TOPUP),
        ),
        {"comment": "Money moved: subscription invoice payments and credit top-ups, with refunds."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID | None] = owner_user()
    organization_id: Mapped[uuid.UUID | None] = owner_org()
    kind: Mapped[str] = mapped_column(Text, nullable=False, comment="subscription, topup or auto_topup.")
    status: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        comment="pending (no PaymentIntent yet), processing, succeeded, failed, refunded, "
        "partially_refunded.",
    )
    amount_cents: Mapped[int] = mapped_column(Integer, nullable=False, comment="Amount charged, cents.")
    currency: Mapped[str] = mapped_column(Text, nullable=False, server_default="usd", comment="ISO 4217.")
    credits_cents: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0"), comment="Credits granted when it succeeds, cents."
    )
    refunded_cents: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0"), comment="Refunded so far, cents."
    )
    disputed_cents: Mapped[int] = mapped_column(
        Integer,
        nullable=False,
        server_default=text("0"),
        comment="Amount the cardholder disputed (chargeback, charge.dispute.*), cents; 0: never disputed.",
    )
    dispute_status: Mapped[str | None] = mapped_column(
        Text,
        comment="Stripe's status of the dispute, last heard (warning_needs_response, needs_response, "
        "under_review, won, lost ...); null: never disputed.",
    )
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(
        Text, unique=True, comment="Stripe PaymentIntent (pi_...): one row per payment intent."
    )
    stripe_charge_id: Mapped[str | None] = mapped_column(
        Text, comment="Stripe charge (ch_...) that moved it."
    )
    stripe_invoice_id: Mapped[str | None] = mapped_column(
        Text, unique=True, comment="Stripe invoice paid by it (subscription payments)."
    )
    invoice_id: Mapped[uuid.UUID | None] = optional_fk("invoices.id", "Invoice paid, if any.")
    subscription_id: Mapped[uuid.UUID | None] = optional_fk(
        "subscriptions.id", "Subscription paid for, if any."
    )
    receipt_url: Mapped[str | None] = mapped_column(Text, comment="Stripe's receipt page.")
    failure_code: Mapped[str | None] = mapped_column(Text, comment="Stripe's decline code when it failed.")
    failure_message: Mapped[str | None] = mapped_column(Text, comment="Why it failed, in Stripe's words.")
    credited_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True),
        comment="When its credits were added (set once: credits are added exactly once).",
    )
    succeeded_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True),
        comment="When the payment succeeded (UTC); counted in total_spent_cents once.",
    )
    description: Mapped[str | None] = mapped_column(Text, comment="What the payment was for.")
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata",
        JSONB,
        nullable=False,
        server_default=text("'{}'::jsonb"),
        comment="Extra facts (the PaymentIntent's metadata).",
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
