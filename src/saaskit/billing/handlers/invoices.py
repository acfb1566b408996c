"""``invoice.*``: mirror the invoice and its lines; a paid one records its payment once; a
failed or unconfirmed subscription invoice is followed by ``billing.dunning``.

``invoice.payment_succeeded`` is the older name of ``invoice.paid`` (localstripe sends only it).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.billing import dunning, invoices, notices, shapes
from saaskit.billing.handlers import Event, Outcome, handles
from saaskit.billing.owners import owner_for_customer
from saaskit.kit.state import Runtime
from saaskit.webhooks import events as webhook_events


@handles(
    "invoice.created",
    "invoice.finalized",
    "invoice.updated",
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice.payment_failed",
    "invoice.payment_action_required",
    "invoice.voided",
    "invoice.marked_uncollectible",
)
async def invoice_changed(session: AsyncSession, runtime: Runtime, event: Event) -> Outcome:
    owner = await owner_for_customer(session, shapes.customer_id(event.object), event.object.get("metadata"))
    row = await invoices.apply_invoice(
        session, event.object, event.created, owner, first_snapshot=event.type == "invoice.created"
    )
    note = None
    if event.type == "invoice.payment_failed":
        error = shapes.dig(event.object, "last_finalization_error", "message") or "the payment attempt failed"
        row.last_payment_error = str(error)
        note = f"payment failed after {row.attempt_count} attempt(s)"
        if owner is not None:
            next_attempt = shapes.ts(event.object.get("next_payment_attempt"))
            told = await notices.payment_failed(session, runtime, owner, row, next_attempt)
            await webhook_events.payment_failed(session, row, next_attempt)
            note += "; billing owners told" if told is not None else "; already told"
    if owner is not None:
        followed = await dunning.observe(
            session, runtime, owner, row, event.type, event.object, event.created
        )
        if followed:
            note = f"{note}; {followed}" if note else followed
    return Outcome(owner=owner, note=note)
