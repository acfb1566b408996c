"""Roles, role assignments and the permission catalog."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from saaskit.access import roles
from saaskit.access.dependencies import OrgRequest, org_access
from saaskit.access.models import Role, UserRole
from saaskit.access.permissions import PERMISSIONS
from saaskit.access.schemas import AssignmentIn, AssignmentOut, PermissionOut, RoleIn, RoleOut, RoleUpdate
from saaskit.kit.deps import DbSession
from saaskit.kit.errors import Unprocessable
from saaskit.kit.pagination import CursorParam, LimitParam, Page

router = APIRouter(prefix="/api/orgs/{org_id}", tags=["roles"])
catalog_router = APIRouter(prefix="/api", tags=["roles"])

Read = Annotated[OrgRequest, Depends(org_access("roles:read"))]
Write = Annotated[OrgRequest, Depends(org_access("roles:write"))]
Assign = Annotated[OrgRequest, Depends(org_access("roles:assign"))]


@catalog_router.get(
    "/permissions", response_model=list[PermissionOut], summary="Every permission and its meaning"
)
async def list_permissions() -> list[PermissionOut]:
    return [PermissionOut(name=name, description=text) for name, text in PERMISSIONS.items()]


@router.get(
    "/roles", response_model=list[RoleOut], summary="System roles and this organization's custom roles"
)
async def list_roles(session: DbSession, org: Read) -> list[RoleOut]:
    return [RoleOut.model_validate(r) for r in await roles.list_roles(session, org.access)]


@router.post("/roles", status_code=201, response_model=RoleOut, summary="Create a custom role")
async def create_role(body: RoleIn, session: DbSession, org: Write) -> RoleOut:
    role = await roles.create_role(
        session,
        org.access,
        org.actor,
        name=body.name,
        description=body.description,
        permissions=body.permissions,
    )
    return RoleOut.model_validate(role)


@router.patch("/roles/{role_id}", response_model=RoleOut, summary="Change a custom role (system roles: 409)")
async def update_role(role_id: uuid.UUID, body: RoleUpdate, session: DbSession, org: Write) -> RoleOut:
    role = await roles.update_role(
        session, org.access, org.actor, role_id, body.model_dump(exclude_unset=True)
    )
    return RoleOut.model_validate(role)


@router.delete("/roles/{role_id}", status_code=204, summary="Delete a custom role (system roles: 409)")
async def delete_role(role_id: uuid.UUID, session: DbSession, org: Write) -> Response:
    await roles.delete_role(session, org.access, org.actor, role_id)
    return Response(status_code=204)


def _assignment_out(assignment: UserRole, role: Role) -> AssignmentOut:
    return AssignmentOut(
        id=assignment.id,
        user_id=assignment.user_id,
        role_id=role.id,
        role_name=role.name,
        assigned_by=assignment.assigned_by,
        assigned_at=assignment.assigned_at,
        expires_at=assignment.expires_at,
    )


@router.get("/role-assignments", response_model=Page[AssignmentOut], summary="Who holds which role")
async def list_assignments(
    session: DbSession,
    org: Read,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
    user_id: uuid.UUID | None = None,
    include_expired: bool = False,
) -> Page[AssignmentOut]:
    rows, next_cursor = await roles.list_assignments(
        session, org.access, user_id=user_id, include_expired=include_expired, limit=limit, cursor=cursor
    )
    return Page[AssignmentOut](items=[_assignment_out(a, r) for a, r in rows], next_cursor=next_cursor)


@router.post(
    "/role-assignments",
    status_code=201,
    response_model=AssignmentOut,
    summary="Give a member a role, optionally until expires_at",
)
async def assign_role(body: AssignmentIn, session: DbSession, org: Assign) -> AssignmentOut:
    if body.expires_at is not None:
        expires = body.expires_at if body.expires_at.tzinfo else body.expires_at.replace(tzinfo=UTC)
        if expires <= datetime.now(UTC):
            raise Unprocessable("expires_at: must be in the future", field="expires_at")
    assignment = await roles.assign(
        session, org.access, org.actor, user_id=body.user_id, role_id=body.role_id, expires_at=body.expires_at
    )
    return _assignment_out(assignment, await roles.get_role(session, org.access, body.role_id))


@router.delete("/role-assignments/{assignment_id}", status_code=204, summary="Take a role away")
async def unassign_role(assignment_id: uuid.UUID, session: DbSession, org: Assign) -> Response:
    await roles.unassign(session, org.access, org.actor, assignment_id)
    return Response(status_code=204)
