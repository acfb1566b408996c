"""The audit log (activities) partitioned by month: seed 004's rotation (issue 17).

The table is set aside, created again as ``PARTITION BY RANGE (created_at)`` with the same
columns, comments, indexes, foreign keys and policies (read from the catalog, so whatever the
policies say now is kept), its rows copied back, and monthly partitions made from its oldest
month to two months ahead (``app_ensure_partition`` now accepts it) plus a DEFAULT. The primary
key becomes ``(id, created_at)``: a partitioned table's keys include the partition key. Months
past ``SAASKIT_PRIVACY_ACTIVITIES_YEARS`` are then dropped by the partition job.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07 08:43:47.067676
"""

import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0031"
down_revision: str | Sequence[str] | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    "id, organization_id, actor_id, action, entity_type, entity_id, entity_name, description, "
    "metadata, ip_address_hash, created_at"
)
INDEXES = {
    "idx_activities_action": ["action"],
    "idx_activities_actor_id": ["actor_id"],
    "idx_activities_created_at": ["created_at"],
    "idx_activities_entity_type_entity_id": ["entity_type", "entity_id"],
    "idx_activities_organization_id_created_at": ["organization_id", "created_at"],
}
FOREIGN_KEYS = ("fk_activities_actor_id_users", "fk_activities_organization_id_organizations")
COMMENT_BEFORE = "Audit trail: who changed what, when; one row per state change, never updated."
COMMENT_AFTER = (
    "Audit trail: who changed what, when; one row per state change, never updated. "
    "Partitioned by month (seed 004's rotation: months past retention are dropped)."
)


def _policies() -> list[tuple[str, str, str | None, str | None]]:
    rows = op.get_bind().execute(
        sa.text(
            "SELECT policyname, cmd, qual, with_check FROM pg_policies "
            "WHERE schemaname = 'public' AND tablename = 'activities' ORDER BY policyname"
        )
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def _restore_policies(policies: list[tuple[str, str, str | None, str | None]]) -> None:
    op.execute("ALTER TABLE activities ENABLE ROW LEVEL SECURITY")
    for name, command, using, check in policies:
        statement = f"CREATE POLICY {name} ON activities"
        if command != "ALL":
            statement += f" FOR {command}"
        if using:
            statement += f" USING ({using})"
        if check:
            statement += f" WITH CHECK ({check})"
        op.execute(statement)


def _set_aside() -> None:
    op.execute("ALTER TABLE activities RENAME TO activities_before")
    for index in INDEXES:
        op.execute(f"ALTER INDEX {index} RENAME TO {index}_before")
    op.execute("ALTER TABLE activities_before RENAME CONSTRAINT pk_activities TO pk_activities_before")
    for key in FOREIGN_KEYS:
        op.execute(f"ALTER TABLE activities_before DROP CONSTRAINT {key}")


def _create(primary_key: tuple[str, ...], comment: str, **options: Any) -> None:
    op.create_table(
        "activities",
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
            comment="Organization the change happened in; null for platform-level changes.",
        ),
        sa.Column(
            "actor_id", sa.UUID(), nullable=True, comment="User who made the change; null for the system."
        ),
        sa.Column(
            "action",
            sa.Text(),
            nullable=False,
            comment="What happened, as entity.verb, e.g. member.role_changed.",
        ),
        sa.Column("entity_type", sa.Text(), nullable=False, comment="Kind of thing changed, e.g. team."),
        sa.Column("entity_id", sa.UUID(), nullable=True, comment="Id of the thing changed."),
        sa.Column(
            "entity_name",
            sa.Text(),
            nullable=True,
            comment="Readable name of the thing at the time (kept even if it is renamed or deleted).",
        ),
        sa.Column("description", sa.Text(), nullable=True, comment="One readable sentence about the change."),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment="Details: before/after values, whether a platform admin acted, the request path.",
        ),
        sa.Column(
            "ip_address_hash", sa.Text(), nullable=True, comment="Salted HMAC-SHA-256 of the actor's IP."
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
            comment="When the change happened (UTC).",
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name="fk_activities_actor_id_users", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_activities_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(*primary_key, name="pk_activities"),
        comment=comment,
        **options,
    )
    for index, columns in INDEXES.items():
        op.create_index(index, "activities", columns, unique=False)


