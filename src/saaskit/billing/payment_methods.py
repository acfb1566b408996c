"""Saving cards through Stripe's SetupIntent flow, and mirroring payment methods.

1. ``POST .../setup-intent`` creates the Stripe customer if needed and a SetupIntent; the app
   confirms it with Stripe.js (card numbers never reach saaskit).
2. ``POST .../payment-methods`` with the SetupIntent id: saaskit reads it back from Stripe,
   checks it succeeded for this customer, attaches the card if Stripe did not, makes it the
   default, and stores brand, last 4 and the fingerprint's keyed hash. ``setup_intent.succeeded``
   and ``payment_method.attached`` webhooks take the same path, idempotently.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts.models import User
from saaskit.billing import shapes
from saaskit.billing.models import PaymentMethod
from saaskit.billing.owners import Owner, customer_of, ensure_customer
from saaskit.billing.redaction import FINGERPRINT_PURPOSE
from saaskit.billing.stripe_client import gateway
from saaskit.billing.sync import now
from saaskit.kit.errors import Conflict, NotFound, Unprocessable
from saaskit.kit.hashing import keyed_hash
from saaskit.kit.state import Runtime
from saaskit.trust import signals as trust_signals

Obj = dict[str, Any]


async def create_setup_intent(
    session: AsyncSession, runtime: Runtime, owner: Owner, extra_metadata: dict[str, str] | None = None
) -> tuple[Obj, str]:
    customer = await ensure_customer(session, runtime, owner)
    metadata = {**owner.metadata, **(extra_metadata or {})}
    intent = await gateway(runtime).create_setup_intent(customer=customer, metadata=metadata)
    return intent, customer


async def save_from_stripe(
    session: AsyncSession,
    runtime: Runtime,
    owner: Owner,
    *,
    setup_intent_id: str | None,
    payment_method_id: str | None,
    make_default: bool,
) -> PaymentMethod:
    """Store a card the customer confirmed at Stripe (checked there, never trusted from the client)."""
    customer = await customer_of(session, owner)
    if customer is None:
        raise Conflict("create a SetupIntent first", code="no_customer")
    stripe = gateway(runtime)
    if setup_intent_id:
        intent = await stripe.retrieve_setup_intent(setup_intent_id)
        if shapes.customer_id(intent) != customer:
            raise NotFound("no such SetupIntent", field="setup_intent_id")
        if intent.get("status") != "succeeded":
            raise Unprocessable(
                f"the SetupIntent is {intent.get('status')}, not succeeded",
                field="setup_intent_id",
                code="setup_incomplete",
            )
        payment_method_id = shapes.id_of(intent.get("payment_method"))
    assert payment_method_id
    method = await stripe.retrieve_payment_method(payment_method_id)
    attached_to = shapes.customer_id(method)
    if attached_to not in (None, customer):
        raise NotFound("no such payment method", field="payment_method_id")
    if attached_to is None:
        method = await stripe.attach_payment_method(payment_method_id, customer)
    if make_default:
        await stripe.set_default_payment_method(customer, method["id"])
    return await upsert(session, runtime, owner, method, make_default=make_default)


async def upsert(
    session: AsyncSession, runtime: Runtime, owner: Owner, method: Obj, *, make_default: bool
) -> PaymentMethod:
    card = method.get("card") or {}
    fingerprint = card.get("fingerprint")
    # A stored webhook carries the fingerprint's keyed hash only (billing.redaction).
    fingerprint_hash = card.get("fingerprint_hash") or (
        keyed_hash(runtime.secret, FINGERPRINT_PURPOSE, fingerprint) if fingerprint else None
    )
    values: dict[str, Any] = {
        "type": str(method.get("type") or "card"),
        "stripe_customer_id": shapes.customer_id(method),
        "card_brand": card.get("brand"),
        "card_last4": card.get("last4"),
        "card_exp_month": card.get("exp_month"),
        "card_exp_year": card.get("exp_year"),
        "card_fingerprint_hash": fingerprint_hash,
        "detached_at": None,
    }
    statement = insert(PaymentMethod).values(
        **owner.columns, provider_payment_method_id=method["id"], **values
    )
    # A snapshot without the fingerprint (an event redacted without the secret) keeps the known hash.
    changes = {
        **values,
        "card_fingerprint_hash": func.coalesce(
            statement.excluded.card_fingerprint_hash, PaymentMethod.card_fingerprint_hash
        ),
    }
    await session.execute(
        statement.on_conflict_do_update(index_elements=["provider_payment_method_id"], set_=changes)
    )
    row = await session.scalar(
        select(PaymentMethod).where(PaymentMethod.provider_payment_method_id == method["id"])
    )
    assert row is not None
    if owner.user_id is not None:
        # Trust and safety: the same card on several accounts (an organization's card is grouped
        # by the periodic job, through its owner).
        await trust_signals.observe(session, owner.user_id, [(trust_signals.CARD, row.card_fingerprint_hash)])
    if make_default:
        await set_default(session, owner, row.provider_payment_method_id)
        await session.refresh(row)
    return row


async def set_default(session: AsyncSession, owner: Owner, provider_id: str | None) -> None:
    """Mark one method default (or none) and mirror it on ``users.stripe_payment_method_id``."""
    await session.execute(
        update(PaymentMethod)
        .where(owner.matches(PaymentMethod), PaymentMethod.is_default)
        .values(is_default=False)
    )
    if provider_id is not None:
        await session.execute(
            update(PaymentMethod)
            .where(
                owner.matches(PaymentMethod),
                PaymentMethod.provider_payment_method_id == provider_id,
                PaymentMethod.detached_at.is_(None),
            )
            .values(is_default=True)
        )
    if owner.user_id is not None:
        await session.execute(
            update(User).where(User.id == owner.user_id).values(stripe_payment_method_id=provider_id)
        )


async def mark_detached(session: AsyncSession, provider_id: str) -> PaymentMethod | None:
    row = await session.scalar(
        select(PaymentMethod).where(PaymentMethod.provider_payment_method_id == provider_id).with_for_update()
    )
    if row is None:
        return None
    was_default = row.is_default
    row.detached_at = row.detached_at or now()
    row.is_default = False
    await session.flush()
    if was_default and row.user_id is not None:
        await session.execute(
            update(User)
            .where(User.id == row.user_id, User.stripe_payment_method_id == provider_id)
            .values(stripe_payment_method_id=None, auto_topup_enabled=False)
        )
    return row


async def remove(session: AsyncSession, runtime: Runtime, owner: Owner, method_id: uuid.UUID) -> None:
    row = await session.scalar(
        select(PaymentMethod).where(PaymentMethod.id == method_id, owner.matches(PaymentMethod))
    )
    if row is None or row.detached_at is not None:
        raise NotFound("no such payment method", field="payment_method_id")
    await gateway(runtime).detach_payment_method(row.provider_payment_method_id)
    await mark_detached(session, row.provider_payment_method_id)


async def list_for(session: AsyncSession, owner: Owner) -> list[PaymentMethod]:
    rows = await session.scalars(
        select(PaymentMethod)
        .where(owner.matches(PaymentMethod), PaymentMethod.detached_at.is_(None))
        .order_by(PaymentMethod.created_at.desc())
    )
    return list(rows)
