"""Monthly rollups of the high-volume tables (seed 003's retention pattern: detail older than
six months may go, these stay). Computed for closed UTC months, each replacing its month's rows.
``events_monthly`` and ``page_views_monthly`` have a platform row and one per organization the
rows were attributed to."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.insights.models import PLATFORM
from saaskit.insights.rollups import activity

MONTHLY_TABLES = (
    "events_monthly",
    "page_views_monthly",
    "widget_analytics_monthly",
    "system_events_monthly",
    "performance_metrics_monthly",
)

EVENTS = text(
    """
INSERT INTO events_monthly (scope_id, month, event_name, events, persons)
WITH r AS (
    SELECT organization_id, event_name, coalesce(user_id::text, distinct_id) AS person
    FROM events WHERE timestamp >= :lo AND timestamp < :hi
)
SELECT CAST(:platform AS uuid), CAST(:month AS date), event_name, count(*), count(DISTINCT person)
FROM r GROUP BY event_name
UNION ALL
SELECT organization_id, CAST(:month AS date), event_name, count(*), count(DISTINCT person)
FROM r WHERE organization_id IS NOT NULL GROUP BY organization_id, event_name
"""
)

PAGE_VIEWS = text(
    """
INSERT INTO page_views_monthly (scope_id, month, views, sessions, bounces, avg_load_time_ms)
WITH r AS (
    SELECT organization_id, session_id, bounce, load_time_ms FROM page_views
    WHERE viewed_at >= :lo AND viewed_at < :hi
)
SELECT CAST(:platform AS uuid), CAST(:month AS date), count(*), count(DISTINCT session_id),
       count(*) FILTER (WHERE bounce), round(avg(load_time_ms), 2)
FROM r HAVING count(*) > 0
UNION ALL
SELECT organization_id, CAST(:month AS date), count(*), count(DISTINCT session_id),
       count(*) FILTER (WHERE bounce), round(avg(load_time_ms), 2)
FROM r WHERE organization_id IS NOT NULL GROUP BY organization_id
"""
)

WIDGETS = text(
    """
INSERT INTO widget_analytics_monthly (month, widget_type, event_type, events, users, total_duration_seconds)
SELECT CAST(:month AS date), widget_type, event_type, count(*), count(DISTINCT user_id),
       coalesce(sum(duration_seconds), 0)
FROM widget_analytics WHERE timestamp >= :lo AND timestamp < :hi GROUP BY widget_type, event_type
"""
)

SYSTEM_EVENTS = text(
    """
INSERT INTO system_events_monthly (month, event_type, severity, app_version, events, users)
SELECT CAST(:month AS date), event_type, severity, coalesce(app_version, ''), count(*),
       count(DISTINCT user_id)
FROM system_events WHERE created_at >= :lo AND created_at < :hi
GROUP BY event_type, severity, coalesce(app_version, '')
"""
)

PERFORMANCE = text(
    """
INSERT INTO performance_metrics_monthly (month, metric_name, samples, avg_value, max_value)
SELECT CAST(:month AS date), metric_name, count(*), round(avg(value)::numeric, 4),
       round(max(value)::numeric, 4)
FROM performance_metrics WHERE timestamp >= :lo AND timestamp < :hi GROUP BY metric_name
"""
)


async def roll_month(session: AsyncSession, month: date, lo: datetime, hi: datetime) -> None:
    params = {"month": month, "lo": lo, "hi": hi, "platform": PLATFORM}
    for table in MONTHLY_TABLES:
        await session.execute(text(f"DELETE FROM {table} WHERE month = :month"), params)
    for statement in (EVENTS, PAGE_VIEWS, WIDGETS, SYSTEM_EVENTS, PERFORMANCE):
        await session.execute(statement, params)
    await activity.roll_month(session, month, lo, hi)
