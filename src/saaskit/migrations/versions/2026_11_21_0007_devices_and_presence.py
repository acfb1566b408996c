"""Devices and presence: dashboards, user heartbeats, visitor sessions, usage sessions, versions.

- ``dashboards`` (seeds 000/001), ``user_heartbeats`` and ``visitor_sessions`` (seed 002);
- ``user_sessions`` gets ``session_type`` (sign_in / usage rows), the foreign key from
  ``dashboard_id`` to ``dashboards`` and a partial unique index: one open usage session per device;
- ``users.max_dashboards_override``: an admin's per-user dashboard limit;
- RLS on the two user-owned tables (``visitor_sessions`` has no user: no RLS);
- SQL functions comparing app versions (``app_version_key``, ``app_version_below``) and reading
  the required versions from ``system_settings`` (``app_required_version``);
- settings ``app.latest_version``, ``app.minimum_version``, ``devices.max_dashboards_by_tier``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 21:08:39.331402
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

USER_OWNED_TABLES = ("dashboards", "user_heartbeats")
FILLFACTOR_TABLES = ("users", "user_sessions")

# Versions compare as integer arrays: "1.10" > "1.9", "1.2" = "1.2.0", and a suffix
# ("-beta", "+42") is ignored. The API accepts only strings of that shape (VERSION_PATTERN).
VERSION_FUNCTIONS = r"""
CREATE FUNCTION app_version_key(version text) RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT string_to_array(
           regexp_replace(substring(version FROM '^[0-9]{1,9}(?:\.[0-9]{1,9})*'), '(\.0+)+$', ''),
           '.')::integer[]
$$;
COMMENT ON FUNCTION app_version_key(text) IS
  'Sort key of an app version: its leading numbers as an integer array, trailing zeros dropped '
  '(1.2.0 -> {1,2}); NULL when the text does not start with a number.';
