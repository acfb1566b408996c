"""Moving a booking from one status to the next (``states.TRANSITIONS``), with what each move
does: a cancellation gives a used free collection back, a refund gives the money back (Stripe
refund or credits), a delivery counts for loyalty and completes the driver's assignment."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.audit.service import Actor
from saaskit.billing import credits
from saaskit.billing.stripe_client import gateway
from saaskit.bookings import effects
from saaskit.bookings.models import Booking, DeliveryAssignment, DeliveryDriver
from saaskit.bookings.states import NEEDS_PAYMENT, TRANSITIONS, Role, allowed_next
from saaskit.kit.errors import Conflict, Forbidden, NotFound
from saaskit.kit.state import Runtime

COUNT_ORDER = text("SELECT app_loyalty_count_order(:organization_id, :user_id, :every)")
RETURN_FREE_COLLECTION = text("SELECT app_loyalty_return_free_collection(:organization_id, :user_id)")


async def lock_booking(
    session: AsyncSession, org_id: uuid.UUID, booking_id: uuid.UUID, *, user_id: uuid.UUID | None = None
) -> Booking:
    """The booking, row-locked for this transaction (concurrent moves queue and re-read).
    ``user_id``: only that customer's own booking."""
    query = select(Booking).where(
        Booking.id == booking_id, Booking.organization_id == org_id, Booking.deleted_at.is_(None)
    )
    if user_id is not None:
        query = query.where(Booking.user_id == user_id)
    booking = await session.scalar(query.with_for_update().execution_options(populate_existing=True))
    if booking is None:
        raise NotFound("no such booking", field="booking_id")
    return booking


def check_move(booking: Booking, to: str, role: Role) -> None:
    targets = TRANSITIONS.get(booking.status, {})
    if to not in targets:
        nexts = ", ".join(targets) or "nothing (final)"
        raise Conflict(
            f"status: a {booking.status} booking cannot become {to}; it can become {nexts}",
            field="status",
            code="invalid_transition",
        )
    if role not in targets[to]:
        mine = ", ".join(allowed_next(booking.status, role)) or "nothing"
        raise Forbidden(
            f"status: {role} may not make a {booking.status} booking {to} (may make it: {mine})",
            field="status",
            code="transition_not_allowed",
        )
    if to in NEEDS_PAYMENT and booking.paid_at is None:
        raise Conflict(
            f"status: booking {booking.booking_number} was never paid", field="status", code="not_paid"
        )


async def _refund(session: AsyncSession, runtime: Runtime, booking: Booking) -> None:
    if booking.payment_method == "card" and booking.stripe_payment_intent_id:
        await gateway(runtime).refund_payment_intent(
            booking.stripe_payment_intent_id, idempotency_key=f"saaskit-booking-refund-{booking.id}"
        )
    elif booking.payment_method == "credits" and booking.user_id is not None:
        await credits.give_back(session, booking.user_id, booking.total_amount)


async def _delivered(session: AsyncSession, runtime: Runtime, booking: Booking) -> None:
    if booking.user_id is not None:
        every = runtime.settings.bookings.loyalty_every_orders
        await session.execute(
            COUNT_ORDER,
            {"organization_id": booking.organization_id, "user_id": booking.user_id, "every": every},
        )
    done = await session.scalars(
        update(DeliveryAssignment)
        .where(
            DeliveryAssignment.booking_id == booking.id,
            DeliveryAssignment.assignment_type == "delivery",
            DeliveryAssignment.status.in_(("assigned", "in_progress")),
        )
        .values(status="completed", completed_at=func.now())
        .returning(DeliveryAssignment.driver_id)
    )
    for driver_id in done.all():
        await session.execute(
            update(DeliveryDriver)
            .where(DeliveryDriver.id == driver_id)
            .values(total_deliveries=DeliveryDriver.total_deliveries + 1)
        )


async def _picked_up(session: AsyncSession, booking: Booking) -> None:
    await session.execute(
        update(DeliveryAssignment)
        .where(
            DeliveryAssignment.booking_id == booking.id,
            DeliveryAssignment.assignment_type == "pickup",
            DeliveryAssignment.status.in_(("assigned", "in_progress")),
        )
        .values(status="completed", completed_at=func.now())
    )


async def _cancelled(session: AsyncSession, booking: Booking) -> None:
    if booking.is_free_collection and booking.user_id is not None:
        await session.execute(
            RETURN_FREE_COLLECTION, {"organization_id": booking.organization_id, "user_id": booking.user_id}
        )
    await session.execute(
        update(DeliveryAssignment)
        .where(
            DeliveryAssignment.booking_id == booking.id,
            DeliveryAssignment.status.in_(("assigned", "in_progress")),
        )
        .values(status="cancelled")
    )


async def move(
    session: AsyncSession, runtime: Runtime, actor: Actor, booking: Booking, to: str, role: Role
) -> Booking:
    """``booking`` (locked by ``lock_booking``) becomes ``to``, if ``role`` may do that now."""
    check_move(booking, to, role)
    before = booking.status
    if to == "refunded":
        await _refund(session, runtime, booking)
    elif to == "delivered":
        await _delivered(session, runtime, booking)
    elif to == "picked_up":
        await _picked_up(session, booking)
    elif to == "cancelled":
        await _cancelled(session, booking)
    booking.status = to
    booking.status_changed_at = await session.scalar(select(func.now()))  # type: ignore[assignment]
    await session.flush()
    await effects.announce(
        session,
        actor,
        booking,
        to,
        f"Booking {booking.booking_number}: {before} -> {to} (by {role}).",
        {"status": {"from": before, "to": to}, "by": role},
    )
    return booking


async def transition(
    session: AsyncSession,
    runtime: Runtime,
    actor: Actor,
    org_id: uuid.UUID,
    booking_id: uuid.UUID,
    to: str,
    *,
    role: Role,
    user_id: uuid.UUID | None = None,
) -> Booking:
    booking = await lock_booking(session, org_id, booking_id, user_id=user_id)
    return await move(session, runtime, actor, booking, to, role)
