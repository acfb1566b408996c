"""Teams and team members under ``/api/orgs/{org_id}/teams``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from saaskit.access.dependencies import OrgRequest, org_access
from saaskit.accounts.models import User
from saaskit.kit.deps import DbSession
from saaskit.kit.pagination import CursorParam, LimitParam, Page
from saaskit.tenancy import teams
from saaskit.tenancy.models import TeamMember
from saaskit.tenancy.schemas import TeamIn, TeamMemberIn, TeamMemberOut, TeamMemberUpdate, TeamOut, TeamUpdate

router = APIRouter(prefix="/api/orgs/{org_id}/teams", tags=["teams"])

Read = Annotated[OrgRequest, Depends(org_access("teams:read"))]
Write = Annotated[OrgRequest, Depends(org_access("teams:write"))]
Manage = Annotated[OrgRequest, Depends(org_access("teams:write", "team:manage"))]


@router.get("", response_model=Page[TeamOut], summary="Teams (secret ones only for their members)")
async def list_teams(
    session: DbSession,
    org: Read,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
    include_archived: bool = False,
    privacy_level: Annotated[str | None, Query(pattern="^(public|private|secret)$")] = None,
    search: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[TeamOut]:
    rows, next_cursor = await teams.list_teams(
        session,
        org.access,
        include_archived=include_archived,
        privacy_level=privacy_level,
        search=search,
        limit=limit,
        cursor=cursor,
    )
    return Page[TeamOut](items=[TeamOut.model_validate(t) for t in rows], next_cursor=next_cursor)


@router.post("", status_code=201, response_model=TeamOut, summary="Create a team")
async def create_team(body: TeamIn, session: DbSession, org: Write) -> TeamOut:
    return TeamOut.model_validate(await teams.create(session, org.access, org.actor, body))


@router.get("/{team_id}", response_model=TeamOut, summary="One team")
async def get_team(team_id: uuid.UUID, session: DbSession, org: Read) -> TeamOut:
    return TeamOut.model_validate(await teams.get_visible(session, org.access, team_id))


@router.patch("/{team_id}", response_model=TeamOut, summary="Change a team")
async def update_team(team_id: uuid.UUID, body: TeamUpdate, session: DbSession, org: Manage) -> TeamOut:
    return TeamOut.model_validate(await teams.update(session, org.access, org.actor, team_id, body))


@router.post("/{team_id}/archive", response_model=TeamOut, summary="Archive a team")
async def archive_team(team_id: uuid.UUID, session: DbSession, org: Manage) -> TeamOut:
    return TeamOut.model_validate(await teams.set_archived(session, org.access, org.actor, team_id, True))


@router.post("/{team_id}/unarchive", response_model=TeamOut, summary="Unarchive a team")
async def unarchive_team(team_id: uuid.UUID, session: DbSession, org: Manage) -> TeamOut:
    return TeamOut.model_validate(await teams.set_archived(session, org.access, org.actor, team_id, False))


@router.delete("/{team_id}", status_code=204, summary="Delete a team")
async def delete_team(team_id: uuid.UUID, session: DbSession, org: Write) -> Response:
    await teams.delete(session, org.access, org.actor, team_id)
    return Response(status_code=204)


def _member_out(member: TeamMember, user: User) -> TeamMemberOut:
    return TeamMemberOut(
        user_id=member.user_id,
        email=user.email,
        name=user.name,
        role=member.role,
        added_by=member.added_by,
        joined_at=member.joined_at,
    )


@router.get("/{team_id}/members", response_model=list[TeamMemberOut], summary="Team members")
async def list_team_members(team_id: uuid.UUID, session: DbSession, org: Read) -> list[TeamMemberOut]:
    return [_member_out(m, u) for m, u in await teams.list_members(session, org.access, team_id)]


@router.post("/{team_id}/members", status_code=201, response_model=TeamMemberOut, summary="Add a team member")
async def add_team_member(
    team_id: uuid.UUID, body: TeamMemberIn, session: DbSession, org: Manage
) -> TeamMemberOut:
    member = await teams.add_member(session, org.access, org.actor, team_id, body.user_id, body.role)
    return _member_out(member, await session.get_one(User, body.user_id))


@router.patch("/{team_id}/members/{user_id}", response_model=TeamMemberOut, summary="Change a team role")
async def change_team_member(
    team_id: uuid.UUID, user_id: uuid.UUID, body: TeamMemberUpdate, session: DbSession, org: Manage
) -> TeamMemberOut:
    member = await teams.change_member_role(session, org.access, org.actor, team_id, user_id, body.role)
    return _member_out(member, await session.get_one(User, user_id))


@router.delete(
    "/{team_id}/members/{user_id}", status_code=204, summary="Remove from the team (keeps left_at)"
)
async def remove_team_member(
    team_id: uuid.UUID, user_id: uuid.UUID, session: DbSession, org: Manage
) -> Response:
    await teams.remove_member(session, org.access, org.actor, team_id, user_id)
    return Response(status_code=204)
