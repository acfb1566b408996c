"""Disputes (chargebacks): ``charge.dispute.created|updated|closed`` record on the payment
transaction how much the cardholder disputed and the dispute's status, so the trust rule
``refund_after_credits`` sees a dispute after spending credits as it sees a refund
(docs/trust.md). Money and credits are not moved here: a lost dispute's funds are withdrawn by
Stripe, and what to do about the credits is a reviewer's decision (the trust queue)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.billing import shapes
from saaskit.billing.models import PaymentTransaction

# A closed dispute's status is final: an older "open" event arriving late does not reopen it.
CLOSED = frozenset({"won", "lost", "warning_closed", "prevented"})


async def apply_dispute(session: AsyncSession, dispute: dict[str, Any]) -> PaymentTransaction | None:
    """Idempotent and order-independent: the amount is Stripe's (the same in every event of a
    dispute), and a closed status is never replaced by an open one."""
    query = select(PaymentTransaction).with_for_update()
    row = None
    intent_id = shapes.id_of(dispute.get("payment_intent"))
    if intent_id:
        row = await session.scalar(query.where(PaymentTransaction.stripe_payment_intent_id == intent_id))
    charge_id = shapes.id_of(dispute.get("charge"))
    if row is None and charge_id:
        row = await session.scalar(query.where(PaymentTransaction.stripe_charge_id == charge_id).limit(1))
    if row is None:
        return None
    amount = dispute.get("amount")
    disputed = (
        min(int(amount), row.amount_cents) if isinstance(amount, int) and amount > 0 else row.amount_cents
    )
    status = dispute.get("status") if isinstance(dispute.get("status"), str) else None
    row.disputed_cents = max(0, disputed)
    if status and not (row.dispute_status in CLOSED and status not in CLOSED):
        row.dispute_status = status
    await session.flush()
    return row
