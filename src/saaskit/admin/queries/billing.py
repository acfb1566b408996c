"""Billing: subscriptions by status and plan, MRR over time (``insights.revenue``: the same
definition as the KPIs), the Stripe webhook log."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.admin.charts import chart, series
from saaskit.billing import handlers, webhooks
from saaskit.billing.models import StripeWebhookEvent
from saaskit.insights import revenue, stats
from saaskit.insights.models import PLATFORM
from saaskit.kit.errors import NotFound

MONTHS = 12
WEBHOOK_STATUSES = ("pending", "processed", "failed", "ignored")
WEBHOOK_COUNT_DAYS = 30

# Cash actually collected, by the month an invoice was paid (invoices are read through their
# created_at index: an invoice is paid after it is created).
COLLECTED_SQL = text(
    """
SELECT to_char(date_trunc('month', paid_at, 'UTC') AT TIME ZONE 'UTC', 'YYYY-MM') AS month,
       sum(amount_paid_cents)::bigint AS cents
FROM invoices
WHERE created_at >= :since - interval '3 months' AND paid_at >= :since AND status = 'paid'
GROUP BY 1
"""
)
WEBHOOK_COUNTS_SQL = text(
    "SELECT processing_status, count(*) AS n FROM stripe_webhook_events WHERE created_at >= :since "
    "GROUP BY processing_status"
)


@dataclass
class BillingOverview:
    by_state: list[tuple[str, int]]  # each subscription once, by its state now
    active_plans: list[tuple[str, int]]  # seed 002's active subscriptions per plan
    mrr: list[tuple[str, int, int]]  # month, MRR in cents, paying subscriptions
    collected: dict[str, int]  # month -> cents paid
    webhook_counts: dict[str, int]


async def overview(session: AsyncSession, window_seconds: int) -> BillingOverview:
    """The subscription figures are the statistics' own (the Overview's), so both pages agree."""
    figures = await stats.compute(
        session, scope_id=PLATFORM, organization_id=None, tz="UTC", window_seconds=window_seconds
    )
    by_state = sorted(figures["subscriptionsByState"].items(), key=lambda item: (-item[1], item[0]))
    plans = [(p["plan"], p["count"]) for p in figures["planDistribution"]]
    mrr = await revenue.mrr_series(session, MONTHS)
    first = datetime.strptime(mrr[0][0], "%Y-%m").replace(tzinfo=UTC) if mrr else datetime.now(UTC)
    collected = {
        r.month: int(r.cents) for r in (await session.execute(COLLECTED_SQL, {"since": first})).all()
    }
    since = datetime.now(UTC) - timedelta(days=WEBHOOK_COUNT_DAYS)
    counts = {
        r.processing_status: int(r.n) for r in (await session.execute(WEBHOOK_COUNTS_SQL, {"since": since}))
    }
    return BillingOverview(by_state, plans, mrr, collected, counts)


def event_types() -> list[str]:
    """The event types saaskit handles (others are stored as ignored)."""
    return sorted(handlers.load())


async def list_webhook_events(
    session: AsyncSession, *, status: str | None, event_type: str | None, limit: int, cursor: str | None
) -> tuple[list[StripeWebhookEvent], str | None]:
    return await webhooks.list_events(
        session, status=status, event_type=event_type, limit=limit, cursor=cursor
    )


async def get_webhook_event(session: AsyncSession, event_id: uuid.UUID) -> StripeWebhookEvent:
    row = await session.get(StripeWebhookEvent, event_id, populate_existing=True)
    if row is None:
        raise NotFound("There is no webhook event with this id.", field="event_id")
    return row


def mrr_chart(view: BillingOverview) -> dict[str, Any]:
    return chart(
        "bar",
        [month for month, _, _ in view.mrr],
        series("MRR", [cents / 100 for _, cents, _ in view.mrr], type="line", tension=0),
        series("Collected", [view.collected.get(m, 0) / 100 for m, _, _ in view.mrr], type="bar"),
        options={"scales": {"y": {"beginAtZero": True}}},
    )
