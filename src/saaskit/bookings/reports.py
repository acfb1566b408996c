"""The figures staff run the day with (API and admin pages): a day's pickups and deliveries,
bookings by status, drivers' load, revenue by service, and a booking's timeline (its audit rows)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.audit import service as audit
from saaskit.bookings.models import (
    Booking,
    BookingItem,
    DeliveryAssignment,
    DeliveryDriver,
    Service,
    UserAddress,
)
from saaskit.bookings.models.orders import STATUSES

# Revenue counts money kept: paid bookings not refunded (cancelled unpaid ones never paid).
EARNING = ("confirmed", "picked_up", "processing", "ready", "out_for_delivery", "delivered")


async def day_sheet(session: AsyncSession, org_id: uuid.UUID | None, day: date) -> list[dict[str, Any]]:
    """Bookings collected or delivered on ``day`` (cancelled and refunded ones left out), with
    the address and the driver of that leg. ``org_id`` None: every organization (platform admin)."""
    rows: list[dict[str, Any]] = []
    for leg, column in (("pickup", Booking.pickup_date), ("delivery", Booking.delivery_date)):
        query = (
            select(
                Booking.id,
                Booking.booking_number,
                Booking.status,
                Booking.organization_id,
                Service.name.label("service"),
                UserAddress.street_address,
                UserAddress.city,
                DeliveryDriver.display_name.label("driver"),
                DeliveryAssignment.window_start,
            )
            .join(Service, Service.id == Booking.service_id)
            .outerjoin(UserAddress, UserAddress.id == Booking.address_id)
            .outerjoin(
                DeliveryAssignment,
                and_(
                    DeliveryAssignment.booking_id == Booking.id,
                    DeliveryAssignment.assignment_type == leg,
                    DeliveryAssignment.status != "cancelled",
                ),
            )
            .outerjoin(DeliveryDriver, DeliveryDriver.id == DeliveryAssignment.driver_id)
            .where(
                column == day, Booking.deleted_at.is_(None), Booking.status.notin_(("cancelled", "refunded"))
            )
            .order_by(DeliveryAssignment.window_start.nulls_last(), Booking.booking_number)
        )
        if org_id is not None:
            query = query.where(Booking.organization_id == org_id)
        rows += [{"leg": leg, **r._asdict()} for r in (await session.execute(query)).all()]
    return rows


async def by_status(session: AsyncSession, org_id: uuid.UUID | None) -> dict[str, int]:
    query = select(Booking.status, func.count()).where(Booking.deleted_at.is_(None)).group_by(Booking.status)
    if org_id is not None:
        query = query.where(Booking.organization_id == org_id)
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({status: int(n) for status, n in (await session.execute(query)).all()})
    return counts


async def drivers_load(session: AsyncSession, org_id: uuid.UUID | None, day: date) -> list[dict[str, Any]]:
    """Each driver's live and completed assignments on ``day`` and their totals."""
    on_day = func.date(func.timezone("UTC", DeliveryAssignment.window_start)) == day
    query = (
        select(
            DeliveryDriver.id,
            DeliveryDriver.display_name,
            DeliveryDriver.vehicle_type,
            DeliveryDriver.is_available,
            DeliveryDriver.rating,
            DeliveryDriver.total_deliveries,
            func.count(DeliveryAssignment.id)
            .filter(DeliveryAssignment.status.in_(("assigned", "in_progress")), on_day)
            .label("open_today"),
            func.count(DeliveryAssignment.id)
            .filter(DeliveryAssignment.status == "completed", on_day)
            .label("done_today"),
        )
        .outerjoin(DeliveryAssignment, DeliveryAssignment.driver_id == DeliveryDriver.id)
        .where(DeliveryDriver.deleted_at.is_(None))
        .group_by(DeliveryDriver.id)
        .order_by(DeliveryDriver.display_name)
    )
    if org_id is not None:
        query = query.where(DeliveryDriver.organization_id == org_id)
    return [r._asdict() for r in (await session.execute(query)).all()]


async def revenue_by_service(
    session: AsyncSession, org_id: uuid.UUID | None, since: date, until: date
) -> list[dict[str, Any]]:
    """Per service: bookings, items and revenue in cents of paid, unrefunded bookings picked up
    in [since, until). Item revenue is by the item's service; collection fees are counted on the
    booking's main service."""
    paid = and_(
        Booking.paid_at.is_not(None),
        Booking.status.in_(EARNING),
        Booking.deleted_at.is_(None),
        Booking.pickup_date >= since,
        Booking.pickup_date < until,
    )
    if org_id is not None:
        paid = and_(paid, Booking.organization_id == org_id)
    items = (
        select(
            BookingItem.service_id,
            func.count(func.distinct(Booking.id)).label("bookings"),
            func.sum(BookingItem.quantity).label("item_count"),
            func.sum(BookingItem.total_price).label("items_cents"),
        )
        .join(Booking, Booking.id == BookingItem.booking_id)
        .where(paid)
        .group_by(BookingItem.service_id)
        .subquery()
    )
    fees = (
        select(Booking.service_id, func.sum(Booking.collection_fee).label("fees_cents"))
        .where(paid)
        .group_by(Booking.service_id)
        .subquery()
    )
    query = (
        select(
            Service.id,
            Service.name,
            Service.currency,
            func.coalesce(items.c.bookings, 0).label("bookings"),
            func.coalesce(items.c.item_count, 0).label("items"),
            (func.coalesce(items.c.items_cents, 0) + func.coalesce(fees.c.fees_cents, 0)).label(
                "revenue_cents"
            ),
        )
        .outerjoin(items, items.c.service_id == Service.id)
        .outerjoin(fees, fees.c.service_id == Service.id)
        .where(or_(items.c.service_id.is_not(None), fees.c.service_id.is_not(None)))
        .order_by(Service.name)
    )
    if org_id is not None:
        query = query.where(Service.organization_id == org_id)
    rows = [r._asdict() for r in (await session.execute(query)).all()]
    for row in rows:
        row["bookings"], row["items"], row["revenue_cents"] = (
            int(row["bookings"]),
            int(row["items"]),
            int(row["revenue_cents"]),
        )
    return sorted(rows, key=lambda r: -r["revenue_cents"])


async def timeline(session: AsyncSession, org_id: uuid.UUID, booking_id: uuid.UUID) -> list[dict[str, Any]]:
    """The booking's audit rows, oldest first: created, paid, each move, each assignment."""
    rows, _ = await audit.list_activities(
        session, organization_id=org_id, entity_type="booking", entity_id=booking_id, limit=500
    )
    return [
        {"at": r.created_at, "action": r.action, "actor_id": r.actor_id, "description": r.description}
        for r in reversed(rows)
    ]
