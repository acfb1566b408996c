"""Webhook tables: the organization's endpoints, the messages emitted, and one row per delivery
attempt (docs/integrations.md, "Outgoing webhooks"). Tenant rows: RLS lets the service or the
organization's own transactions see them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Text,
)
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.kit.models import Base, created_at_column, updated_at_column, uuid_pk

URL_MAX_CHARS = 2000
DESCRIPTION_MAX_CHARS = 500
TRIGGERS = ("event", "retry", "replay", "test")


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        CheckConstraint(f"char_length(url) BETWEEN 1 AND {URL_MAX_CHARS}", name="url_length"),
        CheckConstraint(f"char_length(description) <= {DESCRIPTION_MAX_CHARS}", name="description_length"),
        CheckConstraint("cardinality(event_types) >= 1", name="event_types_not_empty"),
        CheckConstraint("consecutive_failures >= 0", name="consecutive_failures_not_negative"),
        Index("idx_webhook_endpoints_organization_id", "organization_id"),
        Index("idx_webhook_endpoints_created_by", "created_by"),
        {
            "comment": "An organization's webhook endpoints: where saaskit POSTs signed events "
            "(Standard Webhooks) of the types subscribed. RLS: the organization's own rows, or service."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk("Unique identifier; also binds the sealed secret to this row.")
    organization_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
        comment="The organization whose events are sent here.",
    )
    url: Mapped[str] = mapped_column(
        Text, nullable=False, comment="http(s) URL events are POSTed to (public addresses only, by default)."
    )
    description: Mapped[str] = mapped_column(
        Text, nullable=False, server_default="", comment="What the endpoint is, for people."
    )
    event_types: Mapped[list[str]] = mapped_column(
        ARRAY(Text),
        nullable=False,
        comment="Event types subscribed (webhooks/catalog.py), or {*} for every type.",
    )
    sealed_secret: Mapped[bytes] = mapped_column(
        LargeBinary,
        nullable=False,
        comment="The signing secret (whsec_...), AES-256-GCM sealed under a key derived from the instance "
        "secret and bound to this row: it must be given back to sign, so it cannot be a hash.",
    )
    previous_sealed_secret: Mapped[bytes | None] = mapped_column(
        LargeBinary,
        comment="The secret before the last rotation, sealed likewise; also signs until it expires.",
    )
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When the previous secret stops signing (UTC)."
    )
    is_enabled: Mapped[bool] = mapped_column(
        Boolean,
        nullable=False,
        server_default=sql_text("true"),
        comment="False: nothing is sent (disabled by a member, or automatically after sustained failure).",
    )
    disabled_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When it was disabled (UTC); null while enabled."
    )
    disabled_reason: Mapped[str | None] = mapped_column(
        Text, comment="Why it was disabled: by whom, or the failures that disabled it."
    )
    consecutive_failures: Mapped[int] = mapped_column(
        Integer,
        nullable=False,
        server_default=sql_text("0"),
        comment="Failed attempts since the last successful one.",
    )
    failing_since: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When the first of those failed attempts was made (UTC); null: none."
    )
    last_success_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When an attempt last succeeded (2xx) (UTC)."
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"), comment="Who created it."
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class WebhookMessage(Base):
    __tablename__ = "webhook_messages"
    __table_args__ = (
        Index("idx_webhook_messages_organization_id_created_at", "organization_id", "created_at", "id"),
        Index(
            "idx_webhook_messages_organization_id_dedupe_key",
            "organization_id",
            "dedupe_key",
            unique=True,
            postgresql_where=sql_text("dedupe_key IS NOT NULL"),
        ),
        Index("idx_webhook_messages_created_at", "created_at", postgresql_using="brin"),
        {
            "comment": "One row per event emitted for an organization (its webhook-id and body), written "
            "in the transaction of the change it describes. RLS: the organization's own rows, or service."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk("Unique identifier; webhook-id is msg_ followed by it (hex).")
    organization_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
        comment="The organization the event belongs to.",
    )
    event_type: Mapped[str] = mapped_column(
        Text, nullable=False, comment="Type from the catalog, e.g. member.added."
    )
    data: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, comment="The body's data object (the body is {type, timestamp, data})."
    )
    dedupe_key: Mapped[str | None] = mapped_column(
        Text, comment="Set by emitters that may run twice for one fact: a second emit with it is dropped."
    )
    created_at: Mapped[datetime] = created_at_column(
        "When the event was emitted (UTC); the body's timestamp."
    )


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(
            "trigger IN " + "(" + ", ".join(f"'{t}'" for t in TRIGGERS) + ")", name="trigger_known"
        ),
        CheckConstraint("attempt >= 1", name="attempt_positive"),
        CheckConstraint("latency_ms >= 0", name="latency_not_negative"),
        Index("idx_webhook_deliveries_endpoint_id_created_at", "endpoint_id", "created_at", "id"),
        Index("idx_webhook_deliveries_message_id", "message_id"),
        Index("idx_webhook_deliveries_organization_id", "organization_id"),
        {
            "comment": "The delivery log: one row per attempt to send one message to one endpoint, with "
            "the answer (status, latency, excerpt) or the error. RLS: the organization's own rows, or "
            "service."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
        comment="The organization (the endpoint's and the message's).",
    )
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
        nullable=False,
        comment="Where it was sent.",
    )
    message_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("webhook_messages.id", ondelete="CASCADE"),
        nullable=False,
        comment="What was sent.",
    )
    attempt: Mapped[int] = mapped_column(
        Integer,
        nullable=False,
        comment="1 for the first attempt of a run (an emit, a replay, a test), then 2 ...",
    )
    trigger: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        comment="What made the attempt: event (first attempt), retry, replay (by a member) or test.",
    )
    is_success: Mapped[bool] = mapped_column(
        Boolean, nullable=False, comment="True: the endpoint answered 2xx."
    )
    status_code: Mapped[int | None] = mapped_column(
        Integer, comment="HTTP status answered; null when there was no answer (refused, timeout ...)."
    )
    latency_ms: Mapped[int | None] = mapped_column(
        Integer, comment="Milliseconds from starting to connect to the end of the answer's headers."
    )
    response_excerpt: Mapped[str | None] = mapped_column(
        Text, comment="The start of the answer's body (SAASKIT_WEBHOOKS_RESPONSE_EXCERPT_BYTES at most)."
    )
    error: Mapped[str | None] = mapped_column(
        Text, comment="Why it failed when not a 2xx: refused address, timeout, redirect not followed ..."
    )
    next_attempt_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True),
        comment="When the next attempt is due (UTC); null: none (success, or gave up).",
    )
    created_at: Mapped[datetime] = created_at_column("When the attempt was made (UTC).")
