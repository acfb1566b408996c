"""Organizations and their members."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from saaskit.access.dependencies import OrgRequest, org_access
from saaskit.access.grants import require_owner
from saaskit.accounts.dependencies import CurrentUser
from saaskit.accounts.models import User
from saaskit.audit.service import Actor
from saaskit.kit.deps import ClientDep, DbSession
from saaskit.kit.pagination import CursorParam, LimitParam, Page
from saaskit.tenancy import members, organizations
from saaskit.tenancy.models import Organization, OrganizationMember
from saaskit.tenancy.schemas import (
    MemberOut,
    MemberUpdate,
    OrganizationIn,
    OrganizationOut,
    OrganizationUpdate,
)

router = APIRouter(prefix="/api/orgs", tags=["organizations"])


def _out(org: Organization, role: str | None) -> OrganizationOut:
    out = OrganizationOut.model_validate(org)
    out.my_role = role
    return out


@router.post(
    "", status_code=201, response_model=OrganizationOut, summary="Create an organization (you become owner)"
)
async def create_organization(
    body: OrganizationIn, principal: CurrentUser, session: DbSession, client: ClientDep
) -> OrganizationOut:
    actor = Actor(user_id=principal.user_id, ip_hash=client.ip_hash, request="POST /api/orgs")
    return _out(await organizations.create(session, actor, body), "owner")


@router.get("", response_model=Page[OrganizationOut], summary="My organizations")
async def list_my_organizations(
    principal: CurrentUser,
    session: DbSession,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
    include_archived: bool = False,
) -> Page[OrganizationOut]:
    rows, next_cursor = await organizations.list_for_user(
        session, principal.user_id, include_archived=include_archived, limit=limit, cursor=cursor
    )
    return Page[OrganizationOut](items=[_out(org, role) for org, role in rows], next_cursor=next_cursor)


@router.get("/{org_id}", response_model=OrganizationOut, summary="One organization")
async def get_organization(
    session: DbSession, org: Annotated[OrgRequest, Depends(org_access("org:read"))]
) -> OrganizationOut:
    return _out(await organizations.get(session, org.organization_id), org.access.role)


@router.patch(
    "/{org_id}", response_model=OrganizationOut, summary="Change name, slug, logo, billing e-mail, settings"
)
async def update_organization(
    body: OrganizationUpdate,
    session: DbSession,
    org: Annotated[OrgRequest, Depends(org_access("org:update"))],
) -> OrganizationOut:
    return _out(
        await organizations.update_details(session, org.actor, org.organization_id, body), org.access.role
    )


@router.post("/{org_id}/archive", response_model=OrganizationOut, summary="Archive (read-only)")
async def archive_organization(
    session: DbSession, org: Annotated[OrgRequest, Depends(org_access("org:archive", allow_archived=True))]
) -> OrganizationOut:
    return _out(
        await organizations.set_archived(session, org.actor, org.organization_id, True), org.access.role
    )


@router.post("/{org_id}/unarchive", response_model=OrganizationOut, summary="Unarchive")
async def unarchive_organization(
    session: DbSession, org: Annotated[OrgRequest, Depends(org_access("org:archive", allow_archived=True))]
) -> OrganizationOut:
    return _out(
        await organizations.set_archived(session, org.actor, org.organization_id, False), org.access.role
    )


@router.delete("/{org_id}", response_model=OrganizationOut, summary="Soft-delete (restorable)")
async def delete_organization(
    session: DbSession,
    org: Annotated[OrgRequest, Depends(org_access("org:delete", allow_archived=True))],
) -> OrganizationOut:
    # Owners only, whatever permissions a member was given (docs/permissions.md).
    require_owner(org.access, "delete the organization")
    return _out(
        await organizations.set_deleted(session, org.actor, org.organization_id, True), org.access.role
    )


@router.post(
    "/{org_id}/restore", response_model=OrganizationOut, summary="Restore a soft-deleted organization"
)
async def restore_organization(
    session: DbSession,
    org: Annotated[OrgRequest, Depends(org_access("org:delete", allow_archived=True, allow_deleted=True))],
) -> OrganizationOut:
    require_owner(org.access, "restore the organization")
    return _out(
        await organizations.set_deleted(session, org.actor, org.organization_id, False), org.access.role
    )


# -- members -----------------------------------------------------------------------------------
def _member_out(member: OrganizationMember, user: User) -> MemberOut:
    return MemberOut(
        user_id=member.user_id,
        email=user.email,
        name=user.name,
        role=member.role,
        permissions=list(member.permissions),
        is_active=member.is_active,
        invited_at=member.invited_at,
        joined_at=member.joined_at,
    )


@router.get(
    "/{org_id}/members", response_model=Page[MemberOut], summary="Members, filterable by role and state"
)
async def list_members(
    session: DbSession,
    org: Annotated[OrgRequest, Depends(org_access("members:read"))],
    limit: LimitParam = 50,
    cursor: CursorParam = None,
    role: Annotated[str | None, Query(pattern="^(owner|admin|member|viewer)$")] = None,
    is_active: bool | None = None,
    search: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[MemberOut]:
    rows, next_cursor = await members.list_members(
        session,
        org.organization_id,
        role=role,
        is_active=is_active,
        search=search,
        limit=limit,
        cursor=cursor,
    )
    return Page[MemberOut](items=[_member_out(m, u) for m, u in rows], next_cursor=next_cursor)


@router.patch(
    "/{org_id}/members/{user_id}", response_model=MemberOut, summary="Change role, permissions, state"
)
async def update_member(
    user_id: uuid.UUID,
    body: MemberUpdate,
    session: DbSession,
    org: Annotated[OrgRequest, Depends(org_access("members:update"))],
) -> MemberOut:
    member = await members.update_member(
        session, org.access, org.actor, user_id, body.model_dump(exclude_unset=True)
    )
    user = await session.get_one(User, user_id)
    return _member_out(member, user)


@router.delete("/{org_id}/members/{user_id}", status_code=204, summary="Remove a member")
async def remove_member(
    user_id: uuid.UUID, session: DbSession, org: Annotated[OrgRequest, Depends(org_access("members:remove"))]
) -> Response:
    await members.remove_member(session, org.access, org.actor, user_id, leaving=False)
    return Response(status_code=204)


@router.post("/{org_id}/leave", status_code=204, summary="Leave the organization")
async def leave_organization(
    session: DbSession,
    org: Annotated[OrgRequest, Depends(org_access(allow_archived=True, two_factor_exempt=True))],
) -> Response:
    await members.remove_member(session, org.access, org.actor, org.user_id, leaving=True)
    return Response(status_code=204)
