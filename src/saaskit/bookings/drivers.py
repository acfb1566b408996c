"""Drivers and assignments. A driver's live assignments (assigned, in progress) never overlap
in time: each assignment locks the driver's row, then checks, then writes, so concurrent
requests for one driver queue and the later ones see the earlier ones' rows. The automatic rule
takes the nearest available driver (great-circle distance from the booking's address) who is
free for the window."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.audit import service as audit
from saaskit.audit.service import Actor
from saaskit.bookings import effects
from saaskit.bookings.models import Booking, DeliveryAssignment, DeliveryDriver, UserAddress
from saaskit.bookings.schemas import AssignmentIn, DriverIn, DriverPatch
from saaskit.bookings.transitions import lock_booking
from saaskit.kit.errors import Conflict, NotFound, Unprocessable
from saaskit.kit.state import Runtime

LIVE = ("assigned", "in_progress")
ASSIGNABLE = {
    "pickup": ("pending", "confirmed"),
    "delivery": ("picked_up", "processing", "ready", "out_for_delivery"),
}
DEFAULT_START = time(9, 0)
EARTH_RADIUS_KM = 6371.0


def distance_km(a: list[float], b: list[float]) -> float:
    """Great-circle (haversine) distance between two [latitude, longitude] points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


async def list_drivers(session: AsyncSession, org_id: uuid.UUID) -> list[DeliveryDriver]:
    rows = await session.scalars(
        select(DeliveryDriver)
        .where(DeliveryDriver.organization_id == org_id, DeliveryDriver.deleted_at.is_(None))
        .order_by(DeliveryDriver.display_name)
    )
    return list(rows)


async def get_driver(
    session: AsyncSession, org_id: uuid.UUID, driver_id: uuid.UUID, *, lock: bool = False
) -> DeliveryDriver:
    query = select(DeliveryDriver).where(
        DeliveryDriver.id == driver_id,
        DeliveryDriver.organization_id == org_id,
        DeliveryDriver.deleted_at.is_(None),
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    row = await session.scalar(query)
    if row is None:
        raise NotFound("no such driver", field="driver_id")
    return row


async def add_driver(
    session: AsyncSession, actor: Actor, org_id: uuid.UUID, body: DriverIn
) -> DeliveryDriver:
    row = DeliveryDriver(organization_id=org_id, **body.model_dump())
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        actor,
        organization_id=org_id,
        action="delivery_driver.created",
        entity_type="delivery_driver",
        entity_id=row.id,
        entity_name=row.display_name,
    )
    return row


async def update_driver(
    session: AsyncSession, actor: Actor, org_id: uuid.UUID, driver_id: uuid.UUID, body: DriverPatch
) -> DeliveryDriver:
    row = await get_driver(session, org_id, driver_id, lock=True)
    changes = body.model_dump(exclude_unset=True)
    for name in ("is_available", "vehicle_type"):
        if name in changes and changes[name] is None:
            raise Unprocessable(f"{name}: may not be null", field=name)
    for name, value in changes.items():
        setattr(row, name, value)
    await session.flush()
    await audit.record(
        session,
        actor,
        organization_id=org_id,
        action="delivery_driver.updated",
        entity_type="delivery_driver",
        entity_id=row.id,
        entity_name=row.display_name,
        metadata=audit.changes({}, body.model_dump(mode="json", exclude_unset=True)),
    )
    return row


async def _overlaps(session: AsyncSession, driver_id: uuid.UUID, start: datetime, end: datetime) -> bool:
    found = await session.scalar(
        select(func.count())
        .select_from(DeliveryAssignment)
        .where(
            DeliveryAssignment.driver_id == driver_id,
            DeliveryAssignment.status.in_(LIVE),
            DeliveryAssignment.window_start < end,
            DeliveryAssignment.window_end > start,
        )
    )
    return bool(found)


async def _candidates(session: AsyncSession, org_id: uuid.UUID, booking: Booking) -> list[uuid.UUID]:
    """Available drivers, nearest first (those without a position last)."""
    drivers = [d for d in await list_drivers(session, org_id) if d.is_available]
    target = None
    if booking.address_id is not None:
        target = await session.scalar(
            select(UserAddress.coordinates).where(UserAddress.id == booking.address_id)
        )

    def key(driver: DeliveryDriver) -> tuple[int, float, str]:
        if target is None or driver.current_coordinates is None:
            return (1, 0.0, str(driver.id))
        return (0, distance_km(target, driver.current_coordinates), str(driver.id))

    return [d.id for d in sorted(drivers, key=key)]


async def assign(
    session: AsyncSession,
    runtime: Runtime,
    actor: Actor,
    org_id: uuid.UUID,
    booking_id: uuid.UUID,
    body: AssignmentIn,
) -> DeliveryAssignment:
    booking = await lock_booking(session, org_id, booking_id)
    kind = body.assignment_type
    if booking.status not in ASSIGNABLE[kind]:
        raise Conflict(
            f"assignment_type: a {booking.status} booking gets no {kind} driver "
            f"(only when {', '.join(ASSIGNABLE[kind])})",
            field="assignment_type",
            code="invalid_assignment",
        )
    existing = await session.scalar(
        select(DeliveryAssignment.id).where(
            DeliveryAssignment.booking_id == booking.id,
            DeliveryAssignment.assignment_type == kind,
            DeliveryAssignment.status != "cancelled",
        )
    )
    if existing is not None:
        raise Conflict(
            f"assignment_type: the {kind} already has a driver",
            field="assignment_type",
            code="already_assigned",
        )
    day = booking.pickup_date if kind == "pickup" else booking.delivery_date
    start = body.window_start or datetime.combine(day, DEFAULT_START, tzinfo=UTC)
    end = start + timedelta(hours=runtime.settings.bookings.window_hours)
    if body.driver_id is not None:
        driver = await get_driver(session, org_id, body.driver_id, lock=True)
        if not driver.is_available:
            raise Conflict(
                "driver_id: the driver is not available", field="driver_id", code="driver_unavailable"
            )
        if await _overlaps(session, driver.id, start, end):
            raise Conflict(
                "driver_id: the driver already has an assignment in that window",
                field="driver_id",
                code="driver_busy",
            )
    else:
        chosen = None
        for candidate in await _candidates(session, org_id, booking):
            driver = await get_driver(session, org_id, candidate, lock=True)
            if driver.is_available and not await _overlaps(session, driver.id, start, end):
                chosen = driver
                break
        if chosen is None:
            raise Conflict(
                "driver_id: no driver is free in that window", field="driver_id", code="no_driver_free"
            )
        driver = chosen
    row = DeliveryAssignment(
        organization_id=org_id,
        booking_id=booking.id,
        driver_id=driver.id,
        assignment_type=kind,
        window_start=start,
        window_end=end,
        is_automatic=body.driver_id is None,
    )
    session.add(row)
    await session.flush()
    await effects.announce(
        session,
        actor,
        booking,
        "assigned",
        f"{driver.display_name} does the {kind} on {start:%Y-%m-%d}, {start:%H:%M} to {end:%H:%M} UTC.",
        {"driver_id": str(driver.id), "assignment_type": kind, "is_automatic": row.is_automatic},
    )
    return row


async def list_assignments(
    session: AsyncSession, org_id: uuid.UUID, booking_id: uuid.UUID
) -> list[DeliveryAssignment]:
    rows = await session.scalars(
        select(DeliveryAssignment)
        .where(DeliveryAssignment.organization_id == org_id, DeliveryAssignment.booking_id == booking_id)
        .order_by(DeliveryAssignment.window_start)
    )
    return list(rows)
