"""The read side of analytics: counters, rollups, the date dimension and funnels.

Scopes: a rollup row belongs to the whole platform (``scope_id`` = ``PLATFORM``, the all-zero
UUID) or to one organization (``scope_id`` = its id; rows count the activity of the people who
were its members when the period was rolled up). A plain id instead of a nullable column keeps
the scope in the primary key.

``geographic_stats`` is a materialized view (created by migration 0008, refreshed by the nightly
job through ``app_refresh_geographic_stats()``), so it has no model here.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.kit.models import Base, created_at_column, updated_at_column, uuid_pk

PLATFORM = uuid.UUID(int=0)
ORDER_MODES = ("ordered", "strict", "any")

SCOPE_COMMENT = "Whose figures: the all-zero UUID for the whole platform, else an organization's id."


def _scope() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, comment=SCOPE_COMMENT)


def _count(comment: str) -> Mapped[int]:
    return mapped_column(Integer, nullable=False, server_default=text("0"), comment=comment)


def _big_count(comment: str) -> Mapped[int]:
    return mapped_column(BigInteger, nullable=False, server_default=text("0"), comment=comment)


def _computed_at() -> Mapped[datetime]:
    return created_at_column("When the row was computed (UTC).")


def _org_fk(comment: str, *, nullable: bool = False) -> Mapped[Any]:
    return mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=nullable,
        comment=comment,
    )


class StatsCounter(Base):
    __tablename__ = "stats_counters"
    __table_args__ = (
        {
            "comment": "Platform-wide running totals kept by triggers, so the statistics never count "
            "whole tables: users, lapsed users, visitors, subscriptions by status and plan."
        },
    )

    counter: Mapped[str] = mapped_column(
        Text,
        primary_key=True,
        comment="What is counted: users, lapsed_users, users_with_expired_subscription, visitors, or "
        "subscriptions:<status>.",
    )
    dimension: Mapped[str] = mapped_column(
        Text,
        primary_key=True,
        server_default="",
        comment="Sub-key: the plan name for subscription counters, empty otherwise.",
    )
    value: Mapped[int] = _big_count("The running total.")


class StatsDayCounter(Base):
    __tablename__ = "stats_day_counters"
    __table_args__ = (
        {
            "comment": "Running totals of rows by the UTC day on which they end, kept by triggers, for "
            "the figures that change with the clock alone (seed 002's expired users and subscriptions, "
            "active subscriptions): how many ended before today is a sum of these rows, today's part "
            "an indexed range."
        },
    )

    counter: Mapped[str] = mapped_column(
        Text,
        primary_key=True,
        comment="What is counted: subscriptions_ending:<status> (subscriptions not expired, by the day "
        "ends_at falls on) or users_first_end (users by the day of subscription_first_end).",
    )
    dimension: Mapped[str] = mapped_column(
        Text,
        primary_key=True,
        server_default="",
        comment="Sub-key: the plan name for subscription counters, empty otherwise.",
    )
    day: Mapped[date] = mapped_column(
        Date, primary_key=True, comment="The UTC day on which the counted rows end."
    )
    value: Mapped[int] = _big_count("The running total.")


class RollupWatermark(Base):
    __tablename__ = "rollup_watermarks"
    __table_args__ = ({"comment": "How far each incremental rollup has been computed."},)

    name: Mapped[str] = mapped_column(Text, primary_key=True, comment="The rollup, e.g. activity_15m.")
    rolled_through: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        comment="Rows before this instant are in the rollup; later ones are read raw (UTC).",
    )
    updated_at: Mapped[datetime] = updated_at_column()


class ActivityRollup15m(Base):
    __tablename__ = "activity_rollups_15m"
    __table_args__ = (
        {
            "comment": "activity_events counted per 15-minute UTC bucket: every IANA zone's midnight "
            "falls on a quarter hour, so any time zone's days are sums of whole buckets."
        },
    )

    scope_id: Mapped[uuid.UUID] = _scope()
    bucket_start: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), primary_key=True, comment="Start of the 15-minute bucket (UTC)."
    )
    event_type: Mapped[str] = mapped_column(
        Text, primary_key=True, comment="login, signup, app_open or action."
    )
    events: Mapped[int] = _count("Activity events in the bucket.")


class ActivityRollupDaily(Base):
    __tablename__ = "activity_rollups_daily"
    __table_args__ = (
        {"comment": "activity_events per UTC day: events and distinct users (whole days of long windows)."},
    )

    scope_id: Mapped[uuid.UUID] = _scope()
    day: Mapped[date] = mapped_column(Date, primary_key=True, comment="The UTC day.")
    event_type: Mapped[str] = mapped_column(
        Text, primary_key=True, comment="login, signup, app_open or action."
    )
    events: Mapped[int] = _big_count("Activity events that day.")
    users: Mapped[int] = _count("Distinct users with such an event that day.")


class ActivityEventsMonthly(Base):
    __tablename__ = "activity_events_monthly"
    __table_args__ = (
        {
            "comment": "activity_events per UTC month (seed 003's retention pattern: the monthly "
            "figures stay when detail older than six months goes)."
        },
    )

    scope_id: Mapped[uuid.UUID] = _scope()
    month: Mapped[date] = mapped_column(Date, primary_key=True, comment="First day of the UTC month.")
    event_type: Mapped[str] = mapped_column(
        Text, primary_key=True, comment="login, signup, app_open or action."
    )
    events: Mapped[int] = _big_count("Activity events that month.")
    users: Mapped[int] = _count("Distinct users with such an event that month.")
    computed_at: Mapped[datetime] = _computed_at()


class EventsMonthly(Base):
    __tablename__ = "events_monthly"
    __table_args__ = ({"comment": "Product events (events) per UTC month, organization and event name."},)

    scope_id: Mapped[uuid.UUID] = _scope()
    month: Mapped[date] = mapped_column(Date, primary_key=True, comment="First day of the UTC month.")
    event_name: Mapped[str] = mapped_column(Text, primary_key=True, comment="The event's name.")
    events: Mapped[int] = _big_count("Events that month.")
    persons: Mapped[int] = _count("Distinct people (user, else distinct_id) that month.")
    computed_at: Mapped[datetime] = _computed_at()


class PageViewsMonthly(Base):
    __tablename__ = "page_views_monthly"
    __table_args__ = ({"comment": "Page views per UTC month and organization."},)

    scope_id: Mapped[uuid.UUID] = _scope()
    month: Mapped[date] = mapped_column(Date, primary_key=True, comment="First day of the UTC month.")
    views: Mapped[int] = _big_count("Page views that month.")
    sessions: Mapped[int] = _count("Distinct client sessions with a page view.")
    bounces: Mapped[int] = _count("Page views marked as a bounce.")
    avg_load_time_ms: Mapped[Decimal | None] = mapped_column(
        Numeric(12, 2), comment="Mean page load time in milliseconds, where reported."
    )
    computed_at: Mapped[datetime] = _computed_at()


class WidgetAnalyticsMonthly(Base):
    __tablename__ = "widget_analytics_monthly"
    __table_args__ = ({"comment": "widget_analytics per UTC month (its detail lives 30 days; these stay)."},)

    month: Mapped[date] = mapped_column(Date, primary_key=True, comment="First day of the UTC month.")
    widget_type: Mapped[str] = mapped_column(Text, primary_key=True, comment="Widget kind.")
    event_type: Mapped[str] = mapped_column(
        Text, primary_key=True, comment="view, click, configure, focus or active."
    )
    events: Mapped[int] = _big_count("Widget events that month.")
    users: Mapped[int] = _count("Distinct users.")
    total_duration_seconds: Mapped[int] = _big_count("Sum of reported durations, in seconds.")
    computed_at: Mapped[datetime] = _computed_at()


class SystemEventsMonthly(Base):
    __tablename__ = "system_events_monthly"
    __table_args__ = ({"comment": "system_events per UTC month, type, severity and app version."},)

    month: Mapped[date] = mapped_column(Date, primary_key=True, comment="First day of the UTC month.")
    event_type: Mapped[str] = mapped_column(Text, primary_key=True, comment="The event's type.")
    severity: Mapped[str] = mapped_column(Text, primary_key=True, comment="info, warning, error or critical.")
    app_version: Mapped[str] = mapped_column(Text, primary_key=True, comment="App version ('' when unknown).")
    events: Mapped[int] = _big_count("Events that month.")
    users: Mapped[int] = _count("Distinct users affected.")
    computed_at: Mapped[datetime] = _computed_at()


class PerformanceMetricsMonthly(Base):
    __tablename__ = "performance_metrics_monthly"
    __table_args__ = ({"comment": "performance_metrics per UTC month and metric name."},)

    month: Mapped[date] = mapped_column(Date, primary_key=True, comment="First day of the UTC month.")
    metric_name: Mapped[str] = mapped_column(Text, primary_key=True, comment="The metric.")
    samples: Mapped[int] = _big_count("Rows that month.")
    avg_value: Mapped[float | None] = mapped_column(Numeric(18, 4), comment="Mean of value.")
    max_value: Mapped[float | None] = mapped_column(Numeric(18, 4), comment="Largest value.")
    computed_at: Mapped[datetime] = _computed_at()


class DailyMetric(Base):
    __tablename__ = "daily_metrics"
    __table_args__ = ({"comment": "Platform figures per UTC day, built nightly (seeds 000/001)."},)

    date: Mapped[date] = mapped_column(Date, primary_key=True, comment="The UTC day.")
    new_signups: Mapped[int] = _count("Accounts created that day.")
    returning_users: Mapped[int] = _count("Users with activity that day who signed up on an earlier day.")
    active_users: Mapped[int] = _count("Users with any activity event that day (DAU).")
    weekly_active_users: Mapped[int] = _count(
        "Users with any activity event in the 7 days ending that day (WAU)."
    )
    monthly_active_users: Mapped[int] = _count(
        "Users with any activity event in the 30 days ending that day (MAU)."
    )
    active_dashboards: Mapped[int] = _count(
        "Dashboards (devices) with a usage session running at some point that day."
    )
    total_sessions: Mapped[int] = _count("Usage sessions started that day.")
    avg_session_minutes: Mapped[Decimal | None] = mapped_column(
        Numeric(10, 2), comment="Mean length in minutes of the usage sessions started that day and ended."
    )
    trial_to_paid_conversions: Mapped[int] = _count(
        "Subscriptions whose trial ended that day and that were paid for afterwards."
    )
    created_at: Mapped[datetime] = created_at_column("When the row was computed (UTC).")


class UserEngagementDaily(Base):
    __tablename__ = "user_engagement_daily"
    __table_args__ = (
        UniqueConstraint("user_id", "date"),
        Index("idx_user_engagement_daily_date", "date"),
        {"comment": "One row per user and UTC day with activity: engagement figures (seed 004)."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        comment="The user.",
    )
    date: Mapped[date] = mapped_column(Date, nullable=False, comment="The UTC day.")
    session_count: Mapped[int] = _count("Usage sessions started.")
    page_views: Mapped[int] = _count("Page views recorded for the user.")
    features_used: Mapped[int] = _count("Distinct action names and widget types used.")
    actions_performed: Mapped[int] = _count("Activity events of type action.")
    activity_events: Mapped[int] = _count("Activity events of any type (login, signup, app_open, action).")
    logins: Mapped[int] = _count("Sign-ins.")
    app_opens: Mapped[int] = _count("App opens.")
    created_at: Mapped[datetime] = created_at_column("When the row was computed (UTC).")


class OrganizationMetricsDaily(Base):
    __tablename__ = "organization_metrics_daily"
    __table_args__ = (
        UniqueConstraint("organization_id", "date"),
        Index("idx_organization_metrics_daily_date", "date"),
        {"comment": "One row per organization and UTC day: members' activity, growth, revenue, API use."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org_fk("The organization.")
    date: Mapped[date] = mapped_column(Date, nullable=False, comment="The UTC day.")
    active_users: Mapped[int] = _count("Members with any activity event that day.")
    weekly_active_users: Mapped[int] = _count(
        "Members with any activity event in the 7 days ending that day."
    )
    monthly_active_users: Mapped[int] = _count(
        "Members with any activity event in the 30 days ending that day."
    )
    new_users: Mapped[int] = _count("Members who joined that day.")
    revenue_generated: Mapped[int] = _big_count(
        "Paid invoices of the organization that day, in cents (amount_paid_cents)."
    )
    api_calls: Mapped[int] = _big_count(
        "Analytics rows of the organization dated that day (events and page views)."
    )
    created_at: Mapped[datetime] = created_at_column("When the row was computed (UTC).")


class DimDate(Base):
    __tablename__ = "dim_dates"
    __table_args__ = (
        {"comment": "Date dimension (seed 003), one row per day from 2000-01-01 to 2050-12-31."},
    )

    date_key: Mapped[date] = mapped_column(Date, primary_key=True, comment="The day.")
    day_of_month: Mapped[int] = mapped_column(SmallInteger, nullable=False, comment="1-31.")
    day_of_week: Mapped[int] = mapped_column(
        SmallInteger, nullable=False, comment="ISO: 1 Monday .. 7 Sunday."
    )
    day_name: Mapped[str] = mapped_column(Text, nullable=False, comment="Monday .. Sunday.")
    day_of_year: Mapped[int] = mapped_column(SmallInteger, nullable=False, comment="1-366.")
    week_of_year: Mapped[int] = mapped_column(SmallInteger, nullable=False, comment="ISO week number, 1-53.")
    iso_year: Mapped[int] = mapped_column(Integer, nullable=False, comment="Year the ISO week belongs to.")
    week_start: Mapped[date] = mapped_column(Date, nullable=False, comment="Monday of the ISO week.")
    month: Mapped[int] = mapped_column(SmallInteger, nullable=False, comment="1-12.")
    month_name: Mapped[str] = mapped_column(Text, nullable=False, comment="January .. December.")
    month_start: Mapped[date] = mapped_column(Date, nullable=False, comment="First day of the month.")
    quarter: Mapped[int] = mapped_column(SmallInteger, nullable=False, comment="1-4.")
    year: Mapped[int] = mapped_column(Integer, nullable=False, comment="Calendar year.")
    is_weekend: Mapped[bool] = mapped_column(Boolean, nullable=False, comment="Saturday or Sunday.")


class ConversionFunnel(Base):
    __tablename__ = "conversion_funnels"
    __table_args__ = (
        Index("idx_conversion_funnels_created_by", "created_by"),
        CheckConstraint(f"order_mode IN {ORDER_MODES}", name="order_mode_known"),
        CheckConstraint("conversion_window_days BETWEEN 1 AND 365", name="window_in_range"),
        CheckConstraint("jsonb_typeof(steps) = 'array'", name="steps_is_array"),
        Index("idx_conversion_funnels_organization_id", "organization_id"),
        {"comment": "Funnel definitions (seed 004): ordered steps over events, a window, an order mode."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID | None] = _org_fk(
        "Organization whose events the funnel reads; null: the whole platform (admins).", nullable=True
    )
    name: Mapped[str] = mapped_column(Text, nullable=False, comment="Name shown in the dashboard.")
    description: Mapped[str | None] = mapped_column(Text, comment="What the funnel measures.")
    steps: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB,
        nullable=False,
        comment='Ordered steps: [{"name", "event", "properties": {key: value}}]; properties must match.',
    )
    conversion_window_days: Mapped[int] = mapped_column(
        Integer,
        nullable=False,
        server_default=text("14"),
        comment="Days from a person's first step within which later steps count.",
    )
    order_mode: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        server_default="ordered",
        comment="ordered: steps in order, other events between allowed; strict: no other event "
        "between steps; any: the steps in any order.",
    )
    is_active: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("true"), comment="Listed and computed nightly."
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"), comment="Who defined it."
    )
    last_computed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When progress was last computed (UTC)."
    )
    last_range_start: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Start of the range of the stored progress (UTC)."
    )
    last_range_end: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="End (exclusive) of the range of the stored progress (UTC)."
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class ConversionFunnelEvent(Base):
    __tablename__ = "conversion_funnel_events"
    __table_args__ = (
        Index("idx_conversion_funnel_events_organization_id", "organization_id"),
        Index("idx_conversion_funnel_events_funnel_id_step_order", "funnel_id", "step_order"),
        Index("idx_conversion_funnel_events_user_id", "user_id"),
        {
            "comment": "Each person's progress through a funnel in its last computed range: one row "
            "per step reached, and one (completed false) for the step where they stopped."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    funnel_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("conversion_funnels.id", ondelete="CASCADE"),
        nullable=False,
        comment="The funnel.",
    )
    organization_id: Mapped[uuid.UUID | None] = _org_fk(
        "The funnel's organization (copied for row-level security).", nullable=True
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        comment="The person, when a known user.",
    )
    distinct_id: Mapped[str] = mapped_column(
        Text, nullable=False, comment="The person: the user's id as text, else the sender's distinct_id."
    )
    step_name: Mapped[str] = mapped_column(Text, nullable=False, comment="The step's name.")
    step_order: Mapped[int] = mapped_column(SmallInteger, nullable=False, comment="1 for the first step.")
    completed: Mapped[bool] = mapped_column(Boolean, nullable=False, comment="The person reached the step.")
    completed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When the step was reached (UTC)."
    )
    completion_time_seconds: Mapped[int | None] = mapped_column(
        Integer, comment="Seconds from the previous step to this one (null for step 1 and when not reached)."
    )
    created_at: Mapped[datetime] = created_at_column("When the progress was computed (UTC).")
