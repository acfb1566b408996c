"""Workspaces and workspace members under ``/api/orgs/{org_id}/workspaces``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from saaskit.access.dependencies import OrgRequest, org_access
from saaskit.accounts.models import User
from saaskit.kit.deps import DbSession
from saaskit.kit.pagination import CursorParam, LimitParam, Page
from saaskit.tenancy import workspaces
from saaskit.tenancy.models import WorkspaceMember
from saaskit.tenancy.schemas import (
    WorkspaceIn,
    WorkspaceMemberIn,
    WorkspaceMemberOut,
    WorkspaceMemberUpdate,
    WorkspaceOut,
    WorkspaceUpdate,
)

router = APIRouter(prefix="/api/orgs/{org_id}/workspaces", tags=["workspaces"])

Read = Annotated[OrgRequest, Depends(org_access("workspaces:read", "workspace:read"))]
Create = Annotated[OrgRequest, Depends(org_access("workspaces:create", "workspaces:write"))]
Manage = Annotated[OrgRequest, Depends(org_access("workspaces:write", "workspace:manage"))]


@router.get("", response_model=Page[WorkspaceOut], summary="Workspaces visible to me")
async def list_workspaces(
    session: DbSession,
    org: Read,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
    team_id: uuid.UUID | None = None,
    include_archived: bool = False,
    search: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[WorkspaceOut]:
    rows, next_cursor = await workspaces.list_workspaces(
        session,
        org.access,
        team_id=team_id,
        include_archived=include_archived,
        search=search,
        limit=limit,
        cursor=cursor,
    )
    return Page[WorkspaceOut](items=[WorkspaceOut.model_validate(w) for w in rows], next_cursor=next_cursor)


@router.post(
    "", status_code=201, response_model=WorkspaceOut, summary="Create a workspace (you administer it)"
)
async def create_workspace(body: WorkspaceIn, session: DbSession, org: Create) -> WorkspaceOut:
    return WorkspaceOut.model_validate(await workspaces.create(session, org.access, org.actor, body))


@router.get("/{workspace_id}", response_model=WorkspaceOut, summary="One workspace")
async def get_workspace(workspace_id: uuid.UUID, session: DbSession, org: Read) -> WorkspaceOut:
    return WorkspaceOut.model_validate(await workspaces.get_visible(session, org.access, workspace_id))


@router.patch("/{workspace_id}", response_model=WorkspaceOut, summary="Change a workspace")
async def update_workspace(
    workspace_id: uuid.UUID, body: WorkspaceUpdate, session: DbSession, org: Manage
) -> WorkspaceOut:
    return WorkspaceOut.model_validate(
        await workspaces.update(session, org.access, org.actor, workspace_id, body)
    )


@router.post("/{workspace_id}/archive", response_model=WorkspaceOut, summary="Archive a workspace")
async def archive_workspace(workspace_id: uuid.UUID, session: DbSession, org: Manage) -> WorkspaceOut:
    return WorkspaceOut.model_validate(
        await workspaces.set_archived(session, org.access, org.actor, workspace_id, True)
    )


@router.post("/{workspace_id}/unarchive", response_model=WorkspaceOut, summary="Unarchive a workspace")
async def unarchive_workspace(workspace_id: uuid.UUID, session: DbSession, org: Manage) -> WorkspaceOut:
    return WorkspaceOut.model_validate(
        await workspaces.set_archived(session, org.access, org.actor, workspace_id, False)
    )


@router.delete("/{workspace_id}", status_code=204, summary="Delete a workspace")
async def delete_workspace(workspace_id: uuid.UUID, session: DbSession, org: Manage) -> Response:
    await workspaces.delete(session, org.access, org.actor, workspace_id)
    return Response(status_code=204)


def _member_out(member: WorkspaceMember, user: User) -> WorkspaceMemberOut:
    return WorkspaceMemberOut(
        user_id=member.user_id,
        email=user.email,
        name=user.name,
        role=member.role,
        created_at=member.created_at,
    )


@router.get("/{workspace_id}/members", response_model=list[WorkspaceMemberOut], summary="Who has access")
async def list_workspace_members(
    workspace_id: uuid.UUID, session: DbSession, org: Read
) -> list[WorkspaceMemberOut]:
    return [_member_out(m, u) for m, u in await workspaces.list_members(session, org.access, workspace_id)]


@router.post(
    "/{workspace_id}/members", status_code=201, response_model=WorkspaceMemberOut, summary="Give access"
)
async def add_workspace_member(
    workspace_id: uuid.UUID, body: WorkspaceMemberIn, session: DbSession, org: Manage
) -> WorkspaceMemberOut:
    member = await workspaces.add_member(
        session, org.access, org.actor, workspace_id, body.user_id, body.role
    )
    return _member_out(member, await session.get_one(User, body.user_id))


@router.patch("/{workspace_id}/members/{user_id}", response_model=WorkspaceMemberOut, summary="Change access")
async def change_workspace_member(
    workspace_id: uuid.UUID, user_id: uuid.UUID, body: WorkspaceMemberUpdate, session: DbSession, org: Manage
) -> WorkspaceMemberOut:
    member = await workspaces.change_member_role(
        session, org.access, org.actor, workspace_id, user_id, body.role
    )
    return _member_out(member, await session.get_one(User, user_id))


@router.delete("/{workspace_id}/members/{user_id}", status_code=204, summary="Take access away")
async def remove_workspace_member(
    workspace_id: uuid.UUID, user_id: uuid.UUID, session: DbSession, org: Manage
) -> Response:
    await workspaces.remove_member(session, org.access, org.actor, workspace_id, user_id)
    return Response(status_code=204)
