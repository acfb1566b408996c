"""Organizations: the list and one organization's page."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts.models import User
from saaskit.admin.queries.common import contains_pattern, newest
from saaskit.audit.models import Activity
from saaskit.billing.models import Invoice, Subscription, UsageRecord
from saaskit.integrations import service as integrations
from saaskit.integrations.models import Integration
from saaskit.kit.errors import NotFound
from saaskit.kit.pagination import keyset_page
from saaskit.tenancy.models import Organization, OrganizationMember, Team, TeamMember, Workspace

STATES = ("active", "archived", "deleted")
USAGE_DAYS = 30


async def list_orgs(
    session: AsyncSession, *, q: str | None, state: str | None, limit: int, cursor: str | None
) -> tuple[list[tuple[Organization, int, Subscription | None]], str | None]:
    members = (
        select(func.count())
        .select_from(OrganizationMember)
        .where(OrganizationMember.organization_id == Organization.id, OrganizationMember.is_active.is_(True))
        .scalar_subquery()
    )
    query: Any = select(Organization, members.label("members"), Subscription).outerjoin(
        Subscription, Subscription.id == Organization.subscription_id
    )
    if q:
        pattern = contains_pattern(q)
        query = query.where(
            or_(
                func.lower(Organization.name).like(pattern, escape="\\"),
                Organization.slug.like(pattern, escape="\\"),
            )
        )
    if state == "deleted":
        query = query.where(Organization.deleted_at.is_not(None))
    elif state == "archived":
        query = query.where(Organization.deleted_at.is_(None), Organization.archived_at.is_not(None))
    elif state == "active":
        query = query.where(Organization.deleted_at.is_(None), Organization.archived_at.is_(None))
    rows, next_cursor = await keyset_page(
        session, query, created_at=Organization.created_at, row_id=Organization.id, limit=limit, cursor=cursor
    )
    return [(org, int(count), sub) for org, count, sub in rows], next_cursor


@dataclass
class OrgPage:
    org: Organization
    members: list[tuple[OrganizationMember, User]]
    teams: list[tuple[Team, int]]
    workspaces: list[Workspace]
    subscriptions: list[Subscription]
    invoices: list[Invoice]
    usage: list[tuple[str, int]]
    audit: list[Activity]
    integrations: list[Integration]


async def org_page(session: AsyncSession, organization_id: uuid.UUID) -> OrgPage:
    org = await session.get(Organization, organization_id)
    if org is None:
        raise NotFound("There is no organization with this id.", field="organization_id")
    members = await session.execute(
        select(OrganizationMember, User)
        .join(User, User.id == OrganizationMember.user_id)
        .where(OrganizationMember.organization_id == organization_id)
        .order_by(OrganizationMember.is_active.desc(), OrganizationMember.joined_at)
        .limit(200)
    )
    team_size = (
        select(func.count())
        .select_from(TeamMember)
        .where(TeamMember.team_id == Team.id, TeamMember.left_at.is_(None))
        .scalar_subquery()
    )
    teams = await session.execute(
        select(Team, team_size).where(Team.organization_id == organization_id).order_by(Team.name).limit(200)
    )
    workspaces = await session.scalars(
        select(Workspace)
        .where(Workspace.organization_id == organization_id)
        .order_by(Workspace.name)
        .limit(200)
    )
    subscriptions = await newest(
        session, Subscription, Subscription.organization_id == organization_id, limit=10
    )
    invoices = await newest(session, Invoice, Invoice.organization_id == organization_id, limit=10)
    since = datetime.now(UTC) - timedelta(days=USAGE_DAYS)
    usage = await session.execute(
        select(UsageRecord.metric_name, func.sum(UsageRecord.quantity))
        .where(UsageRecord.organization_id == organization_id, UsageRecord.recorded_at >= since)
        .group_by(UsageRecord.metric_name)
        .order_by(UsageRecord.metric_name)
    )
    audit = await newest(session, Activity, Activity.organization_id == organization_id, limit=20)
    connected = await integrations.list_integrations(session, organization_id, include_disconnected=True)
    return OrgPage(
        org=org,
        members=[(m, u) for m, u in members.all()],
        teams=[(t, int(n)) for t, n in teams.all()],
        workspaces=list(workspaces),
        subscriptions=subscriptions,
        invoices=invoices,
        usage=[(name, int(total or 0)) for name, total in usage.all()],
        audit=audit,
        integrations=connected[:50],
    )
