"""Billing, finished (issue 20, part B): usage records' state with Stripe (``usage_records.stripe_*``,
sent as meter events by billing/meters.py) and ``organization_quota_usage`` (an organization's
counted plan quotas per billing period). RLS on the new table: the organization's own rows, and
the service context.

Records kept before this revision are ``skipped`` (they were never meant for Stripe).

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-07 11:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0037"
down_revision: str | Sequence[str] | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT = "(SELECT app_is_service()) OR organization_id = app_organization_id()"
RLS_UP = [
    "ALTER TABLE organization_quota_usage ENABLE ROW LEVEL SECURITY",
    "CREATE POLICY organization_quota_usage_tenant ON organization_quota_usage "
    f"USING ({TENANT}) WITH CHECK ({TENANT})",
]
STATUSES = "('pending', 'sent', 'refused', 'failed', 'skipped')"


def upgrade() -> None:
    op.create_table(
        "organization_quota_usage",
        sa.Column(
            "organization_id",
            sa.UUID(),
            nullable=False,
            comment="The organization using its plan.",
        ),
        sa.Column(
            "quota_name",
            sa.Text(),
            nullable=False,
            comment="The limit counted, e.g. api_calls or events (a plan quota's name).",
        ),
        sa.Column(
            "period_start",
            postgresql.TIMESTAMP(timezone=True),
            nullable=False,
            comment="Start of the billing period (UTC).",
        ),
        sa.Column(
            "period_end",
            postgresql.TIMESTAMP(timezone=True),
            nullable=False,
            comment="End of the billing period: the reset (UTC).",
        ),
        sa.Column(
            "used",
            sa.BigInteger(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Units used in the period.",
        ),
        sa.Column(
            "updated_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was last changed (UTC).",
        ),
        sa.CheckConstraint("used >= 0", name=op.f("ck_organization_quota_usage_used_not_negative")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_organization_quota_usage_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "organization_id", "quota_name", "period_start", name=op.f("pk_organization_quota_usage")
        ),
        comment="How much of each counted plan quota an organization used in one billing period "
        "(billing/quotas.py): raised by one conditional upsert that cannot pass the limit; a new "
        "period is a new row, so counters reset with the period.",
    )
    op.add_column(
        "usage_records",
        sa.Column(
            "stripe_status",
            sa.Text(),
            server_default="pending",
            nullable=False,
            comment="Where the record stands with Stripe: pending, sent (acknowledged), refused (Stripe's "
            "4xx, see stripe_error), failed (retries exhausted) or skipped (nothing to bill it to).",
        ),
    )
    op.add_column(
        "usage_records",
        sa.Column(
            "stripe_identifier",
            sa.Text(),
            nullable=True,
            comment="Identifier sent with the meter event (saaskit-usage-<id>): Stripe counts an "
            "identifier once, so a retried send cannot bill twice.",
        ),
    )
    op.add_column(
        "usage_records",
        sa.Column(
            "stripe_attempts",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Sends tried so far.",
        ),
    )
    op.add_column(
        "usage_records",
        sa.Column(
            "stripe_next_attempt_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="A pending record is sent from this time on (UTC): backoff after a failure, and "
            "the lease of the job sending it.",
        ),
    )
    op.add_column(
        "usage_records",
        sa.Column(
            "stripe_reported_at",
            postgresql.TIMESTAMP(timezone=True),
            nullable=True,
            comment="When Stripe acknowledged it (UTC).",
        ),
    )
    op.add_column(
        "usage_records",
        sa.Column(
            "stripe_error",
            sa.Text(),
            nullable=True,
            comment="Stripe's refusal or the last failure (code: message), or why it was skipped.",
        ),
    )
    # manual: what was recorded before metering existed is not sent to Stripe now.
    op.execute(
        "UPDATE usage_records SET stripe_status = 'skipped', stripe_error = 'recorded before metering'"
    )
    op.create_check_constraint(
        op.f("ck_usage_records_stripe_status_known"), "usage_records", f"stripe_status IN {STATUSES}"
    )
    op.create_check_constraint(
        op.f("ck_usage_records_stripe_attempts_not_negative"), "usage_records", "stripe_attempts >= 0"
    )
    op.create_index(
        "idx_usage_records_stripe_pending",
        "usage_records",
        ["stripe_next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("stripe_status = 'pending'"),
    )
    op.create_index(
        "idx_usage_records_stripe_problems",
        "usage_records",
        ["recorded_at"],
        unique=False,
        postgresql_where=sa.text("stripe_status IN ('refused', 'failed')"),
    )
    for statement in RLS_UP:
        op.execute(statement)


def downgrade() -> None:
    op.drop_index(
        "idx_usage_records_stripe_problems",
        table_name="usage_records",
        postgresql_where=sa.text("stripe_status IN ('refused', 'failed')"),
    )
    op.drop_index(
        "idx_usage_records_stripe_pending",
        table_name="usage_records",
        postgresql_where=sa.text("stripe_status = 'pending'"),
    )
    op.drop_constraint(op.f("ck_usage_records_stripe_attempts_not_negative"), "usage_records", type_="check")
    op.drop_constraint(op.f("ck_usage_records_stripe_status_known"), "usage_records", type_="check")
    for column in (
        "stripe_error",
        "stripe_reported_at",
        "stripe_next_attempt_at",
        "stripe_attempts",
        "stripe_identifier",
        "stripe_status",
    ):
        op.drop_column("usage_records", column)
    op.drop_table("organization_quota_usage")
