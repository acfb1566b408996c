"""An organization's laundry (the bookings domain, docs/bookings.md): the day's pickups and
deliveries with their drivers, bookings by status, drivers' load, revenue by service, and one
booking's timeline, where a platform admin can also move it on or assign the nearest driver
(as staff, audited as a platform admin). The day is picked with htmx."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from pydantic import ValidationError
from sqlalchemy import select
from starlette.responses import Response

from saaskit.admin.pages.common import page_or_fragment, parse_id
from saaskit.admin.security import AdminDep
from saaskit.admin.web import redirect, render
from saaskit.bookings import drivers, reports, transitions
from saaskit.bookings.models import Booking
from saaskit.bookings.schemas import AssignmentIn
from saaskit.bookings.states import allowed_next
from saaskit.kit.deps import DbSession, RuntimeDep
from saaskit.kit.errors import AppError, NotFound, Unprocessable
from saaskit.kit.schemas import LATEST
from saaskit.tenancy.models import Organization

router = APIRouter(prefix="/admin/orgs", include_in_schema=False)


async def _org(session: DbSession, organization_id: str) -> Organization:
    org = await session.scalar(
        select(Organization).where(Organization.id == parse_id(organization_id, "organization"))
    )
    if org is None:
        raise NotFound("no such organization", field="organization_id")
    return org


def _day(value: str | None) -> date:
    if not value:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Unprocessable("day: a date as YYYY-MM-DD", field="day") from None


@router.get("/{organization_id}/bookings")
async def bookings_page(
    request: Request,
    organization_id: str,
    admin: AdminDep,
    session: DbSession,
    day: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    org = await _org(session, organization_id)
    chosen = _day(day)
    month_start = chosen.replace(day=1)
    revenue = await reports.revenue_by_service(session, org.id, month_start, LATEST.date())
    context = {
        "org": org,
        "day": chosen,
        "sheet": await reports.day_sheet(session, org.id, chosen),
        "by_status": await reports.by_status(session, org.id),
        "drivers": await reports.drivers_load(session, org.id, chosen),
        "revenue": revenue,
        "revenue_total": sum(r["revenue_cents"] for r in revenue),
        "month_start": month_start,
    }
    return page_or_fragment(
        request, "bookings/page.html", "bookings/_day.html", context, section="orgs", target="day"
    )


@router.get("/{organization_id}/bookings/{booking_id}")
async def booking_page(
    request: Request, organization_id: str, booking_id: str, admin: AdminDep, session: DbSession
) -> Response:
    org = await _org(session, organization_id)
    booking = await session.scalar(
        select(Booking).where(
            Booking.id == parse_id(booking_id, "booking"), Booking.organization_id == org.id
        )
    )
    if booking is None:
        raise NotFound("no such booking", field="booking_id")
    context = {
        "org": org,
        "booking": booking,
        "timeline": await reports.timeline(session, org.id, booking.id),
        "next_statuses": allowed_next(booking.status, "staff"),
        "assignments": await drivers.list_assignments(session, org.id, booking.id),
        "driver_names": {d.id: d.display_name for d in await drivers.list_drivers(session, org.id)},
    }
    return render(request, "bookings/booking.html", context, section="orgs")


@router.post("/{organization_id}/bookings/{booking_id}/status")
async def move_booking(
    request: Request,
    organization_id: str,
    booking_id: str,
    admin: AdminDep,
    session: DbSession,
    runtime: RuntimeDep,
    status: Annotated[str, Form(max_length=30)] = "",
) -> Response:
    """Staff's move, made by a platform admin (audited as such), from the booking's page."""
    org = await _org(session, organization_id)
    bid = parse_id(booking_id, "booking")
    back = f"/admin/orgs/{org.id}/bookings/{bid}"
    try:
        booking = await transitions.transition(
            session, runtime, admin.actor, org.id, bid, status, role="staff"
        )
    except AppError as exc:
        return redirect(request, back, flash=("error", exc.message))
    return redirect(request, back, flash=("success", f"{booking.booking_number} is {booking.status}."))


@router.post("/{organization_id}/bookings/{booking_id}/assign")
async def assign_driver(
    request: Request,
    organization_id: str,
    booking_id: str,
    admin: AdminDep,
    session: DbSession,
    runtime: RuntimeDep,
    assignment_type: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """The nearest free driver for the booking's pickup or delivery."""
    org = await _org(session, organization_id)
    bid = parse_id(booking_id, "booking")
    back = f"/admin/orgs/{org.id}/bookings/{bid}"
    try:
        body = AssignmentIn.model_validate({"assignment_type": assignment_type})
    except ValidationError:
        return redirect(request, back, flash=("error", "assignment_type: pickup or delivery"))
    try:
        async with session.begin_nested():
            row = await drivers.assign(session, runtime, admin.actor, org.id, bid, body)
    except AppError as exc:
        return redirect(request, back, flash=("error", exc.message))
    return redirect(request, back, flash=("success", f"{row.assignment_type} assigned."))
