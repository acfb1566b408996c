"""Credits spending and metered usage through the real app on committed data (many requests at
once), and the daily upkeep job."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

from saaskit.billing import maintenance
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from tests.billing.conftest import service_rows
from tests.factories import insert_plan, insert_subscription, insert_user
from tests.helpers import SignedUp, error_of, signup

pytestmark = pytest.mark.live  # committed data in a fresh database


async def test_concurrent_spends_never_overdraw(
    app_client: httpx.AsyncClient, fresh_runtime: Runtime
) -> None:
    user = await signup(app_client)
    await service_rows(fresh_runtime, "UPDATE users SET credits_cents = 1000 WHERE id = :u", u=user.id)

    async def spend() -> int:
        answer = await app_client.post(
            "/api/billing/credits/spend", json={"amount_cents": 70}, headers=user.headers
        )
        return answer.status_code

    codes = await asyncio.gather(*(spend() for _ in range(30)))
    assert codes.count(200) == 14 and codes.count(402) == 16  # 14 x 70 = 980 <= 1000 < 15 x 70
    assert (await service_rows(fresh_runtime, "SELECT credits_cents FROM users WHERE id = :u", u=user.id))[
        0
    ] == (20,)
    # Auto top-up is off: nothing was queued.
    assert (await service_rows(fresh_runtime, "SELECT count(*) FROM payment_transactions"))[0] == (0,)
    bad = await app_client.post("/api/billing/credits/spend", json={"amount_cents": -5}, headers=user.headers)
    assert bad.status_code == 422 and error_of(bad)["field"] == "amount_cents"
    no_card = await app_client.put(
        "/api/billing/credits/auto-topup", json={"enabled": True}, headers=user.headers
    )
    assert no_card.status_code == 402


async def _user_with_quota(client: httpx.AsyncClient, runtime: Runtime, quota: int) -> SignedUp:
    async with runtime.db.session(SERVICE) as session:
        await insert_plan(
            session, "Free", "free", 0, limits={"max_dashboards": 1, "quotas": {"exports": quota}}
        )
    return await signup(client)


async def test_usage_is_idempotent_and_totalled(
    app_client: httpx.AsyncClient, fresh_runtime: Runtime
) -> None:
    user = await _user_with_quota(app_client, fresh_runtime, 100)
    reports = [
        ("api_calls", 5, "k1", "device-a"),
        ("api_calls", 7, "k2", "device-b"),
        ("api_calls", 7, "k2", "device-b"),  # replay: the same key records once
        ("api_calls", 3, "k3", "device-a"),
        ("exports", 1, "k4", None),
    ]
    codes = []
    for metric, quantity, key, unique in reports:
        answer = await app_client.post(
            "/api/billing/usage",
            json={"metric_name": metric, "quantity": quantity, "idempotency_key": key, "unique_key": unique},
            headers=user.headers,
        )
        codes.append(answer.status_code)
    assert codes == [201, 201, 200, 201, 201]
    totals = (await app_client.get("/api/billing/usage", headers=user.headers)).json()
    by_metric = {m["metric_name"]: m for m in totals["metrics"]}
    assert by_metric["api_calls"] | {"quota": None} == {
        "metric_name": "api_calls",
        "sum": 15,
        "count": 3,
        "max": 7,
        "unique_count": 2,
        "quota": None,
    }
    assert by_metric["exports"]["quota"] == 100 and by_metric["exports"]["sum"] == 1
    start = datetime.fromisoformat(totals["period_start"])
    assert start.day == 1 and start <= datetime.now(UTC) < datetime.fromisoformat(totals["period_end"])
    counters = await service_rows(
        fresh_runtime,
        "SELECT feature_name, usage_count FROM feature_usage WHERE user_id = :u ORDER BY 1",
        u=user.id,
    )
    assert counters == [("api_calls", 15), ("exports", 1)]


async def test_quota_holds_under_concurrency(app_client: httpx.AsyncClient, fresh_runtime: Runtime) -> None:
    user = await _user_with_quota(app_client, fresh_runtime, 5)

    async def export(i: int) -> httpx.Response:
        return await app_client.post(
            "/api/billing/usage",
            json={"metric_name": "exports", "idempotency_key": f"e{i}"},
            headers=user.headers,
        )

    answers = await asyncio.gather(*(export(i) for i in range(12)))
    codes = [a.status_code for a in answers]
    assert codes.count(201) == 5 and codes.count(429) == 7
    refused = error_of(next(a for a in answers if a.status_code == 429))
    assert refused["code"] == "quota_exceeded" and refused["quota"] == "exports" and refused["limit"] == 5
    assert (await service_rows(fresh_runtime, "SELECT count(*) FROM usage_records"))[0] == (
        5,
    )  # refused: not recorded
    assert (await service_rows(fresh_runtime, "SELECT usage_count FROM feature_usage"))[0] == (5,)


async def test_daily_job_expires_and_resets(fresh_runtime: Runtime) -> None:
    now = datetime.now(UTC)
    async with fresh_runtime.db.session(SERVICE) as session:
        user_id = await insert_user(session, "d@example.com", tier="pro")
        rows = {
            # (status, ends_at, stripe id, cancel_at_period_end) -> expected status
            "lapsed-local": ("active", now - timedelta(hours=1), None, False),
            "cancelling": ("active", now - timedelta(hours=1), "sub_a", True),
            "renewing-grace": ("active", now - timedelta(hours=1), "sub_b", False),
            "renewing-missed": ("active", now - timedelta(days=2), "sub_c", False),
            "trial-over": ("trialing", now - timedelta(minutes=5), "sub_d", False),
            "running": ("active", now + timedelta(days=3), "sub_e", False),
        }
        for name, (status, ends_at, stripe_id, cancelling) in rows.items():
            await insert_subscription(
                session,
                user_id=user_id,
                plan_name=name,
                tier="pro",
                status=status,
                ends_at=ends_at,
                stripe_subscription_id=stripe_id,
                cancel_at_period_end=cancelling,
                started_at=now - timedelta(days=40) if name != "running" else now - timedelta(days=50),
            )
        await session.execute(
            text(
                "INSERT INTO feature_usage (user_id, feature_name, period_start, reset_date, usage_count) "
                "VALUES (:u, 'exports', :start, :reset, 9)"
            ),
            {"u": user_id, "start": (now - timedelta(days=31)).date(), "reset": now.date()},
        )
    async with fresh_runtime.db.session(SERVICE) as session:
        result = await maintenance.run_daily(session, now)
    assert result["expired"] == 4 and result["counters_reset"] == 1
    statuses = dict(await service_rows(fresh_runtime, "SELECT plan_name, status FROM subscriptions"))
    assert statuses == {
        "lapsed-local": "expired",
        "cancelling": "expired",
        "renewing-grace": "active",
        "renewing-missed": "expired",
        "trial-over": "expired",
        "running": "active",
    }
    # Still entitled through the running subscription; the counter starts again at zero.
    assert (await service_rows(fresh_runtime, "SELECT tier FROM users WHERE id = :u", u=user_id))[0] == (
        "pro",
    )
    counters = await service_rows(
        fresh_runtime, "SELECT period_start, usage_count FROM feature_usage ORDER BY period_start"
    )
    assert [c[1] for c in counters] == [9, 0] and counters[1][0] == now.date()
    async with fresh_runtime.db.session(SERVICE) as session:
        again = await maintenance.run_daily(session, now)
    assert again == {"expired": 0, "owners_refreshed": 0, "counters_reset": 0}
    await service_rows(fresh_runtime, "UPDATE subscriptions SET status = 'cancelled' WHERE status = 'active'")
    async with fresh_runtime.db.session(SERVICE) as session:
        from saaskit.billing import tiers
        from saaskit.billing.owners import Owner

        change = await tiers.refresh(session, Owner(user_id=uuid.UUID(str(user_id))))
    assert (change.old_tier, change.new_tier) == ("pro", "free")
