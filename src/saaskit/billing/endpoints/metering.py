"""Metered usage and quotas for their owners: the upcoming invoice (with the usage Stripe has),
usage records with their Stripe state, and an organization's quotas (``billing:read``)."""

# No "from __future__ import annotations": routes are defined inside a function (see owned.py).

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from saaskit.billing import preview, quotas, usage
from saaskit.billing.endpoints.account import me
from saaskit.billing.endpoints.orgs import org_reader
from saaskit.billing.endpoints.owned import Payer, PayerDep
from saaskit.billing.metering_schemas import (
    InvoicePreviewOut,
    QuotaOut,
    QuotasOut,
    UsageRecordStateOut,
)
from saaskit.billing.models import UsageRecord
from saaskit.kit.deps import DbSession, RuntimeDep

StripeStatus = Literal["pending", "sent", "refused", "failed", "skipped"]


def metering_router(prefix: str, tags: list[str], read: PayerDep) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=list(tags))
    Read = Annotated[Payer, Depends(read)]

    @router.get("/invoice-preview", response_model=InvoicePreviewOut, summary="The upcoming invoice")
    async def invoice_preview(session: DbSession, runtime: RuntimeDep, payer: Read) -> InvoicePreviewOut:
        return await preview.upcoming(session, runtime, payer.owner)

    @router.get(
        "/usage/records",
        response_model=list[UsageRecordStateOut],
        summary="Latest usage records with their state at Stripe (refusals with Stripe's error)",
    )
    async def usage_records(
        session: DbSession,
        payer: Read,
        stripe_status: Annotated[StripeStatus | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> list[UsageRecordStateOut]:
        query = select(UsageRecord).where(payer.owner.matches(UsageRecord))
        if stripe_status is not None:
            query = query.where(UsageRecord.stripe_status == stripe_status)
        rows = await session.scalars(query.order_by(UsageRecord.recorded_at.desc()).limit(limit))
        return [UsageRecordStateOut.model_validate(r) for r in rows.all()]

    return router


user_router = metering_router("/api/billing", ["billing"], read=me)
org_router = metering_router("/api/orgs/{org_id}/billing", ["organization billing"], read=org_reader)


@org_router.get("/quotas", response_model=QuotasOut, summary="The plan's limits and what is used of them")
async def org_quotas(session: DbSession, payer: Annotated[Payer, Depends(org_reader)]) -> QuotasOut:
    period = await usage.current_period(session, payer.owner)
    assert payer.owner.organization_id is not None
    found = await quotas.figures(session, payer.owner.organization_id, period.start, period.end)
    return QuotasOut(
        period_start=period.start,
        period_end=period.end,
        quotas=[
            QuotaOut(
                name=f.name,
                kind=f.kind,
                limit=f.limit,
                used=f.used,
                remaining=max(f.limit - f.used, 0),
                period_start=f.period_start,
                period_end=f.period_end,
            )
            for f in found
        ],
    )
