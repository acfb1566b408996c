"""Revenue figures per month: MRR, ARR, new, expansion, contraction and churned MRR, paying
accounts, ARPU, LTV, and credit purchases (docs/billing.md, "Revenue figures", defines each).

Month M is measured at its end instant ``t(M)`` (the next month's start, or now for the current
month) against its start ``t0(M)`` (the previous month's instant). An **account** is the owner of
subscriptions: a user or an organization.

A subscription is **paying at t** as ``insights.revenue`` says (started, not stopped, out of its
trial, never incomplete). Its **monthly amount at t** comes from what Stripe billed: the latest
(by period start, then id) non-proration line of a positive amount on a paid or open invoice of
the subscription whose period started by t, divided by 12 when the line covers more than 45
days (a yearly charge); without such a line, the plan's price per month times the quantity
(the price history the invoices keep wins over the plan's current price). Sums are kept exact in
twelfths of a cent, and rounded half up to whole cents only at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.insights.revenue import paying_at

TOPUP_KINDS = ("topup", "auto_topup")
LONG_LINE_DAYS = 45

REVENUE_SQL = text(
    f"""
WITH months AS (
    SELECT m AS month_start, least(m, CAST(:now AS timestamptz)) AS before,
           least(m + interval '1 month', CAST(:now AS timestamptz)) AS at
    FROM generate_series(date_trunc('month', CAST(:now AS timestamptz), 'UTC')
                             - make_interval(months => :months - 1),
                         date_trunc('month', CAST(:now AS timestamptz), 'UTC'), interval '1 month') AS m
), instants AS (
    SELECT before AS at FROM months UNION SELECT at FROM months
), pay AS (
    SELECT s.id, coalesce(s.user_id, s.organization_id) AS account, s.started_at, s.trial_end,
           coalesce(s.ended_at,
                    CASE WHEN s.status IN ('cancelled', 'expired')
                         THEN coalesce(s.cancelled_at, s.ends_at, s.updated_at) END) AS stopped_at,
           CASE coalesce(s.billing_interval, p.billing_interval)
                WHEN 'year' THEN p.price_cents::bigint * s.quantity
                ELSE p.price_cents::bigint * s.quantity * 12 END AS plan_twelfths
    FROM subscriptions s LEFT JOIN subscription_plans p ON p.id = s.plan_id
    WHERE s.status <> 'incomplete' AND coalesce(s.user_id, s.organization_id) IS NOT NULL
), eligible AS (
    -- Each billed line holds from its period's start until the next line of its subscription
    -- (by period start, then id) starts: the latest line started by t is the one holding at t.
    SELECT l.subscription_id, l.period_start,
           lead(l.period_start) OVER (PARTITION BY l.subscription_id ORDER BY l.period_start, l.id)
               AS next_start,
           CASE WHEN l.period_end - l.period_start > interval '{LONG_LINE_DAYS} days'
                THEN l.amount_cents::bigint ELSE l.amount_cents::bigint * 12 END AS twelfths
    FROM invoice_line_items l JOIN invoices v ON v.id = l.invoice_id
    WHERE l.subscription_id IS NOT NULL AND NOT l.proration AND l.amount_cents > 0
      AND v.status IN ('paid', 'open') AND l.period_start IS NOT NULL AND l.period_end IS NOT NULL
), billed AS (
    SELECT i.at, e.subscription_id, e.twelfths
    FROM instants i JOIN eligible e
      ON e.period_start <= i.at AND (e.next_start IS NULL OR i.at < e.next_start)
), amounts AS (
    SELECT i.at, pay.account, coalesce(b.twelfths, pay.plan_twelfths, 0) AS twelfths
    FROM instants i JOIN pay ON {paying_at("i.at")}
    LEFT JOIN billed b ON b.at = i.at AND b.subscription_id = pay.id
), accounts AS (
    SELECT at, account, sum(twelfths) AS twelfths FROM amounts GROUP BY at, account
), per AS (
    SELECT m.month_start, a.account,
           coalesce(sum(a.twelfths) FILTER (WHERE a.at = m.before), 0) AS before,
           coalesce(sum(a.twelfths) FILTER (WHERE a.at = m.at), 0) AS after
    FROM months m JOIN accounts a ON a.at IN (m.before, m.at)
    GROUP BY m.month_start, a.account
), credit AS (
    SELECT date_trunc('month', t.credited_at, 'UTC') AS month_start,
           sum(t.amount_cents - t.refunded_cents)::bigint AS cents
    FROM payment_transactions t
    WHERE t.kind IN {TOPUP_KINDS} AND t.credited_at IS NOT NULL
      AND t.status IN ('succeeded', 'refunded', 'partially_refunded')
    GROUP BY 1
)
SELECT to_char(m.month_start AT TIME ZONE 'UTC', 'YYYY-MM') AS month,
       coalesce(sum(p.after), 0)::bigint AS arr,
       coalesce(sum(p.before), 0)::bigint AS arr_before,
       count(*) FILTER (WHERE p.after > 0) AS paying,
       count(*) FILTER (WHERE p.before > 0) AS paying_before,
       coalesce(sum(p.after) FILTER (WHERE p.before = 0 AND p.after > 0), 0)::bigint AS new,
       coalesce(sum(p.after - p.before) FILTER (WHERE p.before > 0 AND p.after > p.before), 0)::bigint
           AS expansion,
       coalesce(sum(p.before - p.after) FILTER (WHERE p.after > 0 AND p.before > p.after), 0)::bigint
           AS contraction,
       coalesce(sum(p.before) FILTER (WHERE p.before > 0 AND p.after = 0), 0)::bigint AS churned,
       count(*) FILTER (WHERE p.before > 0 AND p.after = 0) AS churned_accounts,
       coalesce(max(c.cents), 0)::bigint AS credit_cents
