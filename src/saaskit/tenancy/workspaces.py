"""Workspaces and their members.

Visibility: ``organization`` workspaces are seen by every member; ``team`` ones by the owning
team's members; ``private`` ones by their own members. ``workspaces:write`` sees and manages all;
a workspace_admin manages their workspace.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.access.service import Access
from saaskit.accounts.models import User
from saaskit.audit import service as audit
from saaskit.audit.service import Actor
from saaskit.kit.errors import Conflict, NotFound, Unprocessable
from saaskit.kit.pagination import keyset_page
from saaskit.tenancy.models import OrganizationMember, Team, TeamMember, Workspace, WorkspaceMember
from saaskit.tenancy.organizations import slugify
from saaskit.tenancy.schemas import WorkspaceIn, WorkspaceUpdate

FIELDS = ("name", "slug", "team_id", "visibility", "settings")


def _snapshot(workspace: Workspace) -> dict[str, Any]:
    return {f: getattr(workspace, f) for f in FIELDS}


async def _visibility_filter(session: AsyncSession, access: Access) -> ColumnElement[bool]:
    if access.can("workspaces:write"):
        return ~false()
    my_workspaces = select(WorkspaceMember.workspace_id).where(WorkspaceMember.user_id == access.user_id)
    my_teams = select(TeamMember.team_id).where(
        TeamMember.user_id == access.user_id, TeamMember.left_at.is_(None)
    )
    return or_(
        Workspace.visibility == "organization",
        Workspace.id.in_(my_workspaces),
        (Workspace.visibility == "team") & Workspace.team_id.in_(my_teams),
    )


async def list_workspaces(
    session: AsyncSession,
    access: Access,
    *,
    team_id: uuid.UUID | None,
    include_archived: bool,
    search: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Workspace], str | None]:
    query = select(Workspace).where(
        Workspace.organization_id == access.organization_id, await _visibility_filter(session, access)
    )
    if team_id is not None:
        query = query.where(Workspace.team_id == team_id)
    if not include_archived:
        query = query.where(Workspace.archived_at.is_(None))
    if search:
        query = query.where(Workspace.name.ilike(f"%{search}%"))
    return await keyset_page(
        session, query, created_at=Workspace.created_at, row_id=Workspace.id, limit=limit, cursor=cursor
    )


async def get_visible(session: AsyncSession, access: Access, workspace_id: uuid.UUID) -> Workspace:
    workspace = await session.scalar(
        select(Workspace).where(
            Workspace.id == workspace_id,
            Workspace.organization_id == access.organization_id,
            await _visibility_filter(session, access),
        )
    )
    if workspace is None:
        raise NotFound("no such workspace", field="workspace_id")
    return workspace


async def _check_team(session: AsyncSession, access: Access, team_id: uuid.UUID | None) -> None:
    if team_id is None:
        return
    exists = await session.scalar(
        select(Team.id).where(Team.id == team_id, Team.organization_id == access.organization_id)
    )
    if exists is None:
        raise Unprocessable("team_id: no such team in this organization", field="team_id")


async def _check_slug_free(
    session: AsyncSession, access: Access, slug: str, exclude: uuid.UUID | None
) -> None:
    query = select(Workspace.id).where(
        Workspace.organization_id == access.organization_id, Workspace.slug == slug
    )
    if exclude is not None:
        query = query.where(Workspace.id != exclude)
    if await session.scalar(query) is not None:
        raise Conflict(f"the slug {slug!r} is taken in this organization", field="slug", code="slug_taken")


async def create(session: AsyncSession, access: Access, actor: Actor, data: WorkspaceIn) -> Workspace:
    await _check_team(session, access, data.team_id)
    if data.visibility == "team" and data.team_id is None:
        raise Unprocessable("team_id: a team-visible workspace needs a team", field="team_id")
    slug = data.slug or slugify(data.name)
    await _check_slug_free(session, access, slug, None)
    workspace = Workspace(
        organization_id=access.organization_id,
        created_by=access.user_id,
        name=data.name,
        slug=slug,
        team_id=data.team_id,
        visibility=data.visibility,
        settings=data.settings,
    )
    session.add(workspace)
    await session.flush()
    # The creator administers what they created.
    session.add(
        WorkspaceMember(
            organization_id=access.organization_id,
            workspace_id=workspace.id,
            user_id=access.user_id,
            role="workspace_admin",
            added_by=access.user_id,
        )
    )
    await session.flush()
    await audit.record(
        session,
        actor,
        organization_id=access.organization_id,
        action="workspace.created",
        entity_type="workspace",
        entity_id=workspace.id,
        entity_name=workspace.name,
        description=f"Created workspace {workspace.name}.",
        metadata={"visibility": workspace.visibility, "slug": workspace.slug},
    )
    return workspace


async def update(
    session: AsyncSession, access: Access, actor: Actor, workspace_id: uuid.UUID, data: WorkspaceUpdate
) -> Workspace:
    workspace = await get_visible(session, access, workspace_id)
    before = _snapshot(workspace)
    given = data.model_dump(exclude_unset=True)
    if "team_id" in given:
        await _check_team(session, access, given["team_id"])
    if given.get("slug"):
        await _check_slug_free(session, access, given["slug"], workspace.id)
    for name, value in given.items():
        if value is not None or name == "team_id":
            setattr(workspace, name, value)
    if workspace.visibility == "team" and workspace.team_id is None:
        raise Unprocessable("team_id: a team-visible workspace needs a team", field="team_id")
    await session.flush()
    diff = audit.changes(before, _snapshot(workspace))
    if diff:
        await audit.record(
            session,
            actor,
            organization_id=access.organization_id,
            action="workspace.updated",
            entity_type="workspace",
            entity_id=workspace.id,
            entity_name=workspace.name,
            description=f"Changed {', '.join(sorted(diff))} of workspace {workspace.name}.",
            metadata={"changes": diff},
        )
    return workspace


async def set_archived(
    session: AsyncSession, access: Access, actor: Actor, workspace_id: uuid.UUID, archived: bool
) -> Workspace:
    workspace = await get_visible(session, access, workspace_id)
    if (workspace.archived_at is not None) != archived:
        workspace.archived_at = func.now() if archived else None
        await session.flush()
        await session.refresh(workspace)
        verb = "archived" if archived else "unarchived"
        await audit.record(
            session,
            actor,
            organization_id=access.organization_id,
            action=f"workspace.{verb}",
            entity_type="workspace",
            entity_id=workspace.id,
            entity_name=workspace.name,
            description=f"{verb.capitalize()} workspace {workspace.name}.",
        )
    return workspace


async def delete(session: AsyncSession, access: Access, actor: Actor, workspace_id: uuid.UUID) -> None:
    workspace = await get_visible(session, access, workspace_id)
    await session.delete(workspace)
    await session.flush()
    await audit.record(
        session,
        actor,
        organization_id=access.organization_id,
        action="workspace.deleted",
        entity_type="workspace",
        entity_id=workspace_id,
        entity_name=workspace.name,
        description=f"Deleted workspace {workspace.name}.",
    )


async def list_members(
    session: AsyncSession, access: Access, workspace_id: uuid.UUID
) -> list[tuple[WorkspaceMember, User]]:
    await get_visible(session, access, workspace_id)
    rows = await session.execute(
        select(WorkspaceMember, User)
        .join(User, User.id == WorkspaceMember.user_id)
        .where(WorkspaceMember.workspace_id == workspace_id)
        .order_by(WorkspaceMember.created_at, WorkspaceMember.id)
    )
    return [(m, u) for m, u in rows.all()]


async def add_member(
    session: AsyncSession,
    access: Access,
    actor: Actor,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    role: str,
) -> WorkspaceMember:
    workspace = await get_visible(session, access, workspace_id)
    is_member = await session.scalar(
        select(OrganizationMember.id).where(
            OrganizationMember.organization_id == access.organization_id,
            OrganizationMember.user_id == user_id,
            OrganizationMember.is_active.is_(True),
        )
    )
    if is_member is None:
        raise Unprocessable(
            "user_id: only members of the organization can be given a workspace", field="user_id"
        )
    existing = await session.scalar(
        select(WorkspaceMember.id).where(
            WorkspaceMember.workspace_id == workspace_id, WorkspaceMember.user_id == user_id
        )
    )
    if existing is not None:
        raise Conflict("already has access to this workspace", field="user_id", code="already_member")
    member = WorkspaceMember(
        organization_id=access.organization_id,
        workspace_id=workspace_id,
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
        action="workspace.member_added",
        entity_type="workspace",
        entity_id=workspace.id,
        entity_name=workspace.name,
        description=f"Gave a user {role} access to workspace {workspace.name}.",
        metadata={"user_id": str(user_id), "role": role},
    )
    return member


async def _membership(session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID) -> WorkspaceMember:
    member = await session.scalar(
        select(WorkspaceMember).where(
            WorkspaceMember.workspace_id == workspace_id, WorkspaceMember.user_id == user_id
        )
    )
    if member is None:
        raise NotFound("no such workspace member", field="user_id")
    return member


async def change_member_role(
    session: AsyncSession,
    access: Access,
    actor: Actor,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    role: str,
) -> WorkspaceMember:
    workspace = await get_visible(session, access, workspace_id)
    member = await _membership(session, workspace_id, user_id)
    if member.role != role:
        before = member.role
        member.role = role
        await session.flush()
        await audit.record(
            session,
            actor,
            organization_id=access.organization_id,
            action="workspace.member_role_changed",
            entity_type="workspace",
            entity_id=workspace.id,
            entity_name=workspace.name,
            description=f"Changed a member's workspace role from {before} to {role}.",
            metadata={"user_id": str(user_id), "changes": {"role": {"from": before, "to": role}}},
        )
    return member


async def remove_member(
    session: AsyncSession, access: Access, actor: Actor, workspace_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    workspace = await get_visible(session, access, workspace_id)
    member = await _membership(session, workspace_id, user_id)
    await session.delete(member)
    await session.flush()
    await audit.record(
        session,
        actor,
        organization_id=access.organization_id,
        action="workspace.member_removed",
        entity_type="workspace",
        entity_id=workspace.id,
        entity_name=workspace.name,
        description=f"Removed a member from workspace {workspace.name}.",
        metadata={"user_id": str(user_id)},
    )
