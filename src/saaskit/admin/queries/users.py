"""Users: the searchable list and everything one user's page shows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts.models import User, UserProfile, UserSession
from saaskit.admin.queries.common import contains_pattern, newest
from saaskit.audit.models import Activity
from saaskit.billing.models import Invoice, PaymentTransaction, Subscription
from saaskit.devices.models import Dashboard
from saaskit.kit.errors import NotFound
from saaskit.kit.pagination import keyset_page
from saaskit.tenancy.models import Organization, OrganizationMember
from saaskit.tracking.models import ActivityEvent

STATUSES = ("active", "suspended", "banned")
# Activity shown on a user's page: the last 90 days only, so the partitioned table is pruned.
ACTIVITY_DAYS = 90


@dataclass(frozen=True)
class UserFilters:
    q: str | None = None
    tier: str | None = None
    status: str | None = None
    country: str | None = None
    active_now: bool = False

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.q:
            pattern = contains_pattern(self.q)
            query = query.where(
                or_(User.email.like(pattern, escape="\\"), func.lower(User.name).like(pattern, escape="\\"))
            )
        if self.tier:
            query = query.where(User.tier == self.tier)
        if self.status:
            query = query.where(User.status == self.status)
        if self.country:
            query = query.where(User.country_code == self.country.upper())
        if self.active_now:
            query = query.where(User.is_currently_active.is_(True))
        return query


async def list_users(
    session: AsyncSession, filters: UserFilters, *, limit: int, cursor: str | None
) -> tuple[list[User], str | None]:
    query = filters.apply(select(User).where(User.deleted_at.is_(None)))
    return await keyset_page(
        session, query, created_at=User.created_at, row_id=User.id, limit=limit, cursor=cursor
    )


async def tiers(session: AsyncSession) -> list[str]:
    """Tier names for the filter: the plans' tiers plus free (a small table, not users)."""
    from saaskit.billing.models import SubscriptionPlan

    names = set(await session.scalars(select(SubscriptionPlan.tier).distinct()))
    return sorted(names | {"free"})


@dataclass
class UserPage:
    user: User
    profile: UserProfile | None
    dashboards: list[Dashboard]
    sessions: list[UserSession]
    activity: list[ActivityEvent]
    subscriptions: list[Subscription]
    invoices: list[Invoice]
    transactions: list[PaymentTransaction]
    audit: list[Activity]
    memberships: list[tuple[OrganizationMember, Organization]] = field(default_factory=list)


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise NotFound("There is no user with this id.", field="user_id")
    return user


async def user_page(session: AsyncSession, user_id: uuid.UUID) -> UserPage:
    user = await get_user(session, user_id)
    since = datetime.now(UTC) - timedelta(days=ACTIVITY_DAYS)
    profile = await session.scalar(select(UserProfile).where(UserProfile.user_id == user_id))
    dashboards = await newest(
        session, Dashboard, Dashboard.user_id == user_id, Dashboard.deleted_at.is_(None), limit=50
    )
    sessions = await newest(
        session, UserSession, UserSession.user_id == user_id, by=UserSession.started_at, limit=20
    )
    activity = await newest(
        session, ActivityEvent, ActivityEvent.user_id == user_id, ActivityEvent.created_at >= since, limit=30
    )
    subscriptions = await newest(session, Subscription, Subscription.user_id == user_id, limit=10)
    invoices = await newest(session, Invoice, Invoice.user_id == user_id, limit=20)
    transactions = await newest(session, PaymentTransaction, PaymentTransaction.user_id == user_id, limit=20)
    audit = await newest(
        session,
        Activity,
        Activity.entity_type.in_(("user", "member")),
        Activity.entity_id == user_id,
        limit=30,
    )
    memberships = await session.execute(
        select(OrganizationMember, Organization)
        .join(Organization, Organization.id == OrganizationMember.organization_id)
        .where(OrganizationMember.user_id == user_id)
        .order_by(Organization.name)
        .limit(50)
    )
    return UserPage(
        user=user,
        profile=profile,
        dashboards=dashboards,
        sessions=sessions,
        activity=activity,
        subscriptions=subscriptions,
        invoices=invoices,
        transactions=transactions,
        audit=audit,
        memberships=[(m, o) for m, o in memberships.all()],
    )


async def live_session_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(UserSession)
        .where(
            UserSession.user_id == user_id,
            UserSession.session_type == "sign_in",
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > func.now(),
        )
    )
    return int(count or 0)
