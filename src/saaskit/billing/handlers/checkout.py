"""``checkout.session.completed`` / ``async_payment_succeeded``: a Checkout purchase applied
once (``billing.checkout.complete``); the plan's subscription read back from Stripe first."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.billing import checkout, shapes
from saaskit.billing.handlers import Event, Obj, Outcome, handles
from saaskit.billing.owners import owner_for_customer
from saaskit.kit.state import Runtime


async def _prefetch(runtime: Runtime, event: Event) -> Obj:
    return await checkout.prefetch(runtime, event.object)


@handles("checkout.session.completed", "checkout.session.async_payment_succeeded", prefetch=_prefetch)
async def checkout_completed(session: AsyncSession, runtime: Runtime, event: Event) -> Outcome:
    owner = await owner_for_customer(session, shapes.customer_id(event.object), event.object.get("metadata"))
    if owner is None:
        return Outcome(note="not a saaskit customer")
    note, owner = await checkout.complete(session, owner, event.object, event.prefetched)
    return Outcome(owner=owner, note=note)
