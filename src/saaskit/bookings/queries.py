"""Reading bookings with their lines, for customers (their own) and staff (the organization's)."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.bookings.models import Booking, BookingItem
from saaskit.bookings.schemas import BookingOut, ItemOut
from saaskit.kit.errors import NotFound


async def with_items(session: AsyncSession, bookings: list[Booking]) -> list[BookingOut]:
    """The bookings as answers, each with its lines (one query for all the lines)."""
    rows = await session.scalars(
        select(BookingItem)
        .where(BookingItem.booking_id.in_([b.id for b in bookings]))
        .order_by(BookingItem.created_at, BookingItem.id)
    )
    lines: dict[uuid.UUID, list[ItemOut]] = {}
    for item in rows:
        lines.setdefault(item.booking_id, []).append(ItemOut.model_validate(item))
    answers = []
    for booking in bookings:
        answer = BookingOut.model_validate(booking)
        answer.items = lines.get(booking.id, [])
        answers.append(answer)
    return answers


async def one_with_items(session: AsyncSession, booking: Booking) -> BookingOut:
    return (await with_items(session, [booking]))[0]


async def find(
    session: AsyncSession, org_id: uuid.UUID, booking_id: uuid.UUID, *, user_id: uuid.UUID | None = None
) -> BookingOut:
    """One booking of the organization (``user_id``: only if it is that customer's)."""
    query = select(Booking).where(
        Booking.id == booking_id, Booking.organization_id == org_id, Booking.deleted_at.is_(None)
    )
    if user_id is not None:
        query = query.where(Booking.user_id == user_id)
    booking = await session.scalar(query)
    if booking is None:
        raise NotFound("no such booking", field="booking_id")
    return await one_with_items(session, booking)


async def listing(
    session: AsyncSession,
    org_id: uuid.UUID,
    *,
    user_id: uuid.UUID | None = None,
    status: str | None = None,
    pickup_date: date | None = None,
    limit: int = 100,
) -> list[BookingOut]:
    """The organization's bookings, newest first (``user_id``: that customer's only)."""
    query = select(Booking).where(Booking.organization_id == org_id, Booking.deleted_at.is_(None))
    if user_id is not None:
        query = query.where(Booking.user_id == user_id)
    if status is not None:
        query = query.where(Booking.status == status)
    if pickup_date is not None:
        query = query.where(Booking.pickup_date == pickup_date)
    rows = await session.scalars(query.order_by(Booking.booking_sequence.desc()).limit(limit))
    return await with_items(session, list(rows))
