"""Who pays: a user (personal billing) or an organization, and their Stripe customer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts.models import User
from saaskit.billing.models.webhooks import StripeWebhookEvent
from saaskit.billing.stripe_client import gateway
from saaskit.kit.errors import NotFound
from saaskit.kit.state import Runtime
from saaskit.tenancy.models import Organization


@dataclass(frozen=True)
class Owner:
    user_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None

    def __post_init__(self) -> None:
        assert (self.user_id is None) != (self.organization_id is None), "exactly one owner"

    @property
    def columns(self) -> dict[str, uuid.UUID | None]:
        return {"user_id": self.user_id, "organization_id": self.organization_id}

    def matches(self, model: Any) -> ColumnElement[bool]:
        if self.user_id is not None:
            return model.user_id == self.user_id  # type: ignore[no-any-return]
        return model.organization_id == self.organization_id  # type: ignore[no-any-return]

    @property
    def metadata(self) -> dict[str, str]:
        """Written on Stripe objects so that webhooks find their way back."""
        if self.user_id is not None:
            return {"saaskit_user_id": str(self.user_id)}
        return {"saaskit_organization_id": str(self.organization_id)}


class CustomerNotLinked(Exception):
    """An event names a Stripe customer saaskit cannot link to an owner (yet): retried later."""


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


async def customer_of(session: AsyncSession, owner: Owner) -> str | None:
    if owner.user_id is not None:
        return await session.scalar(select(User.stripe_customer_id).where(User.id == owner.user_id))
    return await session.scalar(
        select(Organization.stripe_customer_id).where(Organization.id == owner.organization_id)
    )


async def _link(session: AsyncSession, owner: Owner, customer_id: str) -> str | None:
    """Store the customer id if the owner has none; returns the id the owner ends up with."""
    if owner.user_id is not None:
        await session.execute(
            update(User)
            .where(User.id == owner.user_id, User.stripe_customer_id.is_(None))
            .values(stripe_customer_id=customer_id)
        )
    else:
        await session.execute(
            update(Organization)
            .where(Organization.id == owner.organization_id, Organization.stripe_customer_id.is_(None))
            .values(stripe_customer_id=customer_id)
        )
    return await customer_of(session, owner)


async def ensure_customer(session: AsyncSession, runtime: Runtime, owner: Owner) -> str:
    """The owner's Stripe customer, created at Stripe (idempotently) when missing."""
    existing = await customer_of(session, owner)
    if existing:
        return existing
    email: str | None
    name: str | None
    if owner.user_id is not None:
        user = await session.get(User, owner.user_id)
        if user is None:
            raise NotFound("no such user")
        email, name = user.email, user.name
    else:
        org = await session.get(Organization, owner.organization_id)
        if org is None:
            raise NotFound("no such organization", field="org_id")
        email, name = org.billing_email, org.name
    customer = await gateway(runtime).create_customer(email=email, name=name, metadata=owner.metadata)
    linked = await _link(session, owner, customer["id"])
    return linked or customer["id"]


async def owner_for_customer(
    session: AsyncSession, customer_id: str | None, metadata: Any = None
) -> Owner | None:
    """The owner whose customer this is; links it from saaskit's metadata when not yet stored."""
    if customer_id:
        user_id = await session.scalar(select(User.id).where(User.stripe_customer_id == customer_id))
        if user_id is not None:
            return Owner(user_id=user_id)
        org_id = await session.scalar(
            select(Organization.id).where(Organization.stripe_customer_id == customer_id)
        )
        if org_id is not None:
            return Owner(organization_id=org_id)
    meta = metadata if isinstance(metadata, dict) else {}
    user_id = _uuid(meta.get("saaskit_user_id"))
    org_id = _uuid(meta.get("saaskit_organization_id"))
    owner: Owner | None = None
    if user_id is not None and await session.get(User, user_id) is not None:
        owner = Owner(user_id=user_id)
    elif org_id is not None and await session.get(Organization, org_id) is not None:
        owner = Owner(organization_id=org_id)
    if owner is not None and customer_id:
        if await _deleted_at_stripe(session, customer_id):
            # A late customer.created/updated must not bring back a link customer.deleted removed.
            return owner
        await _link(session, owner, customer_id)
    return owner


async def _deleted_at_stripe(session: AsyncSession, customer_id: str) -> bool:
    found = await session.scalar(
        select(StripeWebhookEvent.id)
        .where(
            StripeWebhookEvent.event_type == "customer.deleted",
            StripeWebhookEvent.event_data["data"]["object"]["id"].astext == customer_id,
        )
        .limit(1)
    )
    return found is not None
