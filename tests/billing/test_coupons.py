"""Coupons: every limit, at subscription time (live) and under concurrency (committed data)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from saaskit.billing import coupons
from saaskit.billing.models import Coupon, SubscriptionPlan
from saaskit.billing.owners import Owner
from saaskit.kit.db import SERVICE, Context
from saaskit.kit.errors import AppError
from saaskit.kit.state import Runtime
from tests.billing.conftest import Billing
from tests.factories import insert_user


async def _admin_coupon(b: Billing, **body: object) -> dict[str, object]:
    answer = await b.http.post("/api/admin/billing/coupons", json=body, headers=b.admin.headers)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


@pytest.mark.live
async def test_coupon_limits_at_subscription_time(billing_server: Billing) -> None:
    b = billing_server
    pro = await b.create_plan("Pro", "pro", 2000)
    other = await b.create_plan("Other", "other", 3000)
    await _admin_coupon(b, code="welcome20", discount_type="percent", discount_value=20, plan_ids=[pro["id"]])
    await _admin_coupon(
        b,
        code="LATE",
        discount_type="fixed",
        discount_value=500,
        valid_until=(datetime.now(UTC) - timedelta(days=1)).isoformat(),
    )
    await _admin_coupon(
        b,
        code="SOON",
        discount_type="fixed",
        discount_value=500,
        valid_from=(datetime.now(UTC) + timedelta(days=1)).isoformat(),
    )
    duplicate = await b.http.post(
        "/api/admin/billing/coupons",
        json={"code": "WELCOME20", "discount_type": "percent", "discount_value": 5},
        headers=b.admin.headers,
    )
    assert duplicate.status_code == 409
    invalid = await b.http.post(
        "/api/admin/billing/coupons",
        json={"code": "BAD", "discount_type": "percent", "discount_value": 150},
        headers=b.admin.headers,
    )
    assert invalid.status_code == 422
    await b.sync()
    assert await b.scalar("SELECT count(*) FROM coupons WHERE stripe_coupon_id IS NOT NULL") == 3
    user = await b.signup()
    await b.save_card(user)

    async def subscribe(plan_id: object, code: str) -> tuple[int, dict[str, object]]:
        answer = await b.http.post(
            "/api/billing/subscriptions", json={"plan_id": plan_id, "coupon_code": code}, headers=user.headers
        )
        return answer.status_code, answer.json()

    for plan_id, code, reason in (
        (other["id"], "WELCOME20", "coupon_not_for_plan"),
        (pro["id"], "LATE", "coupon_expired"),
        (pro["id"], "SOON", "coupon_not_yet_valid"),
    ):
        status, body = await subscribe(plan_id, code)
        assert (status, body["error"]["code"]) == (422, reason)  # type: ignore[index]
    status, body = await subscribe(pro["id"], "nope")
    assert status == 404
    assert await b.scalar("SELECT count(*) FROM subscriptions") == 0  # refusals leave nothing behind

    status, body = await subscribe(pro["id"], "welcome20")
    assert status == 201, body
    assert body["discount_cents"] == 400
    redemption = (
        await b.sql(
            "SELECT coupon_code, subscription_id::text, discount_amount_cents FROM coupon_redemptions"
        )
    )[0]
    assert tuple(redemption) == ("WELCOME20", body["id"], 400)
    assert await b.scalar("SELECT times_redeemed FROM coupons WHERE code = 'WELCOME20'") == 1

    # Once per customer: after cancelling, the same coupon is refused (and not counted again).
    await b.http.post(
        f"/api/billing/subscriptions/{body['id']}/cancel", json={"at_period_end": False}, headers=user.headers
    )
    status, again = await subscribe(pro["id"], "WELCOME20")
    assert (status, again["error"]["code"]) == (409, "coupon_already_redeemed")  # type: ignore[index]
    assert await b.scalar("SELECT times_redeemed FROM coupons WHERE code = 'WELCOME20'") == 1


@pytest.mark.live
async def test_max_redemptions_hold_under_concurrency(fresh_runtime: Runtime) -> None:
    runtime = fresh_runtime
    async with runtime.db.session(SERVICE) as session:
        plan = SubscriptionPlan(name="Pro", tier="pro", billing_interval="month", price_cents=1000)
        coupon = Coupon(code="FIRST3", discount_type="fixed", discount_value=300, max_redemptions=3)
        session.add_all([plan, coupon])
        await session.flush()
        plan_id, coupon_id = plan.id, coupon.id
        users = [await insert_user(session, f"c{i}@example.com") for i in range(16)]

    async def redeem(user_id: uuid.UUID) -> str:
        try:
            async with runtime.db.session(Context(user_id=user_id)) as session:
                found = await session.get_one(Coupon, coupon_id)
                chosen = await session.get_one(SubscriptionPlan, plan_id)
                await coupons.redeem(session, Owner(user_id=user_id), found, chosen)
                await asyncio.sleep(0.05)  # hold the transaction open: others must wait, not overshoot
            return "ok"
        except AppError as exc:
            return exc.code

    outcomes = await asyncio.gather(*(redeem(u) for u in users), redeem(users[0]))
    assert outcomes.count("ok") == 3
    assert set(outcomes) - {"ok"} <= {"coupon_exhausted", "coupon_already_redeemed"}
    async with runtime.db.session(SERVICE) as session:
        counted = (
            await session.execute(text("SELECT times_redeemed FROM coupons WHERE id = :c"), {"c": coupon_id})
        ).scalar_one()
        rows = (await session.execute(text("SELECT count(*) FROM coupon_redemptions"))).scalar_one()
    assert counted == 3 and rows == 3


@pytest.mark.live
async def test_a_customer_cannot_write_the_catalog(fresh_runtime: Runtime) -> None:
    async with fresh_runtime.db.session(SERVICE) as session:
        user_id = await insert_user(session, "x@example.com")
        await session.execute(
            text("INSERT INTO coupons (code, discount_type, discount_value) VALUES ('FREE', 'percent', 100)")
        )
    async with fresh_runtime.db.session(Context(user_id=user_id)) as session:
        assert (await session.execute(text("SELECT count(*) FROM coupons"))).scalar_one() == 1  # readable
        changed = await session.execute(
            text("UPDATE coupons SET max_redemptions = 1000, discount_value = 100")
        )
        assert changed.rowcount == 0  # type: ignore[attr-defined]