CREATE FUNCTION app_version_below(version text, required text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(app_version_key(version) < app_version_key(required), false)
$$;
COMMENT ON FUNCTION app_version_below(text, text) IS
  'True when version is older than required; false when either is NULL or not a version.';
CREATE FUNCTION app_required_version(setting text, device_type text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT value #>> '{}' FROM system_settings
  WHERE key IN (setting, setting || '.' || device_type) AND jsonb_typeof(value) = 'string'
  ORDER BY length(key) DESC LIMIT 1
$$;
COMMENT ON FUNCTION app_required_version(text, text) IS
  'The version kept in system_settings under setting (app.latest_version, app.minimum_version), '
  'or under setting.<device_type> when that platform has its own.';
"""

# The heartbeat, in two functions (PL/pgSQL: their plans are cached per connection):
# - app_heartbeat_write: every write of one heartbeat, ONE statement of data-modifying CTEs
#   (see saaskit/devices/heartbeat.py for the concurrency argument). RLS applies: the caller's
#   context must be the user's.
# - app_heartbeat: authenticates the token (app_authenticate, as every request does), sets the
#   RLS context, writes. One call, so the endpoint costs one round trip in an autocommit
#   transaction. A dashboard named by the client that is not the user's raises (SQLSTATE P0002),
#   which undoes everything: a heartbeat counts entirely or not at all. An invalid token returns
#   no row and writes nothing.
HEARTBEAT_FUNCTIONS = r"""
CREATE FUNCTION app_heartbeat_write(
    p_user_id uuid, p_dashboard_id uuid, p_app_version text, p_widgets text[], p_errors integer,
    p_max_gap_seconds double precision, p_ip_hash text, p_user_agent text, p_country_code text)
RETURNS TABLE (needs_reload boolean, needs_update boolean, dashboard_found boolean, usage_session_id uuid)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH open_session AS (
      SELECT id FROM user_sessions
      WHERE dashboard_id = p_dashboard_id AND session_type = 'usage' AND ended_at IS NULL
  ), started AS (
      INSERT INTO user_sessions AS s (
          user_id, dashboard_id, session_type, started_at, ip_address_hash, user_agent, country_code,
          widgets_interacted, error_count)
      SELECT p_user_id, p_dashboard_id, 'usage', now(), p_ip_hash, p_user_agent, p_country_code,
             p_widgets, p_errors
      WHERE p_dashboard_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM open_session)
        AND EXISTS (SELECT 1 FROM dashboards d
                    WHERE d.id = p_dashboard_id AND d.user_id = p_user_id AND d.deleted_at IS NULL)
      ON CONFLICT (dashboard_id) WHERE session_type = 'usage' AND ended_at IS NULL DO NOTHING
      RETURNING s.id
  ), device AS (
      UPDATE dashboards SET
          total_uptime_seconds = total_uptime_seconds + CASE
              WHEN last_heartbeat_at IS NULL OR now() - last_heartbeat_at > make_interval(secs => p_max_gap_seconds)
              THEN 0
              ELSE GREATEST(0, extract(epoch FROM now() - last_heartbeat_at)) END,
          last_heartbeat_at = GREATEST(last_heartbeat_at, now()),
          is_online = true,
          current_version = coalesce(p_app_version, current_version),
          needs_update = CASE
              WHEN p_app_version IS NULL OR (p_app_version = current_version AND NOT needs_update) THEN needs_update
              ELSE app_version_below(p_app_version, app_required_version('app.minimum_version', device_type)) END,
          total_sessions = total_sessions + (SELECT count(*) FROM started)
      WHERE id = p_dashboard_id AND user_id = p_user_id AND deleted_at IS NULL
      RETURNING device_type, needs_update
  ), account AS (
      UPDATE users SET
          last_heartbeat_at = GREATEST(last_heartbeat_at, now()),
          last_seen_at = GREATEST(last_seen_at, now()),
          is_currently_active = true,
          current_app_version = coalesce(p_app_version, current_app_version),
          needs_reload = CASE
              WHEN needs_reload AND p_app_version IS NOT NULL
              THEN app_version_below(p_app_version,
                                     app_required_version('app.latest_version', (SELECT device_type FROM device)))
              ELSE needs_reload END
      WHERE id = p_user_id
      RETURNING needs_reload
  ), beat AS (
      INSERT INTO user_heartbeats AS h (user_id, last_seen_at) VALUES (p_user_id, now())
      ON CONFLICT (user_id) DO UPDATE SET last_seen_at = GREATEST(h.last_seen_at, EXCLUDED.last_seen_at)
  ), activity AS (
      UPDATE user_sessions SET
          widgets_interacted = ARRAY(SELECT DISTINCT w FROM unnest(widgets_interacted || p_widgets) AS w ORDER BY w),
          error_count = error_count + p_errors
      WHERE id = (SELECT id FROM open_session) AND (p_errors > 0 OR cardinality(p_widgets) > 0)
  ), opened AS (
      -- A usage session started by this heartbeat is an app open (seed 002's dailyActivity).
      INSERT INTO activity_events (user_id, event_type) SELECT p_user_id, 'app_open' FROM started
  )
  SELECT coalesce((SELECT needs_reload FROM account), false),
         coalesce((SELECT needs_update FROM device), false),
         EXISTS (SELECT 1 FROM device),
         coalesce((SELECT id FROM started), (SELECT id FROM open_session));
END $$;
COMMENT ON FUNCTION app_heartbeat_write(uuid, uuid, text, text[], integer, double precision, text, text, text) IS
  'Every write of one heartbeat of a user (and device), in one statement; the RLS context must be the user''s.';

CREATE FUNCTION app_heartbeat(
    p_token_hash text, p_dashboard_id uuid, p_app_version text, p_widgets text[], p_errors integer,
    p_max_gap_seconds double precision, p_ip_hash text, p_user_agent text, p_country_code text)
RETURNS TABLE (user_id uuid, dashboard_id uuid, needs_reload boolean, needs_update boolean, usage_session_id uuid)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_user uuid;
  v_dashboard uuid;
  r record;
BEGIN
  SELECT a.user_id, coalesce(p_dashboard_id, a.dashboard_id) INTO v_user, v_dashboard
  FROM app_authenticate(p_token_hash) AS a;
  IF v_user IS NULL THEN
    RETURN;
  END IF;
  PERFORM set_config('app.user_id', v_user::text, true), set_config('app.organization_id', '', true),
          set_config('app.service', '', true);
  SELECT * INTO r FROM app_heartbeat_write(v_user, v_dashboard, p_app_version, p_widgets, p_errors,
                                           p_max_gap_seconds, p_ip_hash, p_user_agent, p_country_code);
  IF v_dashboard IS NOT NULL AND NOT r.dashboard_found THEN
    IF p_dashboard_id IS NOT NULL THEN
      RAISE EXCEPTION 'dashboard_not_found' USING ERRCODE = 'no_data_found';
    END IF;
    v_dashboard := NULL;  -- the token's dashboard was deleted: presence only
  END IF;
  user_id := v_user;
  dashboard_id := v_dashboard;
  needs_reload := r.needs_reload;
  needs_update := r.needs_update;
  usage_session_id := r.usage_session_id;
  RETURN NEXT;
END $$;
COMMENT ON FUNCTION app_heartbeat(text, uuid, text, text[], integer, double precision, text, text, text) IS
  'POST /api/heartbeat in one call: authenticate the token, set the RLS context, write (app_heartbeat_write).';
"""
HEARTBEAT_FUNCTION_SIGNATURES = (
    "app_heartbeat(text, uuid, text, text[], integer, double precision, text, text, text)",
    "app_heartbeat_write(uuid, uuid, text, text[], integer, double precision, text, text, text)",
)

SETTING_KEYS = ("app.latest_version", "app.minimum_version", "devices.max_dashboards_by_tier")
DEFAULT_SETTINGS = """
INSERT INTO system_settings (key, value, category, description, is_public) VALUES
  ('app.latest_version', '"1.0.0"', 'app',
   'Newest app version: version-check offers it, and a forced reload clears once a client reports '
   'at least this. Per platform: app.latest_version.<device_type>.', true),
  ('app.minimum_version', '"0.0.0"', 'app',
   'Oldest supported app version: devices below it get needs_update (POST /api/admin/devices/require-update). '
   'Per platform: app.minimum_version.<device_type>.', true),
  ('devices.max_dashboards_by_tier', '{"free": 1}', 'devices',
   'Dashboards a user may register, by users.tier (tiers not listed: 1); an admin''s '
   'users.max_dashboards_override wins.', false)
ON CONFLICT (key) DO NOTHING
"""


def upgrade() -> None:
    op.execute(VERSION_FUNCTIONS)
    op.create_table(
        "visitor_sessions",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column(
            "session_id",
            sa.Text(),
            nullable=False,
            comment="Session id chosen by the client (e.g. kept in localStorage): 8-128 of A-Z a-z 0-9 _ -.",
        ),
        sa.Column(
            "ip_hash",
            sa.Text(),
            nullable=True,
            comment="HMAC-SHA-256 of the client IP under a secret salt that rotates daily (UTC), from the session's first visit; never the raw IP.",
        ),
        sa.Column(
            "ua_hash",
            sa.Text(),
            nullable=True,
            comment="HMAC-SHA-256 of the User-Agent under the same daily salt, for de-duplication.",
        ),
        sa.Column(
            "first_seen_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="First track-visit of the session (UTC).",
        ),
        sa.Column(
            "last_seen_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="Latest track-visit of the session (UTC).",
        ),
        sa.CheckConstraint(
            "session_id ~ '^[A-Za-z0-9_-]{8,128}$'", name=op.f("ck_visitor_sessions_session_id_shape")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitor_sessions")),
        sa.UniqueConstraint("session_id", name=op.f("uq_visitor_sessions_session_id")),
        comment="One row per anonymous visitor session (browser), from POST /api/track-visit: total visitors, visitors now and today (seed 002; no user, so no RLS).",
    )
    op.create_index("idx_visitor_sessions_last_seen_at", "visitor_sessions", ["last_seen_at"], unique=False)
    op.create_table(
        "dashboards",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique dashboard (device) identifier.",
        ),
        sa.Column("user_id", sa.UUID(), nullable=False, comment="The user who owns the device."),
        sa.Column(
            "device_name",
            sa.Text(),
            nullable=False,
            comment="Name the user gave the device, e.g. Kitchen TV.",
        ),
        sa.Column(
            "device_type",
            sa.Text(),
            server_default="other",
            nullable=False,
            comment="Platform: fire_tv, android_tv, browser or other.",
        ),
        sa.Column(
            "device_fingerprint_hash",
            sa.Text(),
            nullable=True,
            comment="Keyed HMAC-SHA-256 of the client's device identifier (never the identifier itself).",
        ),
        sa.Column(
            "active_widgets",
            sa.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
            comment="Names of the widgets enabled on this dashboard, in display order.",
        ),
        sa.Column(
            "theme",
            sa.Text(),
            server_default="dark",
            nullable=False,
            comment="UI theme chosen for the device, e.g. dark.",
        ),
        sa.Column(
            "is_online",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="A heartbeat arrived within the offline timeout (set by heartbeats, cleared by a job).",
        ),
        sa.Column(
            "last_heartbeat_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Most recent heartbeat from the device (UTC).",
        ),
        sa.Column(
            "current_version", sa.Text(), nullable=True, comment="App version the device last reported."
        ),
        sa.Column(
            "needs_update",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="The device runs a version below the required minimum and must update (cleared when it reports a version at or above it).",
        ),
        sa.Column(
            "total_sessions",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Usage sessions started on the device, lifetime.",
        ),
        sa.Column(
            "total_uptime_seconds",
            sa.Numeric(precision=18, scale=6),
            server_default=sa.text("0"),
            nullable=False,
            comment="Seconds the device has been running, summed from the gaps between its heartbeats (gaps above the configured maximum earn nothing), to the microsecond.",
        ),
        sa.Column(
            "total_uptime_minutes",
            sa.BigInteger(),
            sa.Computed("floor(total_uptime_seconds / 60)::bigint", persisted=True),
            nullable=False,
            comment="Whole minutes of total_uptime_seconds (derived, never written).",
        ),
        sa.Column(
            "last_crash_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the device last reported a crash (UTC).",
        ),
        sa.Column(
            "crash_count",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Crashes the device reported, lifetime.",
        ),
        sa.Column(
            "deleted_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Soft deletion (UTC): the device no longer counts towards the limit or takes heartbeats.",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the device was registered (UTC).",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="Last configuration change: name, theme or widgets (UTC); heartbeats do not touch it.",
        ),
        sa.CheckConstraint(
            "device_type IN ('fire_tv', 'android_tv', 'browser', 'other')",
            name=op.f("ck_dashboards_device_type_known"),
        ),
        sa.CheckConstraint("crash_count >= 0", name=op.f("ck_dashboards_crash_count_not_negative")),
        sa.CheckConstraint("total_sessions >= 0", name=op.f("ck_dashboards_total_sessions_not_negative")),
        sa.CheckConstraint(
            "total_uptime_seconds >= 0", name=op.f("ck_dashboards_total_uptime_seconds_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_dashboards_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboards")),
        comment="One dashboard instance (a device running the app) of a user: configuration, presence, version, uptime and crashes (RLS: the user's own).",
        postgresql_with={"fillfactor": "90"},
    )
    op.create_index(
        "idx_dashboards_active_widgets",
        "dashboards",
        ["active_widgets"],
        unique=False,
        postgresql_using="gin",
    )
    op.create_index(
        "idx_dashboards_device_fingerprint_hash", "dashboards", ["device_fingerprint_hash"], unique=False
    )
    op.create_index("idx_dashboards_is_online", "dashboards", ["is_online"], unique=False)
    op.create_index("idx_dashboards_user_id", "dashboards", ["user_id"], unique=False)
    op.create_table(
        "user_heartbeats",
        sa.Column("user_id", sa.UUID(), nullable=False, comment="The user (one row each)."),
        sa.Column(
            "last_seen_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="Time of the user's latest heartbeat (UTC).",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_heartbeats_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_heartbeats")),
        comment="Latest heartbeat of each user, one row per user: the source of 'active users now' (seed 002; RLS: the user's own).",
    )
    op.create_index("idx_user_heartbeats_last_seen_at", "user_heartbeats", ["last_seen_at"], unique=False)
    op.add_column(
        "user_sessions",
        sa.Column(
            "session_type",
            sa.Text(),
            server_default="sign_in",
            nullable=False,
            comment="sign_in: a bearer-token session (sign-in to sign-out); usage: one period of app use (app open to close or inactivity), counted by the statistics.",
        ),
    )
    op.alter_column(
        "user_sessions",
        "dashboard_id",
        existing_type=sa.UUID(),
        comment="The dashboard (device) this session runs on, when known; a sign_in row bound to a dashboard makes that dashboard the default of its heartbeats.",
        existing_comment="The dashboard (device) this session runs on, when known.",
        existing_nullable=True,
    )
    op.alter_column(
        "user_sessions",
        "duration_minutes",
        existing_type=sa.INTEGER(),
        comment="Minutes between start and end (rounded), computed when the session ends.",
        existing_comment="Minutes between start and end, computed when the session ends.",
        existing_nullable=True,
    )
    op.alter_column(
        "user_sessions",
        "widgets_interacted",
        existing_type=postgresql.ARRAY(sa.TEXT()),
        comment="Widgets used during the session (usage rows), distinct and sorted.",
        existing_comment="Widgets used during the session.",
        existing_nullable=False,
        existing_server_default=sa.text("'{}'::text[]"),
    )
    op.alter_column(
        "user_sessions",
        "settings_changed",
        existing_type=sa.BOOLEAN(),
        comment="The dashboard's settings (name, theme, widgets) were changed during the session.",
        existing_comment="Settings were changed in the session.",
        existing_nullable=False,
        existing_server_default=sa.text("false"),
    )
    op.alter_column(
        "user_sessions",
        "error_count",
        existing_type=sa.INTEGER(),
        comment="Errors the client met in the session: crashes and errors it reported with heartbeats.",
        existing_comment="Errors the client met in the session.",
        existing_nullable=False,
        existing_server_default=sa.text("0"),
    )
    op.create_index("idx_user_sessions_dashboard_id", "user_sessions", ["dashboard_id"], unique=False)
    op.create_index(
        "idx_user_sessions_dashboard_id_open",
        "user_sessions",
        ["dashboard_id"],
        unique=True,
        postgresql_where=sa.text("session_type = 'usage' AND ended_at IS NULL"),
    )
    op.create_foreign_key(
        op.f("fk_user_sessions_dashboard_id_dashboards"),
        "user_sessions",
        "dashboards",
        ["dashboard_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_table_comment(
        "user_sessions",
        "Sessions of a user, two kinds (session_type): sign_in rows hold a bearer token (hashed), its expiry and device; usage rows are one app-open-to-close activity period on a dashboard with its usage figures (RLS: the user's own).",
        existing_comment="One signed-in session on a device: its token (hashed), expiry, device and the usage figures of its activity (RLS: the user's own).",
        schema=None,
    )
    op.add_column(
        "users",
        sa.Column(
            "max_dashboards_override",
            sa.Integer(),
            nullable=True,
            comment="Per-user dashboard limit set by an admin; wins over the tier's. Null: the tier decides.",
        ),
    )
    op.create_check_constraint(op.f("ck_users_max_dashboards_not_negative"), "users", "max_dashboards >= 0")
    op.create_check_constraint(
        op.f("ck_users_max_dashboards_override_not_negative"), "users", "max_dashboards_override >= 0"
    )
    op.create_check_constraint(
        op.f("ck_user_sessions_session_type_known"), "user_sessions", "session_type IN ('sign_in', 'usage')"
    )
    for table in USER_OWNED_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_owner ON {table} "
            "USING (app_is_service() OR user_id = app_user_id()) "
            "WITH CHECK (app_is_service() OR user_id = app_user_id())"
        )
    op.execute(DEFAULT_SETTINGS)
    op.execute(HEARTBEAT_FUNCTIONS)
    # Heartbeats update a users row (and, once a minute, the token's user_sessions row) each time:
    # free room on every page keeps those updates HOT, without index writes.
    for table in FILLFACTOR_TABLES:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = 90)")
    op.alter_column(
        "users",
        "max_dashboards",
        existing_type=sa.INTEGER(),
        comment="Dashboards (devices) the user may register: the tier's number (setting devices.max_dashboards_by_tier) unless max_dashboards_override is set.",
        existing_comment="Dashboards (devices) the user may register.",
        existing_nullable=False,
        existing_server_default=sa.text("1"),
    )


def downgrade() -> None:
    for table in FILLFACTOR_TABLES:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
    for signature in HEARTBEAT_FUNCTION_SIGNATURES:
        op.execute(f"DROP FUNCTION {signature}")
    # Usage rows are this revision's data; without session_type they would pass for sign-ins.
    op.execute("DELETE FROM user_sessions WHERE session_type = 'usage'")
    op.execute(
        sa.text(
            "DELETE FROM system_settings WHERE key = ANY(:keys) OR key LIKE 'app.%\\_version.%'"
        ).bindparams(keys=list(SETTING_KEYS))
    )
    op.drop_constraint(op.f("ck_user_sessions_session_type_known"), "user_sessions", type_="check")
    op.drop_constraint(op.f("ck_users_max_dashboards_override_not_negative"), "users", type_="check")
    op.drop_constraint(op.f("ck_users_max_dashboards_not_negative"), "users", type_="check")
    op.alter_column(
        "users",
        "max_dashboards",
        existing_type=sa.INTEGER(),
        comment="Dashboards (devices) the user may register.",
        existing_comment="Dashboards (devices) the user may register: the tier's number (setting devices.max_dashboards_by_tier) unless max_dashboards_override is set.",
        existing_nullable=False,
        existing_server_default=sa.text("1"),
    )
    op.drop_column("users", "max_dashboards_override")
    op.create_table_comment(
        "user_sessions",
        "One signed-in session on a device: its token (hashed), expiry, device and the usage figures of its activity (RLS: the user's own).",
        existing_comment="Sessions of a user, two kinds (session_type): sign_in rows hold a bearer token (hashed), its expiry and device; usage rows are one app-open-to-close activity period on a dashboard with its usage figures (RLS: the user's own).",
        schema=None,
    )
    op.drop_constraint(op.f("fk_user_sessions_dashboard_id_dashboards"), "user_sessions", type_="foreignkey")
    op.drop_index(
        "idx_user_sessions_dashboard_id_open",
        table_name="user_sessions",
        postgresql_where=sa.text("session_type = 'usage' AND ended_at IS NULL"),
    )
    op.drop_index("idx_user_sessions_dashboard_id", table_name="user_sessions")
    op.alter_column(
        "user_sessions",
        "error_count",
        existing_type=sa.INTEGER(),
        comment="Errors the client met in the session.",
        existing_comment="Errors the client met in the session: crashes and errors it reported with heartbeats.",
        existing_nullable=False,
        existing_server_default=sa.text("0"),
    )
    op.alter_column(
        "user_sessions",
        "settings_changed",
        existing_type=sa.BOOLEAN(),
        comment="Settings were changed in the session.",
        existing_comment="The dashboard's settings (name, theme, widgets) were changed during the session.",
        existing_nullable=False,
        existing_server_default=sa.text("false"),
    )
    op.alter_column(
        "user_sessions",
        "widgets_interacted",
        existing_type=postgresql.ARRAY(sa.TEXT()),
        comment="Widgets used during the session.",
        existing_comment="Widgets used during the session (usage rows), distinct and sorted.",
        existing_nullable=False,
        existing_server_default=sa.text("'{}'::text[]"),
    )
    op.alter_column(
        "user_sessions",
        "duration_minutes",
        existing_type=sa.INTEGER(),
        comment="Minutes between start and end, computed when the session ends.",
        existing_comment="Minutes between start and end (rounded), computed when the session ends.",
        existing_nullable=True,
    )
    op.alter_column(
        "user_sessions",
        "dashboard_id",
        existing_type=sa.UUID(),
        comment="The dashboard (device) this session runs on, when known.",
        existing_comment="The dashboard (device) this session runs on, when known; a sign_in row bound to a dashboard makes that dashboard the default of its heartbeats.",
        existing_nullable=True,
    )
    op.drop_column("user_sessions", "session_type")
    op.drop_index("idx_user_heartbeats_last_seen_at", table_name="user_heartbeats")
    op.drop_table("user_heartbeats")
    op.drop_index("idx_dashboards_user_id", table_name="dashboards")
    op.drop_index("idx_dashboards_is_online", table_name="dashboards")
    op.drop_index("idx_dashboards_device_fingerprint_hash", table_name="dashboards")
    op.drop_index("idx_dashboards_active_widgets", table_name="dashboards", postgresql_using="gin")
    op.drop_table("dashboards")
    op.drop_index("idx_visitor_sessions_last_seen_at", table_name="visitor_sessions")
    op.drop_table("visitor_sessions")
    op.execute(
        "DROP FUNCTION app_required_version(text, text); DROP FUNCTION app_version_below(text, text); "
        "DROP FUNCTION app_version_key(text)"
    )
