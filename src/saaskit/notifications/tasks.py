"""Notification jobs: a broadcast's fan-out, resuming unfinished ones, the daily purge."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from procrastinate import JobContext
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.jobs import defer, jobs, runtime_of
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from saaskit.notifications import broadcasts
from saaskit.notifications.models import Notification


@jobs.task(name="notifications.fan_out", queue="notifications", pass_context=True)
async def fan_out_broadcast(context: JobContext, broadcast_id: str) -> int:
    """Write every copy of a broadcast to everyone, in batches (``broadcasts.fan_out``)."""
    return await broadcasts.fan_out(runtime_of(context), uuid.UUID(broadcast_id))


@jobs.periodic(cron="*/10 * * * *", periodic_id="every_ten_minutes")
@jobs.task(name="notifications.resume", queue="notifications", pass_context=True)
async def resume(context: JobContext, timestamp: int) -> int:
    """Defer the fan-out of broadcasts still sending ten minutes after they were sent (their job
    was lost with a dead worker, or is still at work on a very large audience: harmless, as
    batches lock the broadcast's row and continue from its recorded progress)."""
    runtime = runtime_of(context)
    async with runtime.db.session(SERVICE) as session:
        pending = await broadcasts.unfinished(session)
        for broadcast_id in pending:
            await defer(
                session,
                fan_out_broadcast,
                queueing_lock=f"broadcast:{broadcast_id}",
                broadcast_id=str(broadcast_id),
            )
    return len(pending)


async def purge(session: AsyncSession, runtime: Runtime, now: datetime) -> int:
    """Delete notices older than ``SAASKIT_NOTIFICATIONS_RETENTION_DAYS``, read or not (the
    broadcasts' own rows stay, with their recipient counts)."""
    cutoff = now - timedelta(days=runtime.settings.notifications.retention_days)
    result = await session.execute(delete(Notification).where(Notification.created_at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]


@jobs.periodic(cron="53 4 * * *", periodic_id="daily")
@jobs.task(name="notifications.daily", queue="maintenance", pass_context=True)
async def daily(context: JobContext, timestamp: int) -> int:
    runtime = runtime_of(context)
    async with runtime.db.session(SERVICE) as session:
        return await purge(session, runtime, datetime.fromtimestamp(timestamp, tz=UTC))
