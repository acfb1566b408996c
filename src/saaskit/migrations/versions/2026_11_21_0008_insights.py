"""Insights: counters, rollups, the date dimension, geographic stats and funnels.

- ``stats_counters`` kept by triggers on users, subscriptions and visitor_sessions, and the two
  users columns they rest on (``subscription_live_until``, ``has_expired_subscription``);
- ``rollup_watermarks``; activity rollups per 15 minutes, per UTC day and per month, and the
  monthly rollups of the other high-volume tables (seed 003's retention pattern);
- ``daily_metrics`` (seeds 000/001), ``user_engagement_daily`` and ``organization_metrics_daily``
  (seed 004), ``dim_dates`` 2000-2050 (seed 003), the ``geographic_stats`` materialized view;
- ``conversion_funnels`` / ``conversion_funnel_events`` (seed 004);
- ``visitor_sessions.organization_id``: visits made with an organization's ingestion key;
- RLS: platform figures are service-only; scoped rollups and organization tables follow
  ``app.organization_id``; engagement rows their user.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21 22:38:13.816844
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SERVICE_ONLY_TABLES = (
    "stats_counters",
    "rollup_watermarks",
    "daily_metrics",
    "widget_analytics_monthly",
    "system_events_monthly",
    "performance_metrics_monthly",
)
SCOPED_TABLES = (
    "activity_rollups_15m",
    "activity_rollups_daily",
    "activity_events_monthly",
    "events_monthly",
    "page_views_monthly",
)
ORGANIZATION_TABLES = ("organization_metrics_daily", "conversion_funnels", "conversion_funnel_events")
# visitor_sessions gains organization_id here, so it gets row-level security like every tenant table.

# Running totals kept by triggers so that GET /api/admin/stats never counts a whole table.
#
# users.subscription_live_until / has_expired_subscription summarise a user's own
# subscriptions; app_refresh_user_subscription_state recomputes them for the users a statement
# on subscriptions touched, and moves the lapsed_users counter by what changed. It first locks
# the users rows (FOR NO KEY UPDATE, in id order: it does not conflict with the KEY SHARE lock
# that inserting a subscription takes on its user, and the fixed order rules out deadlocks), then
# reads subscriptions in a new statement, so under READ COMMITTED it sees what a concurrent
# transaction committed before releasing the lock.
#
# A "lapsed" user (docs/statistics.md) has no live subscription and an ended one. The counter
# holds the stored part (no live subscription, has an expired one); users whose live
# subscription's end has passed but whose status the expiry job has not yet changed are added at
# read time from idx_users_subscription_live_until (few: at most a day's expiries).
COUNTER_FUNCTIONS = r"""
-- "Runs forever" for a subscription without an end. Not 'infinity': Python's datetime (and so
-- every ORM load of a users row) cannot hold it; year 9999 it can, in any time zone.
CREATE FUNCTION app_no_end() RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT TIMESTAMPTZ '9999-01-01 00:00:00+00'
$$;
COMMENT ON FUNCTION app_no_end() IS 'The end used for subscriptions that have none: 9999-01-01 UTC.';

CREATE FUNCTION app_bump_counter(p_counter text, p_dimension text, p_delta bigint) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  INSERT INTO stats_counters (counter, dimension, value) SELECT p_counter, p_dimension, p_delta
  WHERE p_delta <> 0
  ON CONFLICT (counter, dimension) DO UPDATE SET value = stats_counters.value + excluded.value
$$;
COMMENT ON FUNCTION app_bump_counter(text, text, bigint) IS
  'Adds p_delta to a stats_counters row (created at 0 if missing); nothing when p_delta is 0.';

CREATE FUNCTION app_user_is_lapsed(p_deleted_at timestamptz, p_live_until timestamptz, p_has_expired boolean)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT p_deleted_at IS NULL AND p_live_until IS NULL AND p_has_expired
$$;
COMMENT ON FUNCTION app_user_is_lapsed(timestamptz, timestamptz, boolean) IS
  'The stored part of "lapsed": not deleted, no live subscription, an expired one.';

