"""Seed 002's statistics computed the naive way, straight from the raw tables, as the tests'
independent reference: no counters, no rollups, no derived user columns. Time zones through
PostgreSQL's own ``AT TIME ZONE``; the definitions as docs/statistics.md states them."""

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
    active_now = await _value(
        session,
        f"SELECT count(*) FROM ({users_in_scope}) u JOIN user_heartbeats h ON h.user_id = u.id "
        "WHERE h.last_seen_at > :now - interval '5 minutes'",
        **params,
    )
    expired = await _value(
        session,
        f"""SELECT count(*) FROM ({users_in_scope}) u
        WHERE NOT EXISTS (SELECT 1 FROM user_heartbeats h WHERE h.user_id = u.id
                          AND h.last_seen_at > :now - interval '5 minutes')
          AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.user_id = u.id AND s.status IN {LIVE}
                          AND (s.ends_at IS NULL OR s.ends_at > :now))
          AND EXISTS (SELECT 1 FROM subscriptions s WHERE s.user_id = u.id
                      AND (s.status = 'expired' OR (s.status IN {LIVE} AND s.ends_at <= :now)))""",
        **params,
    )
    subs_scope = "TRUE" if org is None else "organization_id = :org"
    active_subs = await _rows(
        session,
        f"SELECT plan_name, count(*) FROM subscriptions WHERE {subs_scope} AND status = 'active' "
        "AND (ends_at IS NULL OR ends_at > :now) GROUP BY plan_name",
        **params,
    )
    expired_subs = await _value(
        session,
        f"SELECT count(*) FROM subscriptions WHERE {subs_scope} AND (status = 'expired' "
        f"OR (status IN {LIVE} AND ends_at <= :now))",
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
    inactive = total - active_now - expired
    plans = sorted(((p, int(n)) for p, n in active_subs), key=lambda item: (-item[1], item[0]))
    plan_shares = one_decimal_shares([n for _, n in plans])
    user_shares = one_decimal_shares([active_now, expired, inactive])
    return {
        "totalUsers": total,
        "activeUsersNow": active_now,
        "expiredUsers": expired,
        "inactiveUsers": inactive,
        "activeSubscriptions": sum(n for _, n in plans),
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
            {"plan": p, "percentage": s} for (p, _), s in zip(plans, plan_shares, strict=True)
        ],
        "usersStatusPercentage": {
            "active": user_shares[0],
            "expired": user_shares[1],
            "inactive": user_shares[2],
        },
    }
