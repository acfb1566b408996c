"""The trigger-kept counters and users' subscription state always equal a recount from the
tables, whatever statements change users, subscriptions and visitor sessions (in bulk, one by
one, concurrently)."""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.db import SERVICE, set_context
from saaskit.kit.state import Runtime
from tests.factories import insert_user

STATE = "SELECT counter, dimension, value FROM stats_counters WHERE value <> 0 ORDER BY 1, 2"
DAY_STATE = "SELECT counter, dimension, day, value FROM stats_day_counters WHERE value <> 0 ORDER BY 1, 2, 3"
USER_STATE = "SELECT id, subscription_live_until, has_expired_subscription, subscription_first_end FROM users ORDER BY id"


async def snapshot(session: AsyncSession) -> tuple[list[Any], list[Any], list[Any]]:
    counters = list((await session.execute(text(STATE))).all())
    day_counters = list((await session.execute(text(DAY_STATE))).all())
    users = list((await session.execute(text(USER_STATE))).all())
    return counters, day_counters, users


async def assert_counters_true(session: AsyncSession) -> None:
    kept = await snapshot(session)
    await session.execute(text("SELECT app_rebuild_stats_counters()"))
    assert await snapshot(session) == kept


async def run(session: AsyncSession, sql: str, **params: Any) -> None:
    await session.execute(text(sql), params)


async def test_counters_follow_every_kind_of_change(session: AsyncSession) -> None:
    await set_context(session, SERVICE)
    rng = random.Random(11)
    await run(
        session,
        "INSERT INTO users (email, deleted_at) SELECT 'c' || i || '@example.com', "
        "CASE WHEN i % 9 = 0 THEN now() END FROM generate_series(1, 300) i",
    )
    ids = [
        r[0]
        for r in (await session.execute(text("SELECT id FROM users WHERE email LIKE 'c%@example.com'"))).all()
    ]
    await assert_counters_true(session)
    statuses = ["trialing", "active", "past_due", "cancelled", "expired", "incomplete"]
    # Bulk insert, with ends in the past and future, and no end.
    await run(
        session,
        "INSERT INTO subscriptions (user_id, plan_name, tier, status, started_at, ends_at) "
        "SELECT u, (ARRAY['Basic','Pro'])[1 + (i % 2)], 'pro', (CAST(:statuses AS text[]))[1 + (i % 6)], "
        "now() - interval '40 days', CASE i % 3 WHEN 0 THEN NULL WHEN 1 THEN now() - interval '1 day' "
        "ELSE now() + interval '9 days' END "
        "FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS t(u, i)",
        ids=ids,
        statuses=statuses,
    )
    await assert_counters_true(session)
    for step in range(120):
        user = rng.choice(ids)
        action = rng.randrange(8)
        if action == 0:
            await run(
                session,
                "UPDATE users SET deleted_at = CASE WHEN deleted_at IS NULL THEN now() END WHERE id = :u",
                u=user,
            )
        elif action == 1:
            await run(
                session,
                "INSERT INTO subscriptions (user_id, plan_name, tier, status, started_at, ends_at) "
                "VALUES (:u, 'Team', 'team', :s, now(), now() + interval '3 days')",
                u=user,
                s=rng.choice(statuses),
            )
        elif action == 2:
            await run(
                session,
                "UPDATE subscriptions SET status = :s WHERE user_id = :u",
                u=user,
                s=rng.choice(statuses),
            )
        elif action == 3:
            await run(
                session,
                "UPDATE subscriptions SET ends_at = now() - interval '1 hour' WHERE user_id = :u",
                u=user,
            )
        elif action == 4:
            await run(
                session, "UPDATE subscriptions SET user_id = :v WHERE user_id = :u", u=user, v=rng.choice(ids)
            )
        elif action == 5:
            await run(session, "DELETE FROM subscriptions WHERE user_id = :u", u=user)
        elif action == 6:
            await run(session, "UPDATE subscriptions SET plan_name = 'Pro' WHERE user_id = :u", u=user)
        else:
            await run(
                session,
                "INSERT INTO visitor_sessions (session_id) VALUES (:s) ON CONFLICT (session_id) DO UPDATE "
                "SET last_seen_at = now()",
                s=f"visitor-{rng.randrange(40):04d}",
            )
        if step % 20 == 0:
            await assert_counters_true(session)
    await run(session, "DELETE FROM visitor_sessions WHERE session_id LIKE 'visitor-000%'")
    await run(session, "DELETE FROM users WHERE id = ANY(CAST(:ids AS uuid[]))", ids=ids[:50])  # cascades
    await assert_counters_true(session)
    counters = {(c, d): v for c, d, v in (await session.execute(text(STATE))).all()}
    assert (
        counters[("users", "")] > 0 and counters[("lapsed_users", "")] > 0 and counters[("visitors", "")] > 0
    )
    assert counters[("users_with_expired_subscription", "")] > 0
    day_counters = {c for c, *_ in (await session.execute(text(DAY_STATE))).all()}
    assert {
        "users_first_end",
        "subscriptions_ending:active",
        "subscriptions_ending:cancelled",
    } <= day_counters


