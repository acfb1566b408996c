"""Analytics fact tables, range-partitioned by time (seed 001), plus ingestion keys and the
distinct_id -> user map. Partitions are created ahead of time by ``tracking.partitions``;
a DEFAULT partition catches anything outside them so an insert never fails."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.kit.models import Base, created_at_column, uuid_pk

WIDGET_EVENT_TYPES = ("view", "click", "configure", "focus", "active")
ACTIVITY_TYPES = ("login", "signup", "app_open", "action")
SEVERITIES = ("info", "warning", "error", "critical")
ERROR_TYPES = ("user_error", "system_error", "model_error")
METRIC_TYPES = ("counter", "gauge", "histogram", "summary", "timer")


def _uuid_id(comment: str) -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()"), comment=comment
    )


def _time_key(comment: str, *, default_now: bool = True) -> Mapped[datetime]:
    return mapped_column(
        DateTime(timezone=True),
        primary_key=True,
        nullable=False,
        server_default=text("now()") if default_now else None,
        comment=comment,
    )


def _org(
    comment: str = "Organization the row is attributed to (tenant), if any.",
) -> Mapped[uuid.UUID | None]:
    return mapped_column(UUID(as_uuid=True), comment=comment)


def _user(comment: str, ondelete: str = "CASCADE", nullable: bool = True) -> Mapped[Any]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete=ondelete), nullable=nullable, comment=comment
    )


def _brin(table: str, column: str) -> Index:
    return Index(f"idx_{table}_{column}", column, postgresql_using="brin")


UTM_COMMENT = "Campaign attribution from the page URL (utm_{} parameter)."


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("idx_events_organization_id_timestamp", "organization_id", "timestamp"),
        Index("idx_events_user_id_timestamp", "user_id", "timestamp"),
        Index("idx_events_event_name_timestamp", "event_name", "timestamp"),
        _brin("events", "timestamp"),
        {
            "comment": "Product analytics events (seed 004; PostHog capture). Partitioned by month.",
            "postgresql_partition_by": "RANGE (timestamp)",
        },
    )

    id: Mapped[uuid.UUID] = _uuid_id("Event id: the client's uuid when it sent one (deduplicates retries).")
    timestamp: Mapped[datetime] = _time_key(
        "When the event happened (UTC); client clock, corrected for skew."
    )
    organization_id: Mapped[uuid.UUID | None] = _org()
    user_id: Mapped[uuid.UUID | None] = _user("User the event is attributed to (signed in or identified).")
    distinct_id: Mapped[str | None] = mapped_column(Text, comment="The sender's id for the person (PostHog).")
    session_id: Mapped[str | None] = mapped_column(Text, comment="The client's session id, if sent.")
    event_name: Mapped[str] = mapped_column(
        Text, nullable=False, comment="What happened, e.g. $pageview, signup."
    )
    event_category: Mapped[str | None] = mapped_column(Text, comment="Grouping of events, e.g. billing.")
    event_action: Mapped[str | None] = mapped_column(
        Text, comment="The action within the category, e.g. upgrade."
    )
    properties: Mapped[dict[str, Any]] = mapped_column(
        JSONB,
        nullable=False,
        server_default=text("'{}'::jsonb"),
        comment="Event properties after the privacy filter of the user's tracking level.",
    )
    utm_source: Mapped[str | None] = mapped_column(Text, comment=UTM_COMMENT.format("source"))
    utm_medium: Mapped[str | None] = mapped_column(Text, comment=UTM_COMMENT.format("medium"))
    utm_campaign: Mapped[str | None] = mapped_column(Text, comment=UTM_COMMENT.format("campaign"))
    utm_term: Mapped[str | None] = mapped_column(Text, comment=UTM_COMMENT.format("term"))
    utm_content: Mapped[str | None] = mapped_column(Text, comment=UTM_COMMENT.format("content"))
    country_code: Mapped[str | None] = mapped_column(
        Text, comment="Sender's country from a trusted proxy header."
    )
    created_at: Mapped[datetime] = created_at_column("When saaskit received and stored the event (UTC).")


class PageView(Base):
    __tablename__ = "page_views"
    __table_args__ = (
        Index("idx_page_views_organization_id_viewed_at", "organization_id", "viewed_at"),
        Index("idx_page_views_user_id_viewed_at", "user_id", "viewed_at"),
        Index("idx_page_views_session_id", "session_id"),
        _brin("page_views", "viewed_at"),
        {
            "comment": "Page views (seed 004), from the API or PostHog $pageview. Partitioned by month.",
            "postgresql_partition_by": "RANGE (viewed_at)",
        },
    )

    id: Mapped[uuid.UUID] = _uuid_id("Page view id (the $pageview event's id when it came through capture).")
    viewed_at: Mapped[datetime] = _time_key("When the page was viewed (UTC).")
    organization_id: Mapped[uuid.UUID | None] = _org()
    user_id: Mapped[uuid.UUID | None] = _user("Viewer, when known.")
    distinct_id: Mapped[str | None] = mapped_column(Text, comment="The sender's id for the person.")
    session_id: Mapped[str | None] = mapped_column(Text, comment="The client's session id.")
    page_url: Mapped[str] = mapped_column(
        Text, nullable=False, comment="URL (query string dropped below full tracking)."
    )
    page_title: Mapped[str | None] = mapped_column(
        Text, comment="Title (kept only at the full tracking level)."
    )
    referrer: Mapped[str | None] = mapped_column(Text, comment="Referring URL.")
    load_time_ms: Mapped[int | None] = mapped_column(Integer, comment="Page load time in milliseconds.")
    time_on_page_seconds: Mapped[int | None] = mapped_column(Integer, comment="Seconds spent on the page.")
    bounce: Mapped[bool | None] = mapped_column(Boolean, comment="The visit ended on this page.")
    created_at: Mapped[datetime] = created_at_column("When saaskit stored the row (UTC).")


class ActivityEvent(Base):
    __tablename__ = "activity_events"
    __table_args__ = (
        CheckConstraint(f"event_type IN {ACTIVITY_TYPES}", name="event_type_known"),
        CheckConstraint("char_length(action_name) <= 128", name="action_name_length"),
        Index("idx_activity_events_created_at", "created_at"),
        Index("idx_activity_events_event_type_created_at", "event_type", "created_at"),
        Index("idx_activity_events_user_id", "user_id"),
        {
            "comment": "Account activity for the admin statistics (seed 002): login, signup, "
            "app_open, action. "
            "Partitioned by month.",
            "postgresql_partition_by": "RANGE (created_at)",
        },
    )

    id: Mapped[int] = mapped_column(
        BigInteger, Identity(always=False), primary_key=True, comment="Sequential event number."
    )
    created_at: Mapped[datetime] = _time_key("When it happened (UTC).")
    user_id: Mapped[uuid.UUID | None] = _user("Who; null for anonymous activity.")
    organization_id: Mapped[uuid.UUID | None] = _org("Organization the activity happened in, if any.")
    event_type: Mapped[str] = mapped_column(
        Text, nullable=False, comment="login, signup, app_open or action."
    )
    action_name: Mapped[str | None] = mapped_column(
        Text, comment="For actions: what, at most 128 characters."
    )


class WidgetEvent(Base):
    __tablename__ = "widget_analytics"
    __table_args__ = (
        Index("idx_widget_analytics_session_id", "session_id"),
        CheckConstraint(f"event_type IN {WIDGET_EVENT_TYPES}", name="event_type_known"),
        Index("idx_widget_analytics_widget_type", "widget_type"),
        Index("idx_widget_analytics_user_id", "user_id"),
        _brin("widget_analytics", "timestamp"),
        {
            "comment": "Widget interactions on dashboards (seeds 000/001). Partitioned by day, kept 30 days.",
            "postgresql_partition_by": "RANGE (timestamp)",
        },
    )

    id: Mapped[uuid.UUID] = _uuid_id("Widget event id.")
    timestamp: Mapped[datetime] = _time_key("When the interaction happened (UTC).")
    user_id: Mapped[uuid.UUID] = _user("Who interacted.", nullable=False)
    dashboard_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), comment="Dashboard (device) it happened on."
    )
    session_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("user_sessions.id", ondelete="CASCADE"),
        comment="Usage session (user_sessions) it happened in.",
    )
    widget_type: Mapped[str] = mapped_column(
        Text, nullable=False, comment="Which widget, e.g. calendar, weather."
    )
    event_type: Mapped[str] = mapped_column(
        Text, nullable=False, comment="view, click, configure, focus or active."
    )
    event_data: Mapped[dict[str, Any] | None] = mapped_column(
        JSONB, comment="Details (dropped below full tracking)."
    )
    duration_seconds: Mapped[int | None] = mapped_column(Integer, comment="Seconds spent on the widget.")


class SystemEvent(Base):
    __tablename__ = "system_events"
    __table_args__ = (
        Index("idx_system_events_user_id", "user_id"),
        Index("idx_system_events_resolved_by", "resolved_by"),
        CheckConstraint(f"severity IN {SEVERITIES}", name="severity_known"),
        Index("idx_system_events_event_type", "event_type"),
        Index("idx_system_events_severity", "severity"),
        Index("idx_system_events_created_at", "created_at"),
        Index("idx_system_events_app_version", "app_version"),
        {
            "comment": "Errors, crashes and health events of clients and saaskit (seeds 000/001). "
            "Partitioned by "
            "month, kept 90 days.",
            "postgresql_partition_by": "RANGE (created_at)",
        },
    )

    id: Mapped[uuid.UUID] = _uuid_id("System event id.")
    created_at: Mapped[datetime] = _time_key("When the event was logged (UTC).")
    user_id: Mapped[uuid.UUID | None] = _user("User affected, if any.", ondelete="SET NULL")
    organization_id: Mapped[uuid.UUID | None] = _org()
    dashboard_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), comment="Device it happened on."
    )
    event_type: Mapped[str] = mapped_column(Text, nullable=False, comment="Category, e.g. crash, api_error.")
    severity: Mapped[str] = mapped_column(Text, nullable=False, comment="info, warning, error or critical.")
    message: Mapped[str] = mapped_column(Text, nullable=False, comment="Readable description.")
    error_details: Mapped[dict[str, Any] | None] = mapped_column(
        JSONB, comment="Technical details (stack, codes)."
    )
    user_agent: Mapped[str | None] = mapped_column(Text, comment="Client's User-Agent.")
    app_version: Mapped[str | None] = mapped_column(Text, comment="App version that reported it.")
    resolved_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When marked resolved (UTC)."
    )
    resolved_by: Mapped[uuid.UUID | None] = _user("Admin who marked it resolved.", ondelete="SET NULL")


class ErrorLog(Base):
    __tablename__ = "error_logs"
    __table_args__ = (
        Index("idx_error_logs_user_id", "user_id"),
        Index("idx_error_logs_resolved_by", "resolved_by"),
        CheckConstraint(f"error_type IN {ERROR_TYPES}", name="error_type_known"),
        Index("idx_error_logs_error_type_created_at", "error_type", "created_at"),
        Index("idx_error_logs_error_code", "error_code"),
        Index("idx_error_logs_created_at", "created_at"),
        Index("idx_error_logs_unresolved", "created_at", postgresql_where=text("NOT resolved")),
        {
            "comment": "Application errors with codes and resolution (seed 004 + seed 003's error pattern). "
            "Partitioned by month.",
            "postgresql_partition_by": "RANGE (created_at)",
        },
    )

    id: Mapped[uuid.UUID] = _uuid_id("Error id.")
    created_at: Mapped[datetime] = _time_key("When the error happened (UTC).")
    user_id: Mapped[uuid.UUID | None] = _user("User who met the error, if any.", ondelete="SET NULL")
    organization_id: Mapped[uuid.UUID | None] = _org()
    error_type: Mapped[str] = mapped_column(
        Text, nullable=False, comment="user_error, system_error or model_error."
    )
    error_code: Mapped[str | None] = mapped_column(Text, comment="Standardised code that maps to a message.")
    error_message: Mapped[str] = mapped_column(Text, nullable=False, comment="Raw text, for debugging.")
    error_stack: Mapped[str | None] = mapped_column(Text, comment="Stack trace, if any.")
    app_version: Mapped[str | None] = mapped_column(Text, comment="App version that reported it.")
    context: Mapped[dict[str, Any] | None] = mapped_column(
        JSONB, comment="Where it happened: route, widget ..."
    )
    resolved: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false"), comment="Someone marked it resolved."
    )
    resolved_by: Mapped[uuid.UUID | None] = _user("Admin who resolved it.", ondelete="SET NULL")
    resolved_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When resolved (UTC)."
    )


class PerformanceMetric(Base):
    __tablename__ = "performance_metrics"
    __table_args__ = (
        Index("idx_performance_metrics_user_id", "user_id"),
        CheckConstraint(f"metric_type IN {METRIC_TYPES}", name="metric_type_known"),
        Index("idx_performance_metrics_metric_name_timestamp", "metric_name", "timestamp"),
        {
            "comment": "Measurements (seed 004): saaskit's own request latency per route and "
            "minute, and metrics "
            "clients send. Partitioned by month.",
            "postgresql_partition_by": "RANGE (timestamp)",
        },
    )

    id: Mapped[uuid.UUID] = _uuid_id("Measurement id.")
    timestamp: Mapped[datetime] = _time_key("When it was measured, or the start of its minute (UTC).")
    metric_name: Mapped[str] = mapped_column(
        Text, nullable=False, comment="What is measured, e.g. http_request_duration_ms."
    )
    metric_type: Mapped[str] = mapped_column(
        Text, nullable=False, comment="counter, gauge, histogram, summary or timer."
    )
    value: Mapped[float] = mapped_column(Double, nullable=False, comment="The value, in `unit`.")
    unit: Mapped[str | None] = mapped_column(Text, comment="Unit of value: ms, bytes, count ...")
    tags: Mapped[dict[str, Any]] = mapped_column(
        JSONB,
        nullable=False,
        server_default=text("'{}'::jsonb"),
        comment="Dimensions and extra figures, e.g. route, p99, count.",
    )
    organization_id: Mapped[uuid.UUID | None] = _org("Organization that sent it; null for saaskit's own.")
    user_id: Mapped[uuid.UUID | None] = _user("User that sent it, if any.", ondelete="SET NULL")


class EventReceipt(Base):
    __tablename__ = "event_receipts"
    __table_args__ = (
        Index("idx_event_receipts_received_at", "received_at", postgresql_using="brin"),
        {
            "comment": "Client event uuids received in the last 48 hours: makes retried deliveries "
            "idempotent (a retry's skew-corrected timestamp differs, so the events key alone cannot)."
        },
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, comment="The client's event uuid."
    )
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("now()"), comment="First receipt (UTC)."
    )


class IngestionKey(Base):
    __tablename__ = "ingestion_keys"
    __table_args__ = (
        Index("idx_ingestion_keys_created_by", "created_by"),
        Index("idx_ingestion_keys_organization_id", "organization_id"),
        {"comment": "Public client-side capture keys (phc_...) of organizations; stored as SHA-256."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
        comment="Organization whose events the key attributes.",
    )
    key_hash: Mapped[str] = mapped_column(Text, unique=True, nullable=False, comment="SHA-256 of the key.")
    key_prefix: Mapped[str] = mapped_column(
        Text, nullable=False, comment="First characters, to recognise the key."
    )
    created_by: Mapped[uuid.UUID | None] = _user("Who created it.", ondelete="SET NULL")
    revoked_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Rotated away at (UTC)."
    )
    last_used_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Last capture, to the minute."
    )
    created_at: Mapped[datetime] = created_at_column()


class TrackingIdentity(Base):
    __tablename__ = "tracking_identities"
    __table_args__ = (
        UniqueConstraint("organization_id", "distinct_id"),
        Index("idx_tracking_identities_user_id", "user_id"),
        {"comment": "Which user a sender's distinct_id belongs to, per organization (from $identify)."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
        comment="Organization whose capture sent the distinct_id.",
    )
    distinct_id: Mapped[str] = mapped_column(Text, nullable=False, comment="The sender's id for the person.")
    user_id: Mapped[uuid.UUID] = _user(
        "The user (a member of the organization) it belongs to.", nullable=False
    )
    created_at: Mapped[datetime] = created_at_column("When the link was first made (UTC).")
