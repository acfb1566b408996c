"""Row-level security under the API: a customer's context sees their own addresses, bookings and
loyalty and the public catalog; an organization's context its own rows only. One default
address per customer and organization, kept by a partial unique index."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.db import SERVICE, Context, set_context
from tests.bookings.helpers import book, make_customer, make_laundry, ok, scalar, uid

TABLES = ("bookings", "booking_items", "user_addresses")


async def _counts(session: AsyncSession, context: Context) -> dict[str, int]:
    await set_context(session, context)
    try:
        return {t: await scalar(session, f"SELECT count(*) FROM {t}") for t in (*TABLES, "services")}
    finally:
        await set_context(session, SERVICE)


async def test_each_context_sees_only_its_rows(client: httpx.AsyncClient, session: AsyncSession) -> None:
    laundry = await make_laundry(client)
    rival = await make_laundry(client)
    alice, alice_address = await make_customer(client, laundry)
    bob, _ = await make_customer(client, laundry)
    await book(client, laundry, alice, alice_address)
    assert await _counts(session, Context(user_id=alice.id)) == {
        "bookings": 1,
        "booking_items": 1,
        "user_addresses": 1,
        "services": 4,  # both laundries' live catalogs are public
    }
    assert await _counts(session, Context(user_id=bob.id)) == {
        "bookings": 0,
        "booking_items": 0,
        "user_addresses": 1,
        "services": 4,
    }
    staff = await _counts(session, Context(user_id=rival.owner.id, organization_id=uid(rival.org_id)))
    assert staff == {"bookings": 0, "booking_items": 0, "user_addresses": 0, "services": 4}
    own = await _counts(session, Context(user_id=laundry.owner.id, organization_id=uid(laundry.org_id)))
    assert own == {"bookings": 1, "booking_items": 1, "user_addresses": 2, "services": 4}
    assert await _counts(session, Context()) == {
        "bookings": 0,
        "booking_items": 0,
        "user_addresses": 0,
        "services": 4,
    }
    # A customer cannot write a booking for someone else, nor loyalty for themselves.
    await set_context(session, Context(user_id=bob.id))
    with pytest.raises(Exception, match="row-level security"):
        async with session.begin_nested():
            await session.execute(
                text(
                    "INSERT INTO loyalty_rewards (organization_id, user_id, completed_orders) VALUES (:o, :u, 99)"
                ),
                {"o": uid(laundry.org_id), "u": bob.id},
            )
    await set_context(session, SERVICE)


async def test_one_default_address(client: httpx.AsyncClient, session: AsyncSession) -> None:
    laundry = await make_laundry(client)
    customer, first = await make_customer(client, laundry)
    body = {
        "label": "Work",
        "street_address": "1 Quai",
        "city": "Paris",
        "postal_code": "75001",
        "is_default": True,
    }
    second = await ok(
        await client.post(f"{laundry.shop}/addresses", headers=customer.headers, json=body), 201
    )
    listed = await ok(await client.get(f"{laundry.shop}/addresses", headers=customer.headers))
    assert [(a["id"], a["is_default"]) for a in listed] == [(second["id"], True), (first, False)]
    await ok(await client.post(f"{laundry.shop}/addresses/{first}/default", headers=customer.headers))
    assert await scalar(session, "SELECT count(*) FROM user_addresses WHERE is_default") == 1
    with pytest.raises(IntegrityError, match="idx_user_addresses_organization_id_user_id_default"):
        async with session.begin_nested():
            await session.execute(
                text("UPDATE user_addresses SET is_default = true WHERE id = :a"),
                {"a": uuid.UUID(second["id"])},
            )
    bad = await client.post(
        f"{laundry.shop}/addresses", headers=customer.headers, json={**body, "coordinates": [91, 2]}
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "coordinates"


async def test_the_slot_function_needs_a_signed_in_caller(session: AsyncSession) -> None:
    await set_context(session, Context())
    with pytest.raises(Exception, match="sign in first"):
        async with session.begin_nested():
            await session.execute(
                text("SELECT * FROM app_claim_booking_slot(:o, :s, current_date)"),
                {"o": uuid.uuid4(), "s": uuid.uuid4()},
            )
    await set_context(session, SERVICE)
