"""Stripe Checkout (a plan or a credit pack) and the customer portal.

Creating (``POST .../checkout``): the owner's Stripe customer is ensured, then a Checkout Session
is created with the owner's metadata (``saaskit_user_id`` / ``saaskit_organization_id``), what is
bought (``saaskit_checkout``: ``plan`` or ``credits``, with ``saaskit_plan_id`` or
``saaskit_credits_cents``) and, for a plan, the same metadata on the subscription it creates.
The redirect addresses must lie under the product's address (``SAASKIT_PRODUCT_URL``): saaskit
never sends a payer to a foreign site. The browser goes to the session's ``url``.

Completing: nothing is granted on the redirect; ``checkout.session.completed`` (or
``checkout.session.async_payment_succeeded``) arrives by webhook through the stored-event
pipeline (``billing.webhooks``) and ``complete`` applies it idempotently:

- a credit pack that is ``paid``: one ``payment_transactions`` row per PaymentIntent (so a later
  ``charge.refunded`` takes the credits back) and one ledger ``purchase`` row keyed
  ``checkout:<session id>``: a re-delivery or a second event grants nothing more;
- a plan: the subscription read back from Stripe (the handler's prefetch) is upserted like any
  subscription snapshot (``sync.apply_subscription``: versioned, order-independent) and the
  owner's tier refreshed.

Portal (``POST .../portal``): a Billing Portal session for the owner's customer; changes made
there come back as the usual ``customer.subscription.*`` / ``payment_method.*`` events.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts.models import User
from saaskit.billing import ledger, shapes, sync, tiers
from saaskit.billing.models import PaymentTransaction, SubscriptionPlan
from saaskit.billing.owners import Owner, ensure_customer
from saaskit.billing.stripe_client import Answer, gateway
from saaskit.kit.errors import Conflict, NotFound, Unprocessable
from saaskit.kit.state import Runtime

Obj = dict[str, Any]


def redirect_url(runtime: Runtime, given: str | None, field: str, outcome: str) -> str:
    """``given`` if it lies under the product's address; the billing page otherwise."""
    product = runtime.settings.product.url.rstrip("/")
    if not given:
        return f"{product}{runtime.settings.billing_notices.manage_path}?checkout={outcome}"
    base, target = urlsplit(product), urlsplit(given)
    if (target.scheme, target.netloc) != (base.scheme, base.netloc):
        raise Unprocessable(f"{field} must be an address of {product}", field=field, code="foreign_redirect")
    return given


async def _plan(session: AsyncSession, plan_id: uuid.UUID) -> SubscriptionPlan:
    plan = await session.get(SubscriptionPlan, plan_id)
    if plan is None or not plan.is_active:
        raise NotFound("no such plan", field="plan_id")
    if not plan.stripe_price_id:
        raise Conflict(
            "this plan is not on Stripe yet (run sync-plans)", field="plan_id", code="plan_not_synced"
        )
    return plan


async def create_session(
    session: AsyncSession,
    runtime: Runtime,
    owner: Owner,
    *,
    plan_id: uuid.UUID | None,
    credits_cents: int | None,
    success_url: str | None,
    cancel_url: str | None,
) -> Obj:
    success = redirect_url(runtime, success_url, "success_url", "success")
    cancel = redirect_url(runtime, cancel_url, "cancel_url", "cancelled")
    customer = await ensure_customer(session, runtime, owner)
    metadata: dict[str, str] = dict(owner.metadata)
    params: dict[str, Any] = {
        "customer": customer,
        "client_reference_id": str(owner.user_id or owner.organization_id),
        "success_url": success,
        "cancel_url": cancel,
    }
    if plan_id is not None:
        plan = await _plan(session, plan_id)
        metadata |= {"saaskit_checkout": "plan", "saaskit_plan_id": str(plan.id), "tier": plan.tier}
        subscription_data: dict[str, Any] = {"metadata": metadata}
        if plan.trial_period_days:
            subscription_data["trial_period_days"] = plan.trial_period_days
        params |= {
            "mode": "subscription",
            "line_items": [{"price": plan.stripe_price_id, "quantity": 1}],
            "subscription_data": subscription_data,
        }
    else:
        assert credits_cents is not None
        metadata |= {"saaskit_checkout": "credits", "saaskit_credits_cents": str(credits_cents)}
        params |= {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": runtime.settings.stripe.currency,
                        "unit_amount": credits_cents,
                        "product_data": {"name": f"{runtime.settings.product.name} credits"},
                    },
                    "quantity": 1,
                }
            ],
            "payment_intent_data": {"metadata": metadata},
        }
    params["metadata"] = metadata
    return await gateway(runtime).create_checkout_session(params)


