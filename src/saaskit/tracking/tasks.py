"""Periodic upkeep of the analytics tables."""

from __future__ import annotations

from procrastinate import JobContext

from saaskit.jobs import jobs, runtime_of
from saaskit.kit.db import SERVICE
from saaskit.tracking import partitions


@jobs.periodic(cron="3 * * * *", periodic_id="hourly")
@jobs.task(name="tracking.maintain_partitions", queue="maintenance", pass_context=True)
async def maintain_partitions(context: JobContext, timestamp: int) -> dict[str, list[str]]:
    """Create the next periods' partitions ahead of time; drop the ones past retention."""
    runtime = runtime_of(context)
    async with runtime.db.session(SERVICE) as session:
        created = await partitions.ensure_ahead(session)
        dropped = await partitions.drop_expired(session)
    return {"created": created, "dropped": dropped}
