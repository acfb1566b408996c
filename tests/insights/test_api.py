"""The insights API over real HTTP (ASGI): who may ask what, the answers' shape, bad input, and
the KPIs against a computation in Python over the subscriptions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.insights import stats
from saaskit.insights.models import PLATFORM
from saaskit.insights.rollups import runner
from tests.factories import insert_plan, make_admin, make_member, now_of, sql
from tests.helpers import SignedUp, signup
from tests.insights.dataset import Dataset, build, build_usage

SEED_002_KEYS = {
    "totalUsers",
    "activeUsersNow",
    "expiredUsers",
    "inactiveUsers",
    "activeSubscriptions",
    "expiredSubscriptions",
    "cancelledSubscriptions",
    "totalVisitors",
    "visitorsNow",
    "visitorsToday",
    "activityByDay",
    "monthlyLogins",
    "dailyActivity",
    "planDistribution",
    "plansPercentage",
    "usersStatusPercentage",
}
# saaskit's consistent variants, beside the seed's keys (docs/statistics.md).
PARTITION_KEYS = {"usersPartition", "usersPartitionPercentage", "subscriptionsByState"}
# The laundry bookings' money, beside the seed's keys (docs/bookings.md; tests/bookings/test_revenue.py).
BOOKING_KEYS = {"bookingRevenue"}
NO_BOOKINGS = {
    "grossCents": 0,
    "refundedCents": 0,
    "netCents": 0,
    "paidBookings": 0,
    "refundedBookings": 0,
    "byService": [],
}


async def prepared(client: httpx.AsyncClient, session: AsyncSession) -> tuple[Dataset, SignedUp]:
    now = await now_of(session)
    data = await build(session, now=now, users=300, events=5000, days=60)
    await build_usage(session, data)
    for day in await runner.pending_days(session, now):
        await runner.roll_day(session, day, now)
    await runner.roll_recent(session, now)
    return data, await make_admin(client, session)


async def test_stats_for_admins_with_seed_002_keys_exactly(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    data, boss = await prepared(client, session)
    response = await client.get("/api/admin/stats", headers=boss.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == SEED_002_KEYS | PARTITION_KEYS | BOOKING_KEYS
    assert body["bookingRevenue"] == NO_BOOKINGS  # this dataset has no laundry
    assert list(body)[: len(SEED_002_KEYS)] == [k for k in body if k in SEED_002_KEYS]
    assert body == await stats.compute(session, scope_id=PLATFORM, organization_id=None, tz="UTC")
    assert all(
        isinstance(body[key], int)
        for key in SEED_002_KEYS
        if key.endswith(("Users", "Now", "Today", "Visitors"))
    )
    paris = await client.get("/api/admin/stats", params={"tz": "Europe/Paris"}, headers=boss.headers)
    assert paris.status_code == 200
    assert [d["date"] for d in paris.json()["activityByDay"]][-1] == (
        (await now_of(session)).astimezone(ZoneInfo("Europe/Paris")).date().isoformat()
    )
    narrowed = await client.get(
        "/api/admin/stats", params={"organization_id": str(data.organizations[0])}, headers=boss.headers
    )
    assert narrowed.status_code == 200
    assert narrowed.json()["totalUsers"] == len(
        set(data.members[data.organizations[0]]) & set(await alive(session))
    )


async def alive(session: AsyncSession) -> list[uuid.UUID]:
    return [r[0] for r in await sql(session, "SELECT id FROM users WHERE deleted_at IS NULL")]


async def test_who_may_read_what(client: httpx.AsyncClient, session: AsyncSession) -> None:
    data, boss = await prepared(client, session)
    org = data.organizations[1]
    plain = await signup(client)
    reader = await make_member(client, session, org, "member")
    viewer = await make_member(client, session, org, "viewer")
    refused = await client.get("/api/admin/stats", headers=plain.headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "admin_only"
    assert (await client.get("/api/admin/stats")).status_code == 401
    own = await client.get("/api/admin/stats", params={"organization_id": str(org)}, headers=reader.headers)
    assert own.status_code == 200
    assert own.json() == await stats.compute(session, scope_id=org, organization_id=org, tz="UTC")
    no_permission = await client.get(
        "/api/admin/stats", params={"organization_id": str(org)}, headers=viewer.headers
    )
    assert no_permission.status_code == 403 and no_permission.json()["error"]["code"] == "permission_denied"
    other = await client.get(
        "/api/admin/stats", params={"organization_id": str(data.organizations[0])}, headers=reader.headers
    )
    assert other.status_code == 404 and other.json()["error"]["field"] == "organization_id"
    for path in ("/api/insights/kpis", "/api/insights/daily-metrics?from=2026-01-01&to=2026-01-02"):
        assert (await client.get(path, headers=plain.headers)).status_code == 403
        sep = "&" if "?" in path else "?"
        assert (
            await client.get(f"{path}{sep}organization_id={org}", headers=reader.headers)
        ).status_code == 200
    audit = await sql(
        session,
        "SELECT count(*) FROM activities WHERE action = 'platform_admin.viewed' AND organization_id = :o",
        o=data.organizations[0],
    )
    await client.get(
        "/api/admin/stats", params={"organization_id": str(data.organizations[0])}, headers=boss.headers
    )
    audit_after = await sql(
        session,
        "SELECT count(*) FROM activities WHERE action = 'platform_admin.viewed' AND organization_id = :o",
        o=data.organizations[0],
    )
    assert audit_after[0][0] == audit[0][0] + 1


async def test_bad_input_is_a_4xx_naming_the_field(client: httpx.AsyncClient, session: AsyncSession) -> None:
    boss = await make_admin(client, session)
    cases = [
        ("/api/admin/stats?tz=Mars/Olympus", 422, "tz"),
        ("/api/admin/stats?organization_id=nope", 422, "organization_id"),
        ("/api/admin/stats?organization_id=" + str(uuid.uuid4()), 404, "organization_id"),
        ("/api/insights/daily-metrics?from=2026-02-01&to=2026-01-01", 422, "to"),
        ("/api/insights/daily-metrics?from=2020-01-01&to=2026-01-01", 422, "to"),
        ("/api/insights/daily-metrics?from=yesterday&to=2026-01-01", 422, "from"),
    ]
    for path, status, field in cases:
        response = await client.get(path, headers=boss.headers)
        assert response.status_code == status, (path, response.text)
        assert field in response.text, (path, response.text)


async def test_daily_metrics_and_geographic(client: httpx.AsyncClient, session: AsyncSession) -> None:
    data, boss = await prepared(client, session)
    today = data.now.astimezone(UTC).date()
    first = today - timedelta(days=9)
    response = await client.get(
        "/api/insights/daily-metrics",
        params={"from": first.isoformat(), "to": today.isoformat()},
        headers=boss.headers,
    )
    assert response.status_code == 200
    days = response.json()["days"]
    assert [d["date"] for d in days] == [(first + timedelta(days=i)).isoformat() for i in range(10)]
    stored = await sql(session, "SELECT date, active_users FROM daily_metrics WHERE date >= :f", f=first)
    assert {d["date"]: d["active_users"] for d in days if d["date"] != today.isoformat()} == {
        r.date.isoformat(): r.active_users for r in stored
    }
    assert days[-1]["active_users"] == 0  # today is not rolled up yet
    await runner.refresh_geographic_stats(session)
    geo = await client.get("/api/insights/geographic", headers=boss.headers)
    assert geo.status_code == 200
    total = sum(c["total_users"] for c in geo.json()["countries"])
    assert total == len(await alive(session))


def pct(part: float, whole: float) -> float | None:
    if not whole:
        return None
    return float((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


async def test_kpis_match_python_over_the_subscriptions(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    data, boss = await prepared(client, session)
    await insert_plan(session, "Basic", "basic", 900)
    await insert_plan(session, "Pro", "pro", 2900)
    await insert_plan(session, "Team", "team", 99000, billing_interval="year")
    await sql(
        session,
        "UPDATE subscriptions s SET plan_id = p.id, quantity = 1 + (abs(hashtext(s.id::text)) % 3), "
        "cancelled_at = CASE WHEN s.status = 'cancelled' THEN s.ends_at END "
        "FROM subscription_plans p WHERE p.name = s.plan_name",
    )
    now = await now_of(session)
    subs = await sql(
        session,
        "SELECT s.*, p.price_cents, p.billing_interval AS plan_interval FROM subscriptions s "
        "JOIN subscription_plans p ON p.id = s.plan_id",
    )

    def paying(s: Any, at: datetime) -> bool:
        if s.status == "incomplete" or s.started_at > at:
            return False
        stopped = s.ended_at or (
            (s.cancelled_at or s.ends_at or s.updated_at) if s.status in ("cancelled", "expired") else None
        )
        return (stopped is None or stopped > at) and (s.trial_end is None or s.trial_end <= at)

    def monthly(s: Any) -> float:
        interval = s.billing_interval or s.plan_interval
        return (s.price_cents / 12 if interval == "year" else s.price_cents) * s.quantity

    start = now - timedelta(days=30)
    mrr_now = round(sum(monthly(s) for s in subs if paying(s, now)))
    mrr_then = round(sum(monthly(s) for s in subs if paying(s, start)))
    accounts = {s.user_id or s.organization_id for s in subs if paying(s, now)}
    lost = sum(1 for s in subs if paying(s, start) and not paying(s, now))
    then = sum(1 for s in subs if paying(s, start))
    trials = await sql(
        session,
        "SELECT s.id, EXISTS (SELECT 1 FROM invoices i WHERE i.subscription_id = s.id AND i.amount_paid_cents > 0 "
        "AND i.paid_at >= s.trial_end) AS paid FROM subscriptions s WHERE s.trial_start IS NOT NULL "
        "AND s.trial_end >= :a AND s.trial_end < :b",
        a=start,
        b=now,
    )
    day = runner.midnight(now.astimezone(UTC).date()) - timedelta(days=1)
    metrics = await sql(
        session, "SELECT * FROM daily_metrics WHERE date > :d - 30 AND date <= :d", d=day.date()
    )
    latest = next(m for m in metrics if m.date == day.date())
    response = await client.get("/api/insights/kpis", headers=boss.headers)
    assert response.status_code == 200, response.text
    kpis = response.json()
    arpu = round(mrr_now / len(accounts))
    churn = pct(lost, then)
    assert kpis == {
        "asOf": day.date().isoformat(),
        "dau": latest.active_users,
        "wau": latest.weekly_active_users,
        "mau": latest.monthly_active_users,
        "stickiness": pct(sum(m.active_users for m in metrics) / 30, latest.monthly_active_users),
        "mrrCents": mrr_now,
        "mrrThirtyDaysAgoCents": mrr_then,
        "mrrGrowthRate": pct(mrr_now - mrr_then, mrr_then),
        "payingAccounts": len(accounts),
        "arpuCents": arpu,
        "trialsEnded": len(trials),
        "trialToPaidConversion": pct(sum(1 for t in trials if t.paid), len(trials)),
        "churnRate": churn,
        "ltvCents": round(arpu * 100 / churn) if churn else None,
        "bookingRevenue": NO_BOOKINGS,  # beside seed 003's figures; this dataset has no laundry
        "revenueBySource": {"subscriptionMrrCents": mrr_now, "bookingsLast30DaysCents": 0},
    }
    assert mrr_now > 0 and lost > 0 and len(trials) > 0 and latest.monthly_active_users > 0
    assert data.organizations
