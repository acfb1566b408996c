"""Prepaid credits and auto top-up (seed 003's pattern).

- Every balance change goes through the credit ledger (``billing.ledger.post``): the user's row
  locked, the conditional UPDATE and the ledger row in one statement; two concurrent spends
  cannot both use the same credit, and the balance never goes below zero (a CHECK backs it).
- When a spend leaves the balance under the threshold with auto top-up on, the same transaction
  inserts a ``pending`` top-up transaction and defers the job that charges it. A partial unique
  index allows one in-flight top-up per user, so concurrent spends create at most one (the
  others' inserts do nothing), hence at most one PaymentIntent at a time.
- The job creates the off-session PaymentIntent after commit, outside any transaction, with an
  Idempotency-Key of the transaction's id and the user id, credit amount, transaction id and
  kind in its metadata.
- ``apply_payment_intent`` (the job with Stripe's answer, and the ``payment_intent.*``
  webhooks) adds the credits exactly once: ``credited_at`` is set by the same conditional
  UPDATE that reads the amount, under the transaction's row lock.
- Failures are recorded on the transaction; after ``topup_max_failures`` consecutive failed
  auto top-ups, auto top-up is turned off.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts.models import User
from saaskit.billing import ledger, notices, shapes
from saaskit.billing.models import PaymentTransaction
from saaskit.billing.models.payments import IN_FLIGHT_TOPUP
from saaskit.billing.owners import Owner
from saaskit.billing.schemas import AutoTopupIn
from saaskit.jobs import defer
from saaskit.kit.errors import Conflict, PaymentRequired
from saaskit.kit.state import Runtime

Obj = dict[str, Any]

SPEND_STATE = text(
    "SELECT auto_topup_enabled, auto_topup_threshold_cents, auto_topup_amount_cents, "
    "stripe_payment_method_id IS NOT NULL AND stripe_customer_id IS NOT NULL AS can_charge "
    "FROM users WHERE id = :user_id"
)


async def spend(
    session: AsyncSession,
    runtime: Runtime,
    user_id: uuid.UUID,
    amount_cents: int,
    *,
    reason: str | None = None,
    key: str | None = None,
) -> tuple[int, uuid.UUID | None]:
    """Take ``amount_cents`` from the balance; returns the new balance and any top-up started.
    Crossing below the 'credits low' threshold tells the user, unless an automatic top-up is
    taking care of it (``billing.notices``)."""
    posted = await ledger.post(
        session, Owner(user_id=user_id), "spend", -amount_cents, reason=reason, key=key, actor_id=user_id
    )
    assert posted is not None
    after = posted.balance_after_cents
    if posted.replayed:
        return after, None
    row = (await session.execute(SPEND_STATE, {"user_id": user_id})).one()
    topup = None
    if row.auto_topup_enabled and row.can_charge and after < row.auto_topup_threshold_cents:
        topup = await start_topup(session, user_id, row.auto_topup_amount_cents, kind="auto_topup")
    if not (row.auto_topup_enabled and row.can_charge):
        await notices.credits_spent(
            session, runtime, user_id, before_cents=after + amount_cents, after_cents=after
        )
    return after, topup


async def give_back(session: AsyncSession, user_id: uuid.UUID, amount_cents: int) -> int:
    """Return ``amount_cents`` spent (a refunded purchase); the new balance."""
    balance = await session.scalar(
        update(User)
        .where(User.id == user_id)
        .values(credits_cents=User.credits_cents + amount_cents, updated_at=func.now())
        .returning(User.credits_cents)
    )
    return int(balance or 0)


async def start_topup(
    session: AsyncSession, user_id: uuid.UUID, amount_cents: int, *, kind: str
) -> uuid.UUID | None:
    """Claim the user's one in-flight top-up and queue its charge; None if one is in flight."""
    from saaskit.billing.tasks import charge_topup

    claimed = await session.scalar(
        insert(PaymentTransaction)
        .values(
            user_id=user_id,
            kind=kind,
            status="pending",
            amount_cents=amount_cents,
            credits_cents=amount_cents,
            description="Automatic credit top-up" if kind == "auto_topup" else "Credit top-up",
        )
        .on_conflict_do_nothing(index_elements=["user_id"], index_where=text(IN_FLIGHT_TOPUP))
        .returning(PaymentTransaction.id)
    )
    if claimed is not None:
        await defer(session, charge_topup, transaction_id=str(claimed))
    return claimed


