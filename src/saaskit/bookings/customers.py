"""Customers' side: their addresses (one default per customer and organization) and their
loyalty counts. Runs in the customer's own context: RLS shows them only their rows."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.bookings.models import LoyaltyReward, Service, UserAddress
from saaskit.bookings.schemas import AddressIn, LoyaltyOut
from saaskit.kit.errors import NotFound, Unprocessable


async def check_shop(session: AsyncSession, org_id: uuid.UUID) -> None:
    """404 unless the organization sells something (its live, active catalog is public)."""
    found = await session.scalar(
        select(Service.id)
        .where(Service.organization_id == org_id, Service.deleted_at.is_(None), Service.is_active)
        .limit(1)
    )
    if found is None:
        raise NotFound("no such organization (or it sells nothing yet)", field="org_id")


def _check_coordinates(coordinates: list[float] | None, field: str) -> None:
    if coordinates is None:
        return
    latitude, longitude = coordinates
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise Unprocessable(f"{field}: [latitude -90..90, longitude -180..180]", field=field)


async def list_addresses(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID) -> list[UserAddress]:
    rows = await session.scalars(
        select(UserAddress)
        .where(
            UserAddress.organization_id == org_id,
            UserAddress.user_id == user_id,
            UserAddress.deleted_at.is_(None),
        )
        .order_by(UserAddress.is_default.desc(), UserAddress.created_at)
    )
    return list(rows)


async def _clear_default(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID) -> None:
    await session.execute(
        update(UserAddress)
        .where(UserAddress.organization_id == org_id, UserAddress.user_id == user_id, UserAddress.is_default)
        .values(is_default=False)
    )


async def add_address(
    session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID, body: AddressIn
) -> UserAddress:
    _check_coordinates(body.coordinates, "coordinates")
    existing = await list_addresses(session, org_id, user_id)
    is_default = body.is_default or not existing  # a customer's first address is their default
    if is_default:
        await _clear_default(session, org_id, user_id)
    row = UserAddress(
        organization_id=org_id, user_id=user_id, **{**body.model_dump(), "is_default": is_default}
    )
    session.add(row)
    await session.flush()
    return row


async def own_address(
    session: AsyncSession,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    address_id: uuid.UUID,
    *,
    field: str = "address_id",
) -> UserAddress:
    """The customer's own live address in this organization; another's (or none) is refused
    alike, so that ids of other customers' addresses reveal nothing."""
    row = await session.scalar(
        select(UserAddress).where(
            UserAddress.id == address_id,
            UserAddress.organization_id == org_id,
            UserAddress.user_id == user_id,
            UserAddress.deleted_at.is_(None),
        )
    )
    if row is None:
        raise Unprocessable(f"{field}: not one of your addresses", field=field, code="unknown_address")
    return row


async def make_default(
    session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID, address_id: uuid.UUID
) -> UserAddress:
    row = await own_address(session, org_id, user_id, address_id)
    await _clear_default(session, org_id, user_id)
    row.is_default = True
    await session.flush()
    return row


async def remove_address(
    session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID, address_id: uuid.UUID
) -> None:
    row = await own_address(session, org_id, user_id, address_id)
    row.deleted_at = await session.scalar(select(func.now()))
    row.is_default = False
    await session.flush()


async def loyalty_of(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID, every: int) -> LoyaltyOut:
    row = await session.scalar(
        select(LoyaltyReward).where(LoyaltyReward.organization_id == org_id, LoyaltyReward.user_id == user_id)
    )
    earned, used = (row.free_collections_earned, row.free_collections_used) if row else (0, 0)
    return LoyaltyOut(
        completed_orders=row.completed_orders if row else 0,
        free_collections_earned=earned,
        free_collections_used=used,
        free_collections_available=earned - used,
        every_orders=every,
    )
