"""A laundry in the demo (the bookings domain, docs/bookings.md): the biggest organization gets a
catalog, customers with addresses around Paris, drivers, and bookings over the demo's days and
two weeks ahead, each in the status its dates give it, with its timeline (the audit rows the
API writes, demo/laundry_timeline.py); today's legs have drivers. The same
bookings for a seed (numbers, dates, statuses, amounts). Written through the models in the
service context after the bulk load."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import insert, text

from saaskit.audit.models import Activity
from saaskit.bookings.flow import booking_number
from saaskit.bookings.models import (
    Booking,
    BookingItem,
    DeliveryAssignment,
    DeliveryDriver,
    LoyaltyReward,
    Service,
    ServiceCategory,
    ServiceOption,
    ServiceServiceOption,
    UserAddress,
)
from saaskit.demo import laundry_timeline
from saaskit.demo.config import DemoConfig
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from saaskit.tenancy.models import Organization
from saaskit.tracking import partitions

CUSTOMERS = 60
AHEAD_DAYS = 14
# (category, name, code, type, price in cents, processing days, max items)
CATALOG = (
    ("Shirts", "Shirt pressing", "shirt-press", "pressing", 290, 2, 30),
    ("Suits", "Suit dry cleaning", "suit-clean", "dry_cleaning", 1490, 3, 6),
    ("Household", "Duvet wash", "duvet-wash", "laundry", 1990, 3, 4),
    ("Household", "Wash & fold (per kg)", "wash-fold", "wash_and_press", 390, 1, 20),
)
OPTIONS = (("Stain removal", "stain", 150, "treatment"), ("Hanger", "hanger", 20, "packaging"))
DRIVERS = (("Inès", "cargo_bike"), ("Marc", "van"), ("Sofia", "scooter"), ("Hugo", "car"))
STREETS = ("Oberkampf", "de Charonne", "du Temple", "Saint-Maur")
# The demo's biggest organization runs the laundry (its rows stay the load's: tests/demo checks
# the load is byte-identical for a seed); its owner is the staff, other active users the customers.
ORGANIZATION_SQL = text(
    "SELECT o.id, (SELECT m.user_id FROM organization_members m WHERE m.organization_id = o.id "
    "AND m.role = 'owner' ORDER BY m.user_id LIMIT 1) AS owner FROM organizations o "
    "WHERE o.deleted_at IS NULL AND o.archived_at IS NULL "
    "ORDER BY (SELECT count(*) FROM organization_members m WHERE m.organization_id = o.id) DESC, o.id LIMIT 1"
)
CUSTOMERS_SQL = text(
    "SELECT id FROM users WHERE role = 'user' AND status = 'active' AND id <> :owner ORDER BY email LIMIT :n"
)


def _status(rng: random.Random, pickup: date, delivery: date, today: date) -> str:
    if pickup > today:
        return rng.choice(("pending", "confirmed", "confirmed"))
    if pickup == today:
        return rng.choice(("confirmed", "confirmed", "picked_up"))
    if delivery > today:
        return rng.choice(("picked_up", "processing", "processing", "ready"))
    if delivery == today:
        return rng.choice(("ready", "out_for_delivery"))
    return rng.choices(("delivered", "cancelled", "refunded"), weights=(92, 5, 3))[0]


async def add_laundry(runtime: Runtime, config: DemoConfig) -> int:
    """The laundry and its bookings; how many bookings."""
    rng = random.Random(f"laundry-{config.seed}")
    today = config.now.astimezone(UTC).date()
    async with runtime.db.session(SERVICE) as session:
        found = (await session.execute(ORGANIZATION_SQL)).one_or_none()
        if found is None or found.owner is None:
            return 0
        customers = list((await session.scalars(CUSTOMERS_SQL, {"owner": found.owner, "n": CUSTOMERS})).all())
        if not customers:
            return 0
        org = await session.get_one(Organization, found.id)
        categories: dict[str, ServiceCategory] = {}
        services: list[Service] = []
        for order, (category, name, code, kind, price, days, most) in enumerate(CATALOG):
            if category not in categories:
                categories[category] = ServiceCategory(
                    organization_id=org.id, name=category, sort_order=order
                )
                session.add(categories[category])
                await session.flush()
            service = Service(
                organization_id=org.id,
                category_id=categories[category].id,
                name=name,
                code=code,
                type=kind,
                base_price=price,
                processing_days=days,
                max_items=most,
                daily_capacity=40,
            )
            services.append(service)
        options = [
            ServiceOption(organization_id=org.id, name=n, code=c, price=p, category=k)
            for n, c, p, k in OPTIONS
        ]
        session.add_all([*services, *options])
        await session.flush()
        session.add(
            ServiceServiceOption(
                organization_id=org.id,
                service_id=services[0].id,
                service_option_id=options[1].id,
                is_required=True,
            )
        )
        for service in services:
            session.add(
                ServiceServiceOption(
                    organization_id=org.id, service_id=service.id, service_option_id=options[0].id
                )
            )
        addresses = [
            UserAddress(
                organization_id=org.id,
                user_id=user,
                label="Home",
                street_address=f"{rng.randint(1, 120)} rue {rng.choice(STREETS)}",
                city="Paris",
                postal_code=f"750{rng.randint(1, 20):02d}",
                coordinates=[48.82 + rng.random() * 0.08, 2.27 + rng.random() * 0.14],
                is_default=True,
            )
            for user in customers
        ]
        drivers = [
            DeliveryDriver(
                organization_id=org.id,
                display_name=name,
                vehicle_type=vehicle,
                license_plate=None if vehicle == "cargo_bike" else f"GH-{rng.randint(100, 999)}-PA",
                rating=Decimal(f"{rng.uniform(4.1, 5.0):.2f}"),
                current_coordinates=[48.86, 2.35],
            )
            for name, vehicle in DRIVERS
        ]
        session.add_all([*addresses, *drivers])
        await session.flush()
        count, delivered = 0, dict.fromkeys(customers, 0)
        bookings: list[Booking] = []
        lines: list[BookingItem | DeliveryAssignment] = []
        windows = dict.fromkeys([d.id for d in drivers], 0)
        day = config.first_day
        while day <= today + timedelta(days=AHEAD_DAYS):
            for _ in range(rng.randint(3, 9)):
                count += 1
                customer = rng.randrange(len(customers))
                service = rng.choice(services)
                quantity = rng.randint(1, min(service.max_items, 8))
                options_price = 20 if service is services[0] else 0
                items = quantity * (service.base_price + options_price)
                fee = runtime.settings.bookings.collection_fee_cents
                delivery = day + timedelta(days=service.processing_days)
                status = _status(rng, day, delivery, today)
                created = datetime.combine(
                    day - timedelta(days=rng.randint(1, 5)), time(rng.randint(7, 21)), UTC
                )
                if created > config.now - timedelta(minutes=10):  # booked days ahead: by now, not later
                    created = config.now - timedelta(minutes=10 + 7 * (count % 100))
                paid = status not in ("pending", "cancelled") or (
                    status == "cancelled" and rng.random() < 0.3
                )
                booking = Booking(
                    id=uuid.uuid4(),
                    organization_id=org.id,
                    user_id=customers[customer],
                    service_id=service.id,
                    address_id=addresses[customer].id,
                    booking_number=booking_number(count),
                    booking_sequence=count,
                    status=status,
                    items_amount=items,
                    collection_fee=fee,
                    total_amount=items + fee,
                    currency="eur",
                    is_free_collection=False,
                    pickup_date=day,
                    delivery_date=delivery,
                    payment_method=rng.choice(("card", "card", "credits")) if paid else None,
                    paid_at=created + timedelta(minutes=5) if paid else None,
                    status_changed_at=min(created + timedelta(days=1), config.now),
                    created_at=created,
                )
                bookings.append(booking)
                lines.append(
                    BookingItem(
                        organization_id=org.id,
                        booking_id=booking.id,
                        service_id=service.id,
                        quantity=quantity,
                        unit_price=service.base_price,
                        options_price=options_price,
                        option_codes=["hanger"] if options_price else [],
                        total_price=items,
                    )
                )
                if status == "delivered":
                    delivered[customers[customer]] += 1
                leg = "pickup" if day == today else "delivery" if delivery == today else None
                if leg and status not in ("cancelled", "refunded"):
                    driver = drivers[count % len(drivers)]
                    start = datetime.combine(today, time(8), UTC) + timedelta(hours=2 * windows[driver.id])
                    windows[driver.id] += 1
                    lines.append(
                        DeliveryAssignment(
                            organization_id=org.id,
                            booking_id=booking.id,
                            driver_id=driver.id,
                            assignment_type=leg,
                            window_start=start,
                            window_end=start + timedelta(hours=2),
                            is_automatic=True,
                        )
                    )
            day += timedelta(days=1)
        # Each booking's timeline (demo/laundry_timeline.py): the audit rows the API would have
        # written, and the status's time from them.
        names = {d.id: d.display_name for d in drivers}
        legs: dict[uuid.UUID, list[tuple[DeliveryAssignment, str]]] = {}
        for line in lines:
            if isinstance(line, DeliveryAssignment):
                legs.setdefault(line.booking_id, []).append((line, names[line.driver_id]))
        history: list[dict[str, object]] = []
        moments: list[datetime] = []
        for booking in bookings:
            timeline = laundry_timeline.events(booking, found.owner, legs.get(booking.id, []), config.now)
            booking.status_changed_at = laundry_timeline.status_changed_at(booking, timeline)
            history += laundry_timeline.audit_rows(booking, timeline)
            moments += [event.at for event in timeline]
        session.add_all(bookings)
        await session.flush()  # the bookings first: items, assignments and audit rows refer to them
        session.add_all(lines)
        if history:  # the audit log's monthly partitions for the demo's past months, not DEFAULT
            await partitions.ensure_range(session, "activities", min(moments), max(moments))
            await session.execute(insert(Activity), history)
        every = runtime.settings.bookings.loyalty_every_orders
        for user, done in delivered.items():
            if done:
                session.add(
                    LoyaltyReward(
                        organization_id=org.id,
                        user_id=user,
                        completed_orders=done,
                        free_collections_earned=done // every,
                    )
                )
        for index, driver in enumerate(drivers):
            driver.total_deliveries = sum(delivered.values()) // len(drivers) + index
        await session.flush()
    return count
