"""A laundry set up through the API: an owner (staff), a catalog, customers with addresses."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import make_owned_org
from tests.helpers import SignedUp, signup


@dataclass
class Laundry:
    owner: SignedUp
    org_id: str
    shirts: dict[str, Any]  # pressing, 2.50 per shirt, 1 to 20 items, 2 days, 3 pickups a day
    suits: dict[str, Any]  # dry cleaning, 12.00 per suit, 1 to 5 items, 3 days
    starch: dict[str, Any]  # optional, 0.30 per item
    hanger: dict[str, Any]  # required on shirts, 0.10 per item

    @property
    def shop(self) -> str:
        return f"/api/shop/{self.org_id}"

    @property
    def staff(self) -> str:
        return f"/api/orgs/{self.org_id}"


def tomorrow() -> date:
    return datetime.now(UTC).date() + timedelta(days=1)


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def make_laundry(client: httpx.AsyncClient, *, shirts_per_day: int = 3) -> Laundry:
    owner, org = await make_owned_org(client, "Clean & Pressed")
    base = f"/api/orgs/{org['id']}/catalog"
    h = owner.headers
    category = await ok(
        await client.post(f"{base}/categories", headers=h, json={"name": "Shirts", "sort_order": 1}), 201
    )
    shirts = await ok(
        await client.post(
            f"{base}/services",
            headers=h,
            json={
                "name": "Shirt pressing",
                "code": "shirt-press",
                "type": "pressing",
                "category_id": category["id"],
                "base_price": 250,
                "processing_days": 2,
                "min_items": 1,
                "max_items": 20,
                "daily_capacity": shirts_per_day,
            },
        ),
        201,
    )
    suits = await ok(
        await client.post(
            f"{base}/services",
            headers=h,
            json={
                "name": "Suit dry cleaning",
                "code": "suit-clean",
                "type": "dry_cleaning",
                "base_price": 1200,
                "processing_days": 3,
                "max_items": 5,
            },
        ),
        201,
    )
    starch = await ok(
        await client.post(
            f"{base}/options",
            headers=h,
            json={"name": "Starch", "code": "starch", "price": 30, "category": "finishing"},
        ),
        201,
    )
    hanger = await ok(
        await client.post(
            f"{base}/options",
            headers=h,
            json={"name": "Hanger", "code": "hanger", "price": 10, "category": "packaging"},
        ),
        201,
    )
    for option, required in ((starch, False), (hanger, True)):
        await ok(
            await client.put(
                f"{base}/services/{shirts['id']}/options",
                headers=h,
                json={"service_option_id": option["id"], "is_required": required},
            )
        )
    return Laundry(owner, org["id"], shirts, suits, starch, hanger)


async def make_customer(
    client: httpx.AsyncClient, laundry: Laundry, coordinates: list[float] | None = None
) -> tuple[SignedUp, str]:
    """A signed-up customer and their (default) address."""
    customer = await signup(client)
    address = await ok(
        await client.post(
            f"{laundry.shop}/addresses",
            headers=customer.headers,
            json={
                "label": "Home",
                "street_address": "12 Rue des Lilas",
                "city": "Paris",
                "postal_code": "75011",
                "coordinates": coordinates or [48.8566, 2.3522],
            },
        ),
        201,
    )
    return customer, address["id"]


def booking_body(
    laundry: Laundry, address_id: str, *, shirts: int = 4, pickup: date | None = None
) -> dict[str, Any]:
    return {
        "service_id": laundry.shirts["id"],
        "items": [
            {"service_id": laundry.shirts["id"], "quantity": shirts, "option_ids": [laundry.starch["id"]]}
        ],
        "pickup_date": (pickup or tomorrow()).isoformat(),
        "address_id": address_id,
    }


async def book(
    client: httpx.AsyncClient, laundry: Laundry, customer: SignedUp, address_id: str, **kw: Any
) -> Any:
    return await ok(
        await client.post(
            f"{laundry.shop}/bookings", headers=customer.headers, json=booking_body(laundry, address_id, **kw)
        ),
        201,
    )


def uid(value: str) -> uuid.UUID:
    return uuid.UUID(value)


async def scalar(session: AsyncSession, query: str, **params: Any) -> Any:
    return (await session.execute(text(query), params)).scalar()
