"""Periodic upkeep of the analytics tables."""

from __future__ import annotations

from procrastinate import JobContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.jobs import jobs, runtime_of
from saaskit.kit.db import SERVICE
from saaskit.system.archive import archiver
from saaskit.tracking import partitions


@jobs.periodic(cron="3 * * * *", periodic_id="hourly")
@jobs.task(name="tracking.maintain_partitions", queue="maintenance", pass_context=True)
async def maintain_partitions(context: JobContext, timestamp: int) -> dict[str, list[str]]:
    """Create the next periods' partitions ahead of time; drop the ones past retention."""
    runtime = runtime_of(context)
    async with runtime.db.session(SERVICE) as session:
        created = await partitions.ensure_ahead(session)
        privacy = runtime.settings.privacy
        dropped = await partitions.drop_expired(
            session,
            detail_months=privacy.detail_months,
            retention_days=privacy.partition_retention_days,
            before_drop=archiver(runtime.settings),
        )
        forgotten = await forget_old_receipts(session)
    return {"created": created, "dropped": dropped, "receipts_forgotten": [str(forgotten)]}


async def forget_old_receipts(session: AsyncSession, hours: int = 48) -> int:
    """Retries come within minutes; two days of receipts is plenty for idempotency."""
    result = await session.execute(
        text("DELETE FROM event_receipts WHERE received_at < now() - make_interval(hours => :h)"),
        {"h": hours},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