def _month(at: datetime) -> datetime:
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def _next(month: datetime) -> datetime:
    return datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)


def upgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    # changed: function app_ensure_partition
    op.execute(
        textwrap.dedent(r"""
    -- tracking/sql/partitions_and_keys.sql
    -- Time partitions of the analytics tables (tracking/partitions.py) are created and dropped by the
    -- partition job through these owner-run functions: the application role owns no table.

    CREATE OR REPLACE FUNCTION app_ensure_partition(p_parent text, p_name text, p_from timestamptz, p_to timestamptz)
    RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    DECLARE
      v_column text;
    BEGIN
      IF p_parent NOT IN ('events', 'page_views', 'activity_events', 'widget_analytics', 'system_events',
                          'error_logs', 'performance_metrics', 'activities') THEN
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
      'Create one time partition of an analytics table or of the audit log (idempotent); used by the partition job.';

    CREATE OR REPLACE FUNCTION app_drop_partition(p_parent text, p_name text)
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
    CREATE OR REPLACE FUNCTION app_ingestion_key_organization(p_key_hash text)
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
    """)
    )
    # ### end Alembic commands ###
    policies = _policies()
    _set_aside()
    _create(("id", "created_at"), COMMENT_AFTER, postgresql_partition_by="RANGE (created_at)")
    op.execute("CREATE TABLE activities_default PARTITION OF activities DEFAULT")
    op.execute(
        "COMMENT ON TABLE activities_default IS 'Rows outside the prepared time partitions of activities.'"
    )
    op.execute(f"INSERT INTO activities ({COLUMNS}) SELECT {COLUMNS} FROM activities_before")
    op.execute("DROP TABLE activities_before")
    oldest = op.get_bind().execute(sa.text("SELECT min(created_at) FROM activities")).scalar()
    now = datetime.now(UTC)
    month, last = _month(min(oldest or now, now)), _next(_next(_month(now)))
    while month <= last:
        name = f"activities_y{month.year:04d}m{month.month:02d}"
        op.execute(
            sa.text("SELECT app_ensure_partition('activities', :n, :s, :e)").bindparams(
                n=name, s=month, e=_next(month)
            )
        )
        month = _next(month)
    _restore_policies(policies)


def downgrade() -> None:
    policies = _policies()
    op.execute("ALTER TABLE activities RENAME TO activities_before")
    for index in INDEXES:
        op.execute(f"ALTER INDEX {index} RENAME TO {index}_before")
    op.execute("ALTER TABLE activities_before RENAME CONSTRAINT pk_activities TO pk_activities_before")
    for key in FOREIGN_KEYS:
        op.execute(f"ALTER TABLE activities_before DROP CONSTRAINT {key}")
    _create(("id",), COMMENT_BEFORE)
    op.execute(f"INSERT INTO activities ({COLUMNS}) SELECT {COLUMNS} FROM activities_before")
    op.execute("DROP TABLE activities_before")  # its partitions go with it
    _restore_policies(policies)
    # ### commands auto generated by Alembic - please adjust! ###
    # changed: function app_ensure_partition
    op.execute(
        textwrap.dedent(r"""
    CREATE OR REPLACE FUNCTION public.app_ensure_partition(p_parent text, p_name text, p_from timestamp with time zone, p_to timestamp with time zone)
     RETURNS boolean
     LANGUAGE plpgsql
     SECURITY DEFINER
     SET search_path TO 'pg_catalog', 'public'
    AS $function$
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
    END $function$;
    COMMENT ON FUNCTION app_ensure_partition(text,text,timestamp with time zone,timestamp with time zone) IS 'Create one time partition of an analytics table (idempotent); used by the partition job.';
    """)
    )
    # ### end Alembic commands ###
