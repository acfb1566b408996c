"""The guarantees under concurrent requests, on committed data (each request its own
transaction on its own connection): a pickup day never holds more bookings than its capacity
and numbers never repeat; a driver never gets two overlapping windows; loyalty counts are exact."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from saaskit.kit.state import Runtime
from tests.bookings.helpers import book, booking_body, make_customer, make_laundry, ok, tomorrow

CONCURRENT = 10


@pytest.fixture
async def live(fresh_runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    from saaskit.app import create_app

    app = create_app(fresh_runtime, dispose_on_shutdown=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        yield client


async def test_a_pickup_day_never_takes_more_than_its_capacity(live: httpx.AsyncClient) -> None:
    laundry = await make_laundry(live, shirts_per_day=4)
    customer, address_id = await make_customer(live, laundry)
    body = booking_body(laundry, address_id)
    answers = await asyncio.gather(
        *(
            live.post(f"{laundry.shop}/bookings", headers=customer.headers, json=body)
            for _ in range(CONCURRENT)
        )
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] * 4 + [409] * (CONCURRENT - 4), codes
    numbers = sorted(a.json()["booking_number"] for a in answers if a.status_code == 201)
    assert numbers == ["BK-000001", "BK-000002", "BK-000003", "BK-000004"]
    listed = await ok(await live.get(f"{laundry.staff}/bookings", headers=laundry.owner.headers))
    assert len(listed) == 4


async def test_numbers_stay_unique_across_services_and_days(live: httpx.AsyncClient) -> None:
    laundry = await make_laundry(live, shirts_per_day=100)
    customer, address_id = await make_customer(live, laundry)
    answers = await asyncio.gather(
        *(
            live.post(
                f"{laundry.shop}/bookings", headers=customer.headers, json=booking_body(laundry, address_id)
            )
            for _ in range(CONCURRENT)
        )
    )
    assert [a.status_code for a in answers] == [201] * CONCURRENT
    numbers = {a.json()["booking_number"] for a in answers}
    assert numbers == {f"BK-{n:06d}" for n in range(1, CONCURRENT + 1)}


async def test_concurrent_automatic_assignments_never_overlap(live: httpx.AsyncClient) -> None:
    laundry = await make_laundry(live, shirts_per_day=100)
    customer, address_id = await make_customer(live, laundry)
    h = laundry.owner.headers
    for index in range(3):
        body = {
            "display_name": f"Driver {index}",
            "vehicle_type": "van",
            "current_coordinates": [48.85 + index / 100, 2.35],
        }
        await ok(await live.post(f"{laundry.staff}/drivers", headers=h, json=body), 201)
    bookings = [await book(live, laundry, customer, address_id) for _ in range(6)]
    answers = await asyncio.gather(
        *(
            live.post(
                f"{laundry.staff}/bookings/{b['id']}/assignments",
                headers=h,
                json={"assignment_type": "pickup"},
            )
            for b in bookings
        )
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] * 3 + [409] * 3, codes
    drivers = [a.json()["driver_id"] for a in answers if a.status_code == 201]
    assert len(set(drivers)) == 3  # one window each: nobody got two


async def test_loyalty_counts_are_exact_under_concurrent_deliveries(
    live: httpx.AsyncClient, fresh_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fresh_runtime.settings.bookings, "loyalty_every_orders", 3)
    laundry = await make_laundry(live, shirts_per_day=100)
    customer, address_id = await make_customer(live, laundry)
    h = laundry.owner.headers
    ids = [(await book(live, laundry, customer, address_id))["id"] for _ in range(7)]
    for status in ("confirmed", "picked_up", "processing", "ready", "out_for_delivery"):
        for booking_id in ids:
            await ok(
                await live.post(
                    f"{laundry.staff}/bookings/{booking_id}/status", headers=h, json={"status": status}
                )
            )
    answers = await asyncio.gather(
        *(
            live.post(f"{laundry.staff}/bookings/{b}/status", headers=h, json={"status": "delivered"})
            for b in ids
        ),
        # The same booking delivered twice at once: one wins, the other finds it delivered.
        live.post(f"{laundry.staff}/bookings/{ids[0]}/status", headers=h, json={"status": "delivered"}),
    )
    assert sorted(a.status_code for a in answers) == [200] * 7 + [409]
    loyalty = await ok(await live.get(f"{laundry.shop}/loyalty", headers=customer.headers))
    assert loyalty["completed_orders"] == 7 and loyalty["free_collections_earned"] == 2
    # Two free collections, three concurrent bookings: exactly two are free.
    body = booking_body(laundry, address_id, pickup=tomorrow())
    answers = await asyncio.gather(
        *(live.post(f"{laundry.shop}/bookings", headers=customer.headers, json=body) for _ in range(3))
    )
    assert [a.status_code for a in answers] == [201] * 3
    assert sorted(a.json()["is_free_collection"] for a in answers) == [False, True, True]
    after = await ok(await live.get(f"{laundry.shop}/loyalty", headers=customer.headers))
    assert after["free_collections_used"] == 2 and after["free_collections_available"] == 0
