"""The day's work, for an organization's staff: bookings and their moves, drivers and their
assignments, and the figures (``bookings:read`` to read, ``bookings:manage`` to change)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from saaskit.access.dependencies import OrgRequest, org_access
from saaskit.bookings import drivers, queries, reports, transitions
from saaskit.bookings.schemas import (
    AssignmentIn,
    AssignmentOut,
    BookingOut,
    DayReport,
    DriverIn,
    DriverLoad,
    DriverOut,
    DriverPatch,
    RevenueRow,
    SheetRow,
    Status,
    TimelineEntry,
    TransitionIn,
)
from saaskit.kit.deps import DbSession, RuntimeDep
from saaskit.kit.schemas import LATEST, Day

router = APIRouter(prefix="/api/orgs/{org_id}", tags=["bookings"])
Read = Annotated[OrgRequest, Depends(org_access("bookings:read", "bookings:manage"))]
REVENUE_UNTIL = LATEST.date()
Manage = Annotated[OrgRequest, Depends(org_access("bookings:manage"))]


@router.get("/bookings", response_model=list[BookingOut], summary="Bookings, by status and pickup day")
async def list_bookings(
    session: DbSession,
    org: Read,
    status: Status | None = None,
    pickup_date: Day | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[BookingOut]:
    return await queries.listing(
        session, org.organization_id, status=status, pickup_date=pickup_date, limit=limit
    )


@router.get("/bookings/{booking_id}", response_model=BookingOut, summary="One booking")
async def get_booking(booking_id: uuid.UUID, session: DbSession, org: Read) -> BookingOut:
    return await queries.find(session, org.organization_id, booking_id)


@router.post("/bookings/{booking_id}/status", response_model=BookingOut, summary="Move a booking on")
async def move(
    booking_id: uuid.UUID, body: TransitionIn, session: DbSession, runtime: RuntimeDep, org: Manage
) -> BookingOut:
    booking = await transitions.transition(
        session, runtime, org.actor, org.organization_id, booking_id, body.status, role="staff"
    )
    return await queries.one_with_items(session, booking)


@router.get(
    "/bookings/{booking_id}/timeline",
    response_model=list[TimelineEntry],
    summary="The booking's history, oldest first",
)
async def timeline(booking_id: uuid.UUID, session: DbSession, org: Read) -> list[TimelineEntry]:
    return [TimelineEntry(**row) for row in await reports.timeline(session, org.organization_id, booking_id)]


@router.get(
    "/bookings/{booking_id}/assignments", response_model=list[AssignmentOut], summary="Drivers assigned"
)
async def list_assignments(booking_id: uuid.UUID, session: DbSession, org: Read) -> list[AssignmentOut]:
    rows = await drivers.list_assignments(session, org.organization_id, booking_id)
    return [AssignmentOut.model_validate(r) for r in rows]


@router.post(
    "/bookings/{booking_id}/assignments",
    status_code=201,
    response_model=AssignmentOut,
    summary="Assign a driver (given, or the nearest free one)",
)
async def assign(
    booking_id: uuid.UUID, body: AssignmentIn, session: DbSession, runtime: RuntimeDep, org: Manage
) -> AssignmentOut:
    row = await drivers.assign(session, runtime, org.actor, org.organization_id, booking_id, body)
    return AssignmentOut.model_validate(row)


@router.get("/drivers", response_model=list[DriverOut], summary="The organization's drivers")
async def list_drivers(session: DbSession, org: Read) -> list[DriverOut]:
    return [DriverOut.model_validate(d) for d in await drivers.list_drivers(session, org.organization_id)]


@router.post("/drivers", status_code=201, response_model=DriverOut, summary="Add a driver")
async def add_driver(body: DriverIn, session: DbSession, org: Manage) -> DriverOut:
    return DriverOut.model_validate(await drivers.add_driver(session, org.actor, org.organization_id, body))


@router.patch(
    "/drivers/{driver_id}", response_model=DriverOut, summary="Availability, vehicle, position, rating"
)
async def update_driver(
    driver_id: uuid.UUID, body: DriverPatch, session: DbSession, org: Manage
) -> DriverOut:
    row = await drivers.update_driver(session, org.actor, org.organization_id, driver_id, body)
    return DriverOut.model_validate(row)


@router.get(
    "/bookings-report",
    response_model=DayReport,
    summary="The day's sheet, bookings by status, drivers' load, revenue by service",
)
async def report(
    session: DbSession,
    org: Read,
    day: Day | None = None,
    since: Annotated[
        Day | None, Query(description="Revenue from this pickup day; default: the month's first.")
    ] = None,
    until: Annotated[Day | None, Query(description="Revenue until this pickup day, excluded.")] = None,
) -> DayReport:
    today = day or datetime.now(UTC).date()
    revenue = await reports.revenue_by_service(
        session, org.organization_id, since or today.replace(day=1), until or REVENUE_UNTIL
    )
    return DayReport(
        day=today,
        sheet=[SheetRow(**r) for r in await reports.day_sheet(session, org.organization_id, today)],
        by_status=await reports.by_status(session, org.organization_id),
        drivers=[DriverLoad(**r) for r in await reports.drivers_load(session, org.organization_id, today)],
        revenue_by_service=[RevenueRow(**r) for r in revenue],
    )
