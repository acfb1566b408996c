"""Who is here right now: one indexed query each, for the statistics (issue: admin stats).

Each function is one statement on one index (plans in docs/presence.md, checked by
tests/devices/test_presence.py):

- active users now: ``user_heartbeats`` by ``idx_user_heartbeats_last_seen_at`` (seed 002);
- online dashboards now: ``dashboards`` by ``idx_dashboards_is_online``, re-checked against
  ``last_heartbeat_at`` so a device that went silent since the last job run no longer counts;
- visitors now / today, and in total: ``visitor_sessions`` by ``idx_visitor_sessions_last_seen_at``
  ("today" is the UTC day, seed 002's query).

"Now" is the presence window, ``SAASKIT_PRESENCE_OFFLINE_AFTER_SECONDS`` (5 minutes by default).
The user-owned tables have RLS: call these with the service context (jobs, admins).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

ACTIVE_USERS_NOW = text(
    "SELECT count(*) FROM user_heartbeats "
    "WHERE last_seen_at > now() - make_interval(secs => CAST(:window_seconds AS double precision))"
)
ONLINE_DASHBOARDS_NOW = text(
    "SELECT count(*) FROM dashboards WHERE is_online "
    "AND last_heartbeat_at > now() - make_interval(secs => CAST(:window_seconds AS double precision)) "
    "AND deleted_at IS NULL"
)
VISITORS_NOW = text(
    "SELECT count(*) FROM visitor_sessions "
    "WHERE last_seen_at > now() - make_interval(secs => CAST(:window_seconds AS double precision))"
)
VISITORS_TODAY = text(
    "SELECT count(*) FROM visitor_sessions "
    "WHERE last_seen_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
)
TOTAL_VISITORS = text("SELECT count(*) FROM visitor_sessions")

QUERIES = {
    "active_users_now": ACTIVE_USERS_NOW,
    "online_dashboards_now": ONLINE_DASHBOARDS_NOW,
    "visitors_now": VISITORS_NOW,
    "visitors_today": VISITORS_TODAY,
}


@dataclass(frozen=True)
class Presence:
    active_users_now: int
    online_dashboards_now: int
    visitors_now: int
    visitors_today: int
    total_visitors: int
    window_seconds: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


async def _count(session: AsyncSession, query: TextClause, window_seconds: int) -> int:
    return int((await session.execute(query, {"window_seconds": window_seconds})).scalar_one())


async def active_users_now(session: AsyncSession, window_seconds: int) -> int:
    return await _count(session, ACTIVE_USERS_NOW, window_seconds)


async def online_dashboards_now(session: AsyncSession, window_seconds: int) -> int:
    return await _count(session, ONLINE_DASHBOARDS_NOW, window_seconds)


async def visitors_now(session: AsyncSession, window_seconds: int) -> int:
    return await _count(session, VISITORS_NOW, window_seconds)


async def visitors_today(session: AsyncSession) -> int:
    return int((await session.execute(VISITORS_TODAY)).scalar_one())


async def total_visitors(session: AsyncSession) -> int:
    return int((await session.execute(TOTAL_VISITORS)).scalar_one())


async def snapshot(session: AsyncSession, window_seconds: int) -> Presence:
    return Presence(
        active_users_now=await active_users_now(session, window_seconds),
        online_dashboards_now=await online_dashboards_now(session, window_seconds),
        visitors_now=await visitors_now(session, window_seconds),
        visitors_today=await visitors_today(session),
        total_visitors=await total_visitors(session),
        window_seconds=window_seconds,
    )
