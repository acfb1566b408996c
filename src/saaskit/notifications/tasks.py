"""Notification jobs: the daily purge of old notices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from procrastinate import JobContext
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.jobs import jobs, runtime_of
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from saaskit.notifications.models import Notification


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
