"""Seed 003's "funding / investor" figures (``GET /api/insights/kpis``). Definitions in
docs/statistics.md; every figure reads rollups or the subscriptions table, never raw events.

- DAU / WAU / MAU: people with an activity event on the latest rolled-up UTC day, in the 7 and
  the 30 days ending it (``daily_metrics``; for an organization, ``organization_metrics_daily``).
- stickiness: the mean DAU over those 30 days divided by the MAU.
- MRR now, its growth over 30 days, paying accounts, ARPU (MRR per paying account), churn (the
  share of subscriptions paying 30 days ago that are not paying now), LTV = ARPU / churn.
- trial-to-paid conversion: trials that ended in the last 30 days and were paid for afterwards.
- beside them (not in the seed): the laundry bookings' revenue of the last 30 days
  (bookings/revenue.py) and the revenue by source (subscriptions' MRR, bookings' net revenue).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.bookings import revenue as bookings_revenue
from saaskit.insights import revenue
from saaskit.insights.rollups import runner

PERIOD = timedelta(days=30)

PLATFORM_ACTIVE = text(
    """
SELECT d.active_users, d.weekly_active_users, d.monthly_active_users,
       (SELECT coalesce(sum(active_users), 0) FROM daily_metrics
        WHERE date > CAST(:day AS date) - 30 AND date <= :day) AS dau_sum
FROM (SELECT 1) AS one LEFT JOIN daily_metrics d ON d.date = :day
"""
)
ORGANIZATION_ACTIVE = text(
    """
SELECT d.active_users, d.weekly_active_users, d.monthly_active_users,
       (SELECT coalesce(sum(active_users), 0) FROM organization_metrics_daily
        WHERE organization_id = :org AND date > CAST(:day AS date) - 30 AND date <= :day) AS dau_sum
FROM (SELECT 1) AS one
LEFT JOIN organization_metrics_daily d ON d.organization_id = :org AND d.date = :day
"""
)
TRIALS = text(
    """
SELECT count(*) AS ended,
       count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM invoices i WHERE i.subscription_id = s.id AND i.amount_paid_cents > 0
           AND i.paid_at >= s.trial_end)) AS paid
FROM subscriptions s
WHERE s.trial_start IS NOT NULL AND s.trial_end >= :start AND s.trial_end < :end
  AND (CAST(:org AS uuid) IS NULL OR s.organization_id = CAST(:org AS uuid))
"""
)


def percent(part: float, whole: float) -> float | None:
    if whole <= 0:
        return None
    value = Decimal(part) * 100 / Decimal(whole)
    return float(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


async def compute(
    session: AsyncSession, *, organization_id: uuid.UUID | None, now: datetime | None = None
) -> dict[str, Any]:
    moment: datetime = now or (await session.execute(text("SELECT now()"))).scalar_one()
    through = await runner.watermark(session, runner.DAILY)
    day: date | None = (through - timedelta(days=1)).date() if through is not None else None
    dau = wau = mau = 0
    dau_sum = 0
    if day is not None:
        statement = PLATFORM_ACTIVE if organization_id is None else ORGANIZATION_ACTIVE
        row = (await session.execute(statement, {"day": day, "org": organization_id})).one()
        dau, wau, mau = (
            int(v or 0) for v in (row.active_users, row.weekly_active_users, row.monthly_active_users)
        )
        dau_sum = int(row.dau_sum)
    money = await revenue.period(session, moment - PERIOD, moment, organization_id)
    trials = (
        await session.execute(TRIALS, {"start": moment - PERIOD, "end": moment, "org": organization_id})
    ).one()
    booked = await bookings_revenue.totals(
        session, organization_id=organization_id, start=moment - PERIOD, end=moment
    )
    arpu = round(money.mrr_end_cents / money.paying_accounts) if money.paying_accounts else None
    churn = percent(money.subscriptions_lost, money.paying_subscriptions_start)
    ltv = round(arpu * 100 / churn) if arpu is not None and churn else None
    return {
        "asOf": day.isoformat() if day else None,
        "dau": dau,
        "wau": wau,
        "mau": mau,
        "stickiness": percent(dau_sum / 30, mau),
        "mrrCents": money.mrr_end_cents,
        "mrrThirtyDaysAgoCents": money.mrr_start_cents,
        "mrrGrowthRate": percent(money.mrr_end_cents - money.mrr_start_cents, money.mrr_start_cents),
        "payingAccounts": money.paying_accounts,
        "arpuCents": arpu,
        "trialsEnded": int(trials.ended),
        "trialToPaidConversion": percent(int(trials.paid), int(trials.ended)),
        "churnRate": churn,
        "ltvCents": ltv,
        # Beside seed 003's figures (not inside MRR, ARPU or LTV): the laundry bookings' money.
        "bookingRevenue": booked.as_json(),
        "revenueBySource": {
            "subscriptionMrrCents": money.mrr_end_cents,
            "bookingsLast30DaysCents": booked.net_cents,
        },
    }
