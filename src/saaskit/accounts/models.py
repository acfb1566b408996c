"""Accounts tables. ``users`` merges seeds 000, 003 and 004 (see docs/schema.md)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.kit.models import Base, created_at_column, updated_at_column, uuid_pk

USER_STATUSES = ("active", "suspended", "banned")
USER_ROLES = ("user", "admin")
TRACKING_LEVELS = ("full", "analytics_only", "errors_only")
SESSION_TYPES = ("sign_in", "usage")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("email = lower(email)", name="email_lowercase"),
        CheckConstraint(f"status IN {USER_STATUSES}", name="status_known"),
        CheckConstraint(f"role IN {USER_ROLES}", name="role_known"),
        CheckConstraint(f"tracking_level IN {TRACKING_LEVELS}", name="tracking_level_known"),
        UniqueConstraint(
            "email", info={"code": "email_taken"}
        ),  # answered as sign-up's check (kit/errors.py)
        CheckConstraint("credits_cents >= 0", name="credits_not_negative"),
        CheckConstraint("max_dashboards >= 0", name="max_dashboards_not_negative"),
        CheckConstraint("max_dashboards_override >= 0", name="max_dashboards_override_not_negative"),
        Index("idx_users_tier", "tier"),
        Index("idx_users_is_currently_active", "is_currently_active"),
        Index("idx_users_country_code", "country_code"),
        Index("idx_users_status", "status"),
        Index("idx_users_auth_provider_id", "auth_provider_id"),
        # One account per external identity (sign-in with OpenID Connect, docs/integrations.md).
        Index(
            "idx_users_auth_provider_auth_provider_id",
            "auth_provider",
            "auth_provider_id",
            unique=True,
            postgresql_where=text("auth_provider_id IS NOT NULL"),
        ),
        Index("idx_users_created_at", "created_at"),
        Index(
            "idx_users_subscription_live_until",
            "subscription_live_until",
            postgresql_where=text("deleted_at IS NULL AND subscription_live_until IS NOT NULL"),
        ),
        Index(
            "idx_users_subscription_first_end",
            "subscription_first_end",
            postgresql_where=text("deleted_at IS NULL AND NOT has_expired_subscription"),
        ),
        {"comment": "One row per account: identity, sign-in lifecycle, presence, billing and privacy."},
    )

    id: Mapped[uuid.UUID] = uuid_pk("Unique user identifier, referenced by every user-owned row.")
    email: Mapped[str] = mapped_column(
        Text, nullable=False, comment="E-mail address (lower case): sign-in identifier."
    )
    name: Mapped[str | None] = mapped_column(Text, comment="Display name shown in the UI.")
    picture_url: Mapped[str | None] = mapped_column(Text, comment="URL of the profile picture (avatar).")
    password_hash: Mapped[str | None] = mapped_column(
        Text, comment="argon2id hash of the password; null for accounts that only use an external provider."
    )
    auth_provider: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        server_default="password",
        comment="How the account signs in: password, google ...",
    )
    auth_provider_id: Mapped[str | None] = mapped_column(
        Text, comment="The account's id at the external auth provider (OAuth subject)."
    )
    email_verified: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false"), comment="The e-mail address was confirmed."
    )
    phone_verified: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false"), comment="A phone number was confirmed."
    )
    status: Mapped[str] = mapped_column(
        Text, nullable=False, server_default="active", comment="active, suspended or banned."
    )
    is_active: Mapped[bool] = mapped_column(
        Boolean,
        Computed("status = 'active'", persisted=True),
        comment="True when status is active (derived from status, never written).",
    )
    role: Mapped[str] = mapped_column(
        Text, nullable=False, server_default="user", comment="Platform role: user or admin."
    )
    stripe_customer_id: Mapped[str | None] = mapped_column(
        Text, unique=True, comment="Stripe customer id (cus_...) of the user's personal billing."
    )
    tier: Mapped[str] = mapped_column(
        Text, nullable=False, server_default="free", comment="Current subscription tier (feature gating)."
    )
    max_dashboards: Mapped[int] = mapped_column(
        Integer,
        nullable=False,
        server_default=text("1"),
        comment="Dashboards (devices) the user may register: the tier's number "
        "(setting devices.max_dashboards_by_tier) unless max_dashboards_override is set.",
    )
    max_dashboards_override: Mapped[int | None] = mapped_column(
        Integer,
        comment="Per-user dashboard limit set by an admin; wins over the tier's. Null: the tier decides.",
    )
    first_sign_in_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="First successful sign-in (UTC)."
    )
    last_sign_in_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Most recent successful sign-in (UTC)."
    )
    sign_in_count: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0"), comment="Successful sign-ins in total."
    )
    failed_sign_in_count: Mapped[int] = mapped_column(
        Integer,
        nullable=False,
        server_default=text("0"),
        comment="Failed sign-ins since the last successful one, from any source (informative: the "
        "lockout counts per account and source, docs/limits.md).",
    )
    locked_until: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True),
        comment="Sign-in refused until this time (UTC), whatever the password: set by an operator. Failed "
        "sign-ins do not set it: they lock one source at a time (docs/limits.md).",
    )
    password_changed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When the password was last set (UTC)."
    )
    last_seen_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Most recent activity of any kind (UTC)."
    )
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Most recent heartbeat from any of the user's devices (UTC)."
    )
    is_currently_active: Mapped[bool] = mapped_column(
        Boolean,
        nullable=False,
        server_default=text("false"),
        comment="A heartbeat arrived within the inactivity timeout (real-time active users).",
    )
    signup_ip_hash: Mapped[str | None] = mapped_column(
        Text, comment="Salted HMAC-SHA-256 of the IP used at sign-up (never the raw IP)."
    )
    last_known_ip_hash: Mapped[str | None] = mapped_column(
        Text, comment="Salted HMAC-SHA-256 of the IP of the latest sign-in."
    )
    country_code: Mapped[str | None] = mapped_column(
        Text, comment="ISO 3166-1 alpha-2 country, from a trusted proxy header."
    )
    timezone: Mapped[str | None] = mapped_column(Text, comment="IANA time zone, e.g. Europe/Paris.")
    device_fingerprint_hash: Mapped[str | None] = mapped_column(
        Text, comment="Hash of the browser/device signature seen at sign-up (abuse detection)."
    )
    current_app_version: Mapped[str | None] = mapped_column(Text, comment="App version the user last ran.")
    last_version_check: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When the user's app last asked for the latest version (UTC)."
    )
    needs_reload: Mapped[bool] = mapped_column(
        Boolean,
        nullable=False,
        server_default=text("false"),
        comment="An admin asked the user's apps to reload (cleared when they report the new version).",
    )
    analytics_consent: Mapped[bool] = mapped_column(
        Boolean,
        nullable=False,
        server_default=text("false"),
        comment="The user agreed to analytics tracking.",
    )
    tracking_level: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        server_default="full",
        comment="What analytics are kept: full, analytics_only or errors_only.",
    )
    data_retention_days: Mapped[int | None] = mapped_column(
        Integer, comment="Days to keep this user's analytics; null means the platform default."
    )
    data_deletion_requested_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When the user asked for erasure of their data (UTC)."
    )
    credits_cents: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0"), comment="Prepaid credit balance in cents."
    )
    total_spent_cents: Mapped[int] = mapped_column(
        Integer,
        nullable=False,
        server_default=text("0"),
        comment="Lifetime payments minus refunds, in cents.",
    )
    stripe_payment_method_id: Mapped[str | None] = mapped_column(
        Text, comment="Stripe payment method (pm_...) charged for auto top-up."
    )
    auto_topup_enabled: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false"), comment="Recharge credits automatically."
    )
    auto_topup_threshold_cents: Mapped[int] = mapped_column(
        Integer,
        nullable=False,
        server_default=text("600"),
        comment="Auto top-up fires when the balance falls below this many cents.",
    )
    auto_topup_amount_cents: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("2400"), comment="Cents charged and credited per top-up."
    )
    subscription_live_until: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True),
        comment="End of the user's own subscription that runs longest among the trialing, active "
        "and past_due ones (9999-01-01 when one has no end); null when none. Kept by a trigger on "
        "subscriptions, never written by the application.",
    )
    has_expired_subscription: Mapped[bool] = mapped_column(
        Boolean,
        nullable=False,
        server_default=text("false"),
        comment="The user has a subscription of their own with status expired. Kept by a trigger on "
        "subscriptions, never written by the application.",
    )
    subscription_first_end: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True),
        comment="Earliest end among the user's own subscriptions whose status is not expired; null "
        "when none has an end. Once it has passed, seed 002 counts the user as expired. Kept by a "
        "trigger on subscriptions, never written by the application.",
    )
    deleted_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Soft deletion time (UTC); deleted accounts cannot sign in."
    )
    created_at: Mapped[datetime] = created_at_column("Account creation (UTC): cohort date.")
    updated_at: Mapped[datetime] = updated_at_column("Last change to the account or profile (UTC).")


class UserProfile(Base):
    __tablename__ = "user_profiles"
    __table_args__ = ({"comment": "Extended profile of a user, one row per user (RLS: the user's own)."},)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        unique=True,
        nullable=False,
        comment="The user this profile belongs to.",
    )
    first_name: Mapped[str | None] = mapped_column(Text, comment="Given name.")
    last_name: Mapped[str | None] = mapped_column(Text, comment="Family name.")
    bio: Mapped[str | None] = mapped_column(Text, comment="Free-text self description.")
    locale: Mapped[str | None] = mapped_column(Text, comment="Preferred locale, e.g. fr-FR.")
    date_format: Mapped[str | None] = mapped_column(Text, comment="Preferred date format, e.g. DD/MM/YYYY.")
    time_format: Mapped[str | None] = mapped_column(Text, comment="Preferred clock: 12h or 24h.")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class UserPreference(Base):
    __tablename__ = "user_preferences"
    __table_args__ = (
        UniqueConstraint("user_id", "category", "key"),
        {"comment": "Free-form settings of a user as category/key/JSON value (RLS: the user's own)."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        comment="The user who owns the preference.",
    )
    category: Mapped[str] = mapped_column(Text, nullable=False, comment="Group of the setting, e.g. display.")
    key: Mapped[str] = mapped_column(Text, nullable=False, comment="Name of the setting within its category.")
    value: Mapped[Any] = mapped_column(JSONB, nullable=False, comment="The setting's value (any JSON).")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class UserSession(Base):
    __tablename__ = "user_sessions"
    __table_args__ = (
        Index("idx_user_sessions_user_id", "user_id"),
        Index("idx_user_sessions_started_at", "started_at"),
        Index("idx_user_sessions_country_code", "country_code"),
        Index("idx_user_sessions_expires_at", "expires_at"),
        Index("idx_user_sessions_dashboard_id", "dashboard_id"),
        # At most one open usage session per device: makes "start one on the first heartbeat"
        # race-free (INSERT ... ON CONFLICT DO NOTHING), and lists the open ones for the job.
        Index(
            "idx_user_sessions_dashboard_id_open",
            "dashboard_id",
            unique=True,
            postgresql_where=text("session_type = 'usage' AND ended_at IS NULL"),
        ),
        # The usage sessions overlapping a period, by their [start, end] span (end NULL: still
        # open): the daily rollup's active dashboards read one day's worth by this index instead of
        # scanning every session ever recorded.
        Index(
            "idx_user_sessions_usage_span",
            text("tstzrange(started_at, ended_at, '[]')"),
            postgresql_using="gist",
            postgresql_where=text("session_type = 'usage'"),
        ),
        CheckConstraint(f"session_type IN {SESSION_TYPES}", name="session_type_known"),
        # Also what keeps the span's tstzrange() above from failing on an insert.
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ends_after_start"),
        {
            "comment": "Sessions of a user, two kinds (session_type): sign_in rows hold a bearer token "
            "(hashed), its expiry and device; usage rows are one app-open-to-close activity period on a "
            "dashboard with its usage figures (RLS: the user's own)."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        comment="The signed-in user.",
    )
    dashboard_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("dashboards.id", ondelete="SET NULL"),
        comment="The dashboard (device) this session runs on, when known; a sign_in row bound to a "
        "dashboard makes that dashboard the default of its heartbeats.",
    )
    session_type: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        server_default="sign_in",
        comment="sign_in: a bearer-token session (sign-in to sign-out); usage: one period of app use "
        "(app open to close or inactivity), counted by the statistics.",
    )
    session_token_hash: Mapped[str | None] = mapped_column(
        Text, unique=True, comment="SHA-256 of the bearer token (the token itself is never stored)."
    )
    expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="The token stops working at this time (UTC)."
    )
    revoked_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When the session was signed out or revoked (UTC)."
    )
    last_used_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Last authenticated request, to the minute (UTC)."
    )
    idle_timeout_minutes: Mapped[int | None] = mapped_column(
        Integer,
        comment="sign_in rows: the session dies when unused (last_used_at) for this many minutes "
        "(setting auth.session_idle_minutes when it was opened); null: no idle expiry.",
    )
    started_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        server_default=text("now()"),
        comment="When the session began (UTC).",
    )
    ended_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When the session ended (UTC)."
    )
    duration_minutes: Mapped[int | None] = mapped_column(
        Integer, comment="Minutes between start and end (rounded), computed when the session ends."
    )
    ip_address_hash: Mapped[str | None] = mapped_column(
        Text, comment="Salted HMAC-SHA-256 of the client IP at sign-in."
    )
    user_agent: Mapped[str | None] = mapped_column(Text, comment="User-Agent header at sign-in.")
    device_info: Mapped[dict[str, Any] | None] = mapped_column(
        JSONB, comment="Device described by the client: name, type, OS, app version."
    )
    device_fingerprint_hash: Mapped[str | None] = mapped_column(
        Text, comment="Hash of the client-provided device fingerprint."
    )
    country_code: Mapped[str | None] = mapped_column(
        Text, comment="ISO country from a trusted proxy header at sign-in."
    )
    auth_method: Mapped[str | None] = mapped_column(Text, comment="How the session signed in: password ...")
    widgets_interacted: Mapped[list[str]] = mapped_column(
        ARRAY(Text),
        nullable=False,
        server_default=text("'{}'::text[]"),
        comment="Widgets used during the session (usage rows), distinct and sorted.",
    )
    settings_changed: Mapped[bool] = mapped_column(
        Boolean,
        nullable=False,
        server_default=text("false"),
        comment="The dashboard's settings (name, theme, widgets) were changed during the session.",
    )
    error_count: Mapped[int] = mapped_column(
        Integer,
        nullable=False,
        server_default=text("0"),
        comment="Errors the client met in the session: crashes and errors it reported with heartbeats.",
    )
    created_at: Mapped[datetime] = created_at_column()


class BetaWhitelist(Base):
    __tablename__ = "beta_whitelist"
    __table_args__ = (
        Index("idx_beta_whitelist_added_by", "added_by"),
        {"comment": "E-mails allowed to sign up while access.beta_mode is on (seed 001)."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    email: Mapped[str] = mapped_column(
        Text, unique=True, nullable=False, comment="Allowed e-mail (lower case)."
    )
    note: Mapped[str | None] = mapped_column(Text, comment="Why this address was let in.")
    added_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="SET NULL"),
        comment="Admin who added the address.",
    )
    signed_up_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When this address created its account (UTC)."
    )
    created_at: Mapped[datetime] = created_at_column()
