"""The upcoming invoice, as Stripe would issue it now, beside saaskit's own usage figures.

Stripe's preview (``POST /v1/invoices/create_preview``; with ``legacy_plans``,
``GET /v1/invoices/upcoming``) of the owner's entitled subscription: its lines, metered ones
with the usage Stripe acknowledged. Beside it, this period's usage per metric and Stripe state
(pending, sent, refused ...), so what has not reached Stripe yet is visible too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.billing import owners, tiers, usage
from saaskit.billing.metering_schemas import InvoicePreviewOut, PreviewLineOut, UsageStateOut
from saaskit.billing.models import UsageRecord
from saaskit.billing.stripe_client import gateway
from saaskit.kit.errors import NotFound
from saaskit.kit.state import Runtime


def _time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if isinstance(value, int | float) else None


def _line(line: dict[str, Any], plan_price: str | None) -> PreviewLineOut:
    """A preview line; metered when its price says so (legacy ``usage_type``) or, in the current
    API whose lines carry only a price id, when it is priced by another price than the plan's."""
    price = line.get("price") or line.get("plan") or {}
    pricing = (line.get("pricing") or {}).get("price_details") or {}
    recurring = price.get("recurring") or {}
    price_id = price.get("id") or pricing.get("price")
    metered = price.get("usage_type") == "metered" or recurring.get("usage_type") == "metered"
    if not price and price_id is not None and plan_price is not None:
        metered = price_id != plan_price
    period = line.get("period") or {}
    return PreviewLineOut(
        description=line.get("description"),
        quantity=line.get("quantity"),
        amount_cents=int(line.get("amount") or 0),
        price_id=price_id,
        metered=metered,
        period_start=_time(period.get("start")),
        period_end=_time(period.get("end")),
    )


async def usage_states(session: AsyncSession, owner: owners.Owner) -> list[UsageStateOut]:
    period = await usage.current_period(session, owner)
    rows = await session.execute(
        select(UsageRecord.metric_name, UsageRecord.stripe_status, func.sum(UsageRecord.quantity))
        .where(
            owner.matches(UsageRecord),
            UsageRecord.recorded_at >= period.start,
            UsageRecord.recorded_at < period.end,
        )
        .group_by(UsageRecord.metric_name, UsageRecord.stripe_status)
        .order_by(UsageRecord.metric_name)
    )
    found: dict[str, dict[str, int]] = {}
    for metric, status, total in rows.all():
        found.setdefault(metric, {})[status] = int(total or 0)
    return [UsageStateOut(metric_name=m, **q) for m, q in found.items()]


async def upcoming(session: AsyncSession, runtime: Runtime, owner: owners.Owner) -> InvoicePreviewOut:
    sub = await tiers.entitled_subscription(session, owner)
    customer = None
    if sub is not None:
        customer = sub.stripe_customer_id or await owners.customer_of(session, owner)
    if sub is None or not sub.stripe_subscription_id or not customer:
        raise NotFound("no subscription billed by Stripe", code="no_subscription")
    stripe_gateway = gateway(runtime)
    client = stripe_gateway.client
    params = {"customer": customer, "subscription": sub.stripe_subscription_id}
    if stripe_gateway.legacy_plans:
        answer = await client.raw_request_async("get", "/v1/invoices/upcoming", **params)
        invoice: dict[str, Any] = client.deserialize(answer, api_mode="V1").to_dict()
    else:
        invoice = (await client.v1.invoices.create_preview_async(params)).to_dict()  # type: ignore[arg-type]
    lines = (invoice.get("lines") or {}).get("data") or []
    return InvoicePreviewOut(
        subscription_id=sub.id,
        stripe_customer_id=customer,
        currency=invoice.get("currency"),
        subtotal_cents=int(invoice.get("subtotal") or 0),
        total_cents=int(invoice.get("total") or 0),
        amount_due_cents=int(invoice.get("amount_due") or 0),
        period_start=_time(invoice.get("period_start")),
        period_end=_time(invoice.get("period_end")),
        lines=[_line(line, sub.stripe_price_id) for line in lines],
        usage=await usage_states(session, owner),
    )