async def request_topup(session: AsyncSession, user_id: uuid.UUID, amount_cents: int) -> uuid.UUID:
    user = await session.get_one(User, user_id)
    if not user.stripe_payment_method_id or not user.stripe_customer_id:
        raise PaymentRequired(
            "add a payment method first", field="payment_method", code="payment_method_required"
        )
    claimed = await start_topup(session, user_id, amount_cents, kind="topup")
    if claimed is None:
        raise Conflict("a top-up is already in progress", code="topup_in_progress")
    return claimed


async def configure_auto_topup(session: AsyncSession, user_id: uuid.UUID, data: AutoTopupIn) -> User:
    user = await session.get_one(User, user_id, with_for_update=True)
    if data.enabled and not user.stripe_payment_method_id:
        raise PaymentRequired(
            "auto top-up needs a saved payment method", field="enabled", code="payment_method_required"
        )
    user.auto_topup_enabled = data.enabled
    if data.threshold_cents is not None:
        user.auto_topup_threshold_cents = data.threshold_cents
    if data.amount_cents is not None:
        user.auto_topup_amount_cents = data.amount_cents
    await session.flush()
    return user


AUTO_TOPUP_ASKED = "saaskit_auto_topup"


async def enable_auto_topup_if_asked(session: AsyncSession, owner: Owner, metadata: Any) -> bool:
    """``setup_intent.succeeded`` for a SetupIntent created with ``saaskit_auto_topup`` (the user
    asked, ``POST /api/billing/credits/auto-topup/setup``): the card just saved is the default,
    so auto top-up goes on with the threshold and amount asked for (seed 003's flow)."""
    meta = metadata if isinstance(metadata, dict) else {}
    if owner.user_id is None or meta.get(AUTO_TOPUP_ASKED) != "true":
        return False
    values: dict[str, Any] = {"auto_topup_enabled": True}
    for column, key in (
        ("auto_topup_threshold_cents", "saaskit_threshold_cents"),
        ("auto_topup_amount_cents", "saaskit_amount_cents"),
    ):
        raw = meta.get(key)
        if isinstance(raw, str) and raw.isdigit() and int(raw) <= 10_000_000:
            values[column] = int(raw)
    switched = await session.execute(
        update(User)
        .where(User.id == owner.user_id, User.stripe_payment_method_id.is_not(None))
        .values(**values)
        .returning(User.id)
    )
    return switched.one_or_none() is not None


async def apply_payment_intent(
    session: AsyncSession, runtime: Runtime, intent: Obj
) -> PaymentTransaction | None:
    """Bring saaskit's transaction in line with a PaymentIntent saaskit created (metadata says)."""
    metadata = intent.get("metadata") or {}
    raw_id = metadata.get("saaskit_transaction_id")
    try:
        transaction_id = uuid.UUID(str(raw_id)) if raw_id else None
    except ValueError:
        transaction_id = None
    if transaction_id is None:
        return None  # not a top-up: invoice payments are counted through their invoice
    await _lock_owner_of(session, transaction_id)
    row = await session.scalar(
        select(PaymentTransaction)
        .where(PaymentTransaction.id == transaction_id, PaymentTransaction.kind.in_(("topup", "auto_topup")))
        .with_for_update()
    )
    if row is None:
        return None
    charge = shapes.payment_intent_charge(intent)
    row.stripe_payment_intent_id = row.stripe_payment_intent_id or intent["id"]
    row.stripe_charge_id = row.stripe_charge_id or shapes.id_of(charge)
    if isinstance(charge, dict):
        row.receipt_url = charge.get("receipt_url") or row.receipt_url
    status = intent.get("status")
    if status == "succeeded":
        await _credit_once(session, row)
    elif status in ("requires_payment_method", "canceled"):
        code, message = shapes.payment_error(intent)
        await record_failure(session, runtime, row.id, code or "payment_failed", message)
    elif row.status == "pending":
        row.status = "processing"
    await session.flush()
    return row


async def _lock_owner_of(session: AsyncSession, transaction_id: uuid.UUID) -> None:
    """Lock order users -> payment_transactions, as a spend takes them (no deadlock with spends)."""
    user_id = await session.scalar(
        select(PaymentTransaction.user_id).where(PaymentTransaction.id == transaction_id)
    )
    if user_id is not None:
        await session.execute(select(User.id).where(User.id == user_id).with_for_update())


