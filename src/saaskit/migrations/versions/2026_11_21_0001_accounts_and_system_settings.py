"""Accounts and system settings: users, profiles, preferences, sessions, beta list, settings.

Also the row-level-security plumbing every later revision uses: the context functions
``app_user_id()``, ``app_organization_id()`` and ``app_is_service()`` (NULL/false when the
transaction set nothing, so policies fail closed), and ``app_authenticate(token_hash)``.

Revision ID: 0001
Revises:
Create Date: 2026-11-21 20:50:16.548611
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

USER_OWNED_TABLES = ("user_profiles", "user_preferences", "user_sessions")

CONTEXT_FUNCTIONS = """
CREATE FUNCTION app_user_id() RETURNS uuid LANGUAGE sql STABLE AS
  $$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$;
COMMENT ON FUNCTION app_user_id() IS 'RLS context: the signed-in user of this transaction, or NULL.';
CREATE FUNCTION app_organization_id() RETURNS uuid LANGUAGE sql STABLE AS
  $$ SELECT nullif(current_setting('app.organization_id', true), '')::uuid $$;
COMMENT ON FUNCTION app_organization_id() IS 'RLS context: the organization this transaction acts for, or NULL.';
CREATE FUNCTION app_is_service() RETURNS boolean LANGUAGE sql STABLE AS
  $$ SELECT coalesce(current_setting('app.service', true), '') = 'on' $$;
COMMENT ON FUNCTION app_is_service() IS 'RLS context: true for jobs and platform admins, who see every row.';
"""

# Runs as the owner (SECURITY DEFINER): a bearer token is the one thing that may find a session
# before any context is set. Touches last_used_at at most once a minute to keep requests cheap.
AUTHENTICATE_FUNCTION = """
CREATE FUNCTION app_authenticate(p_token_hash text)
RETURNS TABLE (session_id uuid, user_id uuid, user_role text, dashboard_id uuid)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  WITH found AS (
    SELECT s.id, s.user_id, u.role, s.dashboard_id, s.last_used_at
    FROM user_sessions s JOIN users u ON u.id = s.user_id
    WHERE s.session_token_hash = p_token_hash
      AND s.revoked_at IS NULL AND s.expires_at > now()
      AND u.status = 'active' AND u.deleted_at IS NULL
  ), touched AS (
    UPDATE user_sessions s SET last_used_at = now() FROM found f
    WHERE s.id = f.id AND (f.last_used_at IS NULL OR f.last_used_at < now() - interval '1 minute')
  )
  SELECT f.id, f.user_id, f.role, f.dashboard_id FROM found f
$$;
COMMENT ON FUNCTION app_authenticate(text) IS
  'The live session (not revoked, not expired, user active and not deleted) for a token hash.';
"""

DEFAULT_SETTINGS = """
INSERT INTO system_settings (key, value, category, description, is_public) VALUES
  ('access.beta_mode', 'false', 'access',
   'While true, only e-mails in beta_whitelist can sign up.', true)
