"""Mail tables: ``email_outbox`` (every message saaskit sends, queued in the transaction that
caused it) and ``email_opt_outs`` (addresses that unsubscribed from optional notices)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, CheckConstraint, DateTime, ForeignKey, Index, Integer, LargeBinary, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.kit.models import Base, created_at_column, updated_at_column, uuid_pk

STATUSES = ("queued", "sending", "sent", "failed", "bounced", "held", "discarded")
PURPOSES = ("account", "invitation", "billing", "reminders")
# Purposes a recipient may unsubscribe from (List-Unsubscribe); the others are mail a user
# cannot do without (security notices, links they asked for, notices about money).
OPTIONAL_PURPOSES = ("reminders",)


def _one_of(values: tuple[str, ...]) -> str:
    """``('a', 'b')`` as SQL (a Python tuple of one would print a trailing comma)."""
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


class EmailOutbox(Base):
    __tablename__ = "email_outbox"
    __table_args__ = (
        CheckConstraint(f"status IN {_one_of(STATUSES)}", name="status_known"),
        CheckConstraint(f"purpose IN {_one_of(PURPOSES)}", name="purpose_known"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        Index("idx_email_outbox_user_id", "user_id"),
        Index("idx_email_outbox_organization_id", "organization_id"),
        Index("idx_email_outbox_created_at", "created_at"),
        Index("idx_email_outbox_status_created_at", "status", "created_at"),
        Index("idx_email_outbox_recipient", "recipient"),
        Index(
            "idx_email_outbox_next_attempt_at",
            "next_attempt_at",
            postgresql_where=text("status = 'queued'"),
        ),
        Index(
            "idx_email_outbox_expires_at", "expires_at", postgresql_where=text("sealed_secrets IS NOT NULL")
        ),
        {
            "comment": "Every e-mail saaskit sends, written in the transaction that caused it and sent "
            "by a job: recipient, template, status and attempts. One-time links travel sealed "
            "(AES-GCM) and are wiped once sent (docs/mail.md). RLS: the user's or organization's "
            "own rows, or service."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk("Unique message identifier; also binds its sealed secrets to this row.")
    recipient: Mapped[str] = mapped_column(Text, nullable=False, comment="The address the message goes to.")
    template: Mapped[str] = mapped_column(
        Text, nullable=False, comment="Template name, e.g. password_reset (docs/mail.md lists them)."
    )
    purpose: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        comment="Kind of mail, for filtering and opt-outs: account, invitation, billing or reminders "
        "(the only one recipients may unsubscribe from).",
    )
    subject: Mapped[str] = mapped_column(Text, nullable=False, comment="The Subject header, as rendered.")
    context: Mapped[dict[str, Any]] = mapped_column(
        JSONB,
        nullable=False,
        server_default=text("'{}'::jsonb"),
        comment="The template's values (JSON); secret values appear only in their hidden form "
        "(e.g. a link with token=[hidden]).",
    )
    secret_keys: Mapped[list[str]] = mapped_column(
        ARRAY(Text),
        nullable=False,
        server_default=text("'{}'::text[]"),
        comment="Names of the context values that are secret (sealed in sealed_secrets).",
    )
    sealed_secrets: Mapped[bytes | None] = mapped_column(
        LargeBinary,
        comment="The secret values, AES-256-GCM sealed under a key derived from the instance secret "
        "and bound to this row; null when there are none or once wiped.",
    )
    secrets_wiped_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True),
        comment="When the secret values were wiped (after sending, discarding or expiry) (UTC).",
    )
    status: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        server_default="queued",
        comment="queued (waiting for its next attempt), sending (a worker has it), sent (the SMTP "
        "server accepted it), failed (refused for good, or attempts used up), bounced (the "
        "recipient's address was refused), held (no SMTP server configured: never sent), "
        "discarded (by an operator, or the recipient unsubscribed).",
    )
    attempts: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0"), comment="Delivery attempts made so far."
    )
    next_attempt_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When a queued message is due for its next attempt (UTC)."
    )
    last_attempt_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When the latest attempt started (UTC)."
    )
    last_error: Mapped[str | None] = mapped_column(
        Text, comment="Why the latest attempt failed, or why the message was not sent."
    )
    smtp_reply: Mapped[str | None] = mapped_column(
        Text, comment="The SMTP server's reply on accepting the message (often its queue id)."
    )
    message_id: Mapped[str] = mapped_column(
        Text, nullable=False, unique=True, comment="The Message-ID header, <id@sender domain>."
    )
    expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True),
        comment="When the message's links stop working: not sent after this, and its secrets wiped (UTC).",
    )
    sent_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When the SMTP server accepted the message (UTC)."
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        comment="The user the message is about or for, if any (their erasure deletes it).",
    )
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        comment="The organization the message is about, if any.",
    )
    created_at: Mapped[datetime] = created_at_column("When the message was queued (UTC).")
    updated_at: Mapped[datetime] = updated_at_column("When the message's status last changed (UTC).")


class EmailOptOut(Base):
    __tablename__ = "email_opt_outs"
    __table_args__ = (
        CheckConstraint(f"purpose IN {_one_of(OPTIONAL_PURPOSES)}", name="purpose_optional"),
        {
            "comment": "Addresses that unsubscribed from an optional kind of mail (one-click "
            "List-Unsubscribe); the sender discards such mail to them. RLS: service only."
        },
    )

    email: Mapped[str] = mapped_column(
        Text, primary_key=True, comment="The unsubscribed address, lower-cased."
    )
    purpose: Mapped[str] = mapped_column(
        Text, primary_key=True, comment="The kind of mail it no longer gets (reminders)."
    )
    created_at: Mapped[datetime] = created_at_column("When the address unsubscribed (UTC).")
