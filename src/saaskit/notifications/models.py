"""Notification tables: ``notifications`` (one row per recipient: its own read state),
``notification_broadcasts`` (what admins sent to everyone or to an organization) and
``notification_preferences`` (each user's channel choices per kind)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.kit.models import Base, created_at_column, updated_at_column, uuid_pk
from saaskit.notifications.kinds import AUDIENCES, KINDS, SEVERITIES, SWITCHABLE, one_of

BROADCAST_STATUSES = ("sending", "sent")
TITLE_MAX_CHARS = 200
BODY_MAX_CHARS = 2000
LINK_MAX_CHARS = 2048


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint(f"kind IN {one_of(tuple(KINDS))}", name="kind_known"),
        CheckConstraint(f"severity IN {one_of(SEVERITIES)}", name="severity_known"),
        CheckConstraint(f"audience IN {one_of(AUDIENCES)}", name="audience_known"),
        CheckConstraint(
            "audience <> 'organization' OR organization_id IS NOT NULL", name="organization_audience_has_id"
        ),
        CheckConstraint(f"char_length(title) BETWEEN 1 AND {TITLE_MAX_CHARS}", name="title_length"),
        CheckConstraint(f"char_length(body) <= {BODY_MAX_CHARS}", name="body_length"),
        CheckConstraint(f"char_length(link) <= {LINK_MAX_CHARS}", name="link_length"),
        # The user's list, newest first (keyset pages); also the index of the user_id foreign key.
        Index("idx_notifications_user_id_created_at", "user_id", "created_at", "id"),
        # The unread badge: only unread rows are in it, so counting reads few index entries.
        Index("idx_notifications_user_id_unread", "user_id", postgresql_where=text("read_at IS NULL")),
        Index(
            "idx_notifications_organization_id",
            "organization_id",
            postgresql_where=text("organization_id IS NOT NULL"),
        ),
        Index("idx_notifications_actor_id", "actor_id", postgresql_where=text("actor_id IS NOT NULL")),
        Index(
            "idx_notifications_broadcast_id",
            "broadcast_id",
            postgresql_where=text("broadcast_id IS NOT NULL"),
        ),
        # How many recipients of a broadcast have read it (the admin page), by an index-only scan.
        Index(
            "idx_notifications_broadcast_id_read",
            "broadcast_id",
            postgresql_where=text("broadcast_id IS NOT NULL AND read_at IS NOT NULL"),
        ),
        # The daily purge reads by age; rows arrive in time order, so a BRIN index (a few pages,
        # nearly free to maintain on a 100,000-row broadcast) finds the old ones.
        Index("idx_notifications_created_at", "created_at", postgresql_using="brin"),
        {
            "comment": "In-app notices, one row per recipient (each has its own read_at): sent to a "
            "user, to every active member of an organization, or to everyone (an admin broadcast). "
            "RLS: the recipient's own rows (organization notices only while an active member), or "
            "service."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk("Unique notification identifier.")
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        comment="The recipient: the user who sees this notice and whose read state read_at is.",
    )
    kind: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        comment="What the notice is about: payment_failed, card_expiring, trial_ending, credits_low, "
        "topup_failed, subscription_cancelled, invitation, security or broadcast "
        "(docs/notifications.md); the user's preferences are per kind.",
    )
    severity: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        server_default="info",
        comment="How the app shows it: info, success, warning or critical.",
    )
    title: Mapped[str] = mapped_column(
        Text, nullable=False, comment="One line shown in the list (1-200 characters)."
    )
    body: Mapped[str | None] = mapped_column(Text, comment="Longer text, plain (up to 2000 characters).")
    link: Mapped[str | None] = mapped_column(
        Text, comment="Where the notice leads: a path in the product (/billing) or an http(s) URL."
    )
    data: Mapped[dict[str, Any]] = mapped_column(
        JSONB,
        nullable=False,
        server_default=text("'{}'::jsonb"),
        comment="Extra values for the app (JSON object), e.g. the invoice id; never secrets.",
    )
    audience: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        server_default="user",
        comment="How it was addressed: user (to this user), organization (a copy of a notice to "
        "every active member of organization_id) or everyone (a copy of an admin broadcast).",
    )
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        comment="The organization the notice was sent to or is about, if any.",
    )
    actor_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="SET NULL"),
        comment="Who caused it (the inviter); null: the system, or an admin broadcast "
        "(notification_broadcasts.sent_by says which admin).",
    )
    broadcast_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("notification_broadcasts.id", ondelete="CASCADE"),
        comment="The admin broadcast this row is a copy of, if any.",
    )
    read_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When the recipient marked it read (UTC); null: unread."
    )
    created_at: Mapped[datetime] = created_at_column("When the notice was created (UTC).")


class NotificationBroadcast(Base):
    __tablename__ = "notification_broadcasts"
    __table_args__ = (
        CheckConstraint("audience IN ('everyone', 'organization')", name="audience_known"),
        CheckConstraint(
            "(audience = 'organization') = (organization_id IS NOT NULL)",
            name="organization_matches_audience",
        ),
        CheckConstraint(f"severity IN {one_of(SEVERITIES)}", name="severity_known"),
        CheckConstraint("recipient_count >= 0", name="recipient_count_not_negative"),
        CheckConstraint(f"status IN {one_of(BROADCAST_STATUSES)}", name="status_known"),
        Index("idx_notification_broadcasts_created_at", "created_at"),
        Index(
            "idx_notification_broadcasts_organization_id",
            "organization_id",
            postgresql_where=text("organization_id IS NOT NULL"),
        ),
        Index("idx_notification_broadcasts_sent_by", "sent_by"),
        Index("idx_notification_broadcasts_status", "status", postgresql_where=text("status = 'sending'")),
        {
            "comment": "Notices platform admins sent to everyone or to one organization's members; "
            "each recipient's copy is a notifications row (broadcast_id). RLS: service only."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk("Unique broadcast identifier.")
    audience: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        comment="everyone (every active account) or organization (the active members of organization_id).",
    )
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        comment="The organization whose members got it (audience organization).",
    )
    severity: Mapped[str] = mapped_column(
        Text, nullable=False, server_default="info", comment="info, success, warning or critical."
    )
    title: Mapped[str] = mapped_column(Text, nullable=False, comment="The notice's title, as sent.")
    body: Mapped[str | None] = mapped_column(Text, comment="The notice's text, as sent.")
    link: Mapped[str | None] = mapped_column(Text, comment="The notice's link, as sent.")
    sent_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="SET NULL"),
        comment="The platform admin who sent it.",
    )
    status: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        server_default="sending",
        comment="sending (copies are being written, in batches, by the notifications.fan_out job) or "
        "sent (every recipient has a copy).",
    )
    recipient_count: Mapped[int] = mapped_column(
        Integer,
        nullable=False,
        server_default=text("0"),
        comment="Users who got a copy so far (those who turned announcements off get none).",
    )
    fanned_out_through: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        comment="Progress of a broadcast to everyone: the last users.id (in id order) handled; the "
        "next batch starts after it. Null: none yet.",
    )
    completed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When the last copy was written (UTC); null: still sending."
    )
    created_at: Mapped[datetime] = created_at_column(
        "When it was sent (UTC); accounts created later do not get it."
    )


class NotificationPreference(Base):
    __tablename__ = "notification_preferences"
    __table_args__ = (
        CheckConstraint(f"kind IN {one_of(SWITCHABLE)}", name="kind_switchable"),
        {
            "comment": "A user's choice of channels for one kind of notice; a kind without a row uses "
            "its defaults (docs/notifications.md). Security notices cannot be switched off and have "
            "no row. RLS: the user's own rows (organizations read their active members' ones), or "
            "service."
        },
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        comment="The user who chose.",
    )
    kind: Mapped[str] = mapped_column(
        Text, primary_key=True, comment="The kind of notice the choice is about (not security)."
    )
    is_in_app_enabled: Mapped[bool] = mapped_column(
        Boolean, nullable=False, comment="The user gets this kind in the app (a notifications row)."
    )
    is_email_enabled: Mapped[bool] = mapped_column(
        Boolean,
        nullable=False,
        comment="The user gets this kind by e-mail (always false for kinds without e-mail).",
    )
    created_at: Mapped[datetime] = created_at_column("When the user first changed this kind (UTC).")
    updated_at: Mapped[datetime] = updated_at_column("When the user last changed this kind (UTC).")


# The table as a Core object, for the set-based INSERT ... SELECT of a fan-out.
NOTIFICATIONS = cast(Table, Notification.__table__)
