"""Nightly figures of one UTC day: ``daily_metrics`` (seeds 000/001), ``user_engagement_daily``
and ``organization_metrics_daily`` (seed 004). Definitions: docs/statistics.md.

Each function replaces the day's rows (delete, insert): idempotent, and a re-run picks up late
rows. ``:lo`` / ``:hi`` are the day's UTC midnights.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

IN_DAY = "{column} >= :lo AND {column} < :hi"

DAILY_METRICS = text(
    f"""
INSERT INTO daily_metrics (date, new_signups, returning_users, active_users, weekly_active_users,
                           monthly_active_users, active_dashboards, total_sessions, avg_session_minutes,
                           trial_to_paid_conversions, created_at)
WITH active AS (
    SELECT DISTINCT user_id FROM activity_events
    WHERE {IN_DAY.format(column="created_at")} AND user_id IS NOT NULL
), usage AS (
    -- Sessions overlapping the day (started before its end, not ended before its start), by the
    -- span index (migration 0009) rather than a scan of every session.
    SELECT dashboard_id, started_at, ended_at FROM user_sessions
    WHERE session_type = 'usage' AND tstzrange(started_at, ended_at, '[]') && tstzrange(:lo, :hi, '[)')
)
SELECT CAST(:day AS date),
    (SELECT count(*) FROM users WHERE {IN_DAY.format(column="created_at")}),
    (SELECT count(*) FROM active JOIN users u ON u.id = active.user_id WHERE u.created_at < :lo),
    (SELECT count(*) FROM active),
    (SELECT count(*) FROM (SELECT DISTINCT user_id FROM user_engagement_daily
     WHERE date > CAST(:day AS date) - 7 AND date <= :day AND activity_events > 0) w),
    (SELECT count(*) FROM (SELECT DISTINCT user_id FROM user_engagement_daily
     WHERE date > CAST(:day AS date) - 30 AND date <= :day AND activity_events > 0) m),
    (SELECT count(DISTINCT dashboard_id) FROM usage WHERE dashboard_id IS NOT NULL),
    (SELECT count(*) FROM usage WHERE {IN_DAY.format(column="started_at")}),
    (SELECT round(avg(extract(epoch FROM ended_at - started_at) / 60)::numeric, 2) FROM usage
     WHERE {IN_DAY.format(column="started_at")} AND ended_at IS NOT NULL),
    (SELECT count(*) FROM subscriptions s
     WHERE s.trial_end >= :lo AND s.trial_end < :hi AND s.trial_start IS NOT NULL
       AND EXISTS (SELECT 1 FROM invoices i WHERE i.subscription_id = s.id
                   AND i.amount_paid_cents > 0 AND i.paid_at >= s.trial_end)),
    now()
"""
)

USER_ENGAGEMENT = text(
    f"""
INSERT INTO user_engagement_daily (user_id, date, session_count, page_views, features_used,
                                   actions_performed, activity_events, logins, app_opens)
WITH a AS (
    SELECT user_id,
           count(*) AS events,
           count(*) FILTER (WHERE event_type = 'action') AS actions,
           count(*) FILTER (WHERE event_type = 'login') AS logins,
           count(*) FILTER (WHERE event_type = 'app_open') AS app_opens,
           array_agg(DISTINCT 'action:' || action_name) FILTER (WHERE action_name IS NOT NULL) AS features
    FROM activity_events WHERE {IN_DAY.format(column="created_at")} AND user_id IS NOT NULL GROUP BY user_id
), s AS (
    SELECT user_id, count(*) AS n FROM user_sessions
    WHERE session_type = 'usage' AND {IN_DAY.format(column="started_at")} GROUP BY user_id
), p AS (
    SELECT user_id, count(*) AS n FROM page_views
    WHERE {IN_DAY.format(column="viewed_at")} AND user_id IS NOT NULL GROUP BY user_id
), w AS (
    SELECT user_id, array_agg(DISTINCT 'widget:' || widget_type) AS features FROM widget_analytics
    WHERE {IN_DAY.format(column="timestamp")} GROUP BY user_id
), ids AS (
    SELECT user_id FROM a UNION SELECT user_id FROM s UNION SELECT user_id FROM p UNION SELECT user_id FROM w
)
SELECT ids.user_id, CAST(:day AS date), coalesce(s.n, 0), coalesce(p.n, 0),
       cardinality(coalesce(a.features, '{{}}') || coalesce(w.features, '{{}}')),
       coalesce(a.actions, 0), coalesce(a.events, 0), coalesce(a.logins, 0), coalesce(a.app_opens, 0)