"""


def upgrade() -> None:
    op.execute(CONTEXT_FUNCTIONS)
    op.create_table(
        "system_settings",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column("key", sa.Text(), nullable=False, comment="Dotted name, e.g. access.beta_mode."),
        sa.Column(
            "value",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="The setting's value (any JSON).",
        ),
        sa.Column(
            "category",
            sa.Text(),
            server_default="general",
            nullable=False,
            comment="Group shown together in the admin.",
        ),
        sa.Column("description", sa.Text(), nullable=True, comment="What the setting does."),
        sa.Column(
            "is_public",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="Readable without signing in (GET /api/system/settings).",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was created (UTC).",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was last changed (UTC).",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_settings")),
        sa.UniqueConstraint("key", name=op.f("uq_system_settings_key")),
        comment="Global configuration values; public ones are readable by anyone.",
    )
    op.create_table(
        "users",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique user identifier, referenced by every user-owned row.",
        ),
        sa.Column(
            "email", sa.Text(), nullable=False, comment="E-mail address (lower case): sign-in identifier."
        ),
        sa.Column("name", sa.Text(), nullable=True, comment="Display name shown in the UI."),
        sa.Column("picture_url", sa.Text(), nullable=True, comment="URL of the profile picture (avatar)."),
        sa.Column(
            "password_hash",
            sa.Text(),
            nullable=True,
            comment="argon2id hash of the password; null for accounts that only use an external provider.",
        ),
        sa.Column(
            "auth_provider",
            sa.Text(),
            server_default="password",
            nullable=False,
            comment="How the account signs in: password, google ...",
        ),
        sa.Column(
            "auth_provider_id",
            sa.Text(),
            nullable=True,
            comment="The account's id at the external auth provider (OAuth subject).",
        ),
        sa.Column(
            "email_verified",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="The e-mail address was confirmed.",
        ),
        sa.Column(
            "phone_verified",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="A phone number was confirmed.",
        ),
        sa.Column(
            "status",
            sa.Text(),
            server_default="active",
            nullable=False,
            comment="active, suspended or banned.",
        ),
        sa.Column(
            "is_active",
            sa.Boolean(),
            sa.Computed("status = 'active'", persisted=True),
            nullable=False,
            comment="True when status is active (derived from status, never written).",
        ),
        sa.Column(
            "role", sa.Text(), server_default="user", nullable=False, comment="Platform role: user or admin."
        ),
        sa.Column(
            "stripe_customer_id",
            sa.Text(),
            nullable=True,
            comment="Stripe customer id (cus_...) of the user's personal billing.",
        ),
        sa.Column(
            "tier",
            sa.Text(),
            server_default="free",
            nullable=False,
            comment="Current subscription tier (feature gating).",
        ),
        sa.Column(
            "max_dashboards",
            sa.Integer(),
            server_default=sa.text("1"),
            nullable=False,
            comment="Dashboards (devices) the user may register.",
        ),
        sa.Column(
            "first_sign_in_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="First successful sign-in (UTC).",
        ),
        sa.Column(
            "last_sign_in_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Most recent successful sign-in (UTC).",
        ),
        sa.Column(
            "sign_in_count",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Successful sign-ins in total.",
        ),
        sa.Column(
            "failed_sign_in_count",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Consecutive failed sign-ins since the last success or lockout.",
        ),
        sa.Column(
            "locked_until",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Sign-in refused until this time after too many failures (UTC).",
        ),
        sa.Column(
            "password_changed_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the password was last set (UTC).",
        ),
        sa.Column(
            "last_seen_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Most recent activity of any kind (UTC).",
        ),
        sa.Column(
            "last_heartbeat_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Most recent heartbeat from any of the user's devices (UTC).",
        ),
        sa.Column(
            "is_currently_active",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="A heartbeat arrived within the inactivity timeout (real-time active users).",
        ),
        sa.Column(
            "signup_ip_hash",
            sa.Text(),
            nullable=True,
            comment="Salted HMAC-SHA-256 of the IP used at sign-up (never the raw IP).",
        ),
        sa.Column(
            "last_known_ip_hash",
            sa.Text(),
            nullable=True,
            comment="Salted HMAC-SHA-256 of the IP of the latest sign-in.",
        ),
        sa.Column(
            "country_code",
            sa.Text(),
            nullable=True,
            comment="ISO 3166-1 alpha-2 country, from a trusted proxy header.",
        ),
        sa.Column("timezone", sa.Text(), nullable=True, comment="IANA time zone, e.g. Europe/Paris."),
        sa.Column(
            "device_fingerprint_hash",
            sa.Text(),
            nullable=True,
            comment="Hash of the browser/device signature seen at sign-up (abuse detection).",
        ),
        sa.Column("current_app_version", sa.Text(), nullable=True, comment="App version the user last ran."),
        sa.Column(
            "last_version_check",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the user's app last asked for the latest version (UTC).",
        ),
        sa.Column(
            "needs_reload",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="An admin asked the user's apps to reload (cleared when they report the new version).",
        ),
        sa.Column(
            "analytics_consent",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="The user agreed to analytics tracking.",
        ),
        sa.Column(
            "tracking_level",
            sa.Text(),
            server_default="full",
            nullable=False,
            comment="What analytics are kept: full, analytics_only or errors_only.",
        ),
        sa.Column(
            "data_retention_days",
            sa.Integer(),
            nullable=True,
            comment="Days to keep this user's analytics; null means the platform default.",
        ),
        sa.Column(
            "data_deletion_requested_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the user asked for erasure of their data (UTC).",
        ),
        sa.Column(
            "credits_cents",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Prepaid credit balance in cents.",
        ),
        sa.Column(
            "total_spent_cents",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Lifetime payments minus refunds, in cents.",
        ),
        sa.Column(
            "stripe_payment_method_id",
            sa.Text(),
            nullable=True,
            comment="Stripe payment method (pm_...) charged for auto top-up.",
        ),
        sa.Column(
            "auto_topup_enabled",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="Recharge credits automatically.",
        ),
        sa.Column(
            "auto_topup_threshold_cents",
            sa.Integer(),
            server_default=sa.text("600"),
            nullable=False,
            comment="Auto top-up fires when the balance falls below this many cents.",
        ),
        sa.Column(
            "auto_topup_amount_cents",
            sa.Integer(),
            server_default=sa.text("2400"),
            nullable=False,
            comment="Cents charged and credited per top-up.",
        ),
        sa.Column(
            "deleted_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Soft deletion time (UTC); deleted accounts cannot sign in.",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="Account creation (UTC): cohort date.",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="Last change to the account or profile (UTC).",
        ),
        sa.CheckConstraint("role IN ('user', 'admin')", name=op.f("ck_users_role_known")),
        sa.CheckConstraint("status IN ('active', 'suspended', 'banned')", name=op.f("ck_users_status_known")),
        sa.CheckConstraint(
            "tracking_level IN ('full', 'analytics_only', 'errors_only')",
            name=op.f("ck_users_tracking_level_known"),
        ),
        sa.CheckConstraint("credits_cents >= 0", name=op.f("ck_users_credits_not_negative")),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_users_email_lowercase")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.UniqueConstraint("stripe_customer_id", name=op.f("uq_users_stripe_customer_id")),
        comment="One row per account: identity, sign-in lifecycle, presence, billing and privacy.",
    )
    op.create_index("idx_users_auth_provider_id", "users", ["auth_provider_id"], unique=False)
    op.create_index("idx_users_country_code", "users", ["country_code"], unique=False)
    op.create_index("idx_users_created_at", "users", ["created_at"], unique=False)
    op.create_index("idx_users_is_currently_active", "users", ["is_currently_active"], unique=False)
    op.create_index("idx_users_status", "users", ["status"], unique=False)
    op.create_index("idx_users_tier", "users", ["tier"], unique=False)
    op.create_table(
        "beta_whitelist",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column("email", sa.Text(), nullable=False, comment="Allowed e-mail (lower case)."),
        sa.Column("note", sa.Text(), nullable=True, comment="Why this address was let in."),
        sa.Column("added_by", sa.UUID(), nullable=True, comment="Admin who added the address."),
        sa.Column(
            "signed_up_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When this address created its account (UTC).",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was created (UTC).",
        ),
        sa.ForeignKeyConstraint(
            ["added_by"], ["users.id"], name=op.f("fk_beta_whitelist_added_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_beta_whitelist")),
        sa.UniqueConstraint("email", name=op.f("uq_beta_whitelist_email")),
        comment="E-mails allowed to sign up while access.beta_mode is on (seed 001).",
    )
    op.create_table(
        "user_preferences",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column("user_id", sa.UUID(), nullable=False, comment="The user who owns the preference."),
        sa.Column("category", sa.Text(), nullable=False, comment="Group of the setting, e.g. display."),
        sa.Column("key", sa.Text(), nullable=False, comment="Name of the setting within its category."),
        sa.Column(
            "value",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="The setting's value (any JSON).",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was created (UTC).",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was last changed (UTC).",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_preferences_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_preferences")),
        sa.UniqueConstraint(
            "user_id", "category", "key", name=op.f("uq_user_preferences_user_id_category_key")
        ),
        comment="Free-form settings of a user as category/key/JSON value (RLS: the user's own).",
    )
    op.create_table(
        "user_profiles",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column("user_id", sa.UUID(), nullable=False, comment="The user this profile belongs to."),
        sa.Column("first_name", sa.Text(), nullable=True, comment="Given name."),
        sa.Column("last_name", sa.Text(), nullable=True, comment="Family name."),
        sa.Column("bio", sa.Text(), nullable=True, comment="Free-text self description."),
        sa.Column("locale", sa.Text(), nullable=True, comment="Preferred locale, e.g. fr-FR."),
        sa.Column("date_format", sa.Text(), nullable=True, comment="Preferred date format, e.g. DD/MM/YYYY."),
        sa.Column("time_format", sa.Text(), nullable=True, comment="Preferred clock: 12h or 24h."),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was created (UTC).",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was last changed (UTC).",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_profiles_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_profiles")),
        sa.UniqueConstraint("user_id", name=op.f("uq_user_profiles_user_id")),
        comment="Extended profile of a user, one row per user (RLS: the user's own).",
    )
    op.create_table(
        "user_sessions",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column("user_id", sa.UUID(), nullable=False, comment="The signed-in user."),
        sa.Column(
            "dashboard_id",
            sa.UUID(),
            nullable=True,
            comment="The dashboard (device) this session runs on, when known.",
        ),
        sa.Column(
            "session_token_hash",
            sa.Text(),
            nullable=True,
            comment="SHA-256 of the bearer token (the token itself is never stored).",
        ),
        sa.Column(
            "expires_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="The token stops working at this time (UTC).",
        ),
        sa.Column(
            "revoked_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the session was signed out or revoked (UTC).",
        ),
        sa.Column(
            "last_used_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Last authenticated request, to the minute (UTC).",
        ),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the session began (UTC).",
        ),
        sa.Column(
            "ended_at", sa.DateTime(timezone=True), nullable=True, comment="When the session ended (UTC)."
        ),
        sa.Column(
            "duration_minutes",
            sa.Integer(),
            nullable=True,
            comment="Minutes between start and end, computed when the session ends.",
        ),
        sa.Column(
            "ip_address_hash",
            sa.Text(),
            nullable=True,
            comment="Salted HMAC-SHA-256 of the client IP at sign-in.",
        ),
        sa.Column("user_agent", sa.Text(), nullable=True, comment="User-Agent header at sign-in."),
        sa.Column(
            "device_info",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=True,
            comment="Device described by the client: name, type, OS, app version.",
        ),
        sa.Column(
            "device_fingerprint_hash",
            sa.Text(),
            nullable=True,
            comment="Hash of the client-provided device fingerprint.",
        ),
        sa.Column(
            "country_code",
            sa.Text(),
            nullable=True,
            comment="ISO country from a trusted proxy header at sign-in.",
        ),
        sa.Column("auth_method", sa.Text(), nullable=True, comment="How the session signed in: password ..."),
        sa.Column(
            "widgets_interacted",
            sa.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
            comment="Widgets used during the session.",
        ),
        sa.Column(
            "settings_changed",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="Settings were changed in the session.",
        ),
        sa.Column(
            "error_count",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Errors the client met in the session.",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was created (UTC).",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
        sa.UniqueConstraint("session_token_hash", name=op.f("uq_user_sessions_session_token_hash")),
        comment="One signed-in session on a device: its token (hashed), expiry, device and the usage figures of its activity (RLS: the user's own).",
    )
    op.create_index("idx_user_sessions_country_code", "user_sessions", ["country_code"], unique=False)
    op.create_index("idx_user_sessions_expires_at", "user_sessions", ["expires_at"], unique=False)
    op.create_index("idx_user_sessions_started_at", "user_sessions", ["started_at"], unique=False)
    op.create_index("idx_user_sessions_user_id", "user_sessions", ["user_id"], unique=False)
    for table in USER_OWNED_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_owner ON {table} "
            "USING (app_is_service() OR user_id = app_user_id()) "
            "WITH CHECK (app_is_service() OR user_id = app_user_id())"
        )
    op.execute(AUTHENTICATE_FUNCTION)
    op.execute(DEFAULT_SETTINGS)


def downgrade() -> None:
    op.execute("DROP FUNCTION app_authenticate(text)")
    op.drop_index("idx_user_sessions_user_id", table_name="user_sessions")
    op.drop_index("idx_user_sessions_started_at", table_name="user_sessions")
    op.drop_index("idx_user_sessions_expires_at", table_name="user_sessions")
    op.drop_index("idx_user_sessions_country_code", table_name="user_sessions")
    op.drop_table("user_sessions")
    op.drop_table("user_profiles")
    op.drop_table("user_preferences")
    op.drop_table("beta_whitelist")
    op.drop_index("idx_users_tier", table_name="users")
    op.drop_index("idx_users_status", table_name="users")
    op.drop_index("idx_users_is_currently_active", table_name="users")
    op.drop_index("idx_users_created_at", table_name="users")
    op.drop_index("idx_users_country_code", table_name="users")
    op.drop_index("idx_users_auth_provider_id", table_name="users")
    op.drop_table("users")
    op.drop_table("system_settings")
    op.execute(
        "DROP FUNCTION app_is_service(); DROP FUNCTION app_organization_id(); DROP FUNCTION app_user_id()"
    )
