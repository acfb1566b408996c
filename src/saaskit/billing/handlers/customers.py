"""``customer.created|updated|deleted``: link, follow the default payment method, unlink."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts.models import User
from saaskit.billing import payment_methods, shapes
from saaskit.billing.handlers import Event, Outcome, handles
from saaskit.billing.owners import owner_for_customer
from saaskit.kit.state import Runtime
from saaskit.tenancy.models import Organization


@handles("customer.created", "customer.updated")
async def customer_changed(session: AsyncSession, runtime: Runtime, event: Event) -> Outcome:
    owner = await owner_for_customer(session, event.object["id"], event.object.get("metadata"))
    if owner is None:
        return Outcome(note="not a saaskit customer")
    default = shapes.id_of(shapes.dig(event.object, "invoice_settings", "default_payment_method"))
    if event.type == "customer.updated" and default:
        await payment_methods.set_default(session, owner, default)
    return Outcome(owner=owner)


@handles("customer.deleted")
async def customer_deleted(session: AsyncSession, runtime: Runtime, event: Event) -> Outcome:
    customer_id = event.object["id"]
    owner = await owner_for_customer(session, customer_id)
    if owner is None:
        return Outcome(note="not a saaskit customer")
    # Stripe cancels the customer's subscriptions itself and says so with their own events.
    await session.execute(
        update(User)
        .where(User.stripe_customer_id == customer_id)
        .values(stripe_customer_id=None, stripe_payment_method_id=None, auto_topup_enabled=False)
    )
    await session.execute(
        update(Organization)
        .where(Organization.stripe_customer_id == customer_id)
        .values(stripe_customer_id=None)
    )
    return Outcome(owner=owner, note="customer deleted at Stripe: unlinked")
