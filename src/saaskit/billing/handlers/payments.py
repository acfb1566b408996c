"""Payments and payment methods: ``payment_intent.*``, ``charge.refunded``, ``charge.dispute.*``,
``setup_intent.succeeded`` and ``payment_method.attached|detached``.

PaymentIntents are acted on only when saaskit created them (its transaction id is in their
metadata): subscription payments are counted once, through their invoice, not twice.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.billing import credits, disputes, payment_methods, shapes
from saaskit.billing.handlers import Event, Obj, Outcome, handles
from saaskit.billing.owners import Owner, owner_for_customer
from saaskit.billing.stripe_client import gateway
from saaskit.kit.state import Runtime


def _owner_of(row_user_id: object) -> Owner | None:
    return Owner(user_id=row_user_id) if row_user_id is not None else None  # type: ignore[arg-type]


@handles("payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled")
async def payment_intent_changed(session: AsyncSession, runtime: Runtime, event: Event) -> Outcome:
    row = await credits.apply_payment_intent(session, runtime, event.object)
    if row is None:
        return Outcome(note="not a payment saaskit started: nothing to do")
    return Outcome(owner=_owner_of(row.user_id), note=f"transaction {row.id} is {row.status}")


@handles("charge.refunded")
async def charge_refunded(session: AsyncSession, runtime: Runtime, event: Event) -> Outcome:
    row = await credits.apply_refund(session, event.object)
    if row is None:
        return Outcome(note="no matching payment")
    owner = Owner(**{"user_id": row.user_id} if row.user_id else {"organization_id": row.organization_id})
    return Outcome(owner=owner, note=f"{row.refunded_cents} cents refunded")


@handles("charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed")
async def charge_disputed(session: AsyncSession, runtime: Runtime, event: Event) -> Outcome:
    row = await disputes.apply_dispute(session, event.object)
    if row is None:
        return Outcome(note="no matching payment")
    owner = Owner(**{"user_id": row.user_id} if row.user_id else {"organization_id": row.organization_id})
    return Outcome(owner=owner, note=f"{row.disputed_cents} cents disputed ({row.dispute_status})")


async def _fetch_method(runtime: Runtime, event: Event) -> Obj:
    method_id = shapes.id_of(event.object.get("payment_method"))
    if not method_id:
        return {}
    return {"payment_method": await gateway(runtime).retrieve_payment_method(method_id)}


@handles("setup_intent.succeeded", prefetch=_fetch_method)
async def setup_intent_succeeded(session: AsyncSession, runtime: Runtime, event: Event) -> Outcome:
    method = event.prefetched.get("payment_method")
    owner = await owner_for_customer(session, shapes.customer_id(event.object), event.object.get("metadata"))
    if owner is None or not method:
        return Outcome(note="no saaskit customer or no payment method")
    if shapes.customer_id(method) is None:
        method = {**method, "customer": shapes.customer_id(event.object)}
    row = await payment_methods.upsert(session, runtime, owner, method, make_default=True)
    note = f"payment method {row.provider_payment_method_id} saved as default"
    if await credits.enable_auto_topup_if_asked(session, owner, event.object.get("metadata")):
        note += "; auto top-up on"
    return Outcome(owner=owner, note=note)


@handles("payment_method.attached", "payment_method.updated")
async def payment_method_attached(session: AsyncSession, runtime: Runtime, event: Event) -> Outcome:
    owner = await owner_for_customer(session, shapes.customer_id(event.object))
    if owner is None:
        return Outcome(note="not a saaskit customer")
    row = await payment_methods.upsert(session, runtime, owner, event.object, make_default=False)
    return Outcome(owner=owner, note=f"payment method {row.provider_payment_method_id} stored")


@handles("payment_method.detached")
async def payment_method_detached(session: AsyncSession, runtime: Runtime, event: Event) -> Outcome:
    row = await payment_methods.mark_detached(session, event.object["id"])
    if row is None:
        return Outcome(note="unknown payment method")
    owner = Owner(**{"user_id": row.user_id} if row.user_id else {"organization_id": row.organization_id})
    return Outcome(owner=owner, note="payment method detached")
