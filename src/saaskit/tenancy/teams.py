"""Teams and their members. Team leads manage their own team; ``teams:write`` manages any."""

from __future__ import annotations

import uuid

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.access.service import Access
from saaskit.accounts.models import User
from saaskit.audit.service import Actor
from saaskit.kit.errors import Conflict, NotFound
from saaskit.kit.pagination import keyset_page
from saaskit.tenancy import audited
from saaskit.tenancy.models import OrganizationMember, Team, TeamMember
from saaskit.tenancy.schemas import TeamIn, TeamUpdate

KIND = audited.Kind(
    "team", fields=("name", "description", "privacy_level", "settings"), clearable="description"
)


async def _member_team_ids(session: AsyncSession, access: Access) -> list[uuid.UUID]:
    rows = await session.scalars(
        select(TeamMember.team_id).where(TeamMember.user_id == access.user_id, TeamMember.left_at.is_(None))
    )
    return list(rows)


async def list_teams(
    session: AsyncSession,
    access: Access,
    *,
    include_archived: bool,
    privacy_level: str | None,
    search: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Team], str | None]:
    query = select(Team).where(Team.organization_id == access.organization_id)
    if not access.can("teams:write"):
        # Secret teams are visible to their members only.
        mine = await _member_team_ids(session, access)
        query = query.where(or_(Team.privacy_level != "secret", Team.id.in_(mine)))
    if not include_archived:
        query = query.where(Team.archived_at.is_(None))
    if privacy_level:
        query = query.where(Team.privacy_level == privacy_level)
    if search:
        query = query.where(Team.name.ilike(f"%{search}%"))
    return await keyset_page(
        session, query, created_at=Team.created_at, row_id=Team.id, limit=limit, cursor=cursor
    )


async def get_visible(session: AsyncSession, access: Access, team_id: uuid.UUID) -> Team:
    team = await session.get(Team, team_id)
    if team is None or team.organization_id != access.organization_id:
        raise NotFound("no such team", field="team_id")
    if (
        team.privacy_level == "secret"
        and not access.can("teams:write")
        and team_id not in await _member_team_ids(session, access)
    ):
        raise NotFound("no such team", field="team_id")
    return team


def can_see_members(access: Access, team: Team, member_team_ids: list[uuid.UUID]) -> bool:
    return team.privacy_level == "public" or access.can("teams:write") or team.id in member_team_ids


async def create(session: AsyncSession, access: Access, actor: Actor, data: TeamIn) -> Team:
    team = Team(organization_id=access.organization_id, created_by=access.user_id, **data.model_dump())
    session.add(team)
    await session.flush()
    await audited.record(
        session,
        actor,
        KIND,
        team,
        "created",
        f"Created team {team.name}.",
        {"privacy_level": team.privacy_level},
    )
    return team


async def update(
    session: AsyncSession, access: Access, actor: Actor, team_id: uuid.UUID, data: TeamUpdate
) -> Team:
    team = await get_visible(session, access, team_id)
    return await audited.update(session, actor, KIND, team, data.model_dump(exclude_unset=True))


async def set_archived(
    session: AsyncSession, access: Access, actor: Actor, team_id: uuid.UUID, archived: bool
) -> Team:
    team = await get_visible(session, access, team_id)
    return await audited.set_archived(session, actor, KIND, team, archived)


async def delete(session: AsyncSession, access: Access, actor: Actor, team_id: uuid.UUID) -> None:
    team = await get_visible(session, access, team_id)
    await audited.delete(session, actor, KIND, team)


async def list_members(
    session: AsyncSession, access: Access, team_id: uuid.UUID
) -> list[tuple[TeamMember, User]]:
    team = await get_visible(session, access, team_id)
    if not can_see_members(access, team, await _member_team_ids(session, access)):
        raise NotFound("no such team", field="team_id")
    rows = await session.execute(
        select(TeamMember, User)
        .join(User, User.id == TeamMember.user_id)
        .where(TeamMember.team_id == team_id, TeamMember.left_at.is_(None))
        .order_by(TeamMember.joined_at, TeamMember.id)
    )
    return [(m, u) for m, u in rows.all()]


async def _require_org_member(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID) -> str:
    email = await session.scalar(
        select(User.email)
        .join(OrganizationMember, OrganizationMember.user_id == User.id)
        .where(
            OrganizationMember.organization_id == organization_id,
            OrganizationMember.user_id == user_id,
            OrganizationMember.is_active.is_(True),
        )
    )
    if email is None:
        raise NotFound("no such member in this organization", field="user_id")
    return str(email)


async def add_member(
    session: AsyncSession, access: Access, actor: Actor, team_id: uuid.UUID, user_id: uuid.UUID, role: str
) -> TeamMember:
    team = await get_visible(session, access, team_id)
    email = await _require_org_member(session, access.organization_id, user_id)
    existing = await session.scalar(
        select(TeamMember.id).where(
            TeamMember.team_id == team_id, TeamMember.user_id == user_id, TeamMember.left_at.is_(None)
        )
    )
    if existing is not None:
        raise Conflict("already a member of this team", field="user_id", code="already_member")
    member = TeamMember(
        organization_id=access.organization_id,
        team_id=team_id,
        user_id=user_id,
        role=role,
        added_by=access.user_id,
    )
    return await audited.add_member(
        session, actor, KIND, team, member, f"Added {email} to team {team.name} as {role}."
    )


async def _active_membership(session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID) -> TeamMember:
    member = await session.scalar(
        select(TeamMember).where(
            TeamMember.team_id == team_id, TeamMember.user_id == user_id, TeamMember.left_at.is_(None)
        )
    )
    if member is None:
        raise NotFound("no such team member", field="user_id")
    return member


async def change_member_role(
    session: AsyncSession, access: Access, actor: Actor, team_id: uuid.UUID, user_id: uuid.UUID, role: str
) -> TeamMember:
    team = await get_visible(session, access, team_id)
    member = await _active_membership(session, team_id, user_id)
    return await audited.set_member_role(session, actor, KIND, team, member, role)


async def remove_member(
    session: AsyncSession, access: Access, actor: Actor, team_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    team = await get_visible(session, access, team_id)
    member = await _active_membership(session, team_id, user_id)
    member.left_at = func.now()
    await audited.member_removed(session, actor, KIND, team, member)
