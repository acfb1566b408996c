"""``POST /api/billing/stripe/webhook``: where Stripe delivers events."""

from __future__ import annotations

from fastapi import APIRouter, Request

from saaskit.billing import webhooks
from saaskit.billing.schemas import WebhookReceived
from saaskit.kit.deps import DbSession, RuntimeDep

router = APIRouter(prefix="/api/billing/stripe", tags=["billing"])


@router.post("/webhook", summary="Stripe webhook (signed): stored, then processed by a job")
async def stripe_webhook(request: Request, session: DbSession, runtime: RuntimeDep) -> WebhookReceived:
    payload = await request.body()
    row_id, new = await webhooks.receive(session, runtime, payload, request.headers.get("stripe-signature"))
    return WebhookReceived(received=True, duplicate=not new, id=row_id)
