"""Seed 002's admin statistics (``GET /api/admin/stats``), exact and cheap at any size.

Nothing here counts a whole table (docs/statistics.md has the definitions and the plans):

- totals come from ``stats_counters`` (kept by triggers), corrected at read time by the few rows
  whose state changed with the clock (live subscriptions past their end, found through a partial
  index) and by the people active now;
- "now" and "today" figures are indexed range counts (heartbeats, visitor sessions);
- activity per day and month is summed from the rollups, with only the unrolled tail (and the
  edges of windows not on a quarter hour) read from ``activity_events`` by time range.

Three statements, one transaction: the windows' boundaries in the asked time zone (PostgreSQL's
time zone rules, the same that the tests' independent SQL uses), the activity sums, the rest.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.insights.percentages import one_decimal_shares
from saaskit.insights.windows import Piece, decompose

DAYS = 7
MONTHS = 6
NOW_WINDOW = "5 minutes"  # seed 002: active users and visitors "now"

# The statistics' clock: now(), unless a caller (a test) fixes the moment.
CLOCK = "coalesce(CAST(:now AS timestamptz), now())"
WINDOWS_SQL = text(
    f"""
SELECT {CLOCK} AS now,
       (SELECT rolled_through FROM rollup_watermarks WHERE name = 'activity_daily') AS daily_through,
       (SELECT rolled_through FROM rollup_watermarks WHERE name = 'activity_15m') AS quarter_through,
       ARRAY(SELECT d::date FROM generate_series(
               date_trunc('day', {CLOCK} AT TIME ZONE :tz) - interval '{DAYS - 1} days',
               date_trunc('day', {CLOCK} AT TIME ZONE :tz), interval '1 day') AS d ORDER BY d) AS days,
       ARRAY(SELECT d AT TIME ZONE :tz FROM generate_series(
               date_trunc('day', {CLOCK} AT TIME ZONE :tz) - interval '{DAYS - 1} days',
               date_trunc('day', {CLOCK} AT TIME ZONE :tz) + interval '1 day', interval '1 day') AS d
             ORDER BY d) AS day_bounds,
       ARRAY(SELECT d::date FROM generate_series(
               date_trunc('month', {CLOCK} AT TIME ZONE :tz) - interval '{MONTHS - 1} months',
               date_trunc('month', {CLOCK} AT TIME ZONE :tz), interval '1 month') AS d ORDER BY d) AS months,
       ARRAY(SELECT d AT TIME ZONE :tz FROM generate_series(
               date_trunc('month', {CLOCK} AT TIME ZONE :tz) - interval '{MONTHS - 1} months',
               date_trunc('month', {CLOCK} AT TIME ZONE :tz) + interval '1 month', interval '1 month') AS d
             ORDER BY d) AS month_bounds
"""
)

# Per piece, the source it names. Raw pieces of an organization count its members' events.
ACTIVITY_SQL = text(
    """
WITH pieces AS (
    SELECT * FROM jsonb_to_recordset(CAST(:pieces AS jsonb))
        AS p(w int, src text, lo timestamptz, hi timestamptz)
), sums AS (
    SELECT p.w, r.event_type, sum(r.events)::bigint AS n
    FROM pieces p JOIN activity_rollups_daily r
      ON r.scope_id = :scope AND r.day >= (p.lo AT TIME ZONE 'UTC')::date
     AND r.day < (p.hi AT TIME ZONE 'UTC')::date
    WHERE p.src = 'daily' GROUP BY 1, 2
    UNION ALL
    SELECT p.w, r.event_type, sum(r.events)::bigint
    FROM pieces p JOIN activity_rollups_15m r
      ON r.scope_id = :scope AND r.bucket_start >= p.lo AND r.bucket_start < p.hi
    WHERE p.src = 'quarter' GROUP BY 1, 2
    UNION ALL
    SELECT p.w, a.event_type, count(*)
    FROM pieces p JOIN activity_events a ON a.created_at >= p.lo AND a.created_at < p.hi
    WHERE p.src = 'raw' AND (CAST(:organization_id AS uuid) IS NULL OR a.user_id IN (
        SELECT m.user_id FROM organization_members m
        WHERE m.organization_id = CAST(:organization_id AS uuid) AND m.is_active))
    GROUP BY 1, 2
)
SELECT w, event_type, sum(n)::bigint AS n FROM sums GROUP BY 1, 2
"""
)

LIVE = "('trialing', 'active', 'past_due')"
USER_LAPSED = (
    "(app_user_is_lapsed(u.deleted_at, u.subscription_live_until, u.has_expired_subscription) "
    "OR u.subscription_live_until <= :now)"
)

PLATFORM_SQL = text(
    f"""
