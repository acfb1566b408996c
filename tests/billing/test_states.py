"""Python's and SQL's sets of subscription statuses are the same set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.billing.models.subscriptions import ENTITLED_STATUSES, OPEN_STATUSES, SUBSCRIPTION_STATUSES


async def test_entitled_statuses_agree_with_app_is_entitled(session: AsyncSession) -> None:
    for status in SUBSCRIPTION_STATUSES:
        entitled = (await session.execute(text("SELECT app_is_entitled(:s)"), {"s": status})).scalar_one()
        assert entitled is (status in ENTITLED_STATUSES), status
    assert set(ENTITLED_STATUSES) < set(OPEN_STATUSES) <= set(SUBSCRIPTION_STATUSES)


async def test_a_subscription_has_one_state(session: AsyncSession) -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    cases = [
        ("active", now + timedelta(days=1), "active"),
        ("active", now, "expired"),  # its end has come
        ("trialing", now - timedelta(days=1), "expired"),
        ("past_due", None, "past_due"),
        ("cancelled", now - timedelta(days=1), "cancelled"),
        ("incomplete", now - timedelta(days=1), "incomplete"),
        ("expired", now + timedelta(days=1), "expired"),
    ]
    for status, ends_at, state in cases:
        got = (
            await session.execute(
                text("SELECT app_subscription_state(:s, :e, :now)"), {"s": status, "e": ends_at, "now": now}
            )
        ).scalar_one()
        assert got == state, (status, ends_at)
