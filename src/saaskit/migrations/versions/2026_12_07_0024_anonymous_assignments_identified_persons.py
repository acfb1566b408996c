"""Experiment assignments for anonymous visitors; persons' identified flag (issue 16).

``experiment_assignments.user_id`` becomes nullable and ``distinct_id`` is added: a visitor that a
PostHog SDK asks ``/flags`` about is assigned by its distinct id before anyone knows who they are,
and keeps that variant once identified. ``persons.is_identified`` carries PostHog's guard: a person
that took part in an ``$identify`` / ``$create_alias`` is not merged into another by those events.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 08:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | Sequence[str] | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# flags/sql/person_keys.sql and experiments/sql/revenue.sql as of this revision.
PERSON_KEYS_VIEW = """
CREATE OR REPLACE VIEW person_keys WITH (security_invoker = true) AS
  SELECT d.organization_id, d.distinct_id,
         coalesce((SELECT t.user_id::text FROM person_distinct_ids d2
                   JOIN tracking_identities t
                     ON t.organization_id = d2.organization_id AND t.distinct_id = d2.distinct_id
                   WHERE d2.person_id = d.person_id
                   ORDER BY t.created_at, t.distinct_id LIMIT 1),
                  'person:' || d.person_id::text) AS person
  FROM person_distinct_ids d
  UNION ALL
  SELECT t.organization_id, t.distinct_id, t.user_id::text
  FROM tracking_identities t
  WHERE NOT EXISTS (SELECT 1 FROM person_distinct_ids d
                    WHERE d.organization_id = t.organization_id AND d.distinct_id = t.distinct_id);
COMMENT ON VIEW person_keys IS
  'Each linked distinct id''s person for statistics: the identified user''s id, else person:<uuid>.';
COMMENT ON COLUMN person_keys.organization_id IS 'Organization whose capture linked the id.';
COMMENT ON COLUMN person_keys.distinct_id IS 'A linked distinct id.';
COMMENT ON COLUMN person_keys.person IS 'Its person: the identified user''s id as text, else person:<persons.id>.';
"""
REVENUE_FUNCTION = """
CREATE OR REPLACE FUNCTION app_experiment_revenue(
  p_experiment_id uuid, p_currency text, p_until timestamptz
)
RETURNS TABLE (assignment_id uuid, revenue_cents bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  WITH subject AS (
    SELECT a.id, a.assigned_at, COALESCE(a.user_id, (
             SELECT t.user_id FROM tracking_identities t
             WHERE t.organization_id = a.organization_id
               AND t.distinct_id IN (
                 SELECT a.distinct_id
                 UNION
                 SELECT d2.distinct_id FROM person_distinct_ids d1
                 JOIN person_distinct_ids d2 ON d2.person_id = d1.person_id
                 WHERE d1.organization_id = a.organization_id AND d1.distinct_id = a.distinct_id)
             ORDER BY t.created_at LIMIT 1)) AS user_id
    FROM experiment_assignments a
    JOIN experiments x ON x.id = a.experiment_id
    WHERE a.experiment_id = p_experiment_id
      AND (x.organization_id = app_organization_id() OR (SELECT app_is_service()))
  )
  SELECT s.id, sum(i.amount_paid_cents)::bigint
  FROM subject s
  JOIN invoices i ON i.user_id = s.user_id
  WHERE i.status = 'paid' AND i.currency = p_currency
    AND i.paid_at >= s.assigned_at AND i.paid_at <= p_until
  GROUP BY s.id
$$;
COMMENT ON FUNCTION app_experiment_revenue(uuid, text, timestamptz) IS
  'Paid invoice cents per assignment of an experiment of the current organization (revenue metric).';
"""


def upgrade() -> None:
    op.add_column(
        "experiment_assignments",
        sa.Column(
            "distinct_id",
            sa.Text(),
            nullable=True,
            comment="The PostHog distinct id that asked (/flags); for an anonymous visitor the hash "
            "attribute id. Null when assigned through the saaskit API.",
        ),
    )
    op.alter_column(
        "experiment_assignments",
        "user_id",
        existing_type=sa.UUID(),
        nullable=True,
        comment="The user assigned (GrowthBook's hash attribute id is this uuid as text); null for an "
        "anonymous visitor until they are identified.",
        existing_comment="The user assigned; GrowthBook's hash attribute id is this uuid as text.",
    )
    op.alter_column(
        "experiment_assignments",
        "bucket",
        existing_type=sa.Float(),
        existing_nullable=False,
        comment="GrowthBook hash of the subject (user uuid or distinct id) with the seed, 0-1.",
        existing_comment="GrowthBook hash of the user with the seed, 0-1 (for audits).",
    )
    op.create_unique_constraint(
        op.f("uq_experiment_assignments_experiment_id_distinct_id"),
        "experiment_assignments",
        ["experiment_id", "distinct_id"],
    )
    op.create_check_constraint(
        op.f("ck_experiment_assignments_someone"),
        "experiment_assignments",
        "user_id IS NOT NULL OR distinct_id IS NOT NULL",
    )
    op.add_column(
        "persons",
        sa.Column(
            "is_identified",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="Took part in an $identify / $create_alias / $merge_dangerously: PostHog then refuses "
            "to merge it into another person except by $merge_dangerously.",
        ),
    )
    # Persons that already hold more than one distinct id were linked by one of those events.
    op.execute(
        "UPDATE persons p SET is_identified = true WHERE "
        "(SELECT count(*) FROM person_distinct_ids d WHERE d.person_id = p.id) > 1"
    )
    op.execute(PERSON_KEYS_VIEW)
    op.execute(REVENUE_FUNCTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION app_experiment_revenue(uuid, text, timestamptz)")
    op.execute("DROP VIEW person_keys")
    op.drop_column("persons", "is_identified")
    op.drop_constraint(op.f("ck_experiment_assignments_someone"), "experiment_assignments", type_="check")
    op.drop_constraint(
        op.f("uq_experiment_assignments_experiment_id_distinct_id"), "experiment_assignments", type_="unique"
    )
    # Anonymous assignments have no user: they cannot stay once user_id is required again.
    op.execute("DELETE FROM experiment_assignments WHERE user_id IS NULL")
    op.alter_column(
        "experiment_assignments",
        "bucket",
        existing_type=sa.Float(),
        existing_nullable=False,
        comment="GrowthBook hash of the user with the seed, 0-1 (for audits).",
        existing_comment="GrowthBook hash of the subject (user uuid or distinct id) with the seed, 0-1.",
    )
    op.alter_column(
        "experiment_assignments",
        "user_id",
        existing_type=sa.UUID(),
        nullable=False,
        comment="The user assigned; GrowthBook's hash attribute id is this uuid as text.",
        existing_comment="The user assigned (GrowthBook's hash attribute id is this uuid as text); null "
        "for an anonymous visitor until they are identified.",
    )
    op.drop_column("experiment_assignments", "distinct_id")
