"""Teams and their members. Team leads manage their own team; ``teams:write`` manages any."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.access.service import Access
from saaskit.accounts.models import User
from saaskit.audit import service as audit
from saaskit.audit.service import Actor
from saaskit.kit.errors import Conflict, NotFound, Unprocessable
from saaskit.kit.pagination import keyset_page
from saaskit.tenancy.models import OrganizationMember, Team, TeamMember
from saaskit.tenancy.schemas import TeamIn, TeamUpdate

FIELDS = ("name", "description", "privacy_level", "settings")


def _snapshot(team: Team) -> dict[str, Any]:
    return {f: getattr(team, f) for f in FIELDS}


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
    await audit.record(
        session,
        actor,
        organization_id=access.organization_id,
        action="team.created",
        entity_type="team",
        entity_id=team.id,
        entity_name=team.name,
        description=f"Created team {team.name}.",
        metadata={"privacy_level": team.privacy_level},
    )
    return team


async def update(
    session: AsyncSession, access: Access, actor: Actor, team_id: uuid.UUID, data: TeamUpdate
) -> Team:
    team = await get_visible(session, access, team_id)
    before = _snapshot(team)
    for name, value in data.model_dump(exclude_unset=True).items():
        if value is not None or name == "description":
            setattr(team, name, value)
    await session.flush()
    diff = audit.changes(before, _snapshot(team))
    if diff:
        await audit.record(
            session,
            actor,
            organization_id=access.organization_id,
            action="team.updated",
            entity_type="team",
            entity_id=team.id,
            entity_name=team.name,
            description=f"Changed {', '.join(sorted(diff))} of team {team.name}.",
            metadata={"changes": diff},
        )
    return team


async def set_archived(
    session: AsyncSession, access: Access, actor: Actor, team_id: uuid.UUID, archived: bool
) -> Team:
    team = await get_visible(session, access, team_id)
    if (team.archived_at is not None) != archived:
        team.archived_at = func.now() if archived else None
        await session.flush()
        await session.refresh(team)
        verb = "archived" if archived else "unarchived"
        await audit.record(
            session,
            actor,
            organization_id=access.organization_id,
            action=f"team.{verb}",
            entity_type="team",
            entity_id=team.id,
            entity_name=team.name,
            description=f"{verb.capitalize()} team {team.name}.",
        )
    return team


async def delete(session: AsyncSession, access: Access, actor: Actor, team_id: uuid.UUID) -> None:
    team = await get_visible(session, access, team_id)
    await session.delete(team)
    await session.flush()
    await audit.record(
        session,
        actor,
        organization_id=access.organization_id,
        action="team.deleted",
        entity_type="team",
        entity_id=team_id,
        entity_name=team.name,
        description=f"Deleted team {team.name}.",
    )


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
        raise Unprocessable("user_id: only members of the organization can join its teams", field="user_id")
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
    session.add(member)
    await session.flush()
    await audit.record(
        session,
        actor,
        organization_id=access.organization_id,
        action="team.member_added",
        entity_type="team",
        entity_id=team.id,
        entity_name=team.name,
        description=f"Added {email} to team {team.name} as {role}.",
        metadata={"user_id": str(user_id), "role": role},
    )
    return member


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
    if member.role != role:
        before = member.role
        member.role = role
        await session.flush()
        await audit.record(
            session,
            actor,
            organization_id=access.organization_id,
            action="team.member_role_changed",
            entity_type="team",
            entity_id=team.id,
            entity_name=team.name,
            description=f"Changed a member's team role from {before} to {role}.",
            metadata={"user_id": str(user_id), "changes": {"role": {"from": before, "to": role}}},
        )
    return member


async def remove_member(
    session: AsyncSession, access: Access, actor: Actor, team_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    team = await get_visible(session, access, team_id)
    member = await _active_membership(session, team_id, user_id)
    member.left_at = func.now()
    await session.flush()
    await audit.record(
        session,
        actor,
        organization_id=access.organization_id,
        action="team.member_removed",
        entity_type="team",
        entity_id=team.id,
        entity_name=team.name,
        description=f"Removed a member from team {team.name}.",
        metadata={"user_id": str(user_id)},
    )
