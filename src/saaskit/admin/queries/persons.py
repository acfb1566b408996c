"""Persons (PostHog's, per organization): the searchable list and one person's page: their
distinct ids, properties, groups, the saaskit user they are linked to, and their recent events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts.models import User
from saaskit.admin.queries.common import contains_pattern
from saaskit.admin.queries.flags import with_organization
from saaskit.flags.models import Person, PersonDistinctId, PersonGroup
from saaskit.kit.pagination import keyset_page
from saaskit.tenancy.models import Organization, OrganizationMember
from saaskit.tracking.models import Event, TrackingIdentity

# A person's events: the last 90 days of the organization's events (its index on
# organization_id, timestamp; partitions pruned), newest 50.
EVENT_DAYS = 90
EVENT_LIMIT = 50
IDS_LIMIT = 200


async def list_persons(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID | None,
    q: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[tuple[Person, Organization, str | None, int]], str | None]:
    """Persons newest first, each with one distinct id (the oldest) and how many they have."""
    first_id = (
        select(PersonDistinctId.distinct_id)
        .where(PersonDistinctId.person_id == Person.id)
        .order_by(PersonDistinctId.created_at, PersonDistinctId.distinct_id)
        .limit(1)
        .scalar_subquery()
    )
    id_count = (
        select(func.count()).select_from(PersonDistinctId).where(PersonDistinctId.person_id == Person.id)
    ).scalar_subquery()
    query: Any = select(Person, Organization, first_id, id_count).join(
        Organization, Organization.id == Person.organization_id
    )
    if organization_id is not None:
        query = query.where(Person.organization_id == organization_id)
    if q:
        pattern = contains_pattern(q)
        matching_ids = select(PersonDistinctId.person_id).where(
            func.lower(PersonDistinctId.distinct_id).like(pattern, escape="\\")
        )
        if organization_id is not None:
            matching_ids = matching_ids.where(PersonDistinctId.organization_id == organization_id)
        query = query.where(
            or_(
                Person.id.in_(matching_ids),
                func.lower(cast(Person.properties, String)).like(pattern, escape="\\"),
            )
        )
    rows, next_cursor = await keyset_page(
        session, query, created_at=Person.created_at, row_id=Person.id, limit=limit, cursor=cursor
    )
    return [(p, org, first, int(n)) for p, org, first, n in rows], next_cursor


@dataclass
class PersonPage:
    person: Person
    org: Organization
    distinct_ids: list[PersonDistinctId]
    users: list[tuple[User, str]]  # the linked saaskit users, and how
    groups: list[PersonGroup]
    events: list[Event]


def _group_keys(events: list[Event]) -> set[tuple[str, str]]:
    """The (type, key) of the groups the person's events name (``$groups``)."""
    found: set[tuple[str, str]] = set()
    for event in events:
        groups = (event.properties or {}).get("$groups")
        if isinstance(groups, dict):
            found.update((str(t), str(k)) for t, k in groups.items() if k not in (None, ""))
    return found


async def person_page(session: AsyncSession, person_id: uuid.UUID) -> PersonPage:
    person, org = await with_organization(session, Person, person_id, "person", "person_id")
    distinct_ids = list(
        await session.scalars(
            select(PersonDistinctId)
            .where(PersonDistinctId.person_id == person_id)
            .order_by(PersonDistinctId.created_at, PersonDistinctId.distinct_id)
            .limit(IDS_LIMIT)
        )
    )
    ids = [d.distinct_id for d in distinct_ids]
    since = datetime.now(UTC) - timedelta(days=EVENT_DAYS)
    events = list(
        await session.scalars(
            select(Event)
            .where(Event.organization_id == org.id, Event.timestamp >= since, Event.distinct_id.in_(ids))
            .order_by(Event.timestamp.desc())
            .limit(EVENT_LIMIT)
        )
    )
    return PersonPage(
        person=person,
        org=org,
        distinct_ids=distinct_ids,
        users=await _linked_users(session, org.id, ids),
        groups=await _groups(session, org.id, _group_keys(events)),
        events=events,
    )


async def _linked_users(
    session: AsyncSession, organization_id: uuid.UUID, ids: list[str]
) -> list[tuple[User, str]]:
    """Users linked by an identified e-mail or id (``tracking_identities``), or members whose
    user id is one of the distinct ids (what saaskit's own apps send)."""
    linked = await session.execute(
        select(User, TrackingIdentity.distinct_id)
        .join(TrackingIdentity, TrackingIdentity.user_id == User.id)
        .where(TrackingIdentity.organization_id == organization_id, TrackingIdentity.distinct_id.in_(ids))
    )
    found: dict[uuid.UUID, tuple[User, str]] = {u.id: (u, f"identified as {d}") for u, d in linked.all()}
    as_uuids = []
    for value in ids:
        try:
            as_uuids.append(uuid.UUID(value))
        except ValueError:
            continue
    if as_uuids:
        members = await session.scalars(
            select(User)
            .join(OrganizationMember, OrganizationMember.user_id == User.id)
            .where(OrganizationMember.organization_id == organization_id, User.id.in_(as_uuids))
        )
        for user in members:
            found.setdefault(user.id, (user, "distinct id is the member's user id"))
    return list(found.values())


async def _groups(
    session: AsyncSession, organization_id: uuid.UUID, keys: set[tuple[str, str]]
) -> list[PersonGroup]:
    if not keys:
        return []
    rows = await session.scalars(
        select(PersonGroup)
        .where(
            PersonGroup.organization_id == organization_id,
            PersonGroup.group_type.in_({t for t, _ in keys}),
            PersonGroup.group_key.in_({k for _, k in keys}),
        )
        .order_by(PersonGroup.group_type, PersonGroup.group_key)
        .limit(50)
    )
    return [g for g in rows if (g.group_type, g.group_key) in keys]