CREATE FUNCTION app_refresh_user_subscription_state(p_users uuid[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_delta bigint;
BEGIN
  PERFORM 1 FROM users WHERE id = ANY(p_users) ORDER BY id FOR NO KEY UPDATE;
  WITH target AS (
      SELECT u.id,
             app_user_is_lapsed(u.deleted_at, u.subscription_live_until, u.has_expired_subscription) AS was_lapsed,
             (SELECT max(coalesce(s.ends_at, app_no_end())) FROM subscriptions s
               WHERE s.user_id = u.id AND s.status IN ('trialing', 'active', 'past_due')) AS live_until,
             EXISTS (SELECT 1 FROM subscriptions s WHERE s.user_id = u.id AND s.status = 'expired') AS has_expired
      FROM users u WHERE u.id = ANY(p_users)
  ), changed AS (
      UPDATE users u SET subscription_live_until = t.live_until, has_expired_subscription = t.has_expired
      FROM target t
      WHERE u.id = t.id AND (u.subscription_live_until IS DISTINCT FROM t.live_until
                             OR u.has_expired_subscription IS DISTINCT FROM t.has_expired)
      RETURNING t.was_lapsed, app_user_is_lapsed(u.deleted_at, u.subscription_live_until,
                                                 u.has_expired_subscription) AS is_lapsed
  )
  SELECT coalesce(sum(is_lapsed::int - was_lapsed::int), 0) INTO v_delta FROM changed;
  PERFORM app_bump_counter('lapsed_users', '', v_delta);
END $$;
COMMENT ON FUNCTION app_refresh_user_subscription_state(uuid[]) IS
  'Recomputes users.subscription_live_until and has_expired_subscription of these users from '
  'their subscriptions and moves the lapsed_users counter accordingly.';

CREATE FUNCTION app_subscriptions_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_users uuid[];
BEGIN
  -- Each branch names only the transition tables its trigger defines (PL/pgSQL plans a
  -- statement when it first runs it). One statement per branch: the counters move and the
  -- touched users are collected from the same rows.
  IF TG_OP = 'INSERT' THEN
    WITH d AS (SELECT user_id, status, plan_name, 1 AS delta FROM new_rows),
    bumped AS (
      INSERT INTO stats_counters (counter, dimension, value)
      SELECT 'subscriptions:' || status, plan_name, sum(delta) FROM d GROUP BY status, plan_name
      ON CONFLICT (counter, dimension) DO UPDATE SET value = stats_counters.value + excluded.value)
    SELECT array_agg(DISTINCT user_id ORDER BY user_id) INTO v_users FROM d WHERE user_id IS NOT NULL;
  ELSIF TG_OP = 'DELETE' THEN
    WITH d AS (SELECT user_id, status, plan_name, -1 AS delta FROM old_rows),
    bumped AS (
      INSERT INTO stats_counters (counter, dimension, value)
      SELECT 'subscriptions:' || status, plan_name, sum(delta) FROM d GROUP BY status, plan_name
      ON CONFLICT (counter, dimension) DO UPDATE SET value = stats_counters.value + excluded.value)
    SELECT array_agg(DISTINCT user_id ORDER BY user_id) INTO v_users FROM d WHERE user_id IS NOT NULL;
  ELSE
    -- Only a change of status, end or owner can change a user's subscription state.
    WITH d AS (
      SELECT user_id, status, plan_name, 1 AS delta FROM new_rows
      UNION ALL SELECT user_id, status, plan_name, -1 FROM old_rows),
    bumped AS (
      INSERT INTO stats_counters (counter, dimension, value)
      SELECT 'subscriptions:' || status, plan_name, sum(delta) FROM d GROUP BY status, plan_name
      HAVING sum(delta) <> 0
      ON CONFLICT (counter, dimension) DO UPDATE SET value = stats_counters.value + excluded.value),
    moved AS (
      SELECT n.user_id AS now_owner, o.user_id AS was_owner FROM new_rows n JOIN old_rows o ON o.id = n.id
      WHERE (n.status, n.ends_at, n.user_id) IS DISTINCT FROM (o.status, o.ends_at, o.user_id))
    SELECT array_agg(DISTINCT u ORDER BY u) INTO v_users
    FROM moved CROSS JOIN LATERAL (VALUES (now_owner), (was_owner)) AS v(u) WHERE u IS NOT NULL;
  END IF;
  IF v_users IS NOT NULL THEN
    PERFORM app_refresh_user_subscription_state(v_users);
  END IF;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION app_subscriptions_changed() IS
  'After each statement on subscriptions: moves the subscriptions:<status> counters (per plan) '
  'and refreshes the subscription state of the users concerned.';

CREATE FUNCTION app_users_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM app_bump_counter('users', '', count(*) FILTER (WHERE deleted_at IS NULL)),
          app_bump_counter('lapsed_users', '', count(*) FILTER (
            WHERE app_user_is_lapsed(deleted_at, subscription_live_until, has_expired_subscription)))
  FROM new_rows;
  RETURN NULL;
END $$;

CREATE FUNCTION app_users_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM app_bump_counter('users', '', -count(*) FILTER (WHERE deleted_at IS NULL)),
          app_bump_counter('lapsed_users', '', -count(*) FILTER (
            WHERE app_user_is_lapsed(deleted_at, subscription_live_until, has_expired_subscription)))
  FROM old_rows;
  RETURN NULL;
END $$;

-- Row level, and only when deleted_at changes: heartbeats update users constantly and must not
-- pay for this (a statement trigger with transition tables cannot name columns).
CREATE FUNCTION app_user_deleted_at_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM app_bump_counter('users', '', (NEW.deleted_at IS NULL)::int - (OLD.deleted_at IS NULL)::int);
  PERFORM app_bump_counter('lapsed_users', '',
    app_user_is_lapsed(NEW.deleted_at, NEW.subscription_live_until, NEW.has_expired_subscription)::int
    - app_user_is_lapsed(OLD.deleted_at, OLD.subscription_live_until, OLD.has_expired_subscription)::int);
  RETURN NULL;
END $$;

CREATE FUNCTION app_visitor_sessions_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  -- track-visit upserts: a refreshed session is not in new_rows, so this is 0 and writes nothing.
  PERFORM app_bump_counter('visitors', '', count(*)) FROM new_rows;
  RETURN NULL;
END $$;

CREATE FUNCTION app_visitor_sessions_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM app_bump_counter('visitors', '', -count(*)) FROM old_rows;
  RETURN NULL;
END $$;

-- From scratch: after a restore, or to check that the triggers kept the truth (a test does).
CREATE FUNCTION app_rebuild_stats_counters() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  LOCK TABLE users, subscriptions, visitor_sessions IN SHARE MODE;
  UPDATE users u SET subscription_live_until = s.live_until, has_expired_subscription = s.has_expired
  FROM (
    SELECT u2.id,
           max(coalesce(s2.ends_at, app_no_end()))
             FILTER (WHERE s2.status IN ('trialing', 'active', 'past_due')) AS live_until,
           coalesce(bool_or(s2.status = 'expired'), false) AS has_expired
    FROM users u2 LEFT JOIN subscriptions s2 ON s2.user_id = u2.id GROUP BY u2.id) s
  WHERE u.id = s.id AND (u.subscription_live_until IS DISTINCT FROM s.live_until
                         OR u.has_expired_subscription IS DISTINCT FROM s.has_expired);
  DELETE FROM stats_counters;
  INSERT INTO stats_counters (counter, dimension, value)
  SELECT 'users', '', count(*) FROM users WHERE deleted_at IS NULL
  UNION ALL
  SELECT 'lapsed_users', '', count(*) FROM users
    WHERE app_user_is_lapsed(deleted_at, subscription_live_until, has_expired_subscription)
  UNION ALL
  SELECT 'visitors', '', count(*) FROM visitor_sessions
  UNION ALL
  SELECT 'subscriptions:' || status, plan_name, count(*) FROM subscriptions GROUP BY status, plan_name;
END $$;
COMMENT ON FUNCTION app_rebuild_stats_counters() IS
  'Recomputes every stats_counters row and the users subscription-state columns from the tables.';
"""

TRIGGERS = """
CREATE TRIGGER subscriptions_counters_insert AFTER INSERT ON subscriptions
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app_subscriptions_changed();
CREATE TRIGGER subscriptions_counters_update AFTER UPDATE ON subscriptions
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION app_subscriptions_changed();
CREATE TRIGGER subscriptions_counters_delete AFTER DELETE ON subscriptions
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION app_subscriptions_changed();
CREATE TRIGGER users_counters_insert AFTER INSERT ON users
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app_users_inserted();
CREATE TRIGGER users_counters_delete AFTER DELETE ON users
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION app_users_deleted();
CREATE TRIGGER users_counters_deleted_at AFTER UPDATE OF deleted_at ON users
  FOR EACH ROW WHEN (OLD.deleted_at IS DISTINCT FROM NEW.deleted_at)
  EXECUTE FUNCTION app_user_deleted_at_changed();
CREATE TRIGGER visitor_sessions_counters_insert AFTER INSERT ON visitor_sessions
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app_visitor_sessions_inserted();
CREATE TRIGGER visitor_sessions_counters_delete AFTER DELETE ON visitor_sessions
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION app_visitor_sessions_deleted();
"""
TRIGGER_NAMES = (
    ("subscriptions", "subscriptions_counters_insert"),
    ("subscriptions", "subscriptions_counters_update"),
    ("subscriptions", "subscriptions_counters_delete"),
    ("users", "users_counters_insert"),
    ("users", "users_counters_delete"),
    ("users", "users_counters_deleted_at"),
    ("visitor_sessions", "visitor_sessions_counters_insert"),
    ("visitor_sessions", "visitor_sessions_counters_delete"),
)
FUNCTION_SIGNATURES = (
    "app_rebuild_stats_counters()",
    "app_visitor_sessions_deleted()",
    "app_visitor_sessions_inserted()",
    "app_user_deleted_at_changed()",
    "app_users_deleted()",
    "app_users_inserted()",
    "app_subscriptions_changed()",
    "app_refresh_user_subscription_state(uuid[])",
    "app_user_is_lapsed(timestamptz, timestamptz, boolean)",
    "app_bump_counter(text, text, bigint)",
    "app_refresh_geographic_stats()",
    "app_no_end()",
)

# Seed 000/001: country-level figures, a materialized view refreshed daily. Unknown countries
# are 'ZZ' (ISO 3166's user-assigned "unknown"). A user is a trial user with a live trialing
# subscription of their own and no paid one; paid with a live active or past_due one.
GEOGRAPHIC_STATS = r"""
CREATE MATERIALIZED VIEW geographic_stats AS
WITH live AS (
    SELECT user_id, bool_or(status = 'trialing') AS trialing, bool_or(status IN ('active', 'past_due')) AS paid
    FROM subscriptions
    WHERE user_id IS NOT NULL AND status IN ('trialing', 'active', 'past_due')
      AND (ends_at IS NULL OR ends_at > now())
    GROUP BY user_id
), sessions AS (
    SELECT user_id, sum(extract(epoch FROM ended_at - started_at)) / 60 AS minutes, count(*) AS n
    FROM user_sessions
    WHERE session_type = 'usage' AND ended_at IS NOT NULL AND started_at > now() - interval '30 days'
    GROUP BY user_id
)
SELECT coalesce(u.country_code, 'ZZ') AS country_code,
       count(*)::integer AS total_users,
       (count(*) FILTER (WHERE u.last_seen_at > now() - interval '30 days'))::integer AS active_users_30d,
       (count(*) FILTER (WHERE live.trialing AND NOT live.paid))::integer AS trial_users,
       (count(*) FILTER (WHERE live.paid))::integer AS paid_users,
       round((sum(sessions.minutes) / nullif(sum(sessions.n), 0))::numeric, 2) AS avg_session_duration_minutes,
       now() AS last_updated
FROM users u
LEFT JOIN live ON live.user_id = u.id
LEFT JOIN sessions ON sessions.user_id = u.id
WHERE u.deleted_at IS NULL
GROUP BY 1
WITH DATA;
CREATE UNIQUE INDEX idx_geographic_stats_country_code ON geographic_stats (country_code);
CREATE INDEX idx_geographic_stats_paid_users ON geographic_stats (paid_users);
CREATE INDEX idx_geographic_stats_active_users_30d ON geographic_stats (active_users_30d);
COMMENT ON MATERIALIZED VIEW geographic_stats IS
  'Users per country (seeds 000/001): totals, active in 30 days, trial and paid, mean usage-session '
  'length over 30 days. Refreshed daily by the insights job (app_refresh_geographic_stats).';
COMMENT ON COLUMN geographic_stats.country_code IS 'ISO 3166-1 alpha-2 country; ZZ when unknown.';
COMMENT ON COLUMN geographic_stats.total_users IS 'Accounts (not deleted) from the country.';
COMMENT ON COLUMN geographic_stats.active_users_30d IS 'Of them, seen in the last 30 days.';
COMMENT ON COLUMN geographic_stats.trial_users IS 'Of them, on a live trial and not paying.';
COMMENT ON COLUMN geographic_stats.paid_users IS 'Of them, with a live active or past_due subscription.';
COMMENT ON COLUMN geographic_stats.avg_session_duration_minutes IS
  'Mean length in minutes of their usage sessions started in the last 30 days and ended.';
COMMENT ON COLUMN geographic_stats.last_updated IS 'When the view was refreshed (UTC).';

CREATE FUNCTION app_refresh_geographic_stats() RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  REFRESH MATERIALIZED VIEW CONCURRENTLY geographic_stats
$$;
COMMENT ON FUNCTION app_refresh_geographic_stats() IS
  'Refreshes geographic_stats without blocking its readers (the application role owns no view).';
"""

# Seed 003's date dimension; English names whatever the server's locale ('Day' without TM).
DIM_DATES = r"""
INSERT INTO dim_dates (date_key, day_of_month, day_of_week, day_name, day_of_year, week_of_year,
                       iso_year, week_start, month, month_name, month_start, quarter, year, is_weekend)
SELECT d::date, extract(day FROM d), extract(isodow FROM d), to_char(d, 'FMDay'), extract(doy FROM d),
       extract(week FROM d), extract(isoyear FROM d), date_trunc('week', d)::date, extract(month FROM d),
       to_char(d, 'FMMonth'), date_trunc('month', d)::date, extract(quarter FROM d), extract(year FROM d),
       extract(isodow FROM d) IN (6, 7)
FROM generate_series('2000-01-01'::timestamp, '2050-12-31'::timestamp, interval '1 day') AS d;
"""


def upgrade() -> None:
    op.create_table(
        "activity_events_monthly",
        sa.Column(
            "scope_id",
            sa.UUID(),
            nullable=False,
            comment="Whose figures: the all-zero UUID for the whole platform, else an organization's id.",
        ),
        sa.Column("month", sa.Date(), nullable=False, comment="First day of the UTC month."),
        sa.Column("event_type", sa.Text(), nullable=False, comment="login, signup, app_open or action."),
        sa.Column(
            "events",
            sa.BigInteger(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Activity events that month.",
        ),
        sa.Column(
            "users",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Distinct users with such an event that month.",
        ),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was computed (UTC).",
        ),
        sa.PrimaryKeyConstraint("scope_id", "month", "event_type", name=op.f("pk_activity_events_monthly")),
        comment="activity_events per UTC month (seed 003's retention pattern: the monthly figures stay when detail older than six months goes).",
    )
    op.create_table(
        "activity_rollups_15m",
        sa.Column(
            "scope_id",
            sa.UUID(),
            nullable=False,
            comment="Whose figures: the all-zero UUID for the whole platform, else an organization's id.",
        ),
        sa.Column(
            "bucket_start",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="Start of the 15-minute bucket (UTC).",
        ),
        sa.Column("event_type", sa.Text(), nullable=False, comment="login, signup, app_open or action."),
        sa.Column(
            "events",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Activity events in the bucket.",
        ),
        sa.PrimaryKeyConstraint(
            "scope_id", "bucket_start", "event_type", name=op.f("pk_activity_rollups_15m")
        ),
        comment="activity_events counted per 15-minute UTC bucket: every IANA zone's midnight falls on a quarter hour, so any time zone's days are sums of whole buckets.",
    )
    op.create_table(
        "activity_rollups_daily",
        sa.Column(
            "scope_id",
            sa.UUID(),
            nullable=False,
            comment="Whose figures: the all-zero UUID for the whole platform, else an organization's id.",
        ),
        sa.Column("day", sa.Date(), nullable=False, comment="The UTC day."),
        sa.Column("event_type", sa.Text(), nullable=False, comment="login, signup, app_open or action."),
        sa.Column(
            "events",
            sa.BigInteger(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Activity events that day.",
        ),
        sa.Column(
            "users",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Distinct users with such an event that day.",
        ),
        sa.PrimaryKeyConstraint("scope_id", "day", "event_type", name=op.f("pk_activity_rollups_daily")),
        comment="activity_events per UTC day: events and distinct users (whole days of long windows).",
    )
    op.create_table(
        "daily_metrics",
        sa.Column("date", sa.Date(), nullable=False, comment="The UTC day."),
        sa.Column(
            "new_signups",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Accounts created that day.",
        ),
        sa.Column(
            "returning_users",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Users with activity that day who signed up on an earlier day.",
        ),
        sa.Column(
            "active_users",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Users with any activity event that day (DAU).",
        ),
        sa.Column(
            "weekly_active_users",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Users with any activity event in the 7 days ending that day (WAU).",
        ),
        sa.Column(
            "monthly_active_users",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Users with any activity event in the 30 days ending that day (MAU).",
        ),
        sa.Column(
            "active_dashboards",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Dashboards (devices) with a usage session running at some point that day.",
        ),
        sa.Column(
            "total_sessions",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Usage sessions started that day.",
        ),
        sa.Column(
            "avg_session_minutes",
            sa.Numeric(precision=10, scale=2),
            nullable=True,
            comment="Mean length in minutes of the usage sessions started that day and ended.",
        ),
        sa.Column(
            "trial_to_paid_conversions",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Subscriptions whose trial ended that day and that were paid for afterwards.",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was computed (UTC).",
        ),
        sa.PrimaryKeyConstraint("date", name=op.f("pk_daily_metrics")),
        comment="Platform figures per UTC day, built nightly (seeds 000/001).",
    )
    op.create_table(
        "dim_dates",
        sa.Column("date_key", sa.Date(), nullable=False, comment="The day."),
        sa.Column("day_of_month", sa.SmallInteger(), nullable=False, comment="1-31."),
        sa.Column("day_of_week", sa.SmallInteger(), nullable=False, comment="ISO: 1 Monday .. 7 Sunday."),
        sa.Column("day_name", sa.Text(), nullable=False, comment="Monday .. Sunday."),
        sa.Column("day_of_year", sa.SmallInteger(), nullable=False, comment="1-366."),
        sa.Column("week_of_year", sa.SmallInteger(), nullable=False, comment="ISO week number, 1-53."),
        sa.Column("iso_year", sa.Integer(), nullable=False, comment="Year the ISO week belongs to."),
        sa.Column("week_start", sa.Date(), nullable=False, comment="Monday of the ISO week."),
        sa.Column("month", sa.SmallInteger(), nullable=False, comment="1-12."),
        sa.Column("month_name", sa.Text(), nullable=False, comment="January .. December."),
        sa.Column("month_start", sa.Date(), nullable=False, comment="First day of the month."),
        sa.Column("quarter", sa.SmallInteger(), nullable=False, comment="1-4."),
        sa.Column("year", sa.Integer(), nullable=False, comment="Calendar year."),
        sa.Column("is_weekend", sa.Boolean(), nullable=False, comment="Saturday or Sunday."),
        sa.PrimaryKeyConstraint("date_key", name=op.f("pk_dim_dates")),
        comment="Date dimension (seed 003), one row per day from 2000-01-01 to 2050-12-31.",
    )
    op.create_table(
        "events_monthly",
        sa.Column(
            "scope_id",
            sa.UUID(),
            nullable=False,
            comment="Whose figures: the all-zero UUID for the whole platform, else an organization's id.",
        ),
        sa.Column("month", sa.Date(), nullable=False, comment="First day of the UTC month."),
        sa.Column("event_name", sa.Text(), nullable=False, comment="The event's name."),
        sa.Column(
            "events",
            sa.BigInteger(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Events that month.",
        ),
        sa.Column(
            "persons",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Distinct people (user, else distinct_id) that month.",
        ),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was computed (UTC).",
        ),
        sa.PrimaryKeyConstraint("scope_id", "month", "event_name", name=op.f("pk_events_monthly")),
        comment="Product events (events) per UTC month, organization and event name.",
    )
    op.create_table(
        "page_views_monthly",
        sa.Column(
            "scope_id",
            sa.UUID(),
            nullable=False,
            comment="Whose figures: the all-zero UUID for the whole platform, else an organization's id.",
        ),
        sa.Column("month", sa.Date(), nullable=False, comment="First day of the UTC month."),
        sa.Column(
            "views",
            sa.BigInteger(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Page views that month.",
        ),
        sa.Column(
            "sessions",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Distinct client sessions with a page view.",
        ),
        sa.Column(
            "bounces",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Page views marked as a bounce.",
        ),
        sa.Column(
            "avg_load_time_ms",
            sa.Numeric(precision=12, scale=2),
            nullable=True,
            comment="Mean page load time in milliseconds, where reported.",
        ),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was computed (UTC).",
        ),
        sa.PrimaryKeyConstraint("scope_id", "month", name=op.f("pk_page_views_monthly")),
        comment="Page views per UTC month and organization.",
    )
    op.create_table(
        "performance_metrics_monthly",
        sa.Column("month", sa.Date(), nullable=False, comment="First day of the UTC month."),
        sa.Column("metric_name", sa.Text(), nullable=False, comment="The metric."),
        sa.Column(
            "samples",
            sa.BigInteger(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Rows that month.",
        ),
        sa.Column("avg_value", sa.Numeric(precision=18, scale=4), nullable=True, comment="Mean of value."),
        sa.Column("max_value", sa.Numeric(precision=18, scale=4), nullable=True, comment="Largest value."),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was computed (UTC).",
        ),
        sa.PrimaryKeyConstraint("month", "metric_name", name=op.f("pk_performance_metrics_monthly")),
        comment="performance_metrics per UTC month and metric name.",
    )
    op.create_table(
        "rollup_watermarks",
        sa.Column("name", sa.Text(), nullable=False, comment="The rollup, e.g. activity_15m."),
        sa.Column(
            "rolled_through",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="Rows before this instant are in the rollup; later ones are read raw (UTC).",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was last changed (UTC).",
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rollup_watermarks")),
        comment="How far each incremental rollup has been computed.",
    )
    op.create_table(
        "stats_counters",
        sa.Column(
            "counter",
            sa.Text(),
            nullable=False,
            comment="What is counted: users, lapsed_users, visitors, or subscriptions:<status>.",
        ),
        sa.Column(
            "dimension",
            sa.Text(),
            server_default="",
            nullable=False,
            comment="Sub-key: the plan name for subscription counters, empty otherwise.",
        ),
        sa.Column(
            "value",
            sa.BigInteger(),
            server_default=sa.text("0"),
            nullable=False,
            comment="The running total.",
        ),
        sa.PrimaryKeyConstraint("counter", "dimension", name=op.f("pk_stats_counters")),
        comment="Platform-wide running totals kept by triggers, so the statistics never count whole tables: users, lapsed users, visitors, subscriptions by status and plan.",
    )
    op.create_table(
        "system_events_monthly",
        sa.Column("month", sa.Date(), nullable=False, comment="First day of the UTC month."),
        sa.Column("event_type", sa.Text(), nullable=False, comment="The event's type."),
        sa.Column("severity", sa.Text(), nullable=False, comment="info, warning, error or critical."),
        sa.Column("app_version", sa.Text(), nullable=False, comment="App version ('' when unknown)."),
        sa.Column(
            "events",
            sa.BigInteger(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Events that month.",
        ),
        sa.Column(
            "users",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Distinct users affected.",
        ),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was computed (UTC).",
        ),
        sa.PrimaryKeyConstraint(
            "month", "event_type", "severity", "app_version", name=op.f("pk_system_events_monthly")
        ),
        comment="system_events per UTC month, type, severity and app version.",
    )
    op.create_table(
        "widget_analytics_monthly",
        sa.Column("month", sa.Date(), nullable=False, comment="First day of the UTC month."),
        sa.Column("widget_type", sa.Text(), nullable=False, comment="Widget kind."),
        sa.Column(
            "event_type", sa.Text(), nullable=False, comment="view, click, configure, focus or active."
        ),
        sa.Column(
            "events",
            sa.BigInteger(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Widget events that month.",
        ),
        sa.Column(
            "users", sa.Integer(), server_default=sa.text("0"), nullable=False, comment="Distinct users."
        ),
        sa.Column(
            "total_duration_seconds",
            sa.BigInteger(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Sum of reported durations, in seconds.",
        ),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was computed (UTC).",
        ),
        sa.PrimaryKeyConstraint(
            "month", "widget_type", "event_type", name=op.f("pk_widget_analytics_monthly")
        ),
        comment="widget_analytics per UTC month (its detail lives 30 days; these stay).",
    )
    op.create_table(
        "user_engagement_daily",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column("user_id", sa.UUID(), nullable=False, comment="The user."),
        sa.Column("date", sa.Date(), nullable=False, comment="The UTC day."),
        sa.Column(
            "session_count",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Usage sessions started.",
        ),
        sa.Column(
            "page_views",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Page views recorded for the user.",
        ),
        sa.Column(
            "features_used",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Distinct action names and widget types used.",
        ),
        sa.Column(
            "actions_performed",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Activity events of type action.",
        ),
        sa.Column(
            "activity_events",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Activity events of any type (login, signup, app_open, action).",
        ),
        sa.Column("logins", sa.Integer(), server_default=sa.text("0"), nullable=False, comment="Sign-ins."),
        sa.Column(
            "app_opens", sa.Integer(), server_default=sa.text("0"), nullable=False, comment="App opens."
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was computed (UTC).",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_engagement_daily_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_engagement_daily")),
        sa.UniqueConstraint("user_id", "date", name=op.f("uq_user_engagement_daily_user_id_date")),
        comment="One row per user and UTC day with activity: engagement figures (seed 004).",
    )
    op.create_index("idx_user_engagement_daily_date", "user_engagement_daily", ["date"], unique=False)
    op.create_table(
        "conversion_funnels",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column(
            "organization_id",
            sa.UUID(),
            nullable=True,
            comment="Organization whose events the funnel reads; null: the whole platform (admins).",
        ),
        sa.Column("name", sa.Text(), nullable=False, comment="Name shown in the dashboard."),
        sa.Column("description", sa.Text(), nullable=True, comment="What the funnel measures."),
        sa.Column(
            "steps",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment='Ordered steps: [{"name", "event", "properties": {key: value}}]; properties must match.',
        ),
        sa.Column(
            "conversion_window_days",
            sa.Integer(),
            server_default=sa.text("14"),
            nullable=False,
            comment="Days from a person's first step within which later steps count.",
        ),
        sa.Column(
            "order_mode",
            sa.Text(),
            server_default="ordered",
            nullable=False,
            comment="ordered: steps in order, other events between allowed; strict: no other event between steps; any: the steps in any order.",
        ),
        sa.Column(
            "is_active",
            sa.Boolean(),
            server_default=sa.text("true"),
            nullable=False,
            comment="Listed and computed nightly.",
        ),
        sa.Column("created_by", sa.UUID(), nullable=True, comment="Who defined it."),
        sa.Column(
            "last_computed_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When progress was last computed (UTC).",
        ),
        sa.Column(
            "last_range_start",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Start of the range of the stored progress (UTC).",
        ),
        sa.Column(
            "last_range_end",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="End (exclusive) of the range of the stored progress (UTC).",
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
        sa.CheckConstraint(
            "jsonb_typeof(steps) = 'array'", name=op.f("ck_conversion_funnels_steps_is_array")
        ),
        sa.CheckConstraint(
            "order_mode IN ('ordered', 'strict', 'any')", name=op.f("ck_conversion_funnels_order_mode_known")
        ),
        sa.CheckConstraint(
            "conversion_window_days BETWEEN 1 AND 365", name=op.f("ck_conversion_funnels_window_in_range")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_conversion_funnels_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_conversion_funnels_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversion_funnels")),
        comment="Funnel definitions (seed 004): ordered steps over events, a window, an order mode.",
    )
    op.create_index(
        "idx_conversion_funnels_organization_id", "conversion_funnels", ["organization_id"], unique=False
    )
    op.create_table(
        "organization_metrics_daily",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column("organization_id", sa.UUID(), nullable=False, comment="The organization."),
        sa.Column("date", sa.Date(), nullable=False, comment="The UTC day."),
        sa.Column(
            "active_users",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Members with any activity event that day.",
        ),
        sa.Column(
            "weekly_active_users",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Members with any activity event in the 7 days ending that day.",
        ),
        sa.Column(
            "monthly_active_users",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Members with any activity event in the 30 days ending that day.",
        ),
        sa.Column(
            "new_users",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Members who joined that day.",
        ),
        sa.Column(
            "revenue_generated",
            sa.BigInteger(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Paid invoices of the organization that day, in cents (amount_paid_cents).",
        ),
        sa.Column(
            "api_calls",
            sa.BigInteger(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Analytics rows of the organization dated that day (events and page views).",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was computed (UTC).",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_organization_metrics_daily_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organization_metrics_daily")),
        sa.UniqueConstraint(
            "organization_id", "date", name=op.f("uq_organization_metrics_daily_organization_id_date")
        ),
        comment="One row per organization and UTC day: members' activity, growth, revenue, API use.",
    )
    op.create_index(
        "idx_organization_metrics_daily_date", "organization_metrics_daily", ["date"], unique=False
    )
    op.create_table(
        "conversion_funnel_events",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column("funnel_id", sa.UUID(), nullable=False, comment="The funnel."),
        sa.Column(
            "organization_id",
            sa.UUID(),
            nullable=True,
            comment="The funnel's organization (copied for row-level security).",
        ),
        sa.Column("user_id", sa.UUID(), nullable=True, comment="The person, when a known user."),
        sa.Column(
            "distinct_id",
            sa.Text(),
            nullable=False,
            comment="The person: the user's id as text, else the sender's distinct_id.",
        ),
        sa.Column("step_name", sa.Text(), nullable=False, comment="The step's name."),
        sa.Column("step_order", sa.SmallInteger(), nullable=False, comment="1 for the first step."),
        sa.Column("completed", sa.Boolean(), nullable=False, comment="The person reached the step."),
        sa.Column(
            "completed_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the step was reached (UTC).",
        ),
        sa.Column(
            "completion_time_seconds",
            sa.Integer(),
            nullable=True,
            comment="Seconds from the previous step to this one (null for step 1 and when not reached).",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the progress was computed (UTC).",
        ),
        sa.ForeignKeyConstraint(
            ["funnel_id"],
            ["conversion_funnels.id"],
            name=op.f("fk_conversion_funnel_events_funnel_id_conversion_funnels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_conversion_funnel_events_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_conversion_funnel_events_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversion_funnel_events")),
        comment="Each person's progress through a funnel in its last computed range: one row per step reached, and one (completed false) for the step where they stopped.",
    )
    op.create_index(
        "idx_conversion_funnel_events_funnel_id_step_order",
        "conversion_funnel_events",
        ["funnel_id", "step_order"],
        unique=False,
    )
    op.create_index(
        "idx_conversion_funnel_events_user_id", "conversion_funnel_events", ["user_id"], unique=False
    )
    op.create_index(
        "idx_subscriptions_live_ends_at",
        "subscriptions",
        ["ends_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('trialing', 'active', 'past_due')"),
    )
    op.add_column(
        "users",
        sa.Column(
            "subscription_live_until",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="End of the user's own subscription that runs longest among the trialing, active and past_due ones (9999-01-01 when one has no end); null when none. Kept by a trigger on subscriptions, never written by the application.",
        ),
    )
    op.add_column(
        "users",
        sa.Column(
            "has_expired_subscription",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="The user has a subscription of their own with status expired. Kept by a trigger on subscriptions, never written by the application.",
        ),
    )
    op.create_index(
        "idx_users_subscription_live_until",
        "users",
        ["subscription_live_until"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL AND subscription_live_until IS NOT NULL"),
    )
    op.add_column(
        "visitor_sessions",
        sa.Column(
            "organization_id",
            sa.UUID(),
            nullable=True,
            comment="Organization whose site or app was visited, when the visit carried its ingestion key.",
        ),
    )
    op.create_index(
        "idx_visitor_sessions_organization_id_last_seen_at",
        "visitor_sessions",
        ["organization_id", "last_seen_at"],
        unique=False,
    )
    op.create_foreign_key(
        op.f("fk_visitor_sessions_organization_id_organizations"),
        "visitor_sessions",
        "organizations",
        ["organization_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.execute(COUNTER_FUNCTIONS)
    op.execute(TRIGGERS)
    op.execute("SELECT app_rebuild_stats_counters()")
    op.execute(GEOGRAPHIC_STATS)
    op.execute(DIM_DATES)
    for table in SERVICE_ONLY_TABLES:
        _enable_rls(table, "app_is_service()")
    for table in SCOPED_TABLES:
        _enable_rls(table, "app_is_service() OR scope_id = app_organization_id()")
    for table in ORGANIZATION_TABLES:
        _enable_rls(table, "app_is_service() OR organization_id = app_organization_id()")
    _enable_rls("user_engagement_daily", "app_is_service() OR user_id = app_user_id()")
    _enable_rls("visitor_sessions", "app_is_service() OR organization_id = app_organization_id()")


def downgrade() -> None:
    op.execute("DROP POLICY visitor_sessions_access ON visitor_sessions")
    op.execute("ALTER TABLE visitor_sessions DISABLE ROW LEVEL SECURITY")
    for table, trigger in TRIGGER_NAMES:
        op.execute(f"DROP TRIGGER {trigger} ON {table}")
    op.execute("DROP MATERIALIZED VIEW geographic_stats")
    for signature in FUNCTION_SIGNATURES:
        op.execute(f"DROP FUNCTION {signature}")
    op.drop_constraint(
        op.f("fk_visitor_sessions_organization_id_organizations"), "visitor_sessions", type_="foreignkey"
    )
    op.drop_index("idx_visitor_sessions_organization_id_last_seen_at", table_name="visitor_sessions")
    op.drop_column("visitor_sessions", "organization_id")
    op.drop_index(
        "idx_users_subscription_live_until",
        table_name="users",
        postgresql_where=sa.text("deleted_at IS NULL AND subscription_live_until IS NOT NULL"),
    )
    op.drop_column("users", "has_expired_subscription")
    op.drop_column("users", "subscription_live_until")
    op.drop_index(
        "idx_subscriptions_live_ends_at",
        table_name="subscriptions",
        postgresql_where=sa.text("status IN ('trialing', 'active', 'past_due')"),
    )
    op.drop_index("idx_conversion_funnel_events_user_id", table_name="conversion_funnel_events")
    op.drop_index("idx_conversion_funnel_events_funnel_id_step_order", table_name="conversion_funnel_events")
    op.drop_table("conversion_funnel_events")
    op.drop_index("idx_organization_metrics_daily_date", table_name="organization_metrics_daily")
    op.drop_table("organization_metrics_daily")
    op.drop_index("idx_conversion_funnels_organization_id", table_name="conversion_funnels")
    op.drop_table("conversion_funnels")
    op.drop_index("idx_user_engagement_daily_date", table_name="user_engagement_daily")
    op.drop_table("user_engagement_daily")
    op.drop_table("widget_analytics_monthly")
    op.drop_table("system_events_monthly")
    op.drop_table("stats_counters")
    op.drop_table("rollup_watermarks")
    op.drop_table("performance_metrics_monthly")
    op.drop_table("page_views_monthly")
    op.drop_table("events_monthly")
    op.drop_table("dim_dates")
    op.drop_table("daily_metrics")
    op.drop_table("activity_rollups_daily")
    op.drop_table("activity_rollups_15m")
    op.drop_table("activity_events_monthly")


def _enable_rls(table: str, rule: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY {table}_access ON {table} USING ({rule}) WITH CHECK ({rule})")