WITH counters AS (SELECT counter, dimension, value FROM stats_counters),
active_now AS (
    SELECT {USER_LAPSED} AS lapsed
    FROM user_heartbeats h JOIN users u ON u.id = h.user_id AND u.deleted_at IS NULL
    WHERE h.last_seen_at > :now - interval '{NOW_WINDOW}'
), overdue AS (
    SELECT status, plan_name, count(*) AS n FROM subscriptions
    WHERE status IN {LIVE} AND ends_at <= :now GROUP BY status, plan_name
), by_status AS (
    SELECT substr(counter, 15) AS status, dimension AS plan_name, value AS n
    FROM counters WHERE counter LIKE 'subscriptions:%'
    UNION ALL SELECT status, plan_name, -n FROM overdue
    UNION ALL SELECT 'expired', plan_name, n FROM overdue
)
SELECT
    (SELECT coalesce(sum(value), 0) FROM counters WHERE counter = 'users')::bigint AS total_users,
    (SELECT count(*) FROM active_now) AS active_now,
    ((SELECT coalesce(sum(value), 0) FROM counters WHERE counter = 'lapsed_users')
      + (SELECT count(*) FROM users u WHERE u.deleted_at IS NULL
           AND u.subscription_live_until IS NOT NULL AND u.subscription_live_until <= :now)
      - (SELECT count(*) FROM active_now WHERE lapsed))::bigint AS expired_users,
    (SELECT coalesce(sum(value), 0) FROM counters WHERE counter = 'visitors')::bigint AS total_visitors,
    (SELECT count(*) FROM visitor_sessions
     WHERE last_seen_at > :now - interval '{NOW_WINDOW}') AS visitors_now,
    (SELECT count(*) FROM visitor_sessions WHERE last_seen_at >= :today_start) AS visitors_today,
    (SELECT coalesce(jsonb_agg(jsonb_build_array(status, plan_name, n)), '[]')
     FROM (SELECT status, plan_name, sum(n)::bigint AS n FROM by_status GROUP BY 1, 2) s
     WHERE n <> 0) AS subscriptions
"""
)

ORGANIZATION_SQL = text(
    f"""
WITH members AS (
    SELECT u.id, {USER_LAPSED} AS lapsed
    FROM organization_members m JOIN users u ON u.id = m.user_id AND u.deleted_at IS NULL
    WHERE m.organization_id = :organization_id AND m.is_active
), active_now AS (
    SELECT members.lapsed FROM members JOIN user_heartbeats h ON h.user_id = members.id
    WHERE h.last_seen_at > :now - interval '{NOW_WINDOW}'
), by_status AS (
    SELECT CASE WHEN status IN {LIVE} AND ends_at <= :now THEN 'expired' ELSE status END AS status,
           plan_name, count(*) AS n
    FROM subscriptions WHERE organization_id = :organization_id GROUP BY 1, 2
)
SELECT
    (SELECT count(*) FROM members) AS total_users,
    (SELECT count(*) FROM active_now) AS active_now,
    ((SELECT count(*) FROM members WHERE lapsed) - (SELECT count(*) FROM active_now WHERE lapsed))::bigint
      AS expired_users,
    (SELECT count(*) FROM visitor_sessions WHERE organization_id = :organization_id) AS total_visitors,
    (SELECT count(*) FROM visitor_sessions WHERE organization_id = :organization_id
       AND last_seen_at > :now - interval '{NOW_WINDOW}') AS visitors_now,
    (SELECT count(*) FROM visitor_sessions WHERE organization_id = :organization_id
       AND last_seen_at >= :today_start) AS visitors_today,
    (SELECT coalesce(jsonb_agg(jsonb_build_array(status, plan_name, n)), '[]')
     FROM by_status) AS subscriptions
