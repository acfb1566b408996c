"""Mail jobs: send one message, the every-minute safety net, the daily purge."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from procrastinate import JobContext

from saaskit.jobs import jobs, runtime_of
from saaskit.kit.db import SERVICE
from saaskit.mail import delivery


@jobs.task(name="mail.deliver", queue="mail", pass_context=True)
async def deliver_message(context: JobContext, message_id: str) -> str:
    """One delivery attempt (retries are the outbox's: it defers the next attempt itself)."""
    return await delivery.deliver(runtime_of(context), uuid.UUID(message_id))


@jobs.periodic(cron="* * * * *", periodic_id="every_minute")
@jobs.task(name="mail.deliver_due", queue="mail", pass_context=True)
async def deliver_due(context: JobContext, timestamp: int) -> dict[str, int]:
    """Send what is due, put back what a dead worker left sending, wipe expired secrets."""
    return await delivery.deliver_due(runtime_of(context))


@jobs.periodic(cron="41 4 * * *", periodic_id="daily")
@jobs.task(name="mail.daily", queue="maintenance", pass_context=True)
async def daily(context: JobContext, timestamp: int) -> int:
    """Delete sent and discarded messages past their retention."""
    runtime = runtime_of(context)
    async with runtime.db.session(SERVICE) as session:
        return await delivery.purge(session, runtime, datetime.fromtimestamp(timestamp, tz=UTC))
