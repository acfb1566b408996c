"""Metered usage (``usage_records``) and per-period feature counters for quotas (``feature_usage``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.billing.models._common import optional_fk, owner_check, owner_org, owner_user
from saaskit.kit.models import Base, created_at_column, updated_at_column, uuid_pk

# Where a usage record stands with Stripe (billing/meters.py): pending (to send, or to retry at
# stripe_next_attempt_at), sent (Stripe acknowledged it), refused (Stripe answered 4xx: the error
# says why), failed (gave up after the retries), skipped (nothing to bill it to: the reason is in
# stripe_error).
STRIPE_USAGE_STATUSES = ("pending", "sent", "refused", "failed", "skipped")


class UsageRecord(Base):
    __tablename__ = "usage_records"
    __table_args__ = (
        owner_check(),
        Index(
            "uq_usage_records_user_id_idempotency_key",
            "user_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("user_id IS NOT NULL"),
        ),
        Index(
            "uq_usage_records_organization_id_idempotency_key",
            "organization_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("organization_id IS NOT NULL"),
        ),
        Index("idx_usage_records_user_id_metric_name_recorded_at", "user_id", "metric_name", "recorded_at"),
        Index(
            "idx_usage_records_organization_id_metric_name_recorded_at",
            "organization_id",
            "metric_name",
            "recorded_at",
        ),
        Index("idx_usage_records_subscription_id", "subscription_id"),
        CheckConstraint(f"stripe_status IN {STRIPE_USAGE_STATUSES}", name="stripe_status_known"),
        CheckConstraint("stripe_attempts >= 0", name="stripe_attempts_not_negative"),
        Index(
            "idx_usage_records_stripe_pending",
            "stripe_next_attempt_at",
            postgresql_where=text("stripe_status = 'pending'"),
        ),
        # What Stripe refused or never took: the admin's Billing page lists the latest.
        Index(
            "idx_usage_records_stripe_problems",
            "recorded_at",
            postgresql_where=text("stripe_status IN ('refused', 'failed')"),
        ),
        {"comment": "Metered usage reported by the product, one row per report (idempotent by key)."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID | None] = owner_user()
    organization_id: Mapped[uuid.UUID | None] = owner_org()
    subscription_id: Mapped[uuid.UUID | None] = optional_fk(
        "subscriptions.id", "Subscription whose period the usage falls in, if any."
    )
    metric_name: Mapped[str] = mapped_column(Text, nullable=False, comment="What was used, e.g. api_calls.")
    quantity: Mapped[int] = mapped_column(
        BigInteger, nullable=False, comment="How much (units of the metric)."
    )
    unit_price_cents: Mapped[int | None] = mapped_column(
        Integer, comment="Price per unit in cents when the usage is billed."
    )
    unique_key: Mapped[str | None] = mapped_column(
        Text, comment="What the unique count counts (a device, a document ...), if the metric has one."
    )
    idempotency_key: Mapped[str] = mapped_column(
        Text, nullable=False, comment="Client key: the same key twice records once."
    )
    billing_period_start: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        comment="Start of the billing period the usage counts in (UTC).",
    )
    billing_period_end: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, comment="End of that billing period (UTC)."
    )
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        server_default=text("now()"),
        comment="When the usage happened (UTC).",
    )
    stripe_status: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        server_default="pending",
        comment="Where the record stands with Stripe: pending, sent (acknowledged), refused (Stripe's "
        "4xx, see stripe_error), failed (retries exhausted) or skipped (nothing to bill it to).",
    )
    stripe_identifier: Mapped[str | None] = mapped_column(
        Text,
        comment="Identifier sent with the meter event (saaskit-usage-<id>): Stripe counts an "
        "identifier once, so a retried send cannot bill twice.",
    )
    stripe_attempts: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0"), comment="Sends tried so far."
    )
    stripe_next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        server_default=text("now()"),
        comment="A pending record is sent from this time on (UTC): backoff after a failure, and "
        "the lease of the job sending it.",
    )
    stripe_reported_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When Stripe acknowledged it (UTC)."
    )
    stripe_error: Mapped[str | None] = mapped_column(
        Text, comment="Stripe's refusal or the last failure (code: message), or why it was skipped."
    )
    created_at: Mapped[datetime] = created_at_column()


class FeatureUsage(Base):
    __tablename__ = "feature_usage"
    __table_args__ = (
        Index("idx_feature_usage_reset_date", "reset_date"),
        {
            "comment": "Per-user, per-feature counters for one period (seed 000), with seed 004's category, "
            "success and duration figures as counters; plan quotas are checked against usage_count."
        },
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        comment="User consuming the feature.",
    )
    feature_name: Mapped[str] = mapped_column(
        Text, primary_key=True, comment="Feature counted, e.g. photo_uploads, api_calls."
    )
    period_start: Mapped[date] = mapped_column(Date, primary_key=True, comment="First day of the period.")
    reset_date: Mapped[date] = mapped_column(
        Date, nullable=False, comment="Day the counter resets (the next period's start)."
    )
    feature_category: Mapped[str | None] = mapped_column(Text, comment="Group of the feature (seed 004).")
    usage_count: Mapped[int] = mapped_column(
        BigInteger,
        nullable=False,
        server_default=text("0"),
        comment="Uses in the period (checked against the quota).",
    )
    success_count: Mapped[int] = mapped_column(
        BigInteger,
        nullable=False,
        server_default=text("0"),
        comment="Uses that succeeded (seed 004's success).",
    )
    failure_count: Mapped[int] = mapped_column(
        BigInteger, nullable=False, server_default=text("0"), comment="Uses that failed."
    )
    total_duration_seconds: Mapped[int] = mapped_column(
        BigInteger,
        nullable=False,
        server_default=text("0"),
        comment="Seconds spent in the feature, summed (seed 004's duration_seconds).",
    )
    last_used_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Latest use (UTC)."
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