"""
)


@dataclass(frozen=True)
class Windows:
    now: datetime
    days: list[date]
    day_bounds: list[datetime]
    months: list[date]
    month_bounds: list[datetime]
    daily_through: datetime | None
    quarter_through: datetime | None

    def pieces(self) -> list[Piece]:
        """Days are windows 0..DAYS-1, months DAYS..DAYS+MONTHS-1."""
        bounds = [
            *itertools.pairwise(self.day_bounds),
            *itertools.pairwise(self.month_bounds),
        ]
        pieces: list[Piece] = []
        for index, (start, end) in enumerate(bounds):
            pieces += decompose(
                index,
                start,
                end,
                daily_through=self.daily_through,
                quarter_through=self.quarter_through,
            )
        return pieces


async def windows(session: AsyncSession, tz: str, now: datetime | None = None) -> Windows:
    row = (await session.execute(WINDOWS_SQL, {"tz": tz, "now": now})).one()
    return Windows(
        now=row.now,
        days=list(row.days),
        day_bounds=list(row.day_bounds),
        months=list(row.months),
        month_bounds=list(row.month_bounds),
        daily_through=row.daily_through,
        quarter_through=row.quarter_through,
    )


async def activity_counts(
    session: AsyncSession, scope_id: uuid.UUID, organization_id: uuid.UUID | None, pieces: list[Piece]
) -> dict[tuple[int, str], int]:
    """(window, event_type) -> events."""
    if not pieces:
        return {}
    rows = await session.execute(
        ACTIVITY_SQL,
        {
            "pieces": orjson.dumps([p.as_row() for p in pieces]).decode(),
            "scope": scope_id,
            "organization_id": organization_id,
        },
    )
    return {(r.w, r.event_type): int(r.n) for r in rows}


async def compute(
    session: AsyncSession,
    *,
    scope_id: uuid.UUID,
    organization_id: uuid.UUID | None,
    tz: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The statistics, with exactly seed 002's keys. The caller has checked access and set a
    context that may read what the scope covers (the service's). ``now`` fixes the clock."""
    spans = await windows(session, tz, now)
    counts = await activity_counts(session, scope_id, organization_id, spans.pieces())
    params: dict[str, Any] = {"today_start": spans.day_bounds[DAYS - 1], "now": spans.now}
    if organization_id is None:
        row = (await session.execute(PLATFORM_SQL, params)).one()
    else:
        row = (await session.execute(ORGANIZATION_SQL, {**params, "organization_id": organization_id})).one()
    return _shape(row, spans, counts)


def _shape(row: Any, spans: Windows, counts: dict[tuple[int, str], int]) -> dict[str, Any]:
    total, active = int(row.total_users), int(row.active_now)
    expired = int(row.expired_users)
    inactive = total - active - expired
    subscriptions: dict[str, int] = {}
    plans: dict[str, int] = {}
    for status, plan_name, n in row.subscriptions:
        subscriptions[status] = subscriptions.get(status, 0) + int(n)
        if status == "active":
            plans[plan_name] = plans.get(plan_name, 0) + int(n)
    distribution = sorted(((p, n) for p, n in plans.items() if n > 0), key=lambda item: (-item[1], item[0]))
    plan_shares = one_decimal_shares([n for _, n in distribution])
    user_shares = one_decimal_shares([active, expired, inactive])

    def count(window: int, event_type: str) -> int:
        return counts.get((window, event_type), 0)

    return {
        "totalUsers": total,
        "activeUsersNow": active,
        "expiredUsers": expired,
        "inactiveUsers": inactive,
        "activeSubscriptions": subscriptions.get("active", 0),
        "expiredSubscriptions": subscriptions.get("expired", 0),
        "cancelledSubscriptions": subscriptions.get("cancelled", 0),
        "totalVisitors": int(row.total_visitors),
        "visitorsNow": int(row.visitors_now),
        "visitorsToday": int(row.visitors_today),
        "activityByDay": [
            {"date": day.isoformat(), "logins": count(i, "login"), "signups": count(i, "signup")}
            for i, day in enumerate(spans.days)
        ],
        "monthlyLogins": [
            {"month": month.strftime("%Y-%m"), "logins": count(DAYS + i, "login")}
            for i, month in enumerate(spans.months)
        ],
        "dailyActivity": [
            {
                "date": day.isoformat(),
                "logins": count(i, "login"),
                "appOpens": count(i, "app_open"),
                "actions": count(i, "action"),
            }
            for i, day in enumerate(spans.days)
        ],
        "planDistribution": [{"plan": plan, "count": n} for plan, n in distribution],
        "plansPercentage": [
            {"plan": plan, "percentage": share}
            for (plan, _), share in zip(distribution, plan_shares, strict=True)
        ],
        "usersStatusPercentage": {
            "active": user_shares[0],
            "expired": user_shares[1],
            "inactive": user_shares[2],
        },
    }
