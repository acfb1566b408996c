"""Recurring revenue: who pays at an instant, MRR, churn. One definition for the KPIs and the
admin's billing page (docs/statistics.md, "MRR").

MRR at an instant t: the sum over the subscriptions paying at t of the plan's price per month
(yearly prices / 12; the subscription's own interval wins) times the quantity. Paying at t:
started at or before t, not stopped by t (``ended_at``; for a cancelled or expired row without
one, when it was cancelled, ended or last changed), out of its trial (``trial_end`` unset or
passed), never ``incomplete``. Prices are the plans' current prices (no price history is kept);
subscriptions without a plan row count 0. One currency per installation is assumed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

PAYING = """
SELECT s.id, coalesce(s.user_id, s.organization_id) AS account, s.started_at, s.trial_end, s.quantity,
       coalesce(s.ended_at,
                CASE WHEN s.status IN ('cancelled', 'expired')
                     THEN coalesce(s.cancelled_at, s.ends_at, s.updated_at) END) AS stopped_at,
       CASE coalesce(s.billing_interval, p.billing_interval)
            WHEN 'year' THEN p.price_cents / 12.0 ELSE p.price_cents END AS monthly_cents
FROM subscriptions s JOIN subscription_plans p ON p.id = s.plan_id
WHERE s.status <> 'incomplete'
  AND (CAST(:organization_id AS uuid) IS NULL OR s.organization_id = CAST(:organization_id AS uuid))
"""


def paying_at(at: str) -> str:
    """SQL condition: row ``pay`` of PAYING is paying at the instant ``at`` (an SQL expression)."""
    return (
        f"pay.started_at <= {at} AND (pay.stopped_at IS NULL OR pay.stopped_at > {at}) "
        f"AND (pay.trial_end IS NULL OR pay.trial_end <= {at})"
    )


MRR_SERIES_SQL = text(
    f"""
WITH months AS (
    SELECT m AS month_start, least(m + interval '1 month', now()) AS at
    FROM generate_series(date_trunc('month', now(), 'UTC') - make_interval(months => :months - 1),
                         date_trunc('month', now(), 'UTC'), interval '1 month') AS m
), pay AS ({PAYING})
SELECT to_char(m.month_start AT TIME ZONE 'UTC', 'YYYY-MM') AS month,
       coalesce(round(sum(pay.monthly_cents * pay.quantity)), 0)::bigint AS mrr_cents,
       count(pay.started_at) AS paying
FROM months m LEFT JOIN pay ON {paying_at("m.at")}
GROUP BY m.month_start ORDER BY m.month_start
"""
)

# Two instants: the start and the end of a period (the KPIs' last 30 days).
PERIOD_SQL = text(
    f"""
WITH pay AS ({PAYING}),
flags AS (
    SELECT pay.account, pay.monthly_cents * pay.quantity AS cents,
           ({paying_at(":start")}) AS at_start, ({paying_at(":end")}) AS at_end
    FROM pay
)
SELECT coalesce(round(sum(cents) FILTER (WHERE at_start)), 0)::bigint AS mrr_start,
       coalesce(round(sum(cents) FILTER (WHERE at_end)), 0)::bigint AS mrr_end,
       count(DISTINCT account) FILTER (WHERE at_end) AS accounts_end,
       count(*) FILTER (WHERE at_start) AS subscriptions_start,
       count(*) FILTER (WHERE at_start AND NOT at_end) AS subscriptions_lost
FROM flags
"""
)


@dataclass(frozen=True)
class Period:
    mrr_start_cents: int
    mrr_end_cents: int
    paying_accounts: int
    paying_subscriptions_start: int
    subscriptions_lost: int


async def period(
    session: AsyncSession, start: datetime, end: datetime, organization_id: uuid.UUID | None = None
) -> Period:
    row = (
        await session.execute(PERIOD_SQL, {"start": start, "end": end, "organization_id": organization_id})
    ).one()
    return Period(
        int(row.mrr_start),
        int(row.mrr_end),
        int(row.accounts_end),
        int(row.subscriptions_start),
        int(row.subscriptions_lost),
    )


async def mrr_series(
    session: AsyncSession, months: int, organization_id: uuid.UUID | None = None
) -> list[tuple[str, int, int]]:
    """(YYYY-MM, MRR in cents at the month's end or now, paying subscriptions) per month."""
    rows = await session.execute(MRR_SERIES_SQL, {"months": months, "organization_id": organization_id})
    return [(r.month, int(r.mrr_cents), int(r.paying)) for r in rows]
