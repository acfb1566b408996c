"""The catalog API for staff: categories in order, services with their limits and options,
options required or optional; who may change it; bad input named; customers see the live part."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.bookings.helpers import make_customer, make_laundry, ok, scalar, uid
from tests.factories import make_member
from tests.helpers import error_of


async def test_staff_build_the_catalog_and_customers_see_the_live_part(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    laundry = await make_laundry(client)
    base, h = f"{laundry.staff}/catalog", laundry.owner.headers
    await ok(
        await client.post(f"{base}/categories", headers=h, json={"name": "Bedding", "sort_order": 0}), 201
    )
    names = [c["name"] for c in await ok(await client.get(f"{base}/categories", headers=h))]
    assert names == ["Bedding", "Shirts"]  # by sort_order
    services = {s["code"]: s for s in await ok(await client.get(f"{base}/services", headers=h))}
    shirt_options = {o["code"]: o["is_required"] for o in services["shirt-press"]["options"]}
    assert shirt_options == {"hanger": True, "starch": False}
    assert (services["suit-clean"]["min_items"], services["suit-clean"]["max_items"]) == (1, 5)
    # Retire the suits, deactivate starch: customers no longer see them; staff still do.
    await ok(
        await client.patch(f"{base}/services/{laundry.suits['id']}", headers=h, json={"is_active": False})
    )
    await ok(
        await client.patch(f"{base}/options/{laundry.starch['id']}", headers=h, json={"is_active": False})
    )
    customer, _ = await make_customer(client, laundry)
    shop = await ok(await client.get(f"{laundry.shop}/services", headers=customer.headers))
    assert [(s["code"], [o["code"] for o in s["options"]]) for s in shop] == [("shirt-press", ["hanger"])]
    assert len(await ok(await client.get(f"{base}/services", headers=h))) == 2
    # Deleting is soft: the row stays for past bookings.
    assert (await client.delete(f"{base}/services/{laundry.suits['id']}", headers=h)).status_code == 204
    assert await scalar(
        session, "SELECT deleted_at IS NOT NULL FROM services WHERE id = :s", s=uid(laundry.suits["id"])
    )
    actions = await scalar(
        session,
        "SELECT count(*) FROM activities WHERE organization_id = :o AND action LIKE 'service%'",
        o=uid(laundry.org_id),
    )
    assert actions >= 8  # created, linked, updated, deleted: each audited


async def test_bad_catalog_input_and_permissions(client: httpx.AsyncClient, session: AsyncSession) -> None:
    laundry = await make_laundry(client)
    base, h = f"{laundry.staff}/catalog", laundry.owner.headers
    service = {"name": "Rugs", "code": "rug", "type": "laundry", "base_price": 900, "processing_days": 4}
    cases = [
        ({**service, "code": "shirt-press"}, 409, "code"),
        ({**service, "min_items": 5, "max_items": 2}, 422, "max_items"),
        ({**service, "type": "teleport"}, 422, "type"),
        ({**service, "base_price": -1}, 422, "base_price"),
        ({**service, "currency": "EURO"}, 422, "currency"),
        ({**service, "category_id": laundry.org_id}, 404, "category_id"),
    ]
    for body, status, field in cases:
        answer = await client.post(f"{base}/services", headers=h, json=body)
        assert answer.status_code == status, (body, answer.text)
        assert error_of(answer)["field"] == field, answer.text
    assert await scalar(session, "SELECT count(*) FROM services WHERE code = 'rug'") == 0
    link = await client.put(
        f"{base}/services/{laundry.shirts['id']}/options",
        headers=h,
        json={"service_option_id": laundry.org_id},
    )
    assert link.status_code == 404 and error_of(link)["field"] == "service_option_id"
    # Members run bookings but do not change the catalog; viewers only read; others see nothing.
    member = await make_member(client, session, uid(laundry.org_id), role="member")
    viewer = await make_member(client, session, uid(laundry.org_id), role="viewer")
    assert (await client.post(f"{base}/services", headers=member.headers, json=service)).status_code == 403
    assert (await client.get(f"{base}/services", headers=member.headers)).status_code == 200
    assert (await client.get(f"{base}/services", headers=viewer.headers)).status_code == 403
    stranger, _ = await make_customer(client, laundry)
    assert (await client.get(f"{base}/services", headers=stranger.headers)).status_code == 404
