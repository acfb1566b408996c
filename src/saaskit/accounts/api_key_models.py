"""API keys: a person's own (personal) or an organization's, for servers calling the API
(docs/integrations.md, "API keys"). Only the key's SHA-256 is stored; the key is shown once."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.kit.models import Base, created_at_column, updated_at_column, uuid_pk


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (
        Index("idx_api_keys_user_id", "user_id"),
        Index("idx_api_keys_organization_id", "organization_id"),
        Index("idx_api_keys_replaced_by", "replaced_by"),
        CheckConstraint("char_length(name) BETWEEN 1 AND 200", name="name_length"),
        CheckConstraint("rate_limit_per_minute IS NULL OR rate_limit_per_minute > 0", name="rate_positive"),
        {
            "comment": "API keys for servers: personal (organization_id null) or an organization's; only "
            "the SHA-256 is kept (RLS: the holder's own, the organization's, or service)."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        comment="Personal key: its holder. Organization key: who created it; the key acts within that "
        "person's current access, so it never holds more than they do.",
    )
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        comment="Organization key: the one organization it works in; null for a personal key.",
    )
    name: Mapped[str] = mapped_column(Text, nullable=False, comment="What the key is for (shown in lists).")
    key_prefix: Mapped[str] = mapped_column(
        Text, nullable=False, comment="The key's first characters (sak_ and 8 more), to recognise it."
    )
    key_hash: Mapped[str] = mapped_column(
        Text, nullable=False, unique=True, comment="SHA-256 of the key (hex); the key itself is never stored."
    )
    scopes: Mapped[list[str]] = mapped_column(
        ARRAY(Text),
        nullable=False,
        server_default=text("'{}'::text[]"),
        comment="Permissions from the catalog the key may use (within its holder's access).",
    )
    rate_limit_per_minute: Mapped[int | None] = mapped_column(
        Integer, comment="Requests per minute for this key; null: the setting rate_limit.api_key."
    )
    expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When the key stops working (UTC); null: never."
    )
    revoked_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When the key was revoked (UTC); it no longer works."
    )
    replaced_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("api_keys.id", ondelete="SET NULL"),
        comment="The key that replaced it on rotation (this one expires after the overlap).",
    )
    last_used_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Last request with the key (UTC, updated at most once a minute)."
    )
    last_audited_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True),
        comment="Last api_key.used row in the activity log (at most one an hour per key).",
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
