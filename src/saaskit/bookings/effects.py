"""What every change of a booking leaves behind, in the same transaction: an audit row, an
analytics event (``activity_events``, action ``booking.<event>``) and an in-app notice to the
customer (kind ``booking_status``).

A customer's transaction may not write the organization's audit log, and a member of staff's
may not write the customer's analytics: these three rows are written in the service context
(as ``audit.record_as_service`` does), and the caller's context is restored afterwards."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.audit import service as audit
from saaskit.audit.service import Actor
from saaskit.bookings.models import Booking
from saaskit.kit.db import Context, current_context, set_context
from saaskit.notifications.service import notify
from saaskit.tracking.records import record_activity

TITLES = {
    "created": "Booking {number} received",
    "confirmed": "Booking {number} confirmed",
    "picked_up": "Your items for {number} were collected",
    "processing": "Your items for {number} are being cleaned",
    "ready": "Booking {number} is ready",
    "out_for_delivery": "Booking {number} is on its way",
    "delivered": "Booking {number} was delivered",
    "cancelled": "Booking {number} was cancelled",
    "refunded": "Booking {number} was refunded",
    "paid": "Payment received for {number}",
    "assigned": "A driver was assigned to {number}",
}


async def announce(
    session: AsyncSession,
    actor: Actor,
    booking: Booking,
    event: str,
    description: str,
    metadata: dict[str, Any] | None = None,
) -> None:
    previous = current_context(session)
    await set_context(session, Context(user_id=previous.user_id, service=True))
    try:
        await audit.record(
            session,
            actor,
            organization_id=booking.organization_id,
            action=f"booking.{event}",
            entity_type="booking",
            entity_id=booking.id,
            entity_name=booking.booking_number,
            description=description,
            metadata=metadata,
        )
        await record_activity(
            session,
            user_id=booking.user_id,
            event_type="action",
            action_name=f"booking.{event}",
            organization_id=booking.organization_id,
        )
        if booking.user_id is not None and event in TITLES:
            await notify(
                session,
                user_id=booking.user_id,
                kind="booking_status",
                title=TITLES[event].format(number=booking.booking_number),
                body=description,
                link=f"/bookings/{booking.id}",
                organization_id=booking.organization_id,
                actor_id=actor.user_id,
                data={"booking_id": str(booking.id), "status": booking.status, "event": event},
            )
    finally:
        await set_context(session, previous)
