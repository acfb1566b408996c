"""Every Stripe event received, stored before it is processed (seed 001's DDL)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.kit.models import Base, created_at_column, uuid_pk

PROCESSING_STATUSES = ("pending", "processed", "failed", "ignored")


class StripeWebhookEvent(Base):
    __tablename__ = "stripe_webhook_events"
    __table_args__ = (
        Index("idx_stripe_webhook_events_organization_id", "organization_id"),
        CheckConstraint(f"processing_status IN {PROCESSING_STATUSES}", name="processing_status_known"),
        Index("idx_stripe_webhook_events_event_type", "event_type"),
        Index("idx_stripe_webhook_events_user_id", "user_id"),
        Index("idx_stripe_webhook_events_processing_status", "processing_status"),
        Index("idx_stripe_webhook_events_created_at", "created_at"),
        {"comment": "Stripe webhook events as received (audit trail, kept 7 years) and how processing went."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    stripe_event_id: Mapped[str] = mapped_column(
        Text, unique=True, nullable=False, comment="Stripe's event id (evt_...): a re-delivery is a no-op."
    )
    event_type: Mapped[str] = mapped_column(Text, nullable=False, comment="e.g. invoice.paid.")
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="SET NULL"),
        comment="User the event was about, once processing found out.",
    )
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="SET NULL"),
        comment="Organization the event was about, once processing found out.",
    )
    old_tier: Mapped[str | None] = mapped_column(Text, comment="Tier before the event, when it changed one.")
    new_tier: Mapped[str | None] = mapped_column(Text, comment="Tier after the event, when it changed one.")
    processed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When processing finished (UTC)."
    )
    event_data: Mapped[dict[str, Any]] = mapped_column(
        JSONB,
        nullable=False,
        comment="The event as Stripe sent it, less personal data: per object type only the fields "
        "processing and audit need (billing/redaction.py, docs/privacy.md); the card fingerprint "
        "as its keyed hash.",
    )
    processing_status: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        server_default="pending",
        comment="pending (queued or retrying), processed, failed (retries exhausted) "
        "or ignored (type not handled).",
    )
    error_message: Mapped[str | None] = mapped_column(Text, comment="The latest processing error.")
    retry_count: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0"), comment="Failed processing attempts so far."
    )
    stripe_created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, comment="When Stripe created the event (its ordering clock)."
    )
    api_version: Mapped[str | None] = mapped_column(
        Text, comment="Stripe API version the payload is shaped by."
    )
    livemode: Mapped[bool | None] = mapped_column(comment="True for live-mode events, false for test mode.")
    created_at: Mapped[datetime] = created_at_column("When the webhook was received (UTC).")
