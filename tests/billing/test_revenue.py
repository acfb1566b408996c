"""Revenue figures (``billing.revenue``) equal the plain-Python reference
(tests/billing/revenue_reference.py) on random subscriptions, invoices and top-ups: trials,
cancellations, yearly plans, upgrades and downgrades billed by invoices, prorations, void
invoices, organizations and users, refunds."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.billing import revenue
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from tests.billing.revenue_reference import reference
from tests.factories import insert_org, insert_plan, insert_subscription, insert_user

NOW = datetime(2026, 12, 7, 11, 30, tzinfo=UTC)
MONTHS = 14


async def _insert(session: AsyncSession, table: str, values: dict[str, Any]) -> uuid.UUID:
    columns = ", ".join(values)
    marks = ", ".join(f":{k}" for k in values)
    found = await session.scalar(
        text(f"INSERT INTO {table} ({columns}) VALUES ({marks}) RETURNING id"), values
    )
    return uuid.UUID(str(found))


async def _seed(session: AsyncSession, rng: random.Random) -> None:
    plans = []
    for n, (interval, price) in enumerate(
        [("month", 1500), ("month", 4900), ("month", 9900), ("year", 15000), ("year", 49900), ("month", 999)]
    ):
        name = f"Plan {n} {uuid.uuid4().hex[:6]}"
        plans.append((await insert_plan(session, name, f"t{n}", price, interval), interval, price))
    accounts: list[dict[str, uuid.UUID]] = []
    for n in range(30):
        if n % 3 == 0:
            accounts.append({"organization_id": await insert_org(session, f"Org {n}")})
        else:
            accounts.append({"user_id": await insert_user(session)})
    for owner in accounts:
        for _ in range(rng.choice([1, 1, 1, 2])):
            plan_id, interval, price = rng.choice(plans)
            started = NOW - timedelta(days=rng.randint(-10, 450), seconds=rng.randint(0, 86_399))
            trial_end = started + timedelta(days=14) if rng.random() < 0.3 else None
            status = rng.choice(
                ["active", "active", "active", "past_due", "trialing", "cancelled", "expired", "incomplete"]
            )
            ended = cancelled = None
            if status in ("cancelled", "expired"):
                stop = started + timedelta(days=rng.randint(1, 400))
                if rng.random() < 0.7:
                    ended = stop
                else:
                    cancelled = stop
            quantity = rng.choice([1, 1, 2, 3])
            sub = await insert_subscription(
                session,
                **owner,
                plan_id=plan_id,
                plan_name="Plan",
                status=status,
                billing_interval=interval if rng.random() < 0.8 else None,
                started_at=started,
                trial_end=trial_end,
                ended_at=ended,
                cancelled_at=cancelled,
                quantity=quantity,
                updated_at=started + timedelta(days=rng.randint(0, 300)),
            )
            if rng.random() < 0.35:
                continue  # no invoice: priced by its plan
            # Invoices per period: the amount moves (upgrades, downgrades), some void, some prorations.
            step = timedelta(days=365 if interval == "year" else 30)
            amount = price * quantity
            at = started
            k = 0
            while at < NOW + step:
                if rng.random() < 0.25:
                    amount = max(100, amount + rng.choice([-2000, -500, 500, 1000, 3000]))
                status_of = rng.choice(["paid", "paid", "paid", "open", "void", "draft", "uncollectible"])
                invoice = await _insert(
                    session,
                    "invoices",
                    {
                        **owner,
                        "subscription_id": sub,
                        "stripe_invoice_id": f"in_{uuid.uuid4().hex}",
                        "status": status_of,
                    },
                )
                for proration in (False, True) if rng.random() < 0.2 else (False,):
                    await _insert(
                        session,
                        "invoice_line_items",
                        {
                            **owner,
                            "invoice_id": invoice,
                            "subscription_id": sub,
                            "stripe_line_item_id": f"il_{uuid.uuid4().hex}",
                            "amount_cents": -amount // 3 if proration else amount,
                            "proration": proration,
                            "period_start": at,
                            "period_end": at + step,
                        },
                    )
                at += step
                k += 1
    for owner in accounts[:12]:
        if "user_id" not in owner:
            continue
        for _ in range(rng.randint(0, 3)):
            amount = rng.choice([500, 1000, 2500])
            status = rng.choice(["succeeded", "succeeded", "refunded", "partially_refunded", "failed"])
            refunded = {"refunded": amount, "partially_refunded": amount // 2}.get(status, 0)
            await _insert(
                session,
                "payment_transactions",
                {
                    "user_id": owner["user_id"],
                    "kind": rng.choice(["topup", "auto_topup"]),
                    "status": status,
                    "amount_cents": amount,
                    "credits_cents": amount,
                    "refunded_cents": refunded,
                    "credited_at": None if status == "failed" else NOW - timedelta(days=rng.randint(0, 400)),
                },
            )


async def _rows(session: AsyncSession, statement: str) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in (await session.execute(text(statement))).all()]


async def test_revenue_figures_equal_the_reference(fresh_runtime: Runtime) -> None:
    for seed in (7, 2026):
        rng = random.Random(seed)
        async with fresh_runtime.db.session(SERVICE) as session:
            for table in ("invoice_line_items", "invoices", "payment_transactions", "subscriptions"):
                await session.execute(text(f"DELETE FROM {table}"))
            await _seed(session, rng)
        async with fresh_runtime.db.session(SERVICE) as session:
            found = await revenue.monthly(session, MONTHS, now=NOW)
            subscriptions = await _rows(session, "SELECT * FROM subscriptions")
            plans = await _rows(session, "SELECT * FROM subscription_plans")
            lines = await _rows(
                session,
                "SELECT l.*, v.status AS invoice_status FROM invoice_line_items l JOIN invoices v ON v.id = l.invoice_id",
            )
            transactions = await _rows(session, "SELECT * FROM payment_transactions")
        expected = reference(NOW, MONTHS, subscriptions, plans, lines, transactions)
        assert [f.__dict__ for f in found] == [e.__dict__ for e in expected]
        # The data exercise every figure somewhere.
        for name in ("new_mrr_cents", "expansion_mrr_cents", "contraction_mrr_cents", "churned_mrr_cents"):
            assert any(getattr(f, name) for f in found), name
        assert any(f.ltv_cents for f in found) and any(f.credit_purchases_cents for f in found)
        assert all(abs(f.arr_cents - 12 * f.mrr_cents) <= 6 for f in found)  # MRR is ARR / 12, rounded


async def test_no_subscription_no_revenue(fresh_runtime: Runtime) -> None:
    async with fresh_runtime.db.session(SERVICE) as session:
        found = await revenue.monthly(session, 3, now=NOW)
    assert [f.month for f in found] == ["2026-10", "2026-11", "2026-12"]
    assert all(f.mrr_cents == 0 and f.arpu_cents is None and f.ltv_cents is None for f in found)
