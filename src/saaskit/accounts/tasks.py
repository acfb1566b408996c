"""Periodic upkeep of accounts."""

from __future__ import annotations

from procrastinate import JobContext
from sqlalchemy import text

from saaskit.jobs import jobs, runtime_of
from saaskit.kit import ratelimit
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime

# Credentials of dead sessions are dropped at once; the rows themselves, which carry usage
# figures, stay for the retention period (seed 001: user_sessions, 90 days).
# A session that died idle ends when it was last used.
CLEAR_DEAD_TOKENS = text(
    "UPDATE user_sessions SET session_token_hash = NULL, ended_at = coalesce(ended_at, CASE "
    "WHEN revoked_at IS NULL AND expires_at >= now() THEN greatest(last_used_at, started_at) END) "
    "WHERE session_token_hash IS NOT NULL AND (revoked_at IS NOT NULL OR expires_at < now() "
    "OR last_used_at < now() - make_interval(mins => idle_timeout_minutes))"
)
DELETE_OLD_SESSIONS = text(
    "DELETE FROM user_sessions WHERE started_at < now() - make_interval(days => :days) "
    "AND (revoked_at IS NOT NULL OR expires_at < now() OR ended_at IS NOT NULL)"
)


@jobs.periodic(cron="17 * * * *", periodic_id="hourly")
@jobs.task(name="accounts.purge_sessions", queue="maintenance", pass_context=True)
async def purge_sessions(context: JobContext, timestamp: int) -> dict[str, int]:
    """Forget the tokens of expired and revoked sessions; delete sessions past retention."""
    runtime = runtime_of(context)
    return await purge_sessions_now(runtime, runtime.settings.jobs.session_retention_days)


async def purge_sessions_now(runtime: Runtime, retention_days: int) -> dict[str, int]:
    async with runtime.db.session(SERVICE) as session:
        cleared = (await session.execute(CLEAR_DEAD_TOKENS)).rowcount  # type: ignore[attr-defined]
        deleted = (await session.execute(DELETE_OLD_SESSIONS, {"days": retention_days})).rowcount  # type: ignore[attr-defined]
    return {"tokens_cleared": cleared, "sessions_deleted": deleted}


@jobs.periodic(cron="23 * * * *", periodic_id="hourly")
@jobs.task(name="accounts.purge_rate_limits", queue="maintenance", pass_context=True)
async def purge_rate_limits(context: JobContext, timestamp: int) -> dict[str, int]:
    """Delete the rate-limit counters whose windows are over (kit/ratelimit.py)."""
    return {"counters_deleted": await ratelimit.purge(runtime_of(context))}