async def create_portal(session: AsyncSession, runtime: Runtime, owner: Owner, return_url: str | None) -> Obj:
    back = redirect_url(runtime, return_url, "return_url", "portal")
    customer = await ensure_customer(session, runtime, owner)
    return await gateway(runtime).create_portal_session(customer=customer, return_url=back)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


async def prefetch(runtime: Runtime, checkout: Obj) -> Obj:
    """Outside transactions: a plan purchase's subscription as Stripe has it now."""
    subscription_id = shapes.id_of(checkout.get("subscription"))
    if checkout.get("mode") != "subscription" or not subscription_id:
        return {}
    answer = await gateway(runtime).retrieve_subscription(subscription_id)
    return {"subscription": answer}


async def complete(session: AsyncSession, owner: Owner, checkout: Obj, prefetched: Obj) -> tuple[str, Owner]:
    """Apply a completed Checkout Session (idempotent); returns a note for the event log."""
    metadata = checkout.get("metadata") or {}
    if checkout.get("mode") == "payment" and metadata.get("saaskit_checkout") == "credits":
        if checkout.get("payment_status") != "paid":
            return f"credit pack not paid yet ({checkout.get('payment_status')})", owner
        credits = _int(metadata.get("saaskit_credits_cents")) or 0
        if credits <= 0:
            return "credit pack without an amount: nothing granted", owner
        transaction_id = await _transaction(session, owner, checkout, credits)
        posted = await ledger.post(
            session,
            owner,
            "purchase",
            credits,
            reason="Credit pack bought with Checkout",
            key=f"checkout:{checkout['id']}",
            transaction_id=transaction_id,
        )
        assert posted is not None
        state = "already granted" if posted.replayed else "granted"
        return f"{credits} credit cents {state}", owner
    answer = prefetched.get("subscription")
    if checkout.get("mode") == "subscription" and isinstance(answer, Answer):
        row, owner, applied = await sync.apply_subscription(session, answer.object, answer.at, owner)
        await tiers.refresh(session, owner)
        return (
            f"subscription {row.stripe_subscription_id} linked ({'applied' if applied else 'newer kept'})",
            owner,
        )
    return "nothing to apply", owner


async def _transaction(session: AsyncSession, owner: Owner, checkout: Obj, credits: int) -> uuid.UUID | None:
    intent_id = shapes.id_of(checkout.get("payment_intent"))
    if not intent_id:
        return None
    amount = _int(checkout.get("amount_total"))
    paid = amount if amount is not None else credits
    inserted = await session.scalar(
        insert(PaymentTransaction)
        .values(
            **owner.columns,
            kind="topup",
            status="succeeded",
            amount_cents=paid,
            currency=str(checkout.get("currency") or "usd"),
            credits_cents=credits,
            stripe_payment_intent_id=intent_id,
            description="Credit pack (Checkout)",
            credited_at=sync.now(),
            succeeded_at=sync.now(),
        )
        .on_conflict_do_nothing(index_elements=["stripe_payment_intent_id"])
        .returning(PaymentTransaction.id)
    )
    if inserted is not None and owner.user_id is not None:  # as a top-up counts (credits._credit_once)
        await session.execute(
            update(User)
            .where(User.id == owner.user_id)
            .values(total_spent_cents=User.total_spent_cents + paid)
        )
    found: uuid.UUID | None = await session.scalar(
        select(PaymentTransaction.id).where(PaymentTransaction.stripe_payment_intent_id == intent_id)
    )
    return found
