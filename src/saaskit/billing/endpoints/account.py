"""``/api/billing``: the signed-in user's own billing, the public plan list, and credits."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from sqlalchemy import select

from saaskit.accounts.dependencies import CurrentUser
from saaskit.accounts.models import User
from saaskit.billing import credits, plans
from saaskit.billing.endpoints.owned import Payer, owned_router
from saaskit.billing.models import PaymentTransaction
from saaskit.billing.owners import Owner
from saaskit.billing.schemas import (
    AutoTopupIn,
    CreditsOut,
    PlanOut,
    SpendIn,
    SpendOut,
    TopUpIn,
    TransactionOut,
)
from saaskit.kit.deps import DbSession, RuntimeDep
from saaskit.kit.pagination import CursorParam, LimitParam, Page, keyset_page


async def me(principal: CurrentUser) -> Payer:
    return Payer(owner=Owner(user_id=principal.user_id))


router = owned_router("/api/billing", ["billing"], read=me, manage=me)


@router.get("/plans", response_model=list[PlanOut], summary="Plans on sale (public)")
async def list_public_plans(session: DbSession) -> list[PlanOut]:
    return [PlanOut.model_validate(p) for p in await plans.list_plans(session, public_only=True)]


credits_router = APIRouter(prefix="/api/billing/credits", tags=["billing"])


def _credits(user: User) -> CreditsOut:
    return CreditsOut(
        credits_cents=user.credits_cents,
        total_spent_cents=user.total_spent_cents,
        auto_topup_enabled=user.auto_topup_enabled,
        auto_topup_threshold_cents=user.auto_topup_threshold_cents,
        auto_topup_amount_cents=user.auto_topup_amount_cents,
        has_payment_method=user.stripe_payment_method_id is not None,
    )


@credits_router.get("", response_model=CreditsOut, summary="Credit balance and auto top-up settings")
async def get_credits(session: DbSession, principal: CurrentUser) -> CreditsOut:
    return _credits(await session.get_one(User, principal.user_id))


@credits_router.put("/auto-topup", response_model=CreditsOut, summary="Turn auto top-up on or off")
async def set_auto_topup(body: AutoTopupIn, session: DbSession, principal: CurrentUser) -> CreditsOut:
    return _credits(await credits.configure_auto_topup(session, principal.user_id, body))


@credits_router.post("/spend", response_model=SpendOut, summary="Spend credits (402 when short)")
async def spend(body: SpendIn, session: DbSession, principal: CurrentUser, runtime: RuntimeDep) -> SpendOut:
    balance, topup = await credits.spend(
        session, runtime, principal.user_id, body.amount_cents, reason=body.description
    )
    return SpendOut(credits_cents=balance, topup_transaction_id=topup)


@credits_router.post("/top-up", status_code=202, response_model=TransactionOut, summary="Buy credits now")
async def top_up(body: TopUpIn, session: DbSession, principal: CurrentUser) -> TransactionOut:
    transaction_id = await credits.request_topup(session, principal.user_id, body.amount_cents)
    return TransactionOut.model_validate(await session.get_one(PaymentTransaction, transaction_id))


@credits_router.get("/transactions", response_model=Page[TransactionOut], summary="Payments and top-ups")
async def list_transactions(
    session: DbSession, principal: CurrentUser, limit: LimitParam = 50, cursor: CursorParam = None
) -> Page[TransactionOut]:
    query = select(PaymentTransaction).where(PaymentTransaction.user_id == principal.user_id)
    rows, next_cursor = await keyset_page(
        session,
        query,
        created_at=PaymentTransaction.created_at,
        row_id=PaymentTransaction.id,
        limit=limit,
        cursor=cursor,
    )
    return Page[TransactionOut](
        items=[TransactionOut.model_validate(r) for r in rows], next_cursor=next_cursor
    )


@credits_router.get(
    "/transactions/{transaction_id}", response_model=TransactionOut, summary="One transaction"
)
async def get_transaction(
    transaction_id: uuid.UUID, session: DbSession, principal: CurrentUser
) -> TransactionOut:
    from saaskit.kit.errors import NotFound

    row = await session.get(PaymentTransaction, transaction_id)
    if row is None or row.user_id != principal.user_id:
        raise NotFound("no such transaction", field="transaction_id")
    return TransactionOut.model_validate(row)
