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

from saaskit.bookings import revenue as bookings_revenue
from saaskit.devices import presence
from saaskit.insights.percentages import one_decimal_shares, percentage
from saaskit.insights.windows import Piece, decompose

DAYS = 7
MONTHS = 6
DEFAULT_WINDOW_SECONDS = 300  # seed 002's "last 5 minutes"; callers pass the configured window

# The statistics' clock: now(), unless a caller (a test) fixes the moment.
CLOCK = "coalesce(CAST(:now AS timestamptz), now())"
WINDOWS_SQL = text(
    f"""
SELECT {CLOCK} AS now,
       ({CLOCK} AT TIME ZONE 'UTC')::date AS utc_day,
       date_trunc('day', {CLOCK} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS utc_day_start,
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

# Platform totals: counters kept by triggers (insights/sql/counters.sql), corrected at read time
# by what changes with the clock alone. :utc_day is the UTC day of :now, :day_start its midnight
# (stats_day_counters hold rows by the UTC day they end on; what ends today is read through an
# index up to :now).
PLATFORM_SQL = text(
    f"""
WITH counters AS (SELECT counter, dimension, value FROM stats_counters),
ending_before AS (  -- rows that ended before today
    SELECT counter, dimension, sum(value) AS n FROM stats_day_counters WHERE day < :utc_day
    GROUP BY 1, 2
), ending_from AS (  -- rows that end today or later
    SELECT counter, dimension, sum(value) AS n FROM stats_day_counters WHERE day >= :utc_day
    GROUP BY 1, 2
), ended_today AS (  -- subscriptions not expired whose end fell today, up to now (seed: ends_at <= now)
    SELECT status, plan_name, count(*) AS n FROM subscriptions
    WHERE status <> 'expired' AND ends_at >= :day_start AND ends_at <= :now GROUP BY 1, 2
), present AS (  -- the users active now, and whether each is expired (seed 002) or lapsed
    SELECT u.has_expired_subscription OR u.subscription_first_end < :now AS expired,
           app_user_lapsed_at(u.deleted_at, u.subscription_live_until, u.has_expired_subscription, :now)
             AS lapsed
    FROM user_heartbeats h JOIN users u ON u.id = h.user_id AND u.deleted_at IS NULL
    WHERE {presence.present("h.last_seen_at", ":now")}
), overdue AS (  -- entitled subscriptions past their end that the expiry job has not marked yet
    SELECT status, plan_name, count(*) AS n FROM subscriptions
    WHERE app_is_entitled(status) AND ends_at <= :now GROUP BY status, plan_name
), by_state AS (
    SELECT substr(counter, 15) AS state, dimension AS plan_name, value AS n
    FROM counters WHERE counter LIKE 'subscriptions:%'
    UNION ALL SELECT status, plan_name, -n FROM overdue
    UNION ALL SELECT 'expired', plan_name, n FROM overdue
), active_by_plan AS (  -- seed: status = 'active' AND ends_at > now
    SELECT plan_name, sum(n)::bigint AS n FROM (
        SELECT dimension AS plan_name, n FROM ending_from WHERE counter = 'subscriptions_ending:active'
        UNION ALL SELECT plan_name, -n FROM ended_today WHERE status = 'active') a
    GROUP BY 1
)
SELECT
    (SELECT coalesce(sum(value), 0) FROM counters WHERE counter = 'users')::bigint AS total_users,
    ({presence.active_users_now_sql(":now")}) AS active_users_now,
    (SELECT count(*) FROM present) AS present_users,
    (SELECT count(*) FROM present WHERE expired) AS present_expired,
    (SELECT count(*) FROM present WHERE lapsed) AS present_lapsed,
    ((SELECT coalesce(sum(value), 0) FROM counters WHERE counter = 'users_with_expired_subscription')
      + (SELECT coalesce(sum(n), 0) FROM ending_before WHERE counter = 'users_first_end')
      + (SELECT count(*) FROM users WHERE deleted_at IS NULL AND NOT has_expired_subscription
           AND subscription_first_end >= :day_start AND subscription_first_end < :now))::bigint
      AS expired_users,
    ((SELECT coalesce(sum(value), 0) FROM counters WHERE counter = 'lapsed_users')
      + (SELECT count(*) FROM users u WHERE u.deleted_at IS NULL
           AND u.subscription_live_until IS NOT NULL AND u.subscription_live_until <= :now))::bigint
      AS lapsed_users,
    ((SELECT coalesce(sum(value), 0) FROM counters WHERE counter = 'subscriptions:expired')
      + (SELECT coalesce(sum(n), 0) FROM ending_before WHERE counter LIKE 'subscriptions_ending:%')
      + (SELECT coalesce(sum(n), 0) FROM ended_today))::bigint AS expired_subscriptions,
    (SELECT coalesce(sum(value), 0) FROM counters WHERE counter = 'subscriptions:cancelled')::bigint
      AS cancelled_subscriptions,
    ({presence.TOTAL_VISITORS_SQL})::bigint AS total_visitors,
    ({presence.visitors_now_sql(":now")}) AS visitors_now,
    ({presence.visitors_since_sql(":today_start")}) AS visitors_today,
    (SELECT coalesce(jsonb_agg(jsonb_build_array(plan_name, n)), '[]') FROM active_by_plan WHERE n <> 0)
      AS active_plans,
    (SELECT coalesce(jsonb_agg(jsonb_build_array(state, n)), '[]')
     FROM (SELECT state, sum(n)::bigint AS n FROM by_state GROUP BY 1) s WHERE n <> 0) AS states
"""
)

# One organization: its members and its own subscriptions, read directly (the cost grows with
# the organization, not with the platform), with the same definitions.
ORGANIZATION_SQL = text(
    f"""
WITH members AS (
    SELECT u.id,
           EXISTS (SELECT 1 FROM subscriptions s WHERE s.user_id = u.id
                   AND (s.status = 'expired' OR s.ends_at < :now)) AS expired,
           app_user_lapsed_at(u.deleted_at, u.subscription_live_until, u.has_expired_subscription, :now)
             AS lapsed,
           EXISTS (SELECT 1 FROM user_heartbeats h WHERE h.user_id = u.id
                   AND {presence.present("h.last_seen_at", ":now")}) AS present
    FROM organization_members m JOIN users u ON u.id = m.user_id AND u.deleted_at IS NULL
    WHERE m.organization_id = :organization_id AND m.is_active
), own AS (
    SELECT status, plan_name, ends_at FROM subscriptions WHERE organization_id = :organization_id
)
SELECT
    (SELECT count(*) FROM members) AS total_users,
    (SELECT count(*) FROM members WHERE present) AS active_users_now,
    (SELECT count(*) FROM members WHERE present) AS present_users,
    (SELECT count(*) FROM members WHERE present AND expired) AS present_expired,
    (SELECT count(*) FROM members WHERE present AND lapsed) AS present_lapsed,
    (SELECT count(*) FROM members WHERE expired) AS expired_users,
    (SELECT count(*) FROM members WHERE lapsed) AS lapsed_users,
    (SELECT count(*) FROM own WHERE status = 'expired' OR ends_at <= :now) AS expired_subscriptions,
    (SELECT count(*) FROM own WHERE status = 'cancelled') AS cancelled_subscriptions,
    (SELECT count(*) FROM visitor_sessions WHERE organization_id = :organization_id) AS total_visitors,
    (SELECT count(*) FROM visitor_sessions WHERE organization_id = :organization_id
       AND {presence.present("last_seen_at", ":now")}) AS visitors_now,
    (SELECT count(*) FROM visitor_sessions WHERE organization_id = :organization_id
       AND last_seen_at >= :today_start) AS visitors_today,
    (SELECT coalesce(jsonb_agg(jsonb_build_array(plan_name, n)), '[]')
     FROM (SELECT plan_name, count(*) AS n FROM own WHERE status = 'active' AND ends_at > :now
           GROUP BY 1) p) AS active_plans,
    (SELECT coalesce(jsonb_agg(jsonb_build_array(state, n)), '[]')
     FROM (SELECT app_subscription_state(status, ends_at, :now) AS state, count(*) AS n FROM own
           GROUP BY 1) s) AS states
"""
)


@dataclass(frozen=True)
class Windows:
    now: datetime
    utc_day: date
    utc_day_start: datetime
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
        utc_day=row.utc_day,
        utc_day_start=row.utc_day_start,
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
    window_seconds: int = DEFAULT_WINDOW_SECONDS,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The statistics: seed 002's sixteen keys, defined exactly as the seed's SQL, and beside them
    the consistent partition of users and the state of each subscription (docs/statistics.md).
    The caller has checked access and set a context that may read what the scope covers (the
    service's). ``window_seconds`` is the presence window ("now"); ``now`` fixes the clock."""
    spans = await windows(session, tz, now)
    counts = await activity_counts(session, scope_id, organization_id, spans.pieces())
    params: dict[str, Any] = {
        "today_start": spans.day_bounds[DAYS - 1],
        "now": spans.now,
        "utc_day": spans.utc_day,
        "day_start": spans.utc_day_start,
        "window_seconds": window_seconds,
    }
    if organization_id is None:
        row = (await session.execute(PLATFORM_SQL, params)).one()
    else:
        row = (await session.execute(ORGANIZATION_SQL, {**params, "organization_id": organization_id})).one()
    figures = _shape(row, spans, counts)
    # Beside seed 002's keys: the laundry bookings' money, all time up to now (docs/bookings.md).
    booked = await bookings_revenue.totals(
        session, organization_id=organization_id, start=None, end=spans.now
    )
    figures["bookingRevenue"] = booked.as_json()
    return figures


def _shape(row: Any, spans: Windows, counts: dict[tuple[int, str], int]) -> dict[str, Any]:
    total = int(row.total_users)
    expired = int(row.expired_users)
    present, present_expired = int(row.present_users), int(row.present_expired)
    # Seed 002: "users not in activeUsersNow and not expired".
    inactive = total - present - expired + present_expired
    active = int(row.active_users_now)
    plans = sorted(((p, int(n)) for p, n in row.active_plans), key=lambda item: (-item[1], item[0]))
    active_subscriptions = sum(n for _, n in plans)
    # The consistent partition: active now, lapsed (and not active now), idle.
    lapsed = int(row.lapsed_users) - int(row.present_lapsed)
    idle = total - present - lapsed
    partition_shares = one_decimal_shares([present, lapsed, idle])
    states = {state: int(n) for state, n in sorted(row.states)}

    def count(window: int, event_type: str) -> int:
        return counts.get((window, event_type), 0)

    return {
        "totalUsers": total,
        "activeUsersNow": active,
        "expiredUsers": expired,
        "inactiveUsers": inactive,
        "activeSubscriptions": active_subscriptions,
        "expiredSubscriptions": int(row.expired_subscriptions),
        "cancelledSubscriptions": int(row.cancelled_subscriptions),
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
        "planDistribution": [{"plan": plan, "count": n} for plan, n in plans],
        "plansPercentage": [
            {"plan": plan, "percentage": percentage(n, active_subscriptions)} for plan, n in plans
        ],
        "usersStatusPercentage": {
            "active": percentage(active, total),
            "expired": percentage(expired, total),
            "inactive": percentage(inactive, total),
        },
        "usersPartition": {"active": present, "lapsed": lapsed, "idle": idle},
        "usersPartitionPercentage": {
            "active": partition_shares[0],
            "lapsed": partition_shares[1],
            "idle": partition_shares[2],
        },
        "subscriptionsByState": states,
    }
