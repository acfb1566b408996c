"""Requests and answers of the bookings API (catalog, customers' shop, staff)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field

from saaskit.bookings.models.catalog import OPTION_CATEGORIES, SERVICE_TYPES
from saaskit.bookings.models.delivery import ASSIGNMENT_TYPES, VEHICLE_TYPES
from saaskit.bookings.models.orders import STATUSES
from saaskit.kit.schemas import INT32_MAX, Answer, Day, Input, Output, Timestamp

Code = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,49}$", description="Short key: lower case, digits, - and _.")
Cents = Field(ge=0, le=10**9, description="Amount in cents of the currency.")
Currency = Field("eur", pattern=r"^[a-z]{3}$", description="ISO 4217 code, lower case.")
Coordinates = Field(None, min_length=2, max_length=2, description="[latitude, longitude] in degrees.")
ServiceType = Literal[SERVICE_TYPES]  # type: ignore[valid-type]
OptionCategory = Literal[OPTION_CATEGORIES]  # type: ignore[valid-type]
Status = Literal[STATUSES]  # type: ignore[valid-type]
VehicleType = Literal[VEHICLE_TYPES]  # type: ignore[valid-type]
AssignmentType = Literal[ASSIGNMENT_TYPES]  # type: ignore[valid-type]


# -- catalog ------------------------------------------------------------------------------------
class CategoryIn(Input):
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(None, max_length=1000)
    icon: str | None = Field(None, max_length=200)
    sort_order: int = Field(0, ge=-10000, le=10000)
    is_active: bool = True


class CategoryPatch(Input):
    name: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=1000)
    icon: str | None = Field(None, max_length=200)
    sort_order: int | None = Field(None, ge=-10000, le=10000)
    is_active: bool | None = None


class CategoryOut(Output):
    id: uuid.UUID
    name: str
    description: str | None
    icon: str | None
    sort_order: int
    is_active: bool


class ServiceIn(Input):
    name: str = Field(min_length=1, max_length=200)
    code: str = Code
    type: ServiceType
    category_id: uuid.UUID | None = None
    base_price: int = Cents
    currency: str = Currency
    processing_days: int = Field(ge=0, le=60)
    min_items: int = Field(1, ge=1, le=10000)
    max_items: int = Field(100, ge=1, le=10000)
    daily_capacity: int = Field(20, ge=1, le=100000, description="Bookings one pickup day holds.")
    description: str | None = Field(None, max_length=2000)
    is_active: bool = True


class ServicePatch(Input):
    name: str | None = Field(None, min_length=1, max_length=200)
    category_id: uuid.UUID | None = None
    base_price: int | None = Field(None, ge=0, le=10**9)
    processing_days: int | None = Field(None, ge=0, le=60)
    min_items: int | None = Field(None, ge=1, le=10000)
    max_items: int | None = Field(None, ge=1, le=10000)
    daily_capacity: int | None = Field(None, ge=1, le=100000)
    description: str | None = Field(None, max_length=2000)
    is_active: bool | None = None


class OptionIn(Input):
    name: str = Field(min_length=1, max_length=200)
    code: str = Code
    price: int = Cents
    currency: str = Currency
    category: OptionCategory = "other"
    description: str | None = Field(None, max_length=2000)


class OptionPatch(Input):
    name: str | None = Field(None, min_length=1, max_length=200)
    price: int | None = Field(None, ge=0, le=10**9)
    category: OptionCategory | None = None
    description: str | None = Field(None, max_length=2000)
    is_active: bool | None = None


class OptionOut(Output):
    id: uuid.UUID
    name: str
    code: str
    price: int
    currency: str
    category: str
    description: str | None
    is_active: bool


class ServiceOptionLinkIn(Input):
    service_option_id: uuid.UUID
    is_required: bool = False


class OfferedOptionOut(OptionOut):
    is_required: bool


class ServiceOut(Output):
    id: uuid.UUID
    category_id: uuid.UUID | None
    name: str
    code: str
    type: str
    base_price: int
    currency: str
    processing_days: int
    min_items: int
    max_items: int
    daily_capacity: int
    description: str | None
    is_active: bool
    options: list[OfferedOptionOut] = Field(default_factory=list)


# -- customers ------------------------------------------------------------------------------------
class AddressIn(Input):
    label: str = Field(min_length=1, max_length=50)
    street_address: str = Field(min_length=1, max_length=300)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str = Field(min_length=1, max_length=20)
    coordinates: list[float] | None = Coordinates
    is_default: bool = False


class AddressOut(Output):
    id: uuid.UUID
    label: str
    street_address: str
    city: str
    postal_code: str
    coordinates: list[float] | None
    is_default: bool


class LoyaltyOut(Output):
    completed_orders: int
    free_collections_earned: int
    free_collections_used: int
    free_collections_available: int
    every_orders: int = Field(description="Delivered orders that earn one free collection.")


# -- bookings -------------------------------------------------------------------------------------
class ItemIn(Input):
    service_id: uuid.UUID
    quantity: int = Field(ge=1, le=INT32_MAX)
    option_ids: list[uuid.UUID] = Field(default_factory=list, max_length=20)
    item_description: str | None = Field(None, max_length=500)


class QuoteIn(Input):
    service_id: uuid.UUID = Field(description="The main service (its capacity and processing days).")
    items: list[ItemIn] = Field(min_length=1, max_length=50)
    use_free_collection: bool = Field(True, description="Apply an earned free collection, if any.")


class BookingIn(QuoteIn):
    pickup_date: Day
    address_id: uuid.UUID
    notes: str | None = Field(None, max_length=1000)


class ItemOut(Output):
    service_id: uuid.UUID
    quantity: int
    unit_price: int
    options_price: int
    option_codes: list[str]
    total_price: int
    item_description: str | None


class QuoteOut(Output):
    items: list[ItemOut]
    items_amount: int
    collection_fee: int
    total_amount: int
    currency: str
    is_free_collection: bool


class BookingOut(Output):
    id: uuid.UUID
    organization_id: uuid.UUID
    user_id: uuid.UUID | None
    service_id: uuid.UUID
    address_id: uuid.UUID | None
    booking_number: str
    status: str
    items_amount: int
    collection_fee: int
    total_amount: int
    currency: str
    is_free_collection: bool
    pickup_date: date
    delivery_date: date
    payment_method: str | None
    stripe_payment_intent_id: str | None
    paid_at: datetime | None
    status_changed_at: datetime
    notes: str | None
    created_at: datetime
    items: list[ItemOut] = Field(default_factory=list)


class PayIn(Input):
    method: Literal["card", "credits"]


class TransitionIn(Input):
    status: Status


# -- drivers ----------------------------------------------------------------------------------------
class DriverIn(Input):
    display_name: str = Field(min_length=1, max_length=100)
    user_id: uuid.UUID | None = None
    vehicle_type: VehicleType
    license_plate: str | None = Field(None, max_length=20)
    is_available: bool = True
    current_coordinates: list[float] | None = Coordinates


class DriverPatch(Input):
    is_available: bool | None = None
    vehicle_type: VehicleType | None = None
    license_plate: str | None = Field(None, max_length=20)
    current_coordinates: list[float] | None = Coordinates
    rating: Decimal | None = Field(None, ge=0, le=5, decimal_places=2)


class DriverOut(Output):
    id: uuid.UUID
    user_id: uuid.UUID | None
    display_name: str
    vehicle_type: str
    license_plate: str | None
    is_available: bool
    rating: Decimal | None
    total_deliveries: int
    current_coordinates: list[float] | None


class AssignmentIn(Input):
    assignment_type: AssignmentType
    driver_id: uuid.UUID | None = Field(None, description="Omit: the nearest available driver is chosen.")
    window_start: Timestamp | None = Field(
        None, description="Default: 09:00 UTC of the pickup or delivery day."
    )


class AssignmentOut(Output):
    id: uuid.UUID
    booking_id: uuid.UUID
    driver_id: uuid.UUID
    assignment_type: str
    status: str
    window_start: datetime
    window_end: datetime
    assigned_at: datetime
    completed_at: datetime | None
    is_automatic: bool


# -- reports ----------------------------------------------------------------------------------------
class TimelineEntry(Answer):
    at: datetime
    action: str = Field(description="booking.created, booking.paid, booking.<status>, booking.assigned")
    actor_id: uuid.UUID | None
    description: str | None


class SheetRow(Answer):
    leg: str = Field(description="pickup or delivery")
    id: uuid.UUID
    booking_number: str
    status: str
    organization_id: uuid.UUID
    service: str
    street_address: str | None
    city: str | None
    driver: str | None = Field(description="The driver of that leg; null: unassigned.")
    window_start: datetime | None


class DriverLoad(Answer):
    id: uuid.UUID
    display_name: str
    vehicle_type: str
    is_available: bool
    rating: Decimal | None
    total_deliveries: int
    open_today: int = Field(description="Live assignments whose window starts that day (UTC).")
    done_today: int = Field(description="Completed assignments whose window started that day (UTC).")


class RevenueRow(Answer):
    id: uuid.UUID
    name: str
    currency: str
    bookings: int
    items: int
    revenue_cents: int = Field(description="Items of the service plus collection fees of bookings it leads.")


class DayReport(Answer):
    day: date
    sheet: list[SheetRow]
    by_status: dict[str, int]
    drivers: list[DriverLoad]
    revenue_by_service: list[RevenueRow]
