"""The customers' side of an organization's laundry: its catalog, their addresses, quotes,
bookings, payment, cancellation and loyalty. Any signed-in user may be a customer."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from saaskit.bookings import catalog, customers, flow, queries, transitions
from saaskit.bookings.dependencies import Customer
from saaskit.bookings.schemas import (
    AddressIn,
    AddressOut,
    BookingIn,
    BookingOut,
    CategoryOut,
    LoyaltyOut,
    PayIn,
    QuoteIn,
    QuoteOut,
    ServiceOut,
)
from saaskit.kit.deps import DbSession, RuntimeDep

router = APIRouter(prefix="/api/shop/{org_id}", tags=["bookings"])


@router.get("/categories", response_model=list[CategoryOut], summary="The shop's active categories")
async def categories(org_id: uuid.UUID, session: DbSession, who: Customer) -> list[CategoryOut]:
    await customers.check_shop(session, org_id)
    rows = await catalog.list_categories(session, org_id, active_only=True)
    return [CategoryOut.model_validate(r) for r in rows]


@router.get("/services", response_model=list[ServiceOut], summary="The shop's services on sale")
async def services(org_id: uuid.UUID, session: DbSession, who: Customer) -> list[ServiceOut]:
    await customers.check_shop(session, org_id)
    return await catalog.list_services(session, org_id, active_only=True)


@router.get("/addresses", response_model=list[AddressOut], summary="Your addresses")
async def list_addresses(org_id: uuid.UUID, session: DbSession, who: Customer) -> list[AddressOut]:
    rows = await customers.list_addresses(session, org_id, who.user_id)
    return [AddressOut.model_validate(r) for r in rows]


@router.post("/addresses", status_code=201, response_model=AddressOut, summary="Add an address")
async def add_address(org_id: uuid.UUID, body: AddressIn, session: DbSession, who: Customer) -> AddressOut:
    await customers.check_shop(session, org_id)
    return AddressOut.model_validate(await customers.add_address(session, org_id, who.user_id, body))


@router.post("/addresses/{address_id}/default", response_model=AddressOut, summary="Make it your default")
async def make_default(
    org_id: uuid.UUID, address_id: uuid.UUID, session: DbSession, who: Customer
) -> AddressOut:
    return AddressOut.model_validate(await customers.make_default(session, org_id, who.user_id, address_id))


@router.delete(
    "/addresses/{address_id}", status_code=204, response_class=Response, summary="Remove an address"
)
async def remove_address(
    org_id: uuid.UUID, address_id: uuid.UUID, session: DbSession, who: Customer
) -> Response:
    await customers.remove_address(session, org_id, who.user_id, address_id)
    return Response(status_code=204)


@router.get("/loyalty", response_model=LoyaltyOut, summary="Your completed orders and free collections")
async def loyalty(org_id: uuid.UUID, session: DbSession, runtime: RuntimeDep, who: Customer) -> LoyaltyOut:
    every = runtime.settings.bookings.loyalty_every_orders
    return await customers.loyalty_of(session, org_id, who.user_id, every)


@router.post("/quote", response_model=QuoteOut, summary="Price a booking (writes nothing)")
async def quote(
    org_id: uuid.UUID, body: QuoteIn, session: DbSession, runtime: RuntimeDep, who: Customer
) -> QuoteOut:
    return (await flow.quote(session, runtime, org_id, who.user_id, body)).quote


@router.post("/bookings", status_code=201, response_model=BookingOut, summary="Book a pickup")
async def book(
    org_id: uuid.UUID, body: BookingIn, session: DbSession, runtime: RuntimeDep, who: Customer
) -> BookingOut:
    booking = await flow.book(session, runtime, who.actor, org_id, who.user_id, body)
    return await queries.one_with_items(session, booking)


@router.get("/bookings", response_model=list[BookingOut], summary="Your bookings, newest first")
async def my_bookings(org_id: uuid.UUID, session: DbSession, who: Customer) -> list[BookingOut]:
    return await queries.listing(session, org_id, user_id=who.user_id, limit=200)


@router.get("/bookings/{booking_id}", response_model=BookingOut, summary="One of your bookings")
async def my_booking(
    org_id: uuid.UUID, booking_id: uuid.UUID, session: DbSession, who: Customer
) -> BookingOut:
    return await queries.find(session, org_id, booking_id, user_id=who.user_id)


@router.post("/bookings/{booking_id}/pay", response_model=BookingOut, summary="Pay by card or credits")
async def pay(
    org_id: uuid.UUID,
    booking_id: uuid.UUID,
    body: PayIn,
    session: DbSession,
    runtime: RuntimeDep,
    who: Customer,
) -> BookingOut:
    booking = await flow.pay(session, runtime, who.actor, org_id, who.user_id, booking_id, body.method)
    return await queries.one_with_items(session, booking)


@router.post("/bookings/{booking_id}/cancel", response_model=BookingOut, summary="Cancel before pickup")
async def cancel(
    org_id: uuid.UUID, booking_id: uuid.UUID, session: DbSession, runtime: RuntimeDep, who: Customer
) -> BookingOut:
    booking = await transitions.transition(
        session, runtime, who.actor, org_id, booking_id, "cancelled", role="customer", user_id=who.user_id
    )
    return await queries.one_with_items(session, booking)
