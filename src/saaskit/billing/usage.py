"""Metered usage and plan quotas.

``POST /api/billing/usage`` stores a ``usage_records`` row once per idempotency key (a replay
answers the first row), and for a user also counts the use in ``feature_usage`` for the current
period. If the plan sets a quota for the metric (``limits.quotas.<metric>``), the counter is
raised by one conditional upsert that refuses to pass the quota, so concurrent uses cannot
overshoot; refused, the request fails with 429 ``quota_exceeded`` naming the quota and nothing
is recorded. The period is the subscription's current period, or the calendar month. An
organization's uses count against its plan's quotas the same way (``billing.quotas``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.billing import quotas as org_quotas
from saaskit.billing import tiers
from saaskit.billing.models import FeatureUsage, UsageRecord
from saaskit.billing.owners import Owner
from saaskit.billing.schemas import UsageIn, UsageTotal
from saaskit.kit.errors import TooManyRequests


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    subscription_id: Any = None


def calendar_month(now: datetime) -> tuple[datetime, datetime]:
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    end = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


async def current_period(session: AsyncSession, owner: Owner, now: datetime | None = None) -> Period:
    now = now or datetime.now(UTC)
    subscription = await tiers.entitled_subscription(session, owner)
    if (
        subscription is not None
        and subscription.current_period_start is not None
        and subscription.current_period_end is not None
        and subscription.current_period_start <= now < subscription.current_period_end
    ):
        return Period(subscription.current_period_start, subscription.current_period_end, subscription.id)
    start, end = calendar_month(now)
    return Period(start, end, subscription.id if subscription is not None else None)


async def quotas(session: AsyncSession, owner: Owner) -> dict[str, int]:
    _, limits = await tiers.limits_of(session, owner)
    found = limits.get("quotas", {})
    return {k: v for k, v in found.items() if isinstance(v, int)} if isinstance(found, dict) else {}


async def record(session: AsyncSession, owner: Owner, data: UsageIn) -> tuple[UsageRecord, bool]:
    """The usage row and whether it is new (False: the idempotency key was seen before)."""
    now = datetime.now(UTC)
    period = await current_period(session, owner, now)
    inserted = await session.scalar(
        insert(UsageRecord)
        .values(
            **owner.columns,
            subscription_id=period.subscription_id,
            metric_name=data.metric_name,
            quantity=data.quantity,
            unit_price_cents=data.unit_price_cents,
            unique_key=data.unique_key,
            idempotency_key=data.idempotency_key,
            billing_period_start=period.start,
            billing_period_end=period.end,
            recorded_at=data.recorded_at or now,
        )
        .on_conflict_do_nothing()
        .returning(UsageRecord.id)
    )
    if inserted is None:
        existing = await session.scalar(
            select(UsageRecord).where(
                owner.matches(UsageRecord), UsageRecord.idempotency_key == data.idempotency_key
            )
        )
        assert existing is not None
        return existing, False
    if owner.user_id is not None:
        await count_feature_use(session, owner, data, period)
    elif owner.organization_id is not None:
        await org_quotas.consume(
            session, owner.organization_id, data.metric_name, data.quantity, period.start, period.end
        )
    return await session.get_one(UsageRecord, inserted), True


async def count_feature_use(session: AsyncSession, owner: Owner, data: UsageIn, period: Period) -> int:
    quota = (await quotas(session, owner)).get(data.metric_name)
    name = data.metric_name
    if quota is not None and data.quantity > quota:
        _exceeded(name, quota, 0)
    values = {
        "user_id": owner.user_id,
        "feature_name": name,
        "period_start": period.start.date(),
        "reset_date": period.end.date()
        if period.end.date() > period.start.date()
        else period.start.date() + timedelta(days=1),
        "feature_category": data.feature_category,
        "usage_count": data.quantity,
        "success_count": data.quantity if data.success else 0,
        "failure_count": 0 if data.success else data.quantity,
        "total_duration_seconds": data.duration_seconds,
        "last_used_at": func.now(),
    }
    statement = insert(FeatureUsage).values(**values)
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=["user_id", "feature_name", "period_start"],
        set_={
            "usage_count": FeatureUsage.usage_count + excluded.usage_count,
            "success_count": FeatureUsage.success_count + excluded.success_count,
            "failure_count": FeatureUsage.failure_count + excluded.failure_count,
            "total_duration_seconds": FeatureUsage.total_duration_seconds + excluded.total_duration_seconds,
            "feature_category": func.coalesce(excluded.feature_category, FeatureUsage.feature_category),
            "last_used_at": func.now(),
            "updated_at": func.now(),
        },
        where=(FeatureUsage.usage_count + excluded.usage_count <= quota) if quota is not None else None,
    )
    counted = await session.scalar(statement.returning(FeatureUsage.usage_count))
    if counted is None:
        used = await session.scalar(
            select(FeatureUsage.usage_count).where(
                FeatureUsage.user_id == owner.user_id,
                FeatureUsage.feature_name == name,
                FeatureUsage.period_start == period.start.date(),
            )
        )
        assert quota is not None
        _exceeded(name, quota, int(used or 0))
    return int(counted or 0)


def _exceeded(name: str, quota: int, used: int) -> None:
    raise TooManyRequests(
        f"quota exceeded: {name} allows {quota} per billing period ({used} used)",
        field="metric_name",
        code="quota_exceeded",
        extra={"quota": name, "limit": quota, "used": used},
    )


async def totals(session: AsyncSession, owner: Owner) -> tuple[Period, list[UsageTotal]]:
    period = await current_period(session, owner)
    limits = await quotas(session, owner)
    rows = await session.execute(
        select(
            UsageRecord.metric_name,
            func.coalesce(func.sum(UsageRecord.quantity), 0),
            func.count(),
            func.coalesce(func.max(UsageRecord.quantity), 0),
            func.count(UsageRecord.unique_key.distinct()),
        )
        .where(
            owner.matches(UsageRecord),
            UsageRecord.recorded_at >= period.start,
            UsageRecord.recorded_at < period.end,
        )
        .group_by(UsageRecord.metric_name)
        .order_by(UsageRecord.metric_name)
    )
    metrics = [
        UsageTotal(
            metric_name=name,
            sum=int(total),
            count=int(count),
            max=int(biggest),
            unique_count=int(unique),
            quota=limits.get(name),
        )
        for name, total, count, biggest, unique in rows.all()
    ]
    return period, metrics


RESET_COUNTERS = text(
    """
    INSERT INTO feature_usage (user_id, feature_name, period_start, reset_date, feature_category)
    SELECT f.user_id, f.feature_name, f.reset_date, f.reset_date + (f.reset_date - f.period_start),
           f.feature_category
    FROM feature_usage f
    WHERE f.reset_date <= :today
      AND NOT EXISTS (SELECT 1 FROM feature_usage n WHERE n.user_id = f.user_id
                      AND n.feature_name = f.feature_name AND n.period_start >= f.reset_date)
    ON CONFLICT DO NOTHING
    """
)


async def reset_counters(session: AsyncSession, today: date) -> int:
    """Counters whose reset date has come start again at zero in a new period row."""
    result = await session.execute(RESET_COUNTERS, {"today": today})
    return int(result.rowcount)  # type: ignore[attr-defined]