FROM ids
JOIN users u ON u.id = ids.user_id
LEFT JOIN a ON a.user_id = ids.user_id
LEFT JOIN s ON s.user_id = ids.user_id
LEFT JOIN p ON p.user_id = ids.user_id
LEFT JOIN w ON w.user_id = ids.user_id
"""
)

# A row only for organizations with something that day; readers fill the other days with zeros.
ORGANIZATION_METRICS = text(
    f"""
INSERT INTO organization_metrics_daily (organization_id, date, active_users, weekly_active_users,
                                        monthly_active_users, new_users, revenue_generated, api_calls)
WITH act AS (
    SELECT m.organization_id, count(DISTINCT a.user_id) AS n
    FROM activity_events a JOIN organization_members m ON m.user_id = a.user_id AND m.is_active
    WHERE {IN_DAY.format(column="a.created_at")} GROUP BY 1
), engaged AS (
    SELECT m.organization_id,
           count(DISTINCT e.user_id) FILTER (WHERE e.date > CAST(:day AS date) - 7) AS weekly,
           count(DISTINCT e.user_id) AS monthly
    FROM user_engagement_daily e JOIN organization_members m ON m.user_id = e.user_id AND m.is_active
    WHERE e.date > CAST(:day AS date) - 30 AND e.date <= :day AND e.activity_events > 0 GROUP BY 1
), joined AS (
    SELECT organization_id, count(*) AS n FROM organization_members
    WHERE {IN_DAY.format(column="joined_at")} GROUP BY 1
), revenue AS (
    SELECT organization_id, sum(amount_paid_cents) AS n FROM invoices
    WHERE organization_id IS NOT NULL AND {IN_DAY.format(column="paid_at")} GROUP BY 1
), api AS (
    SELECT organization_id, sum(n) AS n FROM (
        SELECT organization_id, count(*) AS n FROM events
        WHERE organization_id IS NOT NULL AND {IN_DAY.format(column="timestamp")} GROUP BY 1
        UNION ALL
        SELECT organization_id, count(*) FROM page_views
        WHERE organization_id IS NOT NULL AND {IN_DAY.format(column="viewed_at")} GROUP BY 1) x
    GROUP BY 1
), ids AS (
    SELECT organization_id FROM act UNION SELECT organization_id FROM engaged
    UNION SELECT organization_id FROM joined
    UNION SELECT organization_id FROM revenue UNION SELECT organization_id FROM api
)
SELECT ids.organization_id, CAST(:day AS date), coalesce(act.n, 0), coalesce(engaged.weekly, 0),
       coalesce(engaged.monthly, 0), coalesce(joined.n, 0),
       coalesce(revenue.n, 0), coalesce(api.n, 0)
FROM ids
JOIN organizations o ON o.id = ids.organization_id
LEFT JOIN act ON act.organization_id = ids.organization_id
LEFT JOIN engaged ON engaged.organization_id = ids.organization_id
LEFT JOIN joined ON joined.organization_id = ids.organization_id
LEFT JOIN revenue ON revenue.organization_id = ids.organization_id
LEFT JOIN api ON api.organization_id = ids.organization_id
"""
)


async def roll_engagement(session: AsyncSession, day: date, lo: datetime, hi: datetime) -> None:
    """``user_engagement_daily`` of the day: reads only the day's raw rows, so days can be rolled
    in any order (and side by side)."""
    params = {"day": day, "lo": lo, "hi": hi}
    await session.execute(text("DELETE FROM user_engagement_daily WHERE date = :day"), params)
    await session.execute(USER_ENGAGEMENT, params)


async def roll_figures(session: AsyncSession, day: date, lo: datetime, hi: datetime) -> None:
    """``daily_metrics`` and ``organization_metrics_daily`` of the day. Their weekly and monthly
    active users are read from ``user_engagement_daily`` of the day and the 29 before it, which
    must be rolled first."""
    params = {"day": day, "lo": lo, "hi": hi}
    await session.execute(text("DELETE FROM daily_metrics WHERE date = :day"), params)
    await session.execute(DAILY_METRICS, params)
    await session.execute(text("DELETE FROM organization_metrics_daily WHERE date = :day"), params)
    await session.execute(ORGANIZATION_METRICS, params)
