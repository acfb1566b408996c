"""Periodic rollups (docs/statistics.md): 15-minute buckets every 5 minutes; closed days and
months, and the geographic view, every hour (a day is rolled in the hour after it ends); active
funnels' progress over the last 30 days, nightly."""

from __future__ import annotations

from datetime import UTC, datetime

from procrastinate import JobContext

from saaskit.insights.funnels import nightly
from saaskit.insights.rollups import backfill, runner
from saaskit.jobs import jobs, runtime_of
from saaskit.kit.db import SERVICE


@jobs.periodic(cron="*/5 * * * *", periodic_id="every_5_minutes")
@jobs.task(name="insights.roll_recent", queue="maintenance", pass_context=True)
async def roll_recent(context: JobContext, timestamp: int) -> dict[str, str | None]:
    runtime = runtime_of(context)
    async with runtime.db.session(SERVICE) as session:
        done = await runner.roll_recent(session, datetime.now(UTC))
    return {
        "from": done.quarters_from.isoformat() if done.quarters_from else None,
        "to": done.quarters_to.isoformat() if done.quarters_to else None,
    }


@jobs.periodic(cron="20 * * * *", periodic_id="hourly")
@jobs.task(name="insights.roll_pending", queue="maintenance", pass_context=True)
async def roll_pending(context: JobContext, timestamp: int) -> dict[str, int]:
    return await backfill.roll_pending(runtime_of(context))


@jobs.periodic(cron="40 2 * * *", periodic_id="nightly")
@jobs.task(name="insights.compute_funnels", queue="maintenance", pass_context=True)
async def compute_funnels(context: JobContext, timestamp: int) -> dict[str, int]:
    return {"funnels": await nightly.compute_active(runtime_of(context), datetime.now(UTC).date())}
