"""A customer's booking: quote, book (address, pickup day, capacity, number) and pay (a Stripe
PaymentIntent through the billing layer, or credits). Staff moves are in ``transitions``."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import stripe
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.audit.service import Actor
from saaskit.billing import credits, owners, payment_methods
from saaskit.billing.stripe_client import gateway
from saaskit.bookings import customers, effects, transitions
from saaskit.bookings.models import Booking, BookingItem, LoyaltyReward
from saaskit.bookings.pricing import Priced, price
from saaskit.bookings.schemas import BookingIn, QuoteIn
from saaskit.kit.errors import Conflict, PaymentRequired, Unprocessable
from saaskit.kit.state import Runtime

BOOK_AHEAD_DAYS = 90
CLAIM_SLOT = text(
    "SELECT booking_sequence, delivery_date, pickups_taken, capacity "
    "FROM app_claim_booking_slot(:organization_id, :service_id, :pickup_date)"
)
USE_FREE_COLLECTION = text("SELECT app_loyalty_use_free_collection(:organization_id, :user_id)")


def booking_number(sequence: int) -> str:
    return f"BK-{sequence:06d}"


async def _free_available(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    row = await session.scalar(
        select(LoyaltyReward.free_collections_earned - LoyaltyReward.free_collections_used).where(
            LoyaltyReward.organization_id == org_id, LoyaltyReward.user_id == user_id
        )
    )
    return bool(row and row > 0)


async def quote(
    session: AsyncSession, runtime: Runtime, org_id: uuid.UUID, user_id: uuid.UUID, body: QuoteIn
) -> Priced:
    await customers.check_shop(session, org_id)
    return await price(
        session,
        org_id,
        body,
        collection_fee=runtime.settings.bookings.collection_fee_cents,
        free_available=await _free_available(session, org_id, user_id),
    )


def _check_pickup(pickup: date, today: date) -> None:
    if pickup < today:
        raise Unprocessable("pickup_date: today or later", field="pickup_date", code="pickup_in_past")
    if pickup > today + timedelta(days=BOOK_AHEAD_DAYS):
        raise Unprocessable(f"pickup_date: at most {BOOK_AHEAD_DAYS} days ahead", field="pickup_date")


async def book(
    session: AsyncSession,
    runtime: Runtime,
    actor: Actor,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    body: BookingIn,
) -> Booking:
    """Every check comes before the first write; the writes are the loyalty use, then the
    booking and its items: a refusal after them rolls the whole request back."""
    priced = await quote(session, runtime, org_id, user_id, body)
    address = await customers.own_address(session, org_id, user_id, body.address_id)
    today = (await session.scalar(select(func.current_date()))) or datetime.now(UTC).date()
    _check_pickup(body.pickup_date, today)
    slot = (
        await session.execute(
            CLAIM_SLOT,
            {"organization_id": org_id, "service_id": priced.service.id, "pickup_date": body.pickup_date},
        )
    ).one()
    if slot.booking_sequence is None:
        raise Conflict(
            f"pickup_date: {body.pickup_date} is full for {priced.service.name} "
            f"({slot.pickups_taken} of {slot.capacity} bookings)",
            field="pickup_date",
            code="slot_full",
        )
    quote_out = priced.quote
    if quote_out.is_free_collection:
        used = await session.scalar(USE_FREE_COLLECTION, {"organization_id": org_id, "user_id": user_id})
        if not used:  # spent meanwhile by a concurrent booking: pay the fee
            fee = runtime.settings.bookings.collection_fee_cents
            quote_out = quote_out.model_copy(
                update={
                    "is_free_collection": False,
                    "collection_fee": fee,
                    "total_amount": quote_out.items_amount + fee,
                }
            )
    booking = Booking(
        id=uuid.uuid4(),
        organization_id=org_id,
        user_id=user_id,
        service_id=priced.service.id,
        address_id=address.id,
        booking_number=booking_number(slot.booking_sequence),
        booking_sequence=slot.booking_sequence,
        status="pending",
        items_amount=quote_out.items_amount,
        collection_fee=quote_out.collection_fee,
        total_amount=quote_out.total_amount,
        currency=quote_out.currency,
        is_free_collection=quote_out.is_free_collection,
        pickup_date=body.pickup_date,
        delivery_date=slot.delivery_date,
        notes=body.notes,
    )
    session.add(booking)
    await session.flush()
    for line in quote_out.items:
        session.add(BookingItem(organization_id=org_id, booking_id=booking.id, **line.model_dump()))
    await session.flush()
    await effects.announce(
        session,
        actor,
        booking,
        "created",
        f"Pickup on {booking.pickup_date}, delivery on {booking.delivery_date}; "
        f"{booking.total_amount / 100:.2f} {booking.currency.upper()} to pay.",
        {"total_amount": booking.total_amount, "is_free_collection": booking.is_free_collection},
    )
    return booking


async def _charge_card(session: AsyncSession, runtime: Runtime, booking: Booking, user_id: uuid.UUID) -> str:
    owner = owners.Owner(user_id=user_id)
    customer = await owners.customer_of(session, owner)
    methods = await payment_methods.list_for(session, owner)
    method = next((m for m in methods if m.is_default), methods[0] if methods else None)
    if customer is None or method is None:
        raise PaymentRequired(
            "method: no saved card; add one first (POST /api/billing/setup-intent)",
            field="method",
            code="no_payment_method",
        )
    try:
        intent = await gateway(runtime).charge_off_session(
            customer=customer,
            payment_method=method.provider_payment_method_id,
            amount_cents=booking.total_amount,
            currency=booking.currency,
            metadata={
                "saaskit_booking_id": str(booking.id),
                "saaskit_organization_id": str(booking.organization_id),
                "booking_number": booking.booking_number,
            },
            idempotency_key=f"saaskit-booking-{booking.id}",
        )
    except stripe.CardError as exc:
        raise PaymentRequired(
            f"method: the card was declined ({exc.user_message or 'no reason given'})",
            field="method",
            code="card_declined",
        ) from exc
    if intent.get("status") != "succeeded":
        raise PaymentRequired(
            f"method: the payment is {intent.get('status')}, not succeeded",
            field="method",
            code="payment_incomplete",
        )
    return str(intent["id"])


async def pay(
    session: AsyncSession,
    runtime: Runtime,
    actor: Actor,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    booking_id: uuid.UUID,
    method: str,
) -> Booking:
    booking = await transitions.lock_booking(session, org_id, booking_id, user_id=user_id)
    transitions.check_move(booking, "confirmed", "payment")
    if method == "credits":
        await credits.spend(session, runtime, user_id, booking.total_amount)
    else:
        booking.stripe_payment_intent_id = await _charge_card(session, runtime, booking, user_id)
    booking.payment_method = method
    booking.paid_at = await session.scalar(select(func.now()))
    await effects.announce(
        session,
        actor,
        booking,
        "paid",
        f"{booking.total_amount / 100:.2f} {booking.currency.upper()} paid by {method}.",
        {"method": method, "stripe_payment_intent_id": booking.stripe_payment_intent_id},
    )
    return await transitions.move(session, runtime, actor, booking, "confirmed", "payment")
