"""Who is here right now: the one definition of every "now" and "today" figure.

The admin overview (``insights.stats``), the devices page and ``GET /api/admin/presence`` all
count with the statements below, so they show the same numbers for the same data (tested in
tests/admin/test_http.py). "Present" is the SQL function ``app_is_present`` (devices/sql/
presence.sql): seen within the presence window, ``SAASKIT_PRESENCE_OFFLINE_AFTER_SECONDS``
(300 s by default, seed 002's "last 5 minutes"), the window the presence job also uses to mark
devices offline and users inactive.

Each statement is one indexed query (plans in docs/presence.md, checked by
tests/devices/test_presence.py):

- active users now: ``user_heartbeats`` by ``idx_user_heartbeats_last_seen_at`` (seed 002);
- online dashboards now: ``dashboards`` by ``idx_dashboards_is_online``, re-checked against
  ``last_heartbeat_at`` so a device that went silent since the last job run no longer counts;
- visitors now / since a day's start: ``visitor_sessions`` by ``idx_visitor_sessions_last_seen_at``
  ("today" is the UTC day, seed 002's query, unless a caller gives another zone's midnight);
- visitors in total: the ``visitors`` counter that triggers keep (``stats_counters``).

The statements take the moment as SQL (``now()`` here; the statistics pass their fixed clock).
The user-owned tables have RLS: call these with the service context (jobs, admins).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

NOW = "now()"
WINDOW = "CAST(:window_seconds AS double precision)"
UTC_MIDNIGHT = "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"


def present(column: str, at: str = NOW) -> str:
    """The condition "``column`` was seen within the presence window before ``at``"."""
    return f"app_is_present({column}, {at}, {WINDOW})"


def active_users_now_sql(at: str = NOW) -> str:
    return f"SELECT count(*) FROM user_heartbeats WHERE {present('last_seen_at', at)}"


def online_dashboards_now_sql(at: str = NOW) -> str:
    return (
        f"SELECT count(*) FROM dashboards WHERE is_online AND {present('last_heartbeat_at', at)} "
        "AND deleted_at IS NULL"
    )


def visitors_now_sql(at: str = NOW) -> str:
    return f"SELECT count(*) FROM visitor_sessions WHERE {present('last_seen_at', at)}"


def visitors_since_sql(day_start: str = UTC_MIDNIGHT) -> str:
    return f"SELECT count(*) FROM visitor_sessions WHERE last_seen_at >= {day_start}"


TOTAL_VISITORS_SQL = "SELECT coalesce(sum(value), 0) FROM stats_counters WHERE counter = 'visitors'"

ACTIVE_USERS_NOW = text(active_users_now_sql())
ONLINE_DASHBOARDS_NOW = text(online_dashboards_now_sql())
VISITORS_NOW = text(visitors_now_sql())
VISITORS_TODAY = text(visitors_since_sql())
TOTAL_VISITORS = text(TOTAL_VISITORS_SQL)

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
