"""The credit ledger, Checkout, the customer portal and dunning, for an owner: built once for
users (``/api/billing``) and once for organizations (``/api/orgs/{org_id}/billing``), like
``owned.owned_router``; plus the user's 'save a card and turn auto top-up on'."""

# No "from __future__ import annotations": routes are defined inside a function (see owned.py).

from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from saaskit.accounts.dependencies import CurrentUser
from saaskit.billing import checkout, dunning, ledger, payment_methods
from saaskit.billing.credits import AUTO_TOPUP_ASKED
from saaskit.billing.endpoints.account import me
from saaskit.billing.endpoints.orgs import org_manager, org_reader
from saaskit.billing.endpoints.owned import Payer, PayerDep
from saaskit.billing.ledger_schemas import (
    AutoTopupSetupIn,
    BalanceOut,
    CheckoutIn,
    CheckoutOut,
    DunningCaseOut,
    LedgerEntryOut,
    PortalIn,
    PortalOut,
)
from saaskit.billing.models.ledger import LEDGER_KINDS
from saaskit.billing.owners import Owner
from saaskit.billing.schemas import SetupIntentOut
from saaskit.kit.deps import DbSession, RuntimeDep
from saaskit.kit.pagination import CursorParam, LimitParam, Page

KindParam = Annotated[str | None, Query(pattern="^(" + "|".join(LEDGER_KINDS) + ")$")]


def commerce_router(prefix: str, tags: list[str | Enum], read: PayerDep, manage: PayerDep) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=tags)
    Read = Annotated[Payer, Depends(read)]
    Manage = Annotated[Payer, Depends(manage)]

    @router.get("/ledger", response_model=Page[LedgerEntryOut], summary="Credit history, newest first")
    async def credit_history(
        session: DbSession,
        payer: Read,
        kind: KindParam = None,
        limit: LimitParam = 50,
        cursor: CursorParam = None,
    ) -> Page[LedgerEntryOut]:
        rows, next_cursor = await ledger.history(session, payer.owner, limit=limit, cursor=cursor, kind=kind)
        return Page[LedgerEntryOut](
            items=[LedgerEntryOut.model_validate(r) for r in rows], next_cursor=next_cursor
        )

    @router.get("/ledger/balance", response_model=BalanceOut, summary="Credit balance and the ledger's sum")
    async def credit_balance(session: DbSession, payer: Read) -> BalanceOut:
        column, total = await ledger.check(session, payer.owner)
        return BalanceOut(balance_cents=column, ledger_sum_cents=total)

    @router.post("/checkout", status_code=201, response_model=CheckoutOut, summary="Start a Stripe Checkout")
    async def start_checkout(
        body: CheckoutIn, session: DbSession, runtime: RuntimeDep, payer: Manage
    ) -> CheckoutOut:
        created = await checkout.create_session(
            session,
            runtime,
            payer.owner,
            plan_id=body.plan_id,
            credits_cents=body.credits_cents,
            success_url=body.success_url,
            cancel_url=body.cancel_url,
        )
        return CheckoutOut(id=created["id"], url=created.get("url"), mode=str(created.get("mode")))

    @router.post(
        "/portal", status_code=201, response_model=PortalOut, summary="Open Stripe's customer portal"
    )
    async def open_portal(
        session: DbSession, runtime: RuntimeDep, payer: Manage, body: PortalIn | None = None
    ) -> PortalOut:
        created = await checkout.create_portal(
            session, runtime, payer.owner, body.return_url if body else None
        )
        return PortalOut(id=created["id"], url=created["url"])

    @router.get("/dunning", response_model=list[DunningCaseOut], summary="Unpaid invoices being followed")
    async def dunning_cases(session: DbSession, payer: Read) -> list[DunningCaseOut]:
        return [DunningCaseOut.model_validate(r) for r in await dunning.list_for(session, payer.owner)]

    return router


user_router = commerce_router("/api/billing", ["billing"], read=me, manage=me)
org_router = commerce_router(
    "/api/orgs/{org_id}/billing", ["organization billing"], read=org_reader, manage=org_manager
)


@user_router.post(
    "/credits/auto-topup/setup",
    response_model=SetupIntentOut,
    summary="Save a card; auto top-up turns on when Stripe confirms it",
)
async def setup_auto_topup(
    body: AutoTopupSetupIn, session: DbSession, runtime: RuntimeDep, principal: CurrentUser
) -> SetupIntentOut:
    owner = Owner(user_id=principal.user_id)
    intent, customer = await payment_methods.create_setup_intent(
        session,
        runtime,
        owner,
        extra_metadata={
            AUTO_TOPUP_ASKED: "true",
            "saaskit_threshold_cents": str(body.threshold_cents),
            "saaskit_amount_cents": str(body.amount_cents),
        },
    )
    return SetupIntentOut(
        setup_intent_id=intent["id"], client_secret=intent.get("client_secret"), stripe_customer_id=customer
    )
