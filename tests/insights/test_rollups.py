"""Rollups equal a computation in Python over the raw rows, and re-running them changes nothing."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.insights.models import PLATFORM
from saaskit.insights.rollups import backfill, runner
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from tests.factories import insert_activity_events, now_of
from tests.insights.dataset import Dataset, build, build_usage

NOW = datetime(2026, 11, 3, 10, 17, tzinfo=UTC)
ROLLED_DAILY = (
    "activity_rollups_15m",
    "activity_rollups_daily",
    "user_engagement_daily",
    "daily_metrics",
    "organization_metrics_daily",
)


async def rows(session: AsyncSession, sql: str, **params: Any) -> list[Any]:
    return list((await session.execute(text(sql), params)).all())


async def dataset(session: AsyncSession) -> Dataset:
    data = await build(session, now=NOW, users=400, events=8000, days=70)
    await build_usage(session, data)
    return data


def in_day(moment: datetime | None, day: date) -> bool:
    return moment is not None and moment.astimezone(UTC).date() == day


def minutes(value: float) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


async def test_daily_figures_match_python(session: AsyncSession) -> None:
    data = await dataset(session)
    days = [(NOW - timedelta(days=n)).date() for n in (1, 2, 9, 31, 32, 60)]
    for day in await runner.pending_days(session, NOW):  # in order: weekly/monthly read earlier days
        assert await runner.roll_day(session, day, NOW)
    await assert_daily_rollups_match_python(session, days)
    assert data.users


async def assert_daily_rollups_match_python(session: AsyncSession, days: list[date]) -> None:
    """daily_metrics, user_engagement_daily and organization_metrics_daily of ``days`` (already
    rolled up) equal Python over the raw rows. Also run on demo data (test_on_demo)."""
    users = await rows(session, "SELECT id, created_at FROM users")
    activity = await rows(session, "SELECT created_at, user_id, event_type, action_name FROM activity_events")
    usage = await rows(
        session,
        "SELECT user_id, dashboard_id, started_at, ended_at FROM user_sessions WHERE session_type = 'usage'",
    )
    trials = await rows(
        session,
        "SELECT s.trial_end, EXISTS (SELECT 1 FROM invoices i WHERE i.subscription_id = s.id "
        "AND i.amount_paid_cents > 0 AND i.paid_at >= s.trial_end) AS paid FROM subscriptions s "
        "WHERE s.trial_start IS NOT NULL AND s.trial_end IS NOT NULL",
    )
    pages = await rows(session, "SELECT viewed_at, user_id, organization_id FROM page_views")
    widgets = await rows(session, "SELECT timestamp, user_id, widget_type FROM widget_analytics")
    events = await rows(session, "SELECT timestamp, organization_id FROM events")
    members = await rows(
        session, "SELECT organization_id, user_id, joined_at FROM organization_members WHERE is_active"
    )
    all_members = await rows(session, "SELECT organization_id, joined_at FROM organization_members")
    invoices = await rows(session, "SELECT organization_id, amount_paid_cents, paid_at FROM invoices")
    created = {u.id: u.created_at for u in users}
    lo_hi = {day: (runner.midnight(day), runner.midnight(day + timedelta(days=1))) for day in days}
    for day in days:
        lo, hi = lo_hi[day]
        active = {a.user_id for a in activity if in_day(a.created_at, day) and a.user_id}

        def active_within(days_back: int, day: date = day) -> set[Any]:
            first = day - timedelta(days=days_back - 1)
            return {
                a.user_id
                for a in activity
                if a.user_id and a.user_id in created and first <= a.created_at.astimezone(UTC).date() <= day
            }

        running = [s for s in usage if s.started_at < hi and (s.ended_at is None or s.ended_at >= lo)]
        started = [s for s in usage if in_day(s.started_at, day)]
        ended = [(s.ended_at - s.started_at).total_seconds() / 60 for s in started if s.ended_at]
        want = (
            sum(1 for u in users if in_day(u.created_at, day)),
            sum(1 for u in active if created[u] < lo),
            len(active),
            len(active_within(7)),
            len(active_within(30)),
            len({s.dashboard_id for s in running}),
            len(started),
            minutes(statistics.fmean(ended)) if ended else None,
            sum(1 for t in trials if in_day(t.trial_end, day) and t.paid),
        )
        got = (
            await rows(
                session,
                "SELECT new_signups, returning_users, active_users, weekly_active_users, monthly_active_users, "
                "active_dashboards, total_sessions, "
                "avg_session_minutes, trial_to_paid_conversions FROM daily_metrics WHERE date = :d",
                d=day,
            )
        )[0]
        assert tuple(got) == want, day

        engagement: dict[Any, list[Any]] = defaultdict(lambda: [0, 0, set(), 0, 0, 0, 0])
        for a in activity:
            if a.user_id and in_day(a.created_at, day):
                e = engagement[a.user_id]
                e[3] += a.event_type == "action"
                e[4] += a.event_type == "login"
                e[5] += a.event_type == "app_open"
                e[6] += 1
                if a.action_name:
                    e[2].add("action:" + a.action_name)
        for s in started:
            engagement[s.user_id][0] += 1
        for p in pages:
            if p.user_id and in_day(p.viewed_at, day):
                engagement[p.user_id][1] += 1
        for w in widgets:
            if in_day(w.timestamp, day):
                engagement[w.user_id][2].add("widget:" + w.widget_type)
        want_engagement = {
            user: (e[0], e[1], len(e[2]), e[3], e[4], e[5])
            for user, e in engagement.items()
            if user in created
        }
        got_engagement = {
            r.user_id: (
                r.session_count,
                r.page_views,
                r.features_used,
                r.actions_performed,
                r.logins,
                r.app_opens,
            )
            for r in await rows(session, "SELECT * FROM user_engagement_daily WHERE date = :d", d=day)
        }
        assert got_engagement == want_engagement, day

        org_figures: dict[Any, list[Any]] = defaultdict(lambda: [set(), 0, 0, 0])
        member_orgs = defaultdict(set)
        for m in members:
            member_orgs[m.user_id].add(m.organization_id)
        for a in activity:
            if a.user_id and in_day(a.created_at, day):
                for org in member_orgs[a.user_id]:
                    org_figures[org][0].add(a.user_id)
        for m in all_members:
            if in_day(m.joined_at, day):
                org_figures[m.organization_id][1] += 1
        for i in invoices:
            if i.organization_id and in_day(i.paid_at, day):
                org_figures[i.organization_id][2] += i.amount_paid_cents
        for e in events:
            if e.organization_id and in_day(e.timestamp, day):
                org_figures[e.organization_id][3] += 1
        for p in pages:
            if p.organization_id and in_day(p.viewed_at, day):
                org_figures[p.organization_id][3] += 1
        for org in {m.organization_id for m in members}:
            org_figures[org]  # touched: organizations with members may have weekly/monthly figures
        weekly, monthly = active_within(7), active_within(30)
        want_orgs = {
            org: (
                len(f[0]),
                sum(1 for u in weekly if org in member_orgs[u]),
                sum(1 for u in monthly if org in member_orgs[u]),
                f[1],
                f[2],
                f[3],
            )
            for org, f in org_figures.items()
        }
        want_orgs = {org: v for org, v in want_orgs.items() if any(v)}
        got_orgs = {
            r.organization_id: (
                r.active_users,
                r.weekly_active_users,
                r.monthly_active_users,
                r.new_users,
                r.revenue_generated,
                r.api_calls,
            )
            for r in await rows(session, "SELECT * FROM organization_metrics_daily WHERE date = :d", d=day)
        }
        assert got_orgs == want_orgs, day


async def test_activity_and_monthly_rollups_match_python(session: AsyncSession) -> None:
    await dataset(session)
    october = date(2026, 10, 1)
    assert await runner.roll_month(session, october, NOW)
    assert not await runner.roll_month(session, date(2026, 11, 1), NOW)  # still running
    for day in (date(2026, 10, 31), date(2026, 11, 1)):
        await runner.roll_day(session, day, NOW)
    activity = await rows(session, "SELECT created_at, user_id, event_type FROM activity_events")
    members = await rows(session, "SELECT organization_id, user_id FROM organization_members WHERE is_active")
    orgs_of = defaultdict(set)
    for m in members:
        orgs_of[m.user_id].add(m.organization_id)

    def expected(select: Any) -> dict[tuple[Any, Any, str], tuple[int, set[Any]]]:
        out: dict[tuple[Any, Any, str], tuple[int, set[Any]]] = {}
        for a in activity:
            key = select(a.created_at)
            if key is None:
                continue
            for scope in (PLATFORM, *orgs_of.get(a.user_id, ())):
                count, users = out.get((scope, key, a.event_type), (0, set()))
                out[(scope, key, a.event_type)] = (count + 1, users | {a.user_id})
        return out

    month = expected(lambda t: october if t.astimezone(UTC).date().replace(day=1) == october else None)
    got = {
        (r.scope_id, r.month, r.event_type): (r.events, r.users)
        for r in await rows(session, "SELECT * FROM activity_events_monthly")
    }
    assert got == {k: (n, len(u - {None})) for k, (n, u) in month.items()}
    daily = expected(
        lambda t: (
            t.astimezone(UTC).date()
            if t.astimezone(UTC).date() in (date(2026, 10, 31), date(2026, 11, 1))
            else None
        )
    )
    got_daily = {
        (r.scope_id, r.day, r.event_type): (r.events, r.users)
        for r in await rows(session, "SELECT * FROM activity_rollups_daily")
    }
    assert got_daily == {k: (n, len(u - {None})) for k, (n, u) in daily.items()}

    def quarter(t: datetime) -> datetime | None:
        t = t.astimezone(UTC)
        if t.date() not in (date(2026, 10, 31), date(2026, 11, 1)):
            return None
        return t.replace(minute=t.minute - t.minute % 15, second=0, microsecond=0)

    quarters = expected(quarter)
    got_quarters = {
        (r.scope_id, r.bucket_start, r.event_type): r.events
        for r in await rows(session, "SELECT * FROM activity_rollups_15m")
    }
    assert got_quarters == {k: n for k, (n, _) in quarters.items()}

    events = await rows(
        session, "SELECT timestamp, organization_id, event_name, user_id, distinct_id FROM events"
    )
    want_events: dict[tuple[Any, str], tuple[int, set[str]]] = {}
    for e in events:
        if e.timestamp.astimezone(UTC).date().replace(day=1) != october:
            continue
        person = str(e.user_id) if e.user_id else e.distinct_id
        for scope in (PLATFORM, e.organization_id) if e.organization_id else (PLATFORM,):
            n, people = want_events.get((scope, e.event_name), (0, set()))
            want_events[(scope, e.event_name)] = (n + 1, people | {person})
    got_events = {
        (r.scope_id, r.event_name): (r.events, r.persons)
        for r in await rows(session, "SELECT * FROM events_monthly WHERE month = :m", m=october)
    }
    assert got_events == {k: (n, len(p)) for k, (n, p) in want_events.items()}
    widget_months = await rows(
        session, "SELECT sum(events) FROM widget_analytics_monthly WHERE month = :m", m=october
    )
    raw_widgets = await rows(
        session,
        "SELECT count(*) FROM widget_analytics WHERE timestamp >= '2026-10-01Z' AND timestamp < '2026-11-01Z'",
    )
    assert widget_months[0][0] == raw_widgets[0][0] > 0
    system_months = await rows(
        session,
        "SELECT app_version, sum(events) FROM system_events_monthly WHERE month = :m GROUP BY 1",
        m=october,
    )
    raw_system = await rows(
        session,
        "SELECT coalesce(app_version, ''), count(*) FROM system_events "
        "WHERE created_at >= '2026-10-01Z' AND created_at < '2026-11-01Z' GROUP BY 1",
    )
    assert sorted(map(tuple, system_months)) == sorted(map(tuple, raw_system))


async def digest(session: AsyncSession) -> dict[str, str]:
    tables = {
        "activity_rollups_15m": "scope_id, bucket_start, event_type",
        "activity_rollups_daily": "scope_id, day, event_type",
        "activity_events_monthly": "scope_id, month, event_type",
        "daily_metrics": "date",
        "user_engagement_daily": "user_id, date",
        "organization_metrics_daily": "organization_id, date",
        "events_monthly": "scope_id, month, event_name",
        "page_views_monthly": "scope_id, month",
        "widget_analytics_monthly": "month, widget_type, event_type",
        "system_events_monthly": "month, event_type, severity, app_version",
        "performance_metrics_monthly": "month, metric_name",
    }
    volatile = {"id", "created_at", "computed_at"}
    out = {}
    for table, order in tables.items():
        columns = [
            r[0]
            for r in await rows(
                session,
                "SELECT column_name FROM information_schema.columns WHERE table_name = :t ORDER BY ordinal_position",
                t=table,
            )
            if r[0] not in volatile
        ]
        value = await rows(
            session,
            f"SELECT count(*), md5(string_agg(row({', '.join(columns)})::text, '|' ORDER BY {order})) FROM {table}",
        )
        out[table] = f"{value[0][0]}:{value[0][1]}"
    return out


async def test_rolling_again_changes_nothing_and_picks_up_late_rows(session: AsyncSession) -> None:
    await dataset(session)
    days = [date(2026, 10, 30) + timedelta(days=i) for i in range(4)]

    async def roll() -> None:
        for day in days:
            await runner.roll_day(session, day, NOW)
        await runner.roll_month(session, date(2026, 10, 1), NOW)

    await roll()
    first = await digest(session)
    assert all(not value.startswith("0:") for value in first.values()), first
    await roll()
    assert await digest(session) == first
    # A row arriving late for a closed day is counted once that day is rolled again.
    await insert_activity_events(session, None, [datetime(2026, 10, 31, 12, tzinfo=UTC)], event_type="login")
    await runner.roll_day(session, date(2026, 10, 31), NOW)
    assert (await digest(session))["activity_rollups_daily"] != first["activity_rollups_daily"]


async def test_watermarks_only_cover_what_is_complete(session: AsyncSession) -> None:
    await dataset(session)
    # Rolling a day in the middle first must not claim the older days are done.
    await runner.roll_day(session, date(2026, 10, 20), NOW)
    assert await runner.watermark(session, runner.DAILY) is None
    oldest = await runner.oldest_activity(session)
    assert oldest is not None
    for day in await runner.pending_days(session, NOW):
        await runner.roll_day(session, day, NOW)
    assert await runner.watermark(session, runner.DAILY) == runner.midnight(NOW.date())
    assert await runner.pending_days(session, NOW) == []
    done = await runner.roll_recent(session, NOW)
    assert done.quarters_to == runner.floor_quarter(NOW - runner.GRACE)
    assert await runner.watermark(session, runner.QUARTERS) == done.quarters_to


async def test_days_rolled_side_by_side_equal_days_rolled_in_order(fresh_runtime: Runtime) -> None:
    """roll_range's two passes with several days at a time (what the demo and ``saaskit rollup``
    do) give exactly the rows of rolling each day in order, and move the watermarks as far."""
    async with fresh_runtime.db.session(SERVICE) as session:
        await dataset(session)
        oldest = await runner.oldest_activity(session)
    assert oldest is not None
    first, last = oldest.astimezone(UTC).date(), NOW.date()  # today is rolled but not closed
    days, months = await backfill.roll_range(fresh_runtime, first, last, now=NOW, jobs=3)
    assert (days, months) == ((last - first).days, len(backfill.closed_months(first, last, NOW)))
    async with fresh_runtime.db.session(SERVICE) as session:
        side_by_side = await digest(session)
        assert all(not value.startswith("0:") for value in side_by_side.values()), side_by_side
        assert await runner.watermark(session, runner.DAILY) == runner.midnight(NOW.date())
        assert await runner.watermark(session, runner.QUARTERS) == runner.floor_quarter(NOW - runner.GRACE)
        for table in ROLLED_DAILY:
            await session.execute(text(f"DELETE FROM {table}"))
    async with fresh_runtime.db.session(SERVICE) as session:
        for day in backfill.days_between(first, last):
            await runner.roll_day(session, day, NOW)
        assert await digest(session) == side_by_side


async def test_geographic_stats(session: AsyncSession) -> None:
    await dataset(session)
    await runner.refresh_geographic_stats(session)
    users = await rows(session, "SELECT id, country_code, last_seen_at FROM users WHERE deleted_at IS NULL")
    subscriptions = await rows(
        session,
        "SELECT user_id, status FROM subscriptions WHERE user_id IS NOT NULL "
        "AND status IN ('trialing', 'active', 'past_due') AND (ends_at IS NULL OR ends_at > now())",
    )
    statuses = defaultdict(set)
    for s in subscriptions:
        statuses[s.user_id].add(s.status)
    now = await now_of(session)
    want: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for u in users:
        figures = want[u.country_code or "ZZ"]
        figures[0] += 1
        figures[1] += bool(u.last_seen_at and u.last_seen_at > now - timedelta(days=30))
        paid = bool(statuses[u.id] & {"active", "past_due"})
        figures[2] += "trialing" in statuses[u.id] and not paid
        figures[3] += paid
    got = {
        r.country_code: [r.total_users, r.active_users_30d, r.trial_users, r.paid_users]
        for r in await rows(session, "SELECT * FROM geographic_stats")
    }
    assert got == dict(want)
    assert set(got) >= {"FR", "US", "ZZ"}


async def test_dim_dates_and_the_seed_join(session: AsyncSession) -> None:
    first, last, total = (
        await rows(session, "SELECT min(date_key), max(date_key), count(*) FROM dim_dates")
    )[0]
    assert (first, last, total) == (
        date(2000, 1, 1),
        date(2050, 12, 31),
        (date(2050, 12, 31) - date(2000, 1, 1)).days + 1,
    )
    row = (await rows(session, "SELECT * FROM dim_dates WHERE date_key = '2026-11-21'"))[0]
    assert (row.day_name, row.month_name, row.quarter, row.is_weekend, row.week_of_year, row.week_start) == (
        "Saturday",
        "November",
        4,
        True,
        47,
        date(2026, 11, 16),
    )
    await build(session, now=NOW, users=50, events=500, days=20)
    # Seed 003's example, with activity_events in place of research_queries.
    joined = await rows(
        session,
        "SELECT d.month_name, d.is_weekend, COUNT(*) as queries FROM activity_events rq "
        "JOIN dim_dates d ON DATE(rq.created_at) = d.date_key GROUP BY d.month_name, d.is_weekend",
    )
    raw = await rows(session, "SELECT count(*) FROM activity_events")
    assert sum(r.queries for r in joined) == raw[0][0]
    assert {r.month_name for r in joined} >= {"October", "November"}
    assert {r.is_weekend for r in joined} == {True, False}
