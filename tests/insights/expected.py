"""Seed 002's statistics computed the naive way, straight from the raw tables, as the tests'
independent reference: no counters, no rollups, no derived user columns, no saaskit SQL
function. The sixteen seed keys are seed 002's own SQL, written out literally (its "accounts" are
saaskit's users that are not soft-deleted; its 5-minute window is the default presence window);
percentages are PostgreSQL's round(x * 100.0 / total, 1). The partition keys follow
docs/statistics.md. Time zones through PostgreSQL's own ``AT TIME ZONE``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.insights.percentages import one_decimal_shares
from saaskit.kit.db import SERVICE, set_context

LIVE = "('trialing', 'active', 'past_due')"


async def _rows(session: AsyncSession, sql: str, **params: Any) -> list[Any]:
    return list((await session.execute(text(sql), params)).all())


async def _value(session: AsyncSession, sql: str, **params: Any) -> int:
    return int((await session.execute(text(sql), params)).scalar_one())


async def expected_stats(
    session: AsyncSession, *, now: datetime, tz: str, organization_id: uuid.UUID | None = None
) -> dict[str, Any]:
    await set_context(session, SERVICE)
    org = organization_id
    users_in_scope = (
        "SELECT u.* FROM users u WHERE u.deleted_at IS NULL"
        if org is None
        else "SELECT u.* FROM users u JOIN organization_members m ON m.user_id = u.id "
        "AND m.organization_id = :org AND m.is_active WHERE u.deleted_at IS NULL"
    )
    params: dict[str, Any] = {"now": now, "tz": tz, "org": org}
    total = await _value(session, f"SELECT count(*) FROM ({users_in_scope}) u", **params)
    # Seed 002: "count distinct user_id from user_heartbeats where last_seen_at > now() - 5 minutes"
    # (in an organization, its members').
    active_now = await _value(
        session,
        "SELECT count(DISTINCT user_id) FROM user_heartbeats WHERE last_seen_at > :now - interval '5 minutes'"
        if org is None
        else f"SELECT count(*) FROM ({users_in_scope}) u JOIN user_heartbeats h ON h.user_id = u.id "
        "WHERE h.last_seen_at > :now - interval '5 minutes'",
        **params,
    )
    # Seed 002: "count users whose subscription is expired (status = 'expired' or ends_at < now())".
    seed_expired = (
        "EXISTS (SELECT 1 FROM subscriptions s WHERE s.user_id = u.id "
        "AND (s.status = 'expired' OR s.ends_at < :now))"
    )
    present = (
        "EXISTS (SELECT 1 FROM user_heartbeats h WHERE h.user_id = u.id "
        "AND h.last_seen_at > :now - interval '5 minutes')"
    )
    expired = await _value(
        session, f"SELECT count(*) FROM ({users_in_scope}) u WHERE {seed_expired}", **params
    )
    # Seed 002: "users not in activeUsersNow and not expired".
    inactive = await _value(
        session,
        f"SELECT count(*) FROM ({users_in_scope}) u WHERE NOT {present} AND NOT {seed_expired}",
        **params,
    )
    # The partition (docs/statistics.md): lapsed = not active now, no live subscription of one's
    # own, an ended one.
    lapsed = await _value(
        session,
        f"""SELECT count(*) FROM ({users_in_scope}) u
        WHERE NOT {present}
          AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.user_id = u.id AND s.status IN {LIVE}
                          AND (s.ends_at IS NULL OR s.ends_at > :now))
          AND EXISTS (SELECT 1 FROM subscriptions s WHERE s.user_id = u.id
                      AND (s.status = 'expired' OR (s.status IN {LIVE} AND s.ends_at <= :now)))""",
        **params,
    )
    present_users = await _value(
        session, f"SELECT count(*) FROM ({users_in_scope}) u WHERE {present}", **params
    )
    subs_scope = "TRUE" if org is None else "organization_id = :org"
    active_subs = await _rows(
        session,
        f"SELECT plan_name, count(*) FROM subscriptions WHERE {subs_scope} AND status = 'active' "
        "AND ends_at > :now GROUP BY plan_name",
        **params,
    )
    expired_subs = await _value(
        session,
        f"SELECT count(*) FROM subscriptions WHERE {subs_scope} AND (status = 'expired' OR ends_at <= :now)",
        **params,
    )
    states = await _rows(
        session,
        f"SELECT CASE WHEN status IN {LIVE} AND ends_at <= :now THEN 'expired' ELSE status END, count(*) "
        f"FROM subscriptions WHERE {subs_scope} GROUP BY 1 ORDER BY 1",
        **params,
    )
    cancelled_subs = await _value(
        session, f"SELECT count(*) FROM subscriptions WHERE {subs_scope} AND status = 'cancelled'", **params
    )
    visitors_scope = "TRUE" if org is None else "organization_id = :org"
    total_visitors = await _value(
        session, f"SELECT count(*) FROM visitor_sessions WHERE {visitors_scope}", **params
    )
    visitors_now = await _value(
        session,
        f"SELECT count(*) FROM visitor_sessions WHERE {visitors_scope} "
        "AND last_seen_at > :now - interval '5 minutes'",
        **params,
    )
    visitors_today = await _value(
        session,
        f"SELECT count(*) FROM visitor_sessions WHERE {visitors_scope} "
        "AND last_seen_at >= date_trunc('day', :now AT TIME ZONE :tz) AT TIME ZONE :tz",
        **params,
    )
    activity_scope = (
        "TRUE"
        if org is None
        else "user_id IN (SELECT user_id FROM organization_members WHERE organization_id = :org AND is_active)"
    )
    days = await _rows(
        session,
        f"""SELECT d::date AS day,
               count(a.*) FILTER (WHERE a.event_type = 'login') AS logins,
               count(a.*) FILTER (WHERE a.event_type = 'signup') AS signups,
               count(a.*) FILTER (WHERE a.event_type = 'app_open') AS app_opens,
               count(a.*) FILTER (WHERE a.event_type = 'action') AS actions
        FROM generate_series(date_trunc('day', :now AT TIME ZONE :tz) - interval '6 days',
                             date_trunc('day', :now AT TIME ZONE :tz), interval '1 day') AS d
        LEFT JOIN (SELECT * FROM activity_events WHERE {activity_scope}) a
          ON (a.created_at AT TIME ZONE :tz)::date = d::date
        GROUP BY d ORDER BY d""",
        **params,
    )
    months = await _rows(
        session,
        f"""SELECT to_char(m, 'YYYY-MM') AS month,
               count(a.*) FILTER (WHERE a.event_type = 'login') AS logins
        FROM generate_series(date_trunc('month', :now AT TIME ZONE :tz) - interval '5 months',
                             date_trunc('month', :now AT TIME ZONE :tz), interval '1 month') AS m
        LEFT JOIN (SELECT * FROM activity_events WHERE {activity_scope}) a
          ON to_char(a.created_at AT TIME ZONE :tz, 'YYYY-MM') = to_char(m, 'YYYY-MM')
        GROUP BY m ORDER BY m""",
        **params,
    )
    plans = sorted(((p, int(n)) for p, n in active_subs), key=lambda item: (-item[1], item[0]))
    active_total = sum(n for _, n in plans)
    idle = total - present_users - lapsed
    partition_shares = one_decimal_shares([present_users, lapsed, idle])
    return {
        "totalUsers": total,
        "activeUsersNow": active_now,
        "expiredUsers": expired,
        "inactiveUsers": inactive,
        "activeSubscriptions": active_total,
        "expiredSubscriptions": expired_subs,
        "cancelledSubscriptions": cancelled_subs,
        "totalVisitors": total_visitors,
        "visitorsNow": visitors_now,
        "visitorsToday": visitors_today,
        "activityByDay": [
            {"date": r.day.isoformat(), "logins": r.logins, "signups": r.signups} for r in days
        ],
        "monthlyLogins": [{"month": r.month, "logins": r.logins} for r in months],
        "dailyActivity": [
            {"date": r.day.isoformat(), "logins": r.logins, "appOpens": r.app_opens, "actions": r.actions}
            for r in days
        ],
        "planDistribution": [{"plan": p, "count": n} for p, n in plans],
        "plansPercentage": [
            {"plan": p, "percentage": await _percent(session, n, active_total)} for p, n in plans
        ],
        "usersStatusPercentage": {
            "active": await _percent(session, active_now, total),
            "expired": await _percent(session, expired, total),
            "inactive": await _percent(session, inactive, total),
        },
        "usersPartition": {"active": present_users, "lapsed": lapsed, "idle": idle},
        "usersPartitionPercentage": {
            "active": partition_shares[0],
            "lapsed": partition_shares[1],
            "idle": partition_shares[2],
        },
        "subscriptionsByState": {state: int(n) for state, n in states},
    }


async def _percent(session: AsyncSession, part: int, whole: int) -> float:
    """Seed 002's percentage, as PostgreSQL rounds it (0.0 when there is nothing to count)."""
    if whole == 0:
        return 0.0
    sql = "SELECT round(CAST(:part AS numeric) * 100.0 / :whole, 1)"
    return float((await session.execute(text(sql), {"part": part, "whole": whole})).scalar_one())
