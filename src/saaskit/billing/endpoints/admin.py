"""``/api/admin/billing``: platform admins manage the catalog and the webhook log."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from saaskit.accounts.dependencies import AdminUser
from saaskit.audit.dependencies import AdminActor
from saaskit.billing import coupons, operator, plans, webhooks
from saaskit.billing.models import Coupon
from saaskit.billing.schemas import CouponIn, CouponOut, PlanIn, PlanOut, PlanUpdate, WebhookEventOut
from saaskit.kit.deps import DbSession
from saaskit.kit.pagination import CursorParam, LimitParam, Page

router = APIRouter(prefix="/api/admin/billing", tags=["billing admin"])


@router.get("/plans", response_model=list[PlanOut], summary="Every plan, on sale or not")
async def list_plans(session: DbSession, admin: AdminUser) -> list[PlanOut]:
    return [PlanOut.model_validate(p) for p in await plans.list_plans(session, public_only=False)]


@router.post("/plans", status_code=201, response_model=PlanOut, summary="Create a plan (then sync-plans)")
async def create_plan(body: PlanIn, session: DbSession, admin: AdminUser) -> PlanOut:
    return PlanOut.model_validate(await plans.create(session, body))


@router.patch(
    "/plans/{plan_id}", response_model=PlanOut, summary="Change a plan (a new price needs sync-plans)"
)
async def update_plan(plan_id: uuid.UUID, body: PlanUpdate, session: DbSession, admin: AdminUser) -> PlanOut:
    return PlanOut.model_validate(await plans.update(session, plan_id, body))


@router.get("/coupons", response_model=list[CouponOut], summary="Every coupon")
async def list_coupons(session: DbSession, admin: AdminUser) -> list[CouponOut]:
    rows = await session.scalars(select(Coupon).order_by(Coupon.created_at.desc()))
    return [CouponOut.model_validate(c) for c in rows]


@router.post("/coupons", status_code=201, response_model=CouponOut, summary="Create a coupon")
async def create_coupon(body: CouponIn, session: DbSession, admin: AdminUser) -> CouponOut:
    return CouponOut.model_validate(await coupons.create(session, body))


@router.get("/webhook-events", response_model=Page[WebhookEventOut], summary="Stripe events received")
async def list_webhook_events(
    session: DbSession,
    admin: AdminUser,
    status: Annotated[str | None, Query(pattern="^(pending|processed|failed|ignored)$")] = None,
    event_type: Annotated[str | None, Query(max_length=100)] = None,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[WebhookEventOut]:
    rows, next_cursor = await webhooks.list_events(
        session, status=status, event_type=event_type, limit=limit, cursor=cursor
    )
    return Page[WebhookEventOut](
        items=[WebhookEventOut.model_validate(r) for r in rows], next_cursor=next_cursor
    )


@router.post(
    "/webhook-events/{event_id}/reprocess",
    status_code=202,
    response_model=WebhookEventOut,
    summary="Queue a failed event again",
)
async def reprocess(event_id: uuid.UUID, session: DbSession, actor: AdminActor) -> WebhookEventOut:
    return WebhookEventOut.model_validate(await operator.reprocess_webhook(session, actor, event_id))
