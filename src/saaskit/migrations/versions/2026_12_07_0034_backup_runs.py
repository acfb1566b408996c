"""Backup runs (issue 21): each backup and restore test with its outcome, for the admin's Backups
tab; only the service context (platform admins, jobs) reads or writes them (row-level security).
The ``operations`` notification kind (a failed backup or restore test, told to platform admins).

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 11:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0034"
down_revision: str | Sequence[str] | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# notifications.kind (notifications/kinds.py as of this revision; operations is not switchable,
# so notification_preferences' check does not change).
KINDS_BEFORE = (
    "'payment_failed', 'card_expiring', 'trial_ending', 'credits_low', 'topup_failed', "
    "'subscription_cancelled', 'invitation', 'security', 'webhook_disabled'"
)
KIND_CHECKS = {
    "before": f"kind IN ({KINDS_BEFORE}, 'broadcast')",
    "after": f"kind IN ({KINDS_BEFORE}, 'operations', 'broadcast')",
}


def _kind_check(which: str) -> None:
    op.drop_constraint(op.f("ck_notifications_kind_known"), "notifications", type_="check")
    op.create_check_constraint(op.f("ck_notifications_kind_known"), "notifications", KIND_CHECKS[which])


def upgrade() -> None:
    op.create_table(
        "backup_runs",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column("kind", sa.Text(), nullable=False, comment="backup or restore_test."),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, comment="When it started (UTC)."),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False, comment="When it ended (UTC)."),
        sa.Column("status", sa.Text(), nullable=False, comment="ok or failed."),
        sa.Column(
            "backup_id",
            sa.Text(),
            nullable=True,
            comment="The backup made, or restored by the test (its manifest's id).",
        ),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True, comment="The backup's stored size, bytes."),
        sa.Column(
            "targets",
            sa.Text(),
            nullable=True,
            comment="Where the backup was stored or fetched from, e.g. 'local, s3://bucket'.",
        ),
        sa.Column(
            "detail",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment="Tables, rows, the tables that differed (restore test), backups pruned.",
        ),
        sa.Column("error", sa.Text(), nullable=True, comment="Why it failed."),
        sa.CheckConstraint("kind IN ('backup', 'restore_test')", name=op.f("ck_backup_runs_kind_known")),
        sa.CheckConstraint("status IN ('ok', 'failed')", name=op.f("ck_backup_runs_status_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backup_runs")),
        comment="Each backup and restore test that ran (system/backup_runs.py), for the admin.",
    )
    op.create_index("idx_backup_runs_kind_started_at", "backup_runs", ["kind", "started_at"], unique=False)
    op.execute("ALTER TABLE backup_runs ENABLE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY backup_runs_service ON backup_runs "
        "USING ((SELECT app_is_service())) WITH CHECK ((SELECT app_is_service()))"
    )
    _kind_check("after")


def downgrade() -> None:
    op.execute("DELETE FROM notifications WHERE kind = 'operations'")
    _kind_check("before")
    op.drop_index("idx_backup_runs_kind_started_at", table_name="backup_runs")
    op.drop_table("backup_runs")
