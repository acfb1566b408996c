"""Devices and presence tables: ``dashboards`` (seeds 000/001), ``user_heartbeats`` and
``visitor_sessions`` (seed 002). The activity columns of ``user_sessions`` live on the accounts
model (one table, two kinds of rows: see docs/schema.md)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.kit.models import Base, created_at_column, updated_at_column, uuid_pk

DEVICE_TYPES = ("fire_tv", "android_tv", "browser", "other")


class Dashboard(Base):
    __tablename__ = "dashboards"
    __table_args__ = (
        CheckConstraint(f"device_type IN {DEVICE_TYPES}", name="device_type_known"),
        CheckConstraint("crash_count >= 0", name="crash_count_not_negative"),
        CheckConstraint("total_sessions >= 0", name="total_sessions_not_negative"),
        CheckConstraint("total_uptime_seconds >= 0", name="total_uptime_seconds_not_negative"),
        Index("idx_dashboards_user_id", "user_id"),
        Index("idx_dashboards_is_online", "is_online"),
        Index("idx_dashboards_device_fingerprint_hash", "device_fingerprint_hash"),
        Index("idx_dashboards_active_widgets", "active_widgets", postgresql_using="gin"),
        {
            "comment": "One dashboard instance (a device running the app) of a user: configuration, "
            "presence, version, uptime and crashes (RLS: the user's own).",
            # Every heartbeat updates the row: free room on each page keeps those updates HOT
            # (no index writes). Revision 0007 does the same for users and user_sessions.
            "postgresql_with": {"fillfactor": "90"},
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk("Unique dashboard (device) identifier.")
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        comment="The user who owns the device.",
    )
    device_name: Mapped[str] = mapped_column(
        Text, nullable=False, comment="Name the user gave the device, e.g. Kitchen TV."
    )
    device_type: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        server_default="other",
        comment="Platform: fire_tv, android_tv, browser or other.",
    )
    device_fingerprint_hash: Mapped[str | None] = mapped_column(
        Text,
        comment="Keyed HMAC-SHA-256 of the client's device identifier (never the identifier itself).",
    )
    active_widgets: Mapped[list[str]] = mapped_column(
        ARRAY(Text),
        nullable=False,
        server_default=text("'{}'::text[]"),
        comment="Names of the widgets enabled on this dashboard, in display order.",
    )
    theme: Mapped[str] = mapped_column(
        Text, nullable=False, server_default="dark", comment="UI theme chosen for the device, e.g. dark."
    )
    is_online: Mapped[bool] = mapped_column(
        Boolean,
        nullable=False,
        server_default=text("false"),
        comment="A heartbeat arrived within the offline timeout (set by heartbeats, cleared by a job).",
    )
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Most recent heartbeat from the device (UTC)."
    )
    current_version: Mapped[str | None] = mapped_column(Text, comment="App version the device last reported.")
    needs_update: Mapped[bool] = mapped_column(
        Boolean,
        nullable=False,
        server_default=text("false"),
        comment="The device runs a version below the required minimum and must update "
        "(cleared when it reports a version at or above it).",
    )
    total_sessions: Mapped[int] = mapped_column(
        Integer,
        nullable=False,
        server_default=text("0"),
        comment="Usage sessions started on the device, lifetime.",
    )
    total_uptime_seconds: Mapped[Decimal] = mapped_column(
        Numeric(18, 6),
        nullable=False,
        server_default=text("0"),
        comment="Seconds the device has been running, summed from the gaps between its heartbeats "
        "(gaps above the configured maximum earn nothing), to the microsecond.",
    )
    total_uptime_minutes: Mapped[int] = mapped_column(
        BigInteger,
        Computed("floor(total_uptime_seconds / 60)::bigint", persisted=True),
        comment="Whole minutes of total_uptime_seconds (derived, never written).",
    )
    last_crash_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When the device last reported a crash (UTC)."
    )
    crash_count: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0"), comment="Crashes the device reported, lifetime."
    )
    deleted_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True),
        comment="Soft deletion (UTC): the device no longer counts towards the limit or takes heartbeats.",
    )
    created_at: Mapped[datetime] = created_at_column("When the device was registered (UTC).")
    updated_at: Mapped[datetime] = updated_at_column(
        "Last configuration change: name, theme or widgets (UTC); heartbeats do not touch it."
    )


class UserHeartbeat(Base):
    __tablename__ = "user_heartbeats"
    __table_args__ = (
        Index("idx_user_heartbeats_last_seen_at", "last_seen_at"),
        {
            "comment": "Latest heartbeat of each user, one row per user: the source of 'active users "
            "now' (seed 002; RLS: the user's own)."
        },
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        comment="The user (one row each).",
    )
    last_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, comment="Time of the user's latest heartbeat (UTC)."
    )


class VisitorSession(Base):
    __tablename__ = "visitor_sessions"
    __table_args__ = (
        CheckConstraint("session_id ~ '^[A-Za-z0-9_-]{8,128}$'", name="session_id_shape"),
        Index("idx_visitor_sessions_last_seen_at", "last_seen_at"),
        Index("idx_visitor_sessions_organization_id_last_seen_at", "organization_id", "last_seen_at"),
        {
            "comment": "One row per anonymous visitor session (browser), from POST /api/track-visit: "
            "total visitors, visitors now and today (seed 002; no user, so no RLS)."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    session_id: Mapped[str] = mapped_column(
        Text,
        unique=True,
        nullable=False,
        comment="Session id chosen by the client (e.g. kept in localStorage): 8-128 of A-Z a-z 0-9 _ -.",
    )
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="SET NULL"),
        comment="Organization whose site or app was visited, when the visit carried its ingestion key.",
    )
    ip_hash: Mapped[str | None] = mapped_column(
        Text,
        comment="HMAC-SHA-256 of the client IP under a secret salt that rotates daily (UTC), "
        "from the session's first visit; never the raw IP.",
    )
    ua_hash: Mapped[str | None] = mapped_column(
        Text,
        comment="HMAC-SHA-256 of the User-Agent under the same daily salt, for de-duplication.",
    )
    first_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        server_default=text("now()"),
        comment="First track-visit of the session (UTC).",
    )
    last_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        server_default=text("now()"),
        comment="Latest track-visit of the session (UTC).",
    )