async def _credit_once(session: AsyncSession, row: PaymentTransaction) -> None:
    credited = await session.execute(
        update(PaymentTransaction)
        .where(PaymentTransaction.id == row.id, PaymentTransaction.credited_at.is_(None))
        .values(status="succeeded", credited_at=text("now()"), succeeded_at=text("now()"), failure_code=None)
        .returning(PaymentTransaction.credits_cents, PaymentTransaction.amount_cents)
    )
    found = credited.one_or_none()
    if found is not None and row.user_id is not None:
        await session.execute(
            update(User)
            .where(User.id == row.user_id)
            .values(total_spent_cents=User.total_spent_cents + found.amount_cents)
        )
        if found.credits_cents > 0:
            await ledger.post(
                session,
                Owner(user_id=row.user_id),
                "topup",
                int(found.credits_cents),
                reason=row.description or "Credit top-up",
                key=f"topup:{row.id}",
                transaction_id=row.id,
            )
    await session.refresh(row)


async def record_failure(
    session: AsyncSession, runtime: Runtime, transaction_id: uuid.UUID, code: str, message: str | None
) -> bool:
    """Mark an in-flight top-up failed (once); turn auto top-up off after repeated failures."""
    await _lock_owner_of(session, transaction_id)
    failed = await session.execute(
        update(PaymentTransaction)
        .where(
            PaymentTransaction.id == transaction_id, PaymentTransaction.status.in_(("pending", "processing"))
        )
        .values(status="failed", failure_code=code, failure_message=message)
        .returning(PaymentTransaction.user_id, PaymentTransaction.kind)
    )
    row = failed.one_or_none()
    if row is None:
        return False
    turned_off = False
    if row.kind == "auto_topup" and row.user_id is not None:
        limit = runtime.settings.stripe.topup_max_failures
        recent = list(
            await session.scalars(
                select(PaymentTransaction.status)
                .where(PaymentTransaction.user_id == row.user_id, PaymentTransaction.kind == "auto_topup")
                .order_by(PaymentTransaction.created_at.desc())
                .limit(limit)
            )
        )
        if len(recent) >= limit and all(status == "failed" for status in recent):
            switched = await session.execute(
                update(User)
                .where(User.id == row.user_id, User.auto_topup_enabled.is_(True))
                .values(auto_topup_enabled=False)
                .returning(User.id)
            )
            turned_off = switched.one_or_none() is not None
    transaction = await session.get_one(PaymentTransaction, transaction_id)
    await notices.topup_failed(
        session, runtime, transaction, reason=_reason(code, message), auto_topup_disabled=turned_off
    )
    return True


def _reason(code: str, message: str | None) -> str | None:
    """A sentence for people: Stripe's message for card problems; nothing for saaskit's own
    failures (a Stripe outage, an error message meant for operators)."""
    if code == "no_payment_method":
        return "You have no saved payment method."
    if code == "stripe_error" or not message:
        return None
    return message[:200]


async def apply_refund(session: AsyncSession, charge: Obj) -> PaymentTransaction | None:
    """``charge.refunded``: Stripe's cumulative refunded amount makes this idempotent."""
    refunded = int(charge.get("amount_refunded") or 0)
    intent_id = shapes.id_of(charge.get("payment_intent"))
    query = select(PaymentTransaction)
    row = None
    if intent_id:
        row = await session.scalar(query.where(PaymentTransaction.stripe_payment_intent_id == intent_id))
    if row is None and charge.get("id"):
        row = await session.scalar(query.where(PaymentTransaction.stripe_charge_id == charge["id"]))
    if row is None and shapes.id_of(charge.get("invoice")):
        row = await session.scalar(
            query.where(PaymentTransaction.stripe_invoice_id == shapes.id_of(charge.get("invoice")))
        )
    if row is None:
        return None
    await _lock_owner_of(session, row.id)
    await session.refresh(row, with_for_update=True)
    refunded = min(refunded, row.amount_cents)
    delta = refunded - row.refunded_cents
    if delta <= 0:
        return row
    row.refunded_cents = refunded
    row.status = "refunded" if refunded >= row.amount_cents else "partially_refunded"
    if row.user_id is not None:
        taken_back = delta if row.kind in ("topup", "auto_topup") and row.credited_at is not None else 0
        await session.execute(
            update(User)
            .where(User.id == row.user_id)
            .values(total_spent_cents=User.total_spent_cents - delta)
        )
        if taken_back > 0:
            await ledger.post(
                session,
                Owner(user_id=row.user_id),
                "refund",
                -taken_back,
                reason="Payment refunded: its credits taken back",
                key=f"refund:{row.id}:{refunded}",
                transaction_id=row.id,
                cap=True,
            )
    await session.flush()
    return row
