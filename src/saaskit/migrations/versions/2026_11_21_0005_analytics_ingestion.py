"""Analytics ingestion: events, page views, activity, widget analytics, system events, error
logs and performance metrics, range-partitioned by time; ingestion keys; distinct_id links.

The application role cannot run DDL on tables it does not own, so partitions are made through
``app_ensure_partition`` / ``app_drop_partition`` (SECURITY DEFINER, limited to these tables and
to partition names of the form ``<table>_yYYYYmMM[dDD]``). Each table has a DEFAULT partition so
an insert outside the prepared ranges still succeeds; creating a partition later moves the rows
of its range out of the DEFAULT partition first.

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-21 21:21:02.756297
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> (partition key column, period)
PARTITIONED = {
    "events": ("timestamp", "month"),
    "page_views": ("viewed_at", "month"),
    "activity_events": ("created_at", "month"),
    "widget_analytics": ("timestamp", "day"),
    "system_events": ("created_at", "month"),
    "error_logs": ("created_at", "month"),
    "performance_metrics": ("timestamp", "month"),
}


def _period_start(period: str, at: datetime) -> datetime:
    if period == "month":
        return datetime(at.year, at.month, 1, tzinfo=UTC)
    return datetime(at.year, at.month, at.day, tzinfo=UTC)


def _next_start(period: str, start: datetime) -> datetime:
    if period == "day":
        return start + timedelta(days=1)
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)


FUNCTIONS = """
CREATE FUNCTION app_ensure_partition(p_parent text, p_name text, p_from timestamptz, p_to timestamptz)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_column text;
BEGIN
  IF p_parent NOT IN ('events', 'page_views', 'activity_events', 'widget_analytics', 'system_events',
                      'error_logs', 'performance_metrics') THEN
    RAISE EXCEPTION 'not a partitioned analytics table: %', p_parent;
  END IF;
  IF p_name !~ ('^' || p_parent || '_y[0-9]{4}m[0-9]{2}(d[0-9]{2})?$') OR p_from >= p_to THEN
    RAISE EXCEPTION 'bad partition % [%, %)', p_name, p_from, p_to;
  END IF;
  IF to_regclass('public.' || quote_ident(p_name)) IS NOT NULL THEN
    RETURN false;
  END IF;
  SELECT a.attname INTO v_column FROM pg_partitioned_table pt
    JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
    WHERE pt.partrelid = ('public.' || quote_ident(p_parent))::regclass;
  -- A standalone table first: rows of the range waiting in the DEFAULT partition move into it,
  -- then it is attached (attaching would fail while DEFAULT still held them).
  EXECUTE format('CREATE TABLE public.%I (LIKE public.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                 p_name, p_parent);
  IF to_regclass('public.' || quote_ident(p_parent || '_default')) IS NOT NULL THEN
    EXECUTE format('WITH moved AS (DELETE FROM public.%I WHERE %I >= $1 AND %I < $2 RETURNING *) '
                   'INSERT INTO public.%I SELECT * FROM moved', p_parent || '_default', v_column, v_column, p_name)
      USING p_from, p_to;
  END IF;
  EXECUTE format('ALTER TABLE public.%I ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)',
                 p_parent, p_name, p_from, p_to);
  EXECUTE format('COMMENT ON TABLE public.%I IS %L', p_name,
                 format('Rows of %s from %s to %s (UTC).', p_parent, p_from AT TIME ZONE 'UTC', p_to AT TIME ZONE 'UTC'));
  RETURN true;
END $$;
COMMENT ON FUNCTION app_ensure_partition(text, text, timestamptz, timestamptz) IS
  'Create one time partition of an analytics table (idempotent); used by the partition job.';

CREATE FUNCTION app_drop_partition(p_parent text, p_name text)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF p_name !~ ('^' || p_parent || '_y[0-9]{4}m[0-9]{2}(d[0-9]{2})?$') OR NOT EXISTS (
      SELECT 1 FROM pg_inherits i
      WHERE i.inhrelid = to_regclass('public.' || quote_ident(p_name))
        AND i.inhparent = to_regclass('public.' || quote_ident(p_parent))) THEN
    RETURN false;
  END IF;
  EXECUTE format('DROP TABLE public.%I', p_name);
  RETURN true;
END $$;
COMMENT ON FUNCTION app_drop_partition(text, text) IS
  'Drop one time partition of an analytics table (retention); used by the partition job.';

-- Capture keys are public but stored hashed; the capturing client is no member of anything.
CREATE FUNCTION app_ingestion_key_organization(p_key_hash text)
RETURNS uuid LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  WITH found AS (
    SELECT k.id, k.organization_id, k.last_used_at FROM ingestion_keys k
    JOIN organizations o ON o.id = k.organization_id AND o.deleted_at IS NULL
    WHERE k.key_hash = p_key_hash AND k.revoked_at IS NULL
  ), touched AS (
    UPDATE ingestion_keys k SET last_used_at = now() FROM found f
    WHERE k.id = f.id AND (f.last_used_at IS NULL OR f.last_used_at < now() - interval '1 minute')
  )
  SELECT organization_id FROM found
$$;
COMMENT ON FUNCTION app_ingestion_key_organization(text) IS
  'The organization of a live ingestion key (by its SHA-256), or NULL.';
"""

OWN = "app_is_service() OR user_id = app_user_id() OR organization_id = app_organization_id()"
TENANT = "app_is_service() OR organization_id = app_organization_id()"
USER = "app_is_service() OR user_id = app_user_id()"
POLICIES = {
    "events": OWN,
    "page_views": OWN,
    "activity_events": OWN,
    "system_events": OWN,
    "error_logs": OWN,
    "performance_metrics": OWN,
    "widget_analytics": USER,
    "ingestion_keys": TENANT,
    "tracking_identities": TENANT,
}
RLS = [
    statement
    for table, rule in POLICIES.items()
    for statement in (
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"CREATE POLICY {table}_owner ON {table} USING ({rule}) WITH CHECK ({rule})",
    )
]


def upgrade() -> None:
    op.create_table(
        "activity_events",
        sa.Column(
            "id",
            sa.BigInteger(),
            sa.Identity(always=False),
            nullable=False,
            comment="Sequential event number.",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When it happened (UTC).",
        ),
        sa.Column("user_id", sa.UUID(), nullable=True, comment="Who; null for anonymous activity."),
        sa.Column(
            "organization_id",
            sa.UUID(),
            nullable=True,
            comment="Organization the activity happened in, if any.",
        ),
        sa.Column("event_type", sa.Text(), nullable=False, comment="login, signup, app_open or action."),
        sa.Column(
            "action_name", sa.Text(), nullable=True, comment="For actions: what, at most 128 characters."
        ),
        sa.CheckConstraint(
            "event_type IN ('login', 'signup', 'app_open', 'action')",
            name=op.f("ck_activity_events_event_type_known"),
        ),
        sa.CheckConstraint(
            "char_length(action_name) <= 128", name=op.f("ck_activity_events_action_name_length")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_activity_events_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", "created_at", name=op.f("pk_activity_events")),
        comment="Account activity for the admin statistics (seed 002): login, signup, app_open, action. Partitioned by month.",
        postgresql_partition_by="RANGE (created_at)",
    )
    op.create_index("idx_activity_events_created_at", "activity_events", ["created_at"], unique=False)
    op.create_index(
        "idx_activity_events_event_type_created_at",
        "activity_events",
        ["event_type", "created_at"],
        unique=False,
    )
    op.create_index("idx_activity_events_user_id", "activity_events", ["user_id"], unique=False)
    op.create_table(
        "error_logs",
        sa.Column(
            "id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False, comment="Error id."
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the error happened (UTC).",
        ),
        sa.Column("user_id", sa.UUID(), nullable=True, comment="User who met the error, if any."),
        sa.Column(
            "organization_id",
            sa.UUID(),
            nullable=True,
            comment="Organization the row is attributed to (tenant), if any.",
        ),
        sa.Column(
            "error_type", sa.Text(), nullable=False, comment="user_error, system_error or model_error."
        ),
        sa.Column(
            "error_code", sa.Text(), nullable=True, comment="Standardised code that maps to a message."
        ),
        sa.Column("error_message", sa.Text(), nullable=False, comment="Raw text, for debugging."),
        sa.Column("error_stack", sa.Text(), nullable=True, comment="Stack trace, if any."),
        sa.Column("app_version", sa.Text(), nullable=True, comment="App version that reported it."),
        sa.Column(
            "context",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=True,
            comment="Where it happened: route, widget ...",
        ),
        sa.Column(
            "resolved",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="Someone marked it resolved.",
        ),
        sa.Column("resolved_by", sa.UUID(), nullable=True, comment="Admin who resolved it."),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True, comment="When resolved (UTC)."),
        sa.CheckConstraint(
            "error_type IN ('user_error', 'system_error', 'model_error')",
            name=op.f("ck_error_logs_error_type_known"),
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by"], ["users.id"], name=op.f("fk_error_logs_resolved_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_error_logs_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", "created_at", name=op.f("pk_error_logs")),
        comment="Application errors with codes and resolution (seed 004 + seed 003's error pattern). Partitioned by month.",
        postgresql_partition_by="RANGE (created_at)",
    )
    op.create_index("idx_error_logs_created_at", "error_logs", ["created_at"], unique=False)
    op.create_index("idx_error_logs_error_code", "error_logs", ["error_code"], unique=False)
    op.create_index(
        "idx_error_logs_error_type_created_at", "error_logs", ["error_type", "created_at"], unique=False
    )
    op.create_index(
        "idx_error_logs_unresolved",
        "error_logs",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("NOT resolved"),
    )
    op.create_table(
        "events",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Event id: the client's uuid when it sent one (deduplicates retries).",
        ),
        sa.Column(
            "timestamp",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the event happened (UTC); client clock, corrected for skew.",
        ),
        sa.Column(
            "organization_id",
            sa.UUID(),
            nullable=True,
            comment="Organization the row is attributed to (tenant), if any.",
        ),
        sa.Column(
            "user_id",
            sa.UUID(),
            nullable=True,
            comment="User the event is attributed to (signed in or identified).",
        ),
        sa.Column(
            "distinct_id", sa.Text(), nullable=True, comment="The sender's id for the person (PostHog)."
        ),
        sa.Column("session_id", sa.Text(), nullable=True, comment="The client's session id, if sent."),
        sa.Column("event_name", sa.Text(), nullable=False, comment="What happened, e.g. $pageview, signup."),
        sa.Column("event_category", sa.Text(), nullable=True, comment="Grouping of events, e.g. billing."),
        sa.Column(
            "event_action", sa.Text(), nullable=True, comment="The action within the category, e.g. upgrade."
        ),
        sa.Column(
            "properties",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment="Event properties after the privacy filter of the user's tracking level.",
        ),
        sa.Column(
            "utm_source",
            sa.Text(),
            nullable=True,
            comment="Campaign attribution from the page URL (utm_source parameter).",
        ),
        sa.Column(
            "utm_medium",
            sa.Text(),
            nullable=True,
            comment="Campaign attribution from the page URL (utm_medium parameter).",
        ),
        sa.Column(
            "utm_campaign",
            sa.Text(),
            nullable=True,
            comment="Campaign attribution from the page URL (utm_campaign parameter).",
        ),
        sa.Column(
            "utm_term",
            sa.Text(),
            nullable=True,
            comment="Campaign attribution from the page URL (utm_term parameter).",
        ),
        sa.Column(
            "utm_content",
            sa.Text(),
            nullable=True,
            comment="Campaign attribution from the page URL (utm_content parameter).",
        ),
        sa.Column(
            "country_code", sa.Text(), nullable=True, comment="Sender's country from a trusted proxy header."
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When saaskit received and stored the event (UTC).",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_events_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", "timestamp", name=op.f("pk_events")),
        comment="Product analytics events (seed 004; PostHog capture). Partitioned by month.",
        postgresql_partition_by="RANGE (timestamp)",
    )
    op.create_index("idx_events_event_name_timestamp", "events", ["event_name", "timestamp"], unique=False)
    op.create_index(
        "idx_events_organization_id_timestamp", "events", ["organization_id", "timestamp"], unique=False
    )
    op.create_index("idx_events_timestamp", "events", ["timestamp"], unique=False, postgresql_using="brin")
    op.create_index("idx_events_user_id_timestamp", "events", ["user_id", "timestamp"], unique=False)
    op.create_table(
        "page_views",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Page view id (the $pageview event's id when it came through capture).",
        ),
        sa.Column(
            "viewed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the page was viewed (UTC).",
        ),
        sa.Column(
            "organization_id",
            sa.UUID(),
            nullable=True,
            comment="Organization the row is attributed to (tenant), if any.",
        ),
        sa.Column("user_id", sa.UUID(), nullable=True, comment="Viewer, when known."),
        sa.Column("distinct_id", sa.Text(), nullable=True, comment="The sender's id for the person."),
        sa.Column("session_id", sa.Text(), nullable=True, comment="The client's session id."),
        sa.Column(
            "page_url", sa.Text(), nullable=False, comment="URL (query string dropped below full tracking)."
        ),
        sa.Column(
            "page_title", sa.Text(), nullable=True, comment="Title (kept only at the full tracking level)."
        ),
        sa.Column("referrer", sa.Text(), nullable=True, comment="Referring URL."),
        sa.Column("load_time_ms", sa.Integer(), nullable=True, comment="Page load time in milliseconds."),
        sa.Column("time_on_page_seconds", sa.Integer(), nullable=True, comment="Seconds spent on the page."),
        sa.Column("bounce", sa.Boolean(), nullable=True, comment="The visit ended on this page."),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When saaskit stored the row (UTC).",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_page_views_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", "viewed_at", name=op.f("pk_page_views")),
        comment="Page views (seed 004), from the API or PostHog $pageview. Partitioned by month.",
        postgresql_partition_by="RANGE (viewed_at)",
    )
    op.create_index(
        "idx_page_views_organization_id_viewed_at",
        "page_views",
        ["organization_id", "viewed_at"],
        unique=False,
    )
    op.create_index("idx_page_views_session_id", "page_views", ["session_id"], unique=False)
    op.create_index("idx_page_views_user_id_viewed_at", "page_views", ["user_id", "viewed_at"], unique=False)
    op.create_index(
        "idx_page_views_viewed_at", "page_views", ["viewed_at"], unique=False, postgresql_using="brin"
    )
    op.create_table(
        "performance_metrics",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Measurement id.",
        ),
        sa.Column(
            "timestamp",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When it was measured, or the start of its minute (UTC).",
        ),
        sa.Column(
            "metric_name",
            sa.Text(),
            nullable=False,
            comment="What is measured, e.g. http_request_duration_ms.",
        ),
        sa.Column(
            "metric_type", sa.Text(), nullable=False, comment="counter, gauge, histogram, summary or timer."
        ),
        sa.Column("value", sa.Double(), nullable=False, comment="The value, in `unit`."),
        sa.Column("unit", sa.Text(), nullable=True, comment="Unit of value: ms, bytes, count ..."),
        sa.Column(
            "tags",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment="Dimensions and extra figures, e.g. route, p99, count.",
        ),
        sa.Column(
            "organization_id",
            sa.UUID(),
            nullable=True,
            comment="Organization that sent it; null for saaskit's own.",
        ),
        sa.Column("user_id", sa.UUID(), nullable=True, comment="User that sent it, if any."),
        sa.CheckConstraint(
            "metric_type IN ('counter', 'gauge', 'histogram', 'summary', 'timer')",
            name=op.f("ck_performance_metrics_metric_type_known"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_performance_metrics_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", "timestamp", name=op.f("pk_performance_metrics")),
        comment="Measurements (seed 004): saaskit's own request latency per route and minute, and metrics clients send. Partitioned by month.",
        postgresql_partition_by="RANGE (timestamp)",
    )
    op.create_index(
        "idx_performance_metrics_metric_name_timestamp",
        "performance_metrics",
        ["metric_name", "timestamp"],
        unique=False,
    )
    op.create_table(
        "system_events",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="System event id.",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the event was logged (UTC).",
        ),
        sa.Column("user_id", sa.UUID(), nullable=True, comment="User affected, if any."),
        sa.Column(
            "organization_id",
            sa.UUID(),
            nullable=True,
            comment="Organization the row is attributed to (tenant), if any.",
        ),
        sa.Column("dashboard_id", sa.UUID(), nullable=True, comment="Device it happened on."),
        sa.Column("event_type", sa.Text(), nullable=False, comment="Category, e.g. crash, api_error."),
        sa.Column("severity", sa.Text(), nullable=False, comment="info, warning, error or critical."),
        sa.Column("message", sa.Text(), nullable=False, comment="Readable description."),
        sa.Column(
            "error_details",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=True,
            comment="Technical details (stack, codes).",
        ),
        sa.Column("user_agent", sa.Text(), nullable=True, comment="Client's User-Agent."),
        sa.Column("app_version", sa.Text(), nullable=True, comment="App version that reported it."),
        sa.Column(
            "resolved_at", sa.DateTime(timezone=True), nullable=True, comment="When marked resolved (UTC)."
        ),
        sa.Column("resolved_by", sa.UUID(), nullable=True, comment="Admin who marked it resolved."),
        sa.CheckConstraint(
            "severity IN ('info', 'warning', 'error', 'critical')",
            name=op.f("ck_system_events_severity_known"),
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by"],
            ["users.id"],
            name=op.f("fk_system_events_resolved_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_system_events_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", "created_at", name=op.f("pk_system_events")),
        comment="Errors, crashes and health events of clients and saaskit (seeds 000/001). Partitioned by month, kept 90 days.",
        postgresql_partition_by="RANGE (created_at)",
    )
    op.create_index("idx_system_events_app_version", "system_events", ["app_version"], unique=False)
    op.create_index("idx_system_events_created_at", "system_events", ["created_at"], unique=False)
    op.create_index("idx_system_events_event_type", "system_events", ["event_type"], unique=False)
    op.create_index("idx_system_events_severity", "system_events", ["severity"], unique=False)
    op.create_table(
        "ingestion_keys",
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
            nullable=False,
            comment="Organization whose events the key attributes.",
        ),
        sa.Column("key_hash", sa.Text(), nullable=False, comment="SHA-256 of the key."),
        sa.Column("key_prefix", sa.Text(), nullable=False, comment="First characters, to recognise the key."),
        sa.Column("created_by", sa.UUID(), nullable=True, comment="Who created it."),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True, comment="Rotated away at (UTC)."),
        sa.Column(
            "last_used_at", sa.DateTime(timezone=True), nullable=True, comment="Last capture, to the minute."
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was created (UTC).",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_ingestion_keys_created_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_ingestion_keys_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingestion_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_ingestion_keys_key_hash")),
        comment="Public client-side capture keys (phc_...) of organizations; stored as SHA-256.",
    )
    op.create_index("idx_ingestion_keys_organization_id", "ingestion_keys", ["organization_id"], unique=False)
    op.create_table(
        "tracking_identities",
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
            nullable=False,
            comment="Organization whose capture sent the distinct_id.",
        ),
        sa.Column("distinct_id", sa.Text(), nullable=False, comment="The sender's id for the person."),
        sa.Column(
            "user_id",
            sa.UUID(),
            nullable=False,
            comment="The user (a member of the organization) it belongs to.",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the link was first made (UTC).",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_tracking_identities_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_tracking_identities_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_identities")),
        sa.UniqueConstraint(
            "organization_id", "distinct_id", name=op.f("uq_tracking_identities_organization_id_distinct_id")
        ),
        comment="Which user a sender's distinct_id belongs to, per organization (from $identify).",
    )
    op.create_index("idx_tracking_identities_user_id", "tracking_identities", ["user_id"], unique=False)
    op.create_table(
        "widget_analytics",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Widget event id.",
        ),
        sa.Column(
            "timestamp",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the interaction happened (UTC).",
        ),
        sa.Column("user_id", sa.UUID(), nullable=False, comment="Who interacted."),
        sa.Column("dashboard_id", sa.UUID(), nullable=True, comment="Dashboard (device) it happened on."),
        sa.Column(
            "session_id", sa.UUID(), nullable=True, comment="Usage session (user_sessions) it happened in."
        ),
        sa.Column("widget_type", sa.Text(), nullable=False, comment="Which widget, e.g. calendar, weather."),
        sa.Column(
            "event_type", sa.Text(), nullable=False, comment="view, click, configure, focus or active."
        ),
        sa.Column(
            "event_data",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=True,
            comment="Details (dropped below full tracking).",
        ),
        sa.Column("duration_seconds", sa.Integer(), nullable=True, comment="Seconds spent on the widget."),
        sa.CheckConstraint(
            "event_type IN ('view', 'click', 'configure', 'focus', 'active')",
            name=op.f("ck_widget_analytics_event_type_known"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["user_sessions.id"],
            name=op.f("fk_widget_analytics_session_id_user_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_widget_analytics_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", "timestamp", name=op.f("pk_widget_analytics")),
        comment="Widget interactions on dashboards (seeds 000/001). Partitioned by day, kept 30 days.",
        postgresql_partition_by="RANGE (timestamp)",
    )
    op.create_index(
        "idx_widget_analytics_timestamp",
        "widget_analytics",
        ["timestamp"],
        unique=False,
        postgresql_using="brin",
    )
    op.create_index("idx_widget_analytics_user_id", "widget_analytics", ["user_id"], unique=False)
    op.create_index("idx_widget_analytics_widget_type", "widget_analytics", ["widget_type"], unique=False)
    op.create_table(
        "event_receipts",
        sa.Column("id", sa.UUID(), nullable=False, comment="The client's event uuid."),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="First receipt (UTC).",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_receipts")),
        comment="Client event uuids received in the last 48 hours: makes retried deliveries idempotent (a "
        "retry's skew-corrected timestamp differs, so the events key alone cannot).",
    )
    op.create_index(
        "idx_event_receipts_received_at",
        "event_receipts",
        ["received_at"],
        unique=False,
        postgresql_using="brin",
    )
    op.execute(FUNCTIONS)
    for table, (_column, period) in PARTITIONED.items():
        op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
        op.execute(
            f"COMMENT ON TABLE {table}_default IS 'Rows outside the prepared time partitions of {table}.'"
        )
        start = _period_start(period, datetime.now(UTC))
        for _ in range(3 if period == "month" else 4):
            end = _next_start(period, start)
            name = f"{table}_y{start.year:04d}m{start.month:02d}" + (
                f"d{start.day:02d}" if period == "day" else ""
            )
            op.execute(
                sa.text("SELECT app_ensure_partition(:t, :n, :s, :e)").bindparams(
                    t=table, n=name, s=start, e=end
                )
            )
            start = end
    for statement in RLS:
        op.execute(statement)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION app_ingestion_key_organization(text); DROP FUNCTION app_drop_partition(text, text); "
        "DROP FUNCTION app_ensure_partition(text, text, timestamptz, timestamptz)"
    )
    op.drop_index("idx_widget_analytics_widget_type", table_name="widget_analytics")
    op.drop_index("idx_widget_analytics_user_id", table_name="widget_analytics")
    op.drop_index("idx_widget_analytics_timestamp", table_name="widget_analytics", postgresql_using="brin")
    op.drop_table("event_receipts")
    op.drop_table("widget_analytics")
    op.drop_index("idx_tracking_identities_user_id", table_name="tracking_identities")
    op.drop_table("tracking_identities")
    op.drop_index("idx_ingestion_keys_organization_id", table_name="ingestion_keys")
    op.drop_table("ingestion_keys")
    op.drop_index("idx_system_events_severity", table_name="system_events")
    op.drop_index("idx_system_events_event_type", table_name="system_events")
    op.drop_index("idx_system_events_created_at", table_name="system_events")
    op.drop_index("idx_system_events_app_version", table_name="system_events")
    op.drop_table("system_events")
    op.drop_index("idx_performance_metrics_metric_name_timestamp", table_name="performance_metrics")
    op.drop_table("performance_metrics")
    op.drop_index("idx_page_views_viewed_at", table_name="page_views", postgresql_using="brin")
    op.drop_index("idx_page_views_user_id_viewed_at", table_name="page_views")
    op.drop_index("idx_page_views_session_id", table_name="page_views")
    op.drop_index("idx_page_views_organization_id_viewed_at", table_name="page_views")
    op.drop_table("page_views")
    op.drop_index("idx_events_user_id_timestamp", table_name="events")
    op.drop_index("idx_events_timestamp", table_name="events", postgresql_using="brin")
    op.drop_index("idx_events_organization_id_timestamp", table_name="events")
    op.drop_index("idx_events_event_name_timestamp", table_name="events")
    op.drop_table("events")
    op.drop_index(
        "idx_error_logs_unresolved", table_name="error_logs", postgresql_where=sa.text("NOT resolved")
    )
    op.drop_index("idx_error_logs_error_type_created_at", table_name="error_logs")
    op.drop_index("idx_error_logs_error_code", table_name="error_logs")
    op.drop_index("idx_error_logs_created_at", table_name="error_logs")
    op.drop_table("error_logs")
    op.drop_index("idx_activity_events_user_id", table_name="activity_events")
    op.drop_index("idx_activity_events_event_type_created_at", table_name="activity_events")
    op.drop_index("idx_activity_events_created_at", table_name="activity_events")
    op.drop_table("activity_events")
