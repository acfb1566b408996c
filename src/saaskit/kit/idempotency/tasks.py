"""Forgetting idempotency keys after their 24 hours."""

from __future__ import annotations

from procrastinate import JobContext

from saaskit.jobs import jobs, runtime_of
from saaskit.kit import idempotency


@jobs.periodic(cron="*/15 * * * *", periodic_id="every_15_minutes")
@jobs.task(name="kit.purge_idempotency_keys", queue="maintenance", pass_context=True)
async def purge_idempotency_keys(context: JobContext, timestamp: int) -> dict[str, int]:
    """Delete the idempotency keys (and the answers they replay) older than 24 hours."""
    return {"keys_deleted": await idempotency.purge_expired(runtime_of(context))}
