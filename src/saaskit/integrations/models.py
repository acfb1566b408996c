"""The ``integrations`` table (seed 004, "Integrations": third-party integrations and OAuth
tokens): which organization connected which provider, as whom, with which scopes, until when
its token works, and whether it is still connected. Tokens are sealed (kit/crypto.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, LargeBinary, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.kit.models import Base, created_at_column, updated_at_column, uuid_pk

INTEGRATION_STATUSES = ("active", "refresh_failed", "disconnected")


class Integration(Base):
    __tablename__ = "integrations"
    __table_args__ = (
        CheckConstraint(f"status IN {INTEGRATION_STATUSES}", name="status_known"),
        CheckConstraint(
            "(status = 'disconnected') = (disconnected_at IS NOT NULL)", name="disconnected_when_status_says"
        ),
        # One live connection per organization and provider; disconnected rows stay as history.
        Index(
            "idx_integrations_organization_id_provider",
            "organization_id",
            "provider",
            unique=True,
            postgresql_where=text("disconnected_at IS NULL"),
        ),
        Index("idx_integrations_organization_id", "organization_id"),
        Index("idx_integrations_connected_by_user_id", "connected_by_user_id"),
        Index("idx_integrations_disconnected_by_user_id", "disconnected_by_user_id"),
        Index(
            "idx_integrations_token_expires_at",
            "token_expires_at",
            postgresql_where=text("disconnected_at IS NULL"),
        ),
        {
            "comment": "Third-party services an organization connected through OAuth / OpenID Connect: "
            "provider, account, scopes, sealed tokens and their expiry, status (RLS: the organization's own)."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk("Unique identifier of the connection (UUID); binds its sealed tokens.")
    organization_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
        comment="The organization that connected the provider.",
    )
    provider: Mapped[str] = mapped_column(
        Text, nullable=False, comment="Name of the configured provider (a key of SAASKIT_OIDC_PROVIDERS)."
    )
    external_account_id: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        comment="The connected account's id at the provider (OpenID subject, GitHub id).",
    )
    external_account_email: Mapped[str | None] = mapped_column(
        Text, comment="The connected account's e-mail at the provider, for display; null if it gave none."
    )
    scopes: Mapped[list[str]] = mapped_column(
        ARRAY(Text),
        nullable=False,
        server_default=text("'{}'::text[]"),
        comment="Scopes the provider granted (as it reported them, else as asked).",
    )
    status: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        server_default="active",
        comment="active; refresh_failed (the provider refused the refresh token: connect again); "
        "disconnected.",
    )
    token_type: Mapped[str | None] = mapped_column(Text, comment="The access token's type, usually Bearer.")
    access_token_sealed: Mapped[bytes | None] = mapped_column(
        LargeBinary,
        comment="Access token, AES-256-GCM under a key derived from the instance secret, bound to this row; "
        "null once disconnected.",
    )
    refresh_token_sealed: Mapped[bytes | None] = mapped_column(
        LargeBinary,
        comment="Refresh token, sealed like the access token; null when the provider gave none or once "
        "disconnected.",
    )
    token_expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True),
        comment="When the access token stops working (UTC); null: the provider did not say.",
    )
    last_refreshed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Last successful refresh of the access token (UTC); null: never."
    )
    last_error: Mapped[str | None] = mapped_column(
        Text, comment="The provider's answer to the last failed refresh (its error code), for operators."
    )
    connected_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="SET NULL"),
        comment="Who connected it (null once that account is deleted).",
    )
    connected_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        server_default=func.now(),
        comment="When it was (last) connected (UTC).",
    )
    disconnected_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When it was disconnected (UTC); null: still connected."
    )
    disconnected_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="SET NULL"),
        comment="Who disconnected it; null while connected (or once that account is deleted).",
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
