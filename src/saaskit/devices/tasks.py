"""The presence job: every minute, silence turns into offline / inactive / ended sessions."""

from __future__ import annotations

from procrastinate import JobContext
from sqlalchemy import text

from saaskit.devices import sessions as usage
from saaskit.devices.presence import present
from saaskit.jobs import jobs, runtime_of
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime

# SKIP LOCKED: a row locked right now belongs to a heartbeat in flight, which is about to make it
# fresh; the job never waits on a heartbeat, so it can neither slow one down nor deadlock with one.
# The outer WHERE repeats the condition, re-checked on the newest row version.
SILENT_DEVICE = f"(last_heartbeat_at IS NULL OR NOT {present('last_heartbeat_at')})"
MARK_DASHBOARDS_OFFLINE = text(
    f"""
UPDATE dashboards SET is_online = false
WHERE id IN (SELECT id FROM dashboards WHERE is_online AND {SILENT_DEVICE} FOR UPDATE SKIP LOCKED)
  AND is_online AND {SILENT_DEVICE}
"""
)
MARK_USERS_INACTIVE = text(
    f"""
UPDATE users SET is_currently_active = false
WHERE id IN (SELECT id FROM users WHERE is_currently_active AND {SILENT_DEVICE} FOR UPDATE SKIP LOCKED)
  AND is_currently_active AND {SILENT_DEVICE}
"""
)


@jobs.periodic(cron="* * * * *", periodic_id="every_minute")
@jobs.task(name="devices.mark_offline", queue="maintenance", pass_context=True)
async def mark_offline(context: JobContext, timestamp: int) -> dict[str, int]:
    """Dashboards offline and users not currently active after the configured silence; usage
    sessions ended after the idle timeout."""
    return await mark_offline_now(runtime_of(context))


async def mark_offline_now(runtime: Runtime) -> dict[str, int]:
    presence = runtime.settings.presence
    seconds = {"window_seconds": presence.offline_after_seconds}
    async with runtime.db.session(SERVICE) as session:
        dashboards = (await session.execute(MARK_DASHBOARDS_OFFLINE, seconds)).rowcount  # type: ignore[attr-defined]
        users = (await session.execute(MARK_USERS_INACTIVE, seconds)).rowcount  # type: ignore[attr-defined]
        ended = await usage.end_idle(session, presence.session_idle_minutes)
    return {"dashboards_offline": dashboards, "users_inactive": users, "sessions_ended": ended}
