"""Job queue: procrastinate's tables and functions (vendored 3.10.0 schema), with comments.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA_FILE = Path(__file__).parent.parent / "sql" / "procrastinate_3_10_0_schema.sql"

COMMENTS = {
    "procrastinate_workers": (
        "Job workers alive now (procrastinate): one row per running worker, pruned when silent.",
        {"id": "Worker identifier.", "last_heartbeat": "Last sign of life of the worker (UTC)."},
    ),
    "procrastinate_jobs": (
        "Background jobs (procrastinate): queued, running, finished or failed.",
        {
            "id": "Job identifier.",
            "queue_name": "Queue the job waits in.",
            "task_name": "Registered task that runs the job.",
            "priority": "Higher runs first.",
            "lock": "Jobs sharing a lock never run at the same time.",
            "queueing_lock": "At most one waiting job per value (deduplication).",
            "args": "Keyword arguments of the task (JSON).",
            "status": "todo, doing, succeeded, failed, cancelled, aborting or aborted.",
            "scheduled_at": "Not run before this time (UTC); null means as soon as possible.",
            "attempts": "Times the job was tried.",
            "abort_requested": "Someone asked the running job to stop.",
            "worker_id": "Worker running the job.",
        },
    ),
    "procrastinate_periodic_defers": (
        "Periodic tasks already deferred per cron tick (procrastinate), so ticks run once.",
        {
            "id": "Row identifier.",
            "task_name": "Periodic task.",
            "defer_timestamp": "Cron tick, in Unix seconds.",
            "job_id": "Job created for the tick.",
            "periodic_id": "Distinguishes several schedules of one task.",
        },
    ),
    "procrastinate_events": (
        "Life events of jobs (procrastinate): deferred, started, retried, finished ...",
        {"id": "Event identifier.", "job_id": "The job.", "type": "What happened.", "at": "When (UTC)."},
    ),
}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def upgrade() -> None:
    op.execute(sa.text(SCHEMA_FILE.read_text()))
    for table, (table_comment, columns) in COMMENTS.items():
        op.execute(f"COMMENT ON TABLE {table} IS {_literal(table_comment)}")
        for column, comment in columns.items():
            op.execute(f"COMMENT ON COLUMN {table}.{column} IS {_literal(comment)}")


def downgrade() -> None:
    op.execute(
        """
        DO $$
        DECLARE item record;
        BEGIN
          DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers,
                               procrastinate_jobs, procrastinate_workers CASCADE;
          FOR item IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
                      JOIN pg_namespace n ON n.oid = p.pronamespace
                      WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate%'
          LOOP EXECUTE 'DROP FUNCTION ' || item.signature || ' CASCADE'; END LOOP;
          DROP TYPE IF EXISTS procrastinate_job_to_defer_v1, procrastinate_job_event_type,
                              procrastinate_job_status CASCADE;
        END $$;
        """
    )
