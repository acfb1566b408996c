"""The billing endpoints an owner has, built once for users and once for organizations.

``owned_router(prefix, read, manage)``: ``read`` and ``manage`` are dependencies answering the
``Payer`` (owner + audit actor) after their own permission check (the signed-in user for
``/api/billing``; ``org_access("billing:read" | "billing:manage")`` for organizations).
"""

# No "from __future__ import annotations": the routes below are defined inside a function and
# FastAPI must see their (local) dependency types as objects, not strings.

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from saaskit.audit.service import Actor
from saaskit.billing import invoices, payment_methods, subscriptions, usage
from saaskit.billing.models import Subscription
from saaskit.billing.owners import Owner
from saaskit.billing.schemas import (
    CancelIn,
    ChangePlanIn,
    InvoiceLineOut,
    InvoiceOut,
    PaymentMethodIn,
    PaymentMethodOut,
    SetupIntentOut,
    SubscribeIn,
    SubscriptionOut,
    UsageIn,
    UsageOut,
    UsageTotalsOut,
)
from saaskit.kit.deps import DbSession, RuntimeDep
from saaskit.kit.idempotency import Idempotency
from saaskit.kit.pagination import CursorParam, LimitParam, Page


@dataclass(frozen=True)
class Payer:
    owner: Owner
    actor: Actor | None = None


PayerDep = Callable[..., Awaitable[Payer]]


def _out(sub: Subscription, discount_cents: int | None = None) -> SubscriptionOut:
    out = SubscriptionOut.model_validate(sub)
    out.discount_cents = discount_cents
    return out