FROM months m
LEFT JOIN per p ON p.month_start = m.month_start
LEFT JOIN credit c ON c.month_start = m.month_start
GROUP BY m.month_start ORDER BY m.month_start
"""
)


def half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up (both non-negative, denominator > 0)."""
    return (2 * numerator + denominator) // (2 * denominator)


@dataclass(frozen=True)
class MonthFigures:
    month: str  # YYYY-MM
    mrr_cents: int
    arr_cents: int
    new_mrr_cents: int
    expansion_mrr_cents: int
    contraction_mrr_cents: int
    churned_mrr_cents: int
    paying_accounts: int
    churned_accounts: int
    arpu_cents: int | None
    ltv_cents: int | None
    credit_purchases_cents: int


def figures_of(
    month: str,
    arr: int,
    paying: int,
    paying_before: int,
    new: int,
    expansion: int,
    contraction: int,
    churned: int,
    churned_accounts: int,
    credit: int,
) -> MonthFigures:
    """A month's figures from its exact sums (in twelfths of a cent) and counts."""
    arpu = half_up(arr, 12 * paying) if paying else None
    # LTV = ARPU / (churned accounts / accounts paying at the start), kept exact until the end.
    ltv = (
        half_up(arr * paying_before, 12 * paying * churned_accounts)
        if paying and churned_accounts and paying_before
        else None
    )
    return MonthFigures(
        month=month,
        mrr_cents=half_up(arr, 12),
        arr_cents=arr,
        new_mrr_cents=half_up(new, 12),
        expansion_mrr_cents=half_up(expansion, 12),
        contraction_mrr_cents=half_up(contraction, 12),
        churned_mrr_cents=half_up(churned, 12),
        paying_accounts=paying,
        churned_accounts=churned_accounts,
        arpu_cents=arpu,
        ltv_cents=ltv,
        credit_purchases_cents=credit,
    )


async def monthly(session: AsyncSession, months: int = 12, now: datetime | None = None) -> list[MonthFigures]:
    """The last ``months`` months, oldest first (the current one measured at ``now``)."""
    rows = await session.execute(REVENUE_SQL, {"months": months, "now": now or datetime.now(UTC)})
    return [
        figures_of(
            r.month,
            int(r.arr),
            int(r.paying),
            int(r.paying_before),
            int(r.new),
            int(r.expansion),
            int(r.contraction),
            int(r.churned),
            int(r.churned_accounts),
            int(r.credit_cents),
        )
        for r in rows
    ]