async def test_concurrent_changes_of_one_user_keep_the_counters_true(fresh_runtime: Runtime) -> None:
    async with fresh_runtime.db.session(SERVICE) as session:
        user = await insert_user(session, "busy@example.com")

    async def churn(worker: int) -> None:
        rng = random.Random(worker)
        for _ in range(15):
            async with fresh_runtime.db.session(SERVICE) as session:
                subscription = uuid.uuid4()
                await run(
                    session,
                    "INSERT INTO subscriptions (id, user_id, plan_name, tier, status, started_at, ends_at) "
                    "VALUES (:id, :u, 'Pro', 'pro', 'active', now(), now() + interval '1 day')",
                    id=subscription,
                    u=user,
                )
                await run(
                    session,
                    "UPDATE subscriptions SET status = :s WHERE id = :id",
                    s=rng.choice(["expired", "cancelled", "active", "trialing"]),
                    id=subscription,
                )
                if rng.random() < 0.3:
                    await run(session, "DELETE FROM subscriptions WHERE id = :id", id=subscription)

    await asyncio.gather(*(churn(w) for w in range(6)))
    async with fresh_runtime.db.session(SERVICE) as session:
        await assert_counters_true(session)


async def test_a_refresh_waiting_on_another_transaction_sees_what_it_committed(
    fresh_runtime: Runtime,
) -> None:
    """A inserts a subscription ending in 30 days and holds the user's row; B inserts one ending
    tomorrow and must wait, then compute the user's state with A's subscription in sight:
    computed before waiting, it would keep "tomorrow" (the lock-then-read order prevents it)."""
    async with fresh_runtime.db.session(SERVICE) as session:
        user = await insert_user(session, "race@example.com")
    insert = (
        "INSERT INTO subscriptions (user_id, plan_name, tier, status, started_at, ends_at) "
        "VALUES (:u, :plan, 'pro', 'active', now(), now() + make_interval(days => :days))"
    )
    async with fresh_runtime.db.session(SERVICE) as first, fresh_runtime.db.session(SERVICE) as second:
        await run(first, insert, u=user, days=30, plan="Pro")

        async def later() -> None:
            # Another plan: its counter row is not the one the first transaction holds.
            await run(second, insert, u=user, days=1, plan="Team")
            await second.commit()

        waiting = asyncio.create_task(later())
        await asyncio.sleep(0.5)
        assert not waiting.done(), "the second insert should wait for the first transaction"
        await first.commit()
        await waiting
    async with fresh_runtime.db.session(SERVICE) as session:
        stored, longest = (
            await session.execute(
                text(
                    "SELECT u.subscription_live_until, (SELECT max(ends_at) FROM subscriptions WHERE user_id = u.id) "
                    "FROM users u WHERE u.id = :u"
                ),
                {"u": user},
            )
        ).one()
        assert stored == longest
        await assert_counters_true(session)
