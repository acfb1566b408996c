"""System jobs: the daily sample of every table's size (the Database page's growth chart)."""

from __future__ import annotations

from datetime import UTC, datetime

from procrastinate import JobContext

from saaskit.jobs import jobs, runtime_of
from saaskit.kit.db import SERVICE
from saaskit.system import database


@jobs.periodic(cron="23 3 * * *", periodic_id="daily")
@jobs.task(name="system.record_table_sizes", queue="maintenance", pass_context=True)
async def record_table_sizes(context: JobContext, timestamp: int) -> int:
    """Today's size of every table (a rerun the same day replaces the day's row)."""
    runtime = runtime_of(context)
    async with runtime.db.session(SERVICE) as session:
        return await database.record_sizes(session, datetime.fromtimestamp(timestamp, tz=UTC).date())
