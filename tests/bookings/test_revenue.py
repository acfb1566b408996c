"""Booking revenue in the platform's figures (docs/bookings.md): GET /api/admin/stats (all time),
GET /api/insights/kpis (the last 30 days) and the monthly line of the admin's Billing page equal
a plain-Python reference over the bookings' rows: paid bookings, refunds subtracted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.admin.web import _money
from saaskit.bookings import revenue
from tests.admin.conftest import AdminClient, admin_client
from tests.bookings.helpers import book, make_customer, make_laundry, ok, tomorrow, uid
from tests.bookings.reference import booking_rows, reference
from tests.factories import make_admin

__all__ = ["admin_client"]

STAFF_PATH = ("picked_up", "processing", "ready", "out_for_delivery", "delivered")


async def test_booking_revenue_feeds_stats_kpis_and_billing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    laundry = await make_laundry(client, shirts_per_day=10)
    customer, address_id = await make_customer(client, laundry)
    await session.execute(text("UPDATE users SET credits_cents = 100000 WHERE id = :u"), {"u": customer.id})
    staff = f"{laundry.staff}/bookings"

    async def pay(booking: dict[str, Any]) -> None:
        await ok(
            await client.post(
                f"{laundry.shop}/bookings/{booking['id']}/pay",
                headers=customer.headers,
                json={"method": "credits"},
            )
        )

    async def move(booking: dict[str, Any], *path: str) -> None:
        for status in path:
            await ok(
                await client.post(
                    f"{staff}/{booking['id']}/status", headers=laundry.owner.headers, json={"status": status}
                )
            )

    delivered, refunded, old, unpaid, cancelled = [
        await book(client, laundry, customer, address_id, shirts=n) for n in (4, 2, 3, 1, 5)
    ]
    for booking in (delivered, refunded, old, cancelled):
        await pay(booking)
    await move(delivered, *STAFF_PATH)
    await move(refunded, *STAFF_PATH, "refunded")
    await move(cancelled, "cancelled", "refunded")
    suit = await ok(
        await client.post(
            f"{laundry.shop}/bookings",
            headers=customer.headers,
            json={
                "service_id": laundry.suits["id"],
                "items": [{"service_id": laundry.suits["id"], "quantity": 2, "option_ids": []}],
                "pickup_date": tomorrow().isoformat(),
                "address_id": address_id,
            },
        ),
        201,
    )
    await pay(suit)
    # One booking paid 40 days ago (outside the KPIs' 30 days, inside all time) and one refund
    # of two months ago: the windows, not only the sums, are checked.
    await session.execute(
        text("UPDATE bookings SET paid_at = now() - interval '40 days' WHERE id = :b"), {"b": uid(old["id"])}
    )
    await session.execute(
        text(
            "UPDATE bookings SET paid_at = now() - interval '70 days', "
            "status_changed_at = now() - interval '65 days' WHERE id = :b"
        ),
        {"b": uid(cancelled["id"])},
    )
    assert unpaid["status"] == "pending"
    rows = await booking_rows(session, uid(laundry.org_id))
    now = datetime.now(UTC)
    boss = await make_admin(client, session)

    stats = await ok(
        await client.get("/api/admin/stats", params={"organization_id": laundry.org_id}, headers=boss.headers)
    )
    expected = reference(rows, None, now)
    assert stats["bookingRevenue"] == expected
    assert expected["refundedBookings"] == 2 and expected["paidBookings"] == 5
    assert {s["service"] for s in expected["byService"]} == {"Suit dry cleaning", "Shirt pressing"}

    kpis = await ok(
        await client.get(
            "/api/insights/kpis", params={"organization_id": laundry.org_id}, headers=boss.headers
        )
    )
    month = reference(rows, now - timedelta(days=30), now)
    assert kpis["bookingRevenue"] == month
    assert month["paidBookings"] == 3 and month["refundedBookings"] == 1  # the old ones are outside
    assert kpis["revenueBySource"] == {
        "subscriptionMrrCents": kpis["mrrCents"],
        "bookingsLast30DaysCents": month["netCents"],
    }

    # Per UTC month (the Billing page's line), this month measured up to now.
    months = await revenue.monthly(session, 4, now, organization_id=uid(laundry.org_id))
    first = datetime.strptime(min(months), "%Y-%m").replace(tzinfo=UTC)
    starts = [*(datetime.strptime(m, "%Y-%m").replace(tzinfo=UTC) for m in sorted(months)), now]
    assert starts[0] == first and len(months) == 4
    for (label, (gross, back)), lo, hi in zip(sorted(months.items()), starts[:-1], starts[1:], strict=True):
        ref = reference(rows, lo, now, stop=hi if hi < now else None)
        assert (gross, back) == (ref["grossCents"], ref["refundedCents"]), label
    assert sum(g - b for g, b in months.values()) == reference(rows, first, now)["netCents"]

    # The platform's stats hold this laundry's money (the whole database's, by the same reference).
    everything = await booking_rows(session)
    platform = await ok(await client.get("/api/admin/stats", headers=boss.headers))
    assert platform["bookingRevenue"] == reference(everything, None, now)


async def test_the_admin_pages_show_booking_revenue_beside_subscriptions(
    client: httpx.AsyncClient, session: AsyncSession, admin_client: AdminClient
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
    total = (
        await session.execute(
            text("SELECT coalesce(sum(total_amount), 0) FROM bookings WHERE paid_at IS NOT NULL")
        )
    ).scalar_one()
    assert total >= booking["total_amount"] > 0
    http = admin_client.http
    overview = (await http.get("/admin/overview")).text
    assert _money(total) in overview[overview.index('id="booking-revenue"') :]
    kpis = (await http.get("/admin/analytics")).text
    assert 'id="revenue-by-source"' in kpis and _money(total) in kpis[kpis.index('id="revenue-by-source"') :]
    billing = (await http.get("/admin/billing")).text
    month = datetime.now(UTC).strftime("%Y-%m")
    table = billing[billing.index('id="booking-revenue-table"') :]
    row = table[table.index(f'data-month="{month}"') :]
    row = row[: row.index("</tr>")]
    assert f'<td class="num">{_money(total)}</td>' in row
