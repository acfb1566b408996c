"""Webhook jobs: one delivery attempt, and the daily purge of old messages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from procrastinate import JobContext

from saaskit.jobs import jobs, runtime_of
from saaskit.kit.db import SERVICE


@jobs.task(name="webhooks.deliver", queue="webhooks", pass_context=True)
async def deliver(context: JobContext, message_id: str, endpoint_id: str, attempt: int, trigger: str) -> str:
    """One attempt (retries are deferred by the attempt itself, with their own schedule)."""
    from saaskit.webhooks import delivery

    runtime = runtime_of(context)
    return await delivery.deliver(runtime, uuid.UUID(message_id), uuid.UUID(endpoint_id), attempt, trigger)


@jobs.periodic(cron="*/5 * * * *", periodic_id="every_five_minutes")
@jobs.task(name="webhooks.recover", queue="maintenance", pass_context=True)
async def recover(context: JobContext, timestamp: int) -> int:
    """Run again the attempts of workers that died mid-way (see ``delivery.recover_stalled``)."""
    from saaskit.webhooks import delivery

    return await delivery.recover_stalled(context.app.job_manager)


@jobs.periodic(cron="23 4 * * *", periodic_id="daily")
@jobs.task(name="webhooks.daily", queue="maintenance", pass_context=True)
async def daily(context: JobContext, timestamp: int) -> int:
    """Delete messages and their delivery log past SAASKIT_WEBHOOKS_RETENTION_DAYS."""
    from saaskit.webhooks import delivery

    runtime = runtime_of(context)
    async with runtime.db.session(SERVICE) as session:
        return await delivery.purge(session, runtime, datetime.fromtimestamp(timestamp, tz=UTC))
