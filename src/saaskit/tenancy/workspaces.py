"""Workspaces and their members.

Visibility: ``organization`` workspaces are seen by every member; ``team`` ones by the owning
team's members; ``private`` ones by their own members. ``workspaces:write`` sees and manages all;
a workspace_admin manages their workspace.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.access.service import Access
from saaskit.accounts.models import User
from saaskit.audit.service import Actor
from saaskit.kit.errors import Conflict, NotFound, Unprocessable
from saaskit.kit.pagination import keyset_page
from saaskit.tenancy import audited, teams
from saaskit.tenancy.models import OrganizationMember, TeamMember, Workspace, WorkspaceMember
from saaskit.tenancy.organizations import slugify
from saaskit.tenancy.schemas import WorkspaceIn, WorkspaceUpdate

KIND = audited.Kind(
    "workspace", fields=("name", "slug", "team_id", "visibility", "settings"), clearable="team_id"
)


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
    # A team of this organization that the caller can see (a secret team stays unseen: 404).
    await teams.get_visible(session, access, team_id)


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


def _check_visibility(visibility: str, team_id: uuid.UUID | None) -> None:
    if visibility == "team" and team_id is None:
        raise Unprocessable("team_id: a team-visible workspace needs a team", field="team_id")


async def create(session: AsyncSession, access: Access, actor: Actor, data: WorkspaceIn) -> Workspace:
    await _check_team(session, access, data.team_id)
    _check_visibility(data.visibility, data.team_id)
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
    await audited.record(
        session,
        actor,
        KIND,
        workspace,
        "created",
        f"Created workspace {workspace.name}.",
        {"visibility": workspace.visibility, "slug": workspace.slug},
    )
    return workspace


async def update(
    session: AsyncSession, access: Access, actor: Actor, workspace_id: uuid.UUID, data: WorkspaceUpdate
) -> Workspace:
    workspace = await get_visible(session, access, workspace_id)
    given = data.model_dump(exclude_unset=True)
    if "team_id" in given:
        await _check_team(session, access, given["team_id"])
    if given.get("slug"):
        await _check_slug_free(session, access, given["slug"], workspace.id)
    return await audited.update(
        session, actor, KIND, workspace, given, validate=lambda w: _check_visibility(w.visibility, w.team_id)
    )


async def set_archived(
    session: AsyncSession, access: Access, actor: Actor, workspace_id: uuid.UUID, archived: bool
) -> Workspace:
    workspace = await get_visible(session, access, workspace_id)
    return await audited.set_archived(session, actor, KIND, workspace, archived)


async def delete(session: AsyncSession, access: Access, actor: Actor, workspace_id: uuid.UUID) -> None:
    workspace = await get_visible(session, access, workspace_id)
    await audited.delete(session, actor, KIND, workspace)


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
        raise NotFound("no such member in this organization", field="user_id")
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
    return await audited.add_member(
        session, actor, KIND, workspace, member, f"Gave a user {role} access to workspace {workspace.name}."
    )


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
    return await audited.set_member_role(session, actor, KIND, workspace, member, role)


async def remove_member(
    session: AsyncSession, access: Access, actor: Actor, workspace_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    workspace = await get_visible(session, access, workspace_id)
    member = await _membership(session, workspace_id, user_id)
    await session.delete(member)
    await audited.member_removed(session, actor, KIND, workspace, member)
