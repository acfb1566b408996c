"""Drivers (manual and nearest-available assignment, no overlapping windows) and loyalty
(every N delivered orders earn a free collection; using it is recorded)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.state import Runtime
from tests.bookings.helpers import Laundry, book, make_customer, make_laundry, ok, scalar, uid
from tests.helpers import error_of

PARIS = [48.8566, 2.3522]
NEAR = [48.8600, 2.3500]  # about 400 m away
FAR = [48.9000, 2.2000]  # about 12 km away


async def _driver(client: httpx.AsyncClient, laundry: Laundry, name: str, where: list[float]) -> str:
    body = {"display_name": name, "vehicle_type": "cargo_bike", "current_coordinates": where}
    return str(
        (
            await ok(
                await client.post(f"{laundry.staff}/drivers", headers=laundry.owner.headers, json=body), 201
            )
        )["id"]
    )


async def test_manual_and_nearest_assignment_never_overlap(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    laundry = await make_laundry(client)
    far = await _driver(client, laundry, "Far Fabien", FAR)
    near = await _driver(client, laundry, "Near Nadia", NEAR)
    customer, address_id = await make_customer(client, laundry, coordinates=PARIS)
    first = await book(client, laundry, customer, address_id)
    second = await book(client, laundry, customer, address_id)
    third = await book(client, laundry, customer, address_id)
    h = laundry.owner.headers
    auto = await ok(
        await client.post(
            f"{laundry.staff}/bookings/{first['id']}/assignments",
            headers=h,
            json={"assignment_type": "pickup"},
        ),
        201,
    )
    assert auto["driver_id"] == near and auto["is_automatic"] is True
    # Nadia's window is taken: by hand she is refused, automatically Fabien gets the next one.
    busy = await client.post(
        f"{laundry.staff}/bookings/{second['id']}/assignments",
        headers=h,
        json={"assignment_type": "pickup", "driver_id": near},
    )
    assert busy.status_code == 409 and error_of(busy)["field"] == "driver_id"
    assert error_of(busy)["code"] == "driver_busy"
    auto2 = await ok(
        await client.post(
            f"{laundry.staff}/bookings/{second['id']}/assignments",
            headers=h,
            json={"assignment_type": "pickup"},
        ),
        201,
    )
    assert auto2["driver_id"] == far
    none_left = await client.post(
        f"{laundry.staff}/bookings/{third['id']}/assignments", headers=h, json={"assignment_type": "pickup"}
    )
    assert none_left.status_code == 409 and error_of(none_left)["code"] == "no_driver_free"
    # A delivery driver only once the items are collected.
    early = await client.post(
        f"{laundry.staff}/bookings/{third['id']}/assignments", headers=h, json={"assignment_type": "delivery"}
    )
    assert early.status_code == 409 and error_of(early)["field"] == "assignment_type"
    load = await ok(
        await client.get(f"{laundry.staff}/bookings-report?day={first['pickup_date']}", headers=h)
    )
    assert {d["display_name"]: d["open_today"] for d in load["drivers"]} == {"Far Fabien": 1, "Near Nadia": 1}
    assert {row["booking_number"] for row in load["sheet"] if row["driver"]} == {
        first["booking_number"],
        second["booking_number"],
    }
    assert (
        await scalar(
            session, "SELECT count(*) FROM delivery_assignments WHERE booking_id = :b", b=uid(third["id"])
        )
        == 0
    )


async def _deliver(client: httpx.AsyncClient, laundry: Laundry, booking_id: str) -> None:
    for status in ("confirmed", "picked_up", "processing", "ready", "out_for_delivery", "delivered"):
        await ok(
            await client.post(
                f"{laundry.staff}/bookings/{booking_id}/status",
                headers=laundry.owner.headers,
                json={"status": status},
            )
        )


async def test_every_nth_delivered_order_earns_a_free_collection(
    client: httpx.AsyncClient, runtime: Runtime, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime.settings.bookings, "loyalty_every_orders", 2)
    laundry = await make_laundry(client, shirts_per_day=10)
    customer, address_id = await make_customer(client, laundry)
    for _ in range(2):
        await _deliver(client, laundry, (await book(client, laundry, customer, address_id))["id"])
    loyalty = await ok(await client.get(f"{laundry.shop}/loyalty", headers=customer.headers))
    assert loyalty | {"every_orders": 2} == {
        "completed_orders": 2,
        "free_collections_earned": 1,
        "free_collections_used": 0,
        "free_collections_available": 1,
        "every_orders": 2,
    }
    free = await book(client, laundry, customer, address_id, shirts=1)
    assert free["is_free_collection"] is True and free["collection_fee"] == 0
    assert free["total_amount"] == 290
    after = await ok(await client.get(f"{laundry.shop}/loyalty", headers=customer.headers))
    assert after["free_collections_used"] == 1 and after["free_collections_available"] == 0
    paying = await book(client, laundry, customer, address_id, shirts=1)
    assert paying["is_free_collection"] is False and paying["collection_fee"] == 500
    # Cancelling the free one gives the free collection back.
    await ok(await client.post(f"{laundry.shop}/bookings/{free['id']}/cancel", headers=customer.headers))
    back = await ok(await client.get(f"{laundry.shop}/loyalty", headers=customer.headers))
    assert back["free_collections_available"] == 1
    used = await scalar(
        session,
        "SELECT count(*) FROM activities WHERE entity_id = :b AND (metadata->>'is_free_collection')::boolean",
        b=uid(free["id"]),
    )
    assert used == 1
