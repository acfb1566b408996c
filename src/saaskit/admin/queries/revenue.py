"""The Billing page's revenue figures (``billing.revenue``) and their chart, and the usage
records Stripe refused (``billing.meters``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.admin.charts import chart, series
from saaskit.billing.models import UsageRecord
from saaskit.billing.revenue import MonthFigures


def revenue_chart(months: list[MonthFigures]) -> dict[str, Any]:
    """MRR as a line; new and expansion MRR up, contraction and churned MRR down, as bars."""
    labels = [m.month for m in months]
    return chart(
        "bar",
        labels,
        series("MRR", [m.mrr_cents / 100 for m in months], type="line", tension=0),
        series("New", [m.new_mrr_cents / 100 for m in months], stack="moves"),
        series("Expansion", [m.expansion_mrr_cents / 100 for m in months], stack="moves"),
        series("Contraction", [-m.contraction_mrr_cents / 100 for m in months], stack="moves"),
        series("Churned", [-m.churned_mrr_cents / 100 for m in months], stack="moves"),
        options={"scales": {"x": {"stacked": True}, "y": {"stacked": True}}},
    )


@dataclass(frozen=True)
class MeteringView:
    pending_due: int  # pending records whose send is due now
    problems: list[UsageRecord]  # the latest refused or failed, newest first


async def metering(session: AsyncSession, limit: int = 20) -> MeteringView:
    """Usage records Stripe refused or never took (their errors), and how many wait."""
    due = await session.scalar(
        select(func.count())
        .select_from(UsageRecord)
        .where(UsageRecord.stripe_status == "pending", UsageRecord.stripe_next_attempt_at <= func.now())
    )
    rows = await session.scalars(
        select(UsageRecord)
        .where(UsageRecord.stripe_status.in_(("refused", "failed")))
        .order_by(UsageRecord.recorded_at.desc())
        .limit(limit)
    )
    return MeteringView(int(due or 0), list(rows.all()))
