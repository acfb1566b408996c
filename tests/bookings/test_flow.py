"""A customer quotes, books, pays and follows a booking to delivery; every move is audited,
emits an analytics event and a notice; bad input is refused with the field named, and nothing
is written."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.bookings.helpers import book, booking_body, make_customer, make_laundry, ok, scalar, tomorrow, uid
from tests.factories import make_member
from tests.helpers import error_of

STAFF_PATH = ("picked_up", "processing", "ready", "out_for_delivery", "delivered")


async def _counts(session: AsyncSession, org_id: str) -> tuple[int, int, int]:
    return (
        await scalar(session, "SELECT count(*) FROM bookings WHERE organization_id = :o", o=uid(org_id)),
        await scalar(session, "SELECT count(*) FROM booking_items WHERE organization_id = :o", o=uid(org_id)),
        await scalar(
            session, "SELECT count(*) FROM loyalty_rewards WHERE organization_id = :o", o=uid(org_id)
        ),
    )


async def test_quote_is_items_times_prices_plus_options_and_the_collection_fee(
    client: httpx.AsyncClient,
) -> None:
    laundry = await make_laundry(client)
    customer, _ = await make_customer(client, laundry)
    body = {
        "service_id": laundry.shirts["id"],
        "items": [
            {"service_id": laundry.shirts["id"], "quantity": 4, "option_ids": [laundry.starch["id"]]},
            {"service_id": laundry.suits["id"], "quantity": 2},
        ],
    }
    quote = await ok(await client.post(f"{laundry.shop}/quote", headers=customer.headers, json=body))
    shirts, suits = quote["items"]
    # Shirts: 2.50 + starch 0.30 (chosen) + hanger 0.10 (required) per shirt.
    assert shirts["options_price"] == 40 and shirts["option_codes"] == ["hanger", "starch"]
    assert shirts["total_price"] == 4 * 290 and suits["total_price"] == 2 * 1200
    assert quote["items_amount"] == 1160 + 2400
    assert quote["collection_fee"] == 500 and quote["total_amount"] == 4060
    assert quote["currency"] == "eur" and quote["is_free_collection"] is False


async def test_book_pay_and_follow_to_delivery(client: httpx.AsyncClient, session: AsyncSession) -> None:
    laundry = await make_laundry(client)
    customer, address_id = await make_customer(client, laundry)
    booking = await book(client, laundry, customer, address_id)
    assert booking["booking_number"] == "BK-000001" and booking["status"] == "pending"
    assert booking["delivery_date"] == (tomorrow() + timedelta(days=2)).isoformat()  # 2 processing days
    assert booking["total_amount"] == 4 * 290 + 500
    second = await book(client, laundry, customer, address_id, shirts=1)
    assert second["booking_number"] == "BK-000002"

    await session.execute(text("UPDATE users SET credits_cents = 10000 WHERE id = :u"), {"u": customer.id})
    paid = await ok(
        await client.post(
            f"{laundry.shop}/bookings/{booking['id']}/pay",
            headers=customer.headers,
            json={"method": "credits"},
        )
    )
    assert paid["status"] == "confirmed" and paid["payment_method"] == "credits" and paid["paid_at"]
    assert (
        await scalar(session, "SELECT credits_cents FROM users WHERE id = :u", u=customer.id) == 10000 - 1660
    )

    for status in STAFF_PATH:
        moved = await ok(
            await client.post(
                f"{laundry.staff}/bookings/{booking['id']}/status",
                headers=laundry.owner.headers,
                json={"status": status},
            )
        )
        assert moved["status"] == status
    mine = await ok(await client.get(f"{laundry.shop}/bookings/{booking['id']}", headers=customer.headers))
    assert mine["status"] == "delivered"
    loyalty = await ok(await client.get(f"{laundry.shop}/loyalty", headers=customer.headers))
    assert loyalty["completed_orders"] == 1

    timeline = await ok(
        await client.get(f"{laundry.staff}/bookings/{booking['id']}/timeline", headers=laundry.owner.headers)
    )
    assert [t["action"] for t in timeline] == [
        "booking.created",
        "booking.paid",
        "booking.confirmed",
        *(f"booking.{s}" for s in STAFF_PATH),
    ]
    events = await scalar(
        session,
        "SELECT count(*) FROM activity_events WHERE user_id = :u AND action_name LIKE 'booking.%'",
        u=customer.id,
    )
    assert events == 2 + 2 + len(STAFF_PATH)  # two created; the first paid, confirmed, then moved
    notices = await scalar(
        session,
        "SELECT count(*) FROM notifications WHERE user_id = :u AND kind = 'booking_status'",
        u=customer.id,
    )
    assert notices == events


async def test_bad_input_is_refused_naming_the_field_and_writes_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    laundry = await make_laundry(client)
    customer, address_id = await make_customer(client, laundry)
    other, others_address = await make_customer(client, laundry)
    cases = [
        ({"items": [{"service_id": laundry.shirts["id"], "quantity": 21}]}, 422, "items.0.quantity"),
        ({"items": [{"service_id": laundry.suits["id"], "quantity": 6}]}, 422, "items.0.quantity"),
        ({"address_id": others_address}, 422, "address_id"),
        ({"pickup_date": "2020-01-01"}, 422, "pickup_date"),
        (
            {
                "items": [
                    {"service_id": laundry.suits["id"], "quantity": 1, "option_ids": [laundry.starch["id"]]}
                ]
            },
            422,
            "items.0.option_ids",
        ),
        ({"items": [{"service_id": laundry.shirts["id"], "quantity": 0}]}, 422, "items.0.quantity"),
    ]
    for change, status, field in cases:
        body = {**booking_body(laundry, address_id), **change}
        answer = await client.post(f"{laundry.shop}/bookings", headers=customer.headers, json=body)
        assert answer.status_code == status, (change, answer.text)
        assert error_of(answer)["field"] == field, answer.text
    assert await _counts(session, laundry.org_id) == (0, 0, 0)
    # The other customer's address is theirs alone: not listed, and no booking on it.
    listed = await ok(await client.get(f"{laundry.shop}/addresses", headers=customer.headers))
    assert [a["id"] for a in listed] == [address_id]
    assert other.id != customer.id


async def test_transitions_only_from_the_right_state_by_the_right_role(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    laundry = await make_laundry(client)
    customer, address_id = await make_customer(client, laundry)
    booking = await book(client, laundry, customer, address_id)
    url = f"{laundry.staff}/bookings/{booking['id']}/status"
    wrong = await client.post(url, headers=laundry.owner.headers, json={"status": "delivered"})
    assert wrong.status_code == 409 and error_of(wrong)["field"] == "status"
    assert error_of(wrong)["code"] == "invalid_transition"
    # A customer is not staff: the staff endpoint refuses them as a non-member.
    assert (await client.post(url, headers=customer.headers, json={"status": "confirmed"})).status_code == 404
    # A viewer may read but not move.
    viewer = await make_member(client, session, uid(laundry.org_id), role="viewer")
    assert (await client.post(url, headers=viewer.headers, json={"status": "confirmed"})).status_code == 403
    unknown = await client.post(url, headers=laundry.owner.headers, json={"status": "lost"})
    assert unknown.status_code == 422 and error_of(unknown)["field"] == "status"
    # A refund needs a payment.
    await ok(await client.post(f"{laundry.shop}/bookings/{booking['id']}/cancel", headers=customer.headers))
    refund = await client.post(url, headers=laundry.owner.headers, json={"status": "refunded"})
    assert refund.status_code == 409 and error_of(refund)["code"] == "not_paid"
    # A cancelled booking cannot be cancelled again.
    again = await client.post(f"{laundry.shop}/bookings/{booking['id']}/cancel", headers=customer.headers)
    assert again.status_code == 409 and error_of(again)["field"] == "status"
    assert (
        await scalar(session, "SELECT status FROM bookings WHERE id = :b", b=uid(booking["id"]))
        == "cancelled"
    )
    actions = await scalar(
        session,
        "SELECT count(*) FROM activities WHERE entity_id = :b AND action = 'booking.cancelled'",
        b=uid(booking["id"]),
    )
    assert actions == 1


async def test_a_pickup_day_holds_the_service_capacity_and_delivery_moves_on_when_full(
    client: httpx.AsyncClient,
) -> None:
    laundry = await make_laundry(client, shirts_per_day=2)
    customer, address_id = await make_customer(client, laundry)
    day = tomorrow()
    first = await book(client, laundry, customer, address_id, pickup=day)
    await book(client, laundry, customer, address_id, pickup=day)
    full = await client.post(
        f"{laundry.shop}/bookings",
        headers=customer.headers,
        json=booking_body(laundry, address_id, pickup=day),
    )
    assert full.status_code == 409 and error_of(full)["field"] == "pickup_date"
    assert error_of(full)["code"] == "slot_full"
    assert first["delivery_date"] == (day + timedelta(days=2)).isoformat()
    # Faster processing: a pickup on day+1 would be delivered on day+2, which is full: day+3.
    await ok(
        await client.patch(
            f"{laundry.staff}/catalog/services/{laundry.shirts['id']}",
            headers=laundry.owner.headers,
            json={"processing_days": 1},
        )
    )
    later = await book(client, laundry, customer, address_id, pickup=day + timedelta(days=1))
    assert later["delivery_date"] == (day + timedelta(days=3)).isoformat()
    # A cancellation frees its place.
    await ok(await client.post(f"{laundry.shop}/bookings/{first['id']}/cancel", headers=customer.headers))
    await book(client, laundry, customer, address_id, pickup=day)


async def test_one_organization_and_one_customer_never_see_anothers_bookings(
    client: httpx.AsyncClient,
) -> None:
    laundry = await make_laundry(client)
    rival = await make_laundry(client)
    alice, alice_address = await make_customer(client, laundry)
    bob, _ = await make_customer(client, laundry)
    booking = await book(client, laundry, alice, alice_address)
    assert (await ok(await client.get(f"{laundry.shop}/bookings", headers=bob.headers))) == []
    peek = await client.get(f"{laundry.shop}/bookings/{booking['id']}", headers=bob.headers)
    assert peek.status_code == 404 and error_of(peek)["field"] == "booking_id"
    pay = await client.post(
        f"{laundry.shop}/bookings/{booking['id']}/pay", headers=bob.headers, json={"method": "credits"}
    )
    assert pay.status_code == 404
    cross = await client.get(f"{rival.staff}/bookings/{booking['id']}", headers=rival.owner.headers)
    assert cross.status_code == 404
    assert await ok(await client.get(f"{rival.staff}/bookings", headers=rival.owner.headers)) == []
    assert len(await ok(await client.get(f"{laundry.staff}/bookings", headers=laundry.owner.headers))) == 1