def owned_router(prefix: str, tags: list[str | Enum], read: PayerDep, manage: PayerDep) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=tags)
    Read = Annotated[Payer, Depends(read)]
    Manage = Annotated[Payer, Depends(manage)]

    @router.get("/subscriptions", response_model=Page[SubscriptionOut], summary="Subscriptions, newest first")
    async def list_subscriptions(
        session: DbSession, payer: Read, limit: LimitParam = 50, cursor: CursorParam = None
    ) -> Page[SubscriptionOut]:
        rows, next_cursor = await subscriptions.list_for(session, payer.owner, limit=limit, cursor=cursor)
        return Page[SubscriptionOut](items=[_out(r) for r in rows], next_cursor=next_cursor)

    @router.post(
        "/subscriptions", status_code=201, response_model=SubscriptionOut, summary="Subscribe to a plan"
    )
    async def subscribe(
        body: SubscribeIn, session: DbSession, runtime: RuntimeDep, payer: Manage, idempotency: Idempotency
    ) -> Response:
        """With an ``Idempotency-Key``, a retry gets the first answer again (kit.idempotency)."""

        async def create() -> SubscriptionOut:
            sub, discount = await subscriptions.subscribe(
                session,
                runtime,
                payer.owner,
                plan_id=body.plan_id,
                coupon_code=body.coupon_code,
                idempotency_key=idempotency.key,
                actor=payer.actor,
            )
            return _out(sub, discount)

        return await idempotency.respond(session, create, status_code=201)

    @router.get(
        "/subscriptions/{subscription_id}", response_model=SubscriptionOut, summary="One subscription"
    )
    async def get_subscription(
        subscription_id: uuid.UUID, session: DbSession, payer: Read
    ) -> SubscriptionOut:
        return _out(await subscriptions.get(session, payer.owner, subscription_id))

    @router.patch("/subscriptions/{subscription_id}", response_model=SubscriptionOut, summary="Change plan")
    async def change_plan(
        subscription_id: uuid.UUID, body: ChangePlanIn, session: DbSession, runtime: RuntimeDep, payer: Manage
    ) -> SubscriptionOut:
        sub = await subscriptions.change_plan(
            session, runtime, payer.owner, subscription_id, body.plan_id, payer.actor
        )
        return _out(sub)

    @router.post(
        "/subscriptions/{subscription_id}/cancel",
        response_model=SubscriptionOut,
        summary="Cancel at period end (default) or at once",
    )
    async def cancel(
        subscription_id: uuid.UUID,
        session: DbSession,
        runtime: RuntimeDep,
        payer: Manage,
        body: CancelIn | None = None,
    ) -> SubscriptionOut:
        at_period_end = body.at_period_end if body is not None else True
        sub = await subscriptions.cancel(
            session, runtime, payer.owner, subscription_id, at_period_end=at_period_end, actor=payer.actor
        )
        return _out(sub)

    @router.post(
        "/subscriptions/{subscription_id}/resume",
        response_model=SubscriptionOut,
        summary="Undo a cancellation at period end",
    )
    async def resume(
        subscription_id: uuid.UUID, session: DbSession, runtime: RuntimeDep, payer: Manage
    ) -> SubscriptionOut:
        return _out(await subscriptions.resume(session, runtime, payer.owner, subscription_id, payer.actor))

    @router.get("/invoices", response_model=Page[InvoiceOut], summary="Invoices, newest first")
    async def list_invoices(
        session: DbSession, payer: Read, limit: LimitParam = 50, cursor: CursorParam = None
    ) -> Page[InvoiceOut]:
        rows, next_cursor = await invoices.list_for(session, payer.owner, limit=limit, cursor=cursor)
        return Page[InvoiceOut](items=[InvoiceOut.model_validate(r) for r in rows], next_cursor=next_cursor)

    @router.get("/invoices/{invoice_id}", response_model=InvoiceOut, summary="One invoice with its lines")
    async def get_invoice(invoice_id: uuid.UUID, session: DbSession, payer: Read) -> InvoiceOut:
        invoice, lines = await invoices.get_with_lines(session, payer.owner, invoice_id)
        out = InvoiceOut.model_validate(invoice)
        out.lines = [InvoiceLineOut.model_validate(line) for line in lines]
        return out

    @router.post("/setup-intent", response_model=SetupIntentOut, summary="Start saving a card (SetupIntent)")
    async def setup_intent(session: DbSession, runtime: RuntimeDep, payer: Manage) -> SetupIntentOut:
        intent, customer = await payment_methods.create_setup_intent(session, runtime, payer.owner)
        return SetupIntentOut(
            setup_intent_id=intent["id"],
            client_secret=intent.get("client_secret"),
            stripe_customer_id=customer,
        )

    @router.get("/payment-methods", response_model=list[PaymentMethodOut], summary="Saved payment methods")
    async def list_payment_methods(session: DbSession, payer: Read) -> list[PaymentMethodOut]:
        rows = await payment_methods.list_for(session, payer.owner)
        return [PaymentMethodOut.model_validate(r) for r in rows]

    @router.post(
        "/payment-methods", status_code=201, response_model=PaymentMethodOut, summary="Save a confirmed card"
    )
    async def add_payment_method(
        body: PaymentMethodIn, session: DbSession, runtime: RuntimeDep, payer: Manage
    ) -> PaymentMethodOut:
        row = await payment_methods.save_from_stripe(
            session,
            runtime,
            payer.owner,
            setup_intent_id=body.setup_intent_id,
            payment_method_id=body.payment_method_id,
            make_default=body.make_default,
        )
        return PaymentMethodOut.model_validate(row)

    @router.delete("/payment-methods/{method_id}", status_code=204, summary="Remove a saved card")
    async def remove_payment_method(
        method_id: uuid.UUID, session: DbSession, runtime: RuntimeDep, payer: Manage
    ) -> Response:
        await payment_methods.remove(session, runtime, payer.owner, method_id)
        return Response(status_code=204)

    @router.post(
        "/usage",
        status_code=201,
        response_model=UsageOut,
        summary="Record metered usage (idempotent by key)",
        responses={200: {"model": UsageOut, "description": "The key was used already: its first record."}},
    )
    async def record_usage(body: UsageIn, session: DbSession, payer: Read, response: Response) -> UsageOut:
        row, new = await usage.record(session, payer.owner, body)
        response.status_code = 201 if new else 200
        return UsageOut.model_validate(row)

    @router.get("/usage", response_model=UsageTotalsOut, summary="This period's usage per metric")
    async def usage_totals(session: DbSession, payer: Read) -> UsageTotalsOut:
        period, metrics = await usage.totals(session, payer.owner)
        return UsageTotalsOut(period_start=period.start, period_end=period.end, metrics=metrics)

    return router
