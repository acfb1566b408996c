"""The laundry's admin pages over HTTP (in-process): the day's sheet, the htmx fragment, status
counts, revenue, drivers' load and a booking's timeline."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.admin.conftest import AdminClient, admin_client
from tests.bookings.helpers import book, make_customer, make_laundry, ok

__all__ = ["admin_client"]


async def test_the_day_sheet_and_a_timeline(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin_client: AdminClient,
) -> None:
    laundry = await make_laundry(client)
    customer, address_id = await make_customer(client, laundry)
    booking = await book(client, laundry, customer, address_id)
    await session.execute(text("UPDATE users SET credits_cents = 5000 WHERE id = :u"), {"u": customer.id})
    await ok(
        await client.post(
            f"{laundry.shop}/bookings/{booking['id']}/pay",
            headers=customer.headers,
            json={"method": "credits"},
        )
    )
    driver = {"display_name": "Nadia", "vehicle_type": "van", "current_coordinates": [48.86, 2.35]}
    await ok(await client.post(f"{laundry.staff}/drivers", headers=laundry.owner.headers, json=driver), 201)
    await ok(
        await client.post(
            f"{laundry.staff}/bookings/{booking['id']}/assignments",
            headers=laundry.owner.headers,
            json={"assignment_type": "pickup"},
        ),
        201,
    )
    page = await admin_client.http.get(f"/admin/orgs/{laundry.org_id}/bookings?day={booking['pickup_date']}")
    assert page.status_code == 200, page.text
    html = page.text
    assert booking["booking_number"] in html and "Nadia" in html and "09:00" in html
    assert 'data-status="confirmed"' in html and "Shirt pressing" in html
    assert "16.60 EUR" in html  # 4 x 2.90 + 5.00, paid
    fragment = await admin_client.http.get(
        f"/admin/orgs/{laundry.org_id}/bookings?day=2031-01-01",
        headers={"HX-Request": "true", "HX-Target": "day"},
    )
    assert "<html" not in fragment.text and "Nothing to collect or deliver that day." in fragment.text
    bad = await admin_client.http.get(f"/admin/orgs/{laundry.org_id}/bookings?day=tomorrow")
    assert bad.status_code == 422
    timeline = await admin_client.http.get(f"/admin/orgs/{laundry.org_id}/bookings/{booking['id']}")
    assert timeline.status_code == 200
    for action in ("booking.created", "booking.paid", "booking.confirmed", "booking.assigned"):
        assert f'data-action="{action}"' in timeline.text


async def test_a_platform_admin_moves_a_booking_from_its_page(
    client: httpx.AsyncClient,
    session: AsyncSession,
    admin_client: AdminClient,
) -> None:
    laundry = await make_laundry(client)
    customer, address_id = await make_customer(client, laundry)
    booking = await book(client, laundry, customer, address_id)
    page = f"/admin/orgs/{laundry.org_id}/bookings/{booking['id']}"
    html = (await admin_client.http.get(page)).text
    assert "Make it confirmed" in html and "Make it cancelled" in html and "Make it delivered" not in html
    moved = await admin_client.post(f"{page}/status", {"status": "confirmed"})
    assert moved.status_code == 303 and moved.headers["location"] == page
    wrong = await admin_client.post(f"{page}/status", {"status": "delivered"})
    assert wrong.status_code == 303
    status = await session.execute(text("SELECT status FROM bookings WHERE id = :b"), {"b": booking["id"]})
    assert status.scalar() == "confirmed"
    none_free = await admin_client.post(f"{page}/assign", {"assignment_type": "pickup"})
    assert none_free.status_code == 303  # no driver yet: told, nothing written
    driver = {"display_name": "Nadia", "vehicle_type": "van"}
    await ok(await client.post(f"{laundry.staff}/drivers", headers=laundry.owner.headers, json=driver), 201)
    assert (await admin_client.post(f"{page}/assign", {"assignment_type": "pickup"})).status_code == 303
    html = (await admin_client.http.get(page)).text
    assert 'data-assignment="pickup"' in html and 'data-action="booking.confirmed"' in html
    audited = await session.execute(
        text(
            "SELECT count(*) FROM activities WHERE entity_id = :b AND action = 'booking.confirmed' "
            "AND (metadata->>'as_platform_admin')::boolean"
        ),
        {"b": booking["id"]},
    )
    assert audited.scalar() == 1
