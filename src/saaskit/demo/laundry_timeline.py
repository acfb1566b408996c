"""The demo bookings' timelines: the audit rows (``activities``, entity ``booking``) the API would
have written on the way to each booking's status (bookings/effects.py: same actions, actors,
descriptions and metadata), dated by the booking's own dates, so a booking's admin page shows
its history. Only the audit rows: the analytics events and notices the API also writes would
change the demo's activity figures (tests/demo checks them exactly), and are left out.

Times: created and paid as the booking says, confirmed a second after the payment, collected at
10:00 UTC on the pickup day and cleaning from 14:00, ready at 18:00 the day before delivery, out
at 08:00 and delivered at 12:00 on the delivery day, refunded the next day at 10:00, cancelled at
07:00 on the pickup day, today's drivers assigned at 06:00; never after the demo's now, in order.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from saaskit.bookings.models import Booking, DeliveryAssignment

STAFF_PATH = ("picked_up", "processing", "ready", "out_for_delivery", "delivered")
Role = str


@dataclass(frozen=True)
class Event:
    at: datetime
    action: str
    actor_id: uuid.UUID | None
    description: str
    metadata: dict[str, Any]


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), UTC)


def moves(booking: Booking) -> list[tuple[str, Role, datetime]]:
    """The status moves that lead to the booking's status: (to, role, when)."""
    paid = booking.paid_at is not None
    confirmed = [("confirmed", "payment", booking.paid_at + timedelta(seconds=1))] if booking.paid_at else []
    if booking.status == "pending":
        return []
    if booking.status == "cancelled":
        return [*confirmed, ("cancelled", "customer", _at(booking.pickup_date, 7))]
    times = {
        "picked_up": _at(booking.pickup_date, 10),
        "processing": _at(booking.pickup_date, 14),
        "ready": _at(booking.delivery_date - timedelta(days=1), 18),
        "out_for_delivery": _at(booking.delivery_date, 8),
        "delivered": _at(booking.delivery_date, 12),
    }
    target = "delivered" if booking.status == "refunded" else booking.status
    path = confirmed if paid else []
    if target != "confirmed":
        path += [(s, "staff", times[s]) for s in STAFF_PATH[: STAFF_PATH.index(target) + 1]]
    if booking.status == "refunded":
        path.append(("refunded", "staff", _at(booking.delivery_date + timedelta(days=1), 10)))
    return path


def events(
    booking: Booking,
    staff_id: uuid.UUID,
    assignments: list[tuple[DeliveryAssignment, str]],
    now: datetime,
) -> list[Event]:
    """The booking's timeline, oldest first; ``assignments``: (assignment, driver's name)."""
    total = f"{booking.total_amount / 100:.2f} {booking.currency.upper()}"
    found = [
        Event(
            booking.created_at,
            "booking.created",
            booking.user_id,
            f"Pickup on {booking.pickup_date}, delivery on {booking.delivery_date}; {total} to pay.",
            {"total_amount": booking.total_amount, "is_free_collection": booking.is_free_collection},
        )
    ]
    if booking.paid_at is not None:
        found.append(
            Event(
                booking.paid_at,
                "booking.paid",
                booking.user_id,
                f"{total} paid by {booking.payment_method}.",
                {"method": booking.payment_method, "stripe_payment_intent_id": None},
            )
        )
    before = "pending"
    for to, role, at in moves(booking):
        found.append(
            Event(
                at,
                f"booking.{to}",
                staff_id if role == "staff" else booking.user_id,
                f"Booking {booking.booking_number}: {before} -> {to} (by {role}).",
                {"status": {"from": before, "to": to}, "by": role},
            )
        )
        before = to
    for row, driver in assignments:
        start, end, kind = row.window_start, row.window_end, row.assignment_type
        found.append(
            Event(
                _at(start.date(), 6),
                "booking.assigned",
                staff_id,
                f"{driver} does the {kind} on {start:%Y-%m-%d}, {start:%H:%M} to {end:%H:%M} UTC.",
                {
                    "driver_id": str(row.driver_id),
                    "assignment_type": row.assignment_type,
                    "is_automatic": True,
                },
            )
        )
    found.sort(key=lambda e: e.at)
    # Never after now, one second apart at least, in the same order.
    latest = now
    for index in range(len(found) - 1, -1, -1):
        event = found[index]
        if event.at > latest:
            found[index] = Event(latest, event.action, event.actor_id, event.description, event.metadata)
        latest = found[index].at - timedelta(seconds=1)
    return found


def audit_rows(booking: Booking, timeline: list[Event]) -> list[dict[str, Any]]:
    """``activities`` rows (as ``audit.record`` writes them, without a request or an IP)."""
    return [
        {
            "id": uuid.uuid4(),
            "organization_id": booking.organization_id,
            "actor_id": e.actor_id,
            "action": e.action,
            "entity_type": "booking",
            "entity_id": booking.id,
            "entity_name": booking.booking_number,
            "description": e.description,
            "metadata_": e.metadata,
            "created_at": e.at,
        }
        for e in timeline
    ]


def status_changed_at(booking: Booking, timeline: list[Event]) -> datetime:
    """When the booking last changed status (its creation if never)."""
    changes = [e.at for e in timeline if e.action.removeprefix("booking.") == booking.status]
    return changes[-1] if changes and booking.status != "pending" else booking.created_at
