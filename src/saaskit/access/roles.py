"""Custom roles of an organization and role assignments (optionally expiring).

System roles are visible to every organization and read-only: the RLS policy on ``roles`` lets
the application role write only rows of its current organization, and the service refuses with
a clear 409 before the database would.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.access.grants import require_held
from saaskit.access.models import Role, UserRole
from saaskit.access.permissions import is_known
from saaskit.access.service import Access
from saaskit.accounts.models import User
from saaskit.audit import service as audit
from saaskit.audit.service import Actor
from saaskit.kit.errors import Conflict, NotFound, Unprocessable
from saaskit.kit.pagination import keyset_page
from saaskit.tenancy.models import OrganizationMember


def _subject(access: Access, role: Role) -> audit.Subject:
    # In the acting organization: a system role (no organization of its own) is given in one.
    return audit.Subject(access.organization_id, "role", role.id, role.name)


def _check_permissions(permissions: list[str]) -> list[str]:
    unknown = [p for p in permissions if not is_known(p)]
    if unknown:
        raise Unprocessable(f"permissions: unknown permission {unknown[0]!r}", field="permissions")
    return sorted(set(permissions))


async def list_roles(session: AsyncSession, access: Access) -> list[Role]:
    query = select(Role).where(
        or_(Role.organization_id.is_(None), Role.organization_id == access.organization_id)
    )
    return list(await session.scalars(query.order_by(Role.is_system_role.desc(), Role.scope, Role.name)))


async def get_role(session: AsyncSession, access: Access, role_id: uuid.UUID) -> Role:
    role = await session.get(Role, role_id, populate_existing=True)
    if role is None or (role.organization_id is not None and role.organization_id != access.organization_id):
        raise NotFound("no such role", field="role_id")
    return role


async def create_role(
    session: AsyncSession,
    access: Access,
    actor: Actor,
    *,
    name: str,
    description: str | None,
    permissions: list[str],
) -> Role:
    clean = _check_permissions(permissions)
    require_held(access, clean, field="permissions", what="this role")
    system = await session.scalar(select(Role.id).where(Role.organization_id.is_(None), Role.name == name))
    if system is not None:
        raise Conflict(f"{name!r} is the name of a system role", field="name", code="role_name_taken")
    role = Role(
        organization_id=access.organization_id,
        name=name,
        description=description,
        permissions=clean,
        scope="organization",
        is_system_role=False,
    )
    try:
        async with session.begin_nested():
            session.add(role)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a role named {name!r} exists already", field="name", code="role_name_taken") from exc
    metadata = {"permissions": clean}
    await audit.record_about(
        session, actor, _subject(access, role), "created", f"Created role {name}.", metadata
    )
    return role


def _refuse_system(role: Role) -> None:
    if role.is_system_role:
        raise Conflict("system roles cannot be changed or deleted", field="role_id", code="system_role")


async def update_role(
    session: AsyncSession, access: Access, actor: Actor, role_id: uuid.UUID, changes: dict[str, Any]
) -> Role:
    role = await get_role(session, access, role_id)
    _refuse_system(role)
    # Nobody changes a role holding a permission they lack, nor makes one hold it.
    require_held(access, role.permissions, field="role_id", what="this role")
    if changes.get("permissions") is not None:
        require_held(
            access, _check_permissions(changes["permissions"]), field="permissions", what="this role"
        )
    before = {"name": role.name, "description": role.description, "permissions": list(role.permissions)}
    if changes.get("permissions") is not None:
        role.permissions = _check_permissions(changes["permissions"])
    if changes.get("name") is not None:
        role.name = changes["name"]
    if "description" in changes:
        role.description = changes["description"]
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("a role with that name exists already", field="name", code="role_name_taken") from exc
    diff = audit.changes(
        before, {"name": role.name, "description": role.description, "permissions": list(role.permissions)}
    )
    if diff:
        description = f"Changed {', '.join(sorted(diff))} of role {role.name}."
        await audit.record_about(
            session, actor, _subject(access, role), "updated", description, {"changes": diff}
        )
    return role


async def delete_role(session: AsyncSession, access: Access, actor: Actor, role_id: uuid.UUID) -> None:
    role = await get_role(session, access, role_id)
    _refuse_system(role)
    require_held(access, role.permissions, field="role_id", what="this role")
    await session.delete(role)
    await session.flush()
    description = f"Deleted role {role.name} (and its assignments)."
    await audit.record_about(session, actor, _subject(access, role), "deleted", description)


async def list_assignments(
    session: AsyncSession,
    access: Access,
    *,
    user_id: uuid.UUID | None,
    include_expired: bool,
    limit: int,
    cursor: str | None,
) -> tuple[list[tuple[UserRole, Role]], str | None]:
    query = (
        select(UserRole, Role)
        .join(Role, Role.id == UserRole.role_id)
        .where(UserRole.organization_id == access.organization_id)
    )
    if user_id is not None:
        query = query.where(UserRole.user_id == user_id)
    if not include_expired:
        query = query.where(or_(UserRole.expires_at.is_(None), UserRole.expires_at > func.now()))
    return await keyset_page(
        session, query, created_at=UserRole.assigned_at, row_id=UserRole.id, limit=limit, cursor=cursor
    )


async def assign(
    session: AsyncSession,
    access: Access,
    actor: Actor,
    *,
    user_id: uuid.UUID,
    role_id: uuid.UUID,
    expires_at: datetime | None,
) -> UserRole:
    role = await get_role(session, access, role_id)
    if role.scope != "organization":
        raise Unprocessable("role_id: only organization roles can be assigned here", field="role_id")
    require_held(access, role.permissions, field="role_id", what="this role")
    email = await session.scalar(
        select(User.email)
        .join(OrganizationMember, OrganizationMember.user_id == User.id)
        .where(
            OrganizationMember.organization_id == access.organization_id,
            OrganizationMember.user_id == user_id,
        )
    )
    if email is None:
        raise NotFound("no such member in this organization", field="user_id")
    assignment = UserRole(
        organization_id=access.organization_id,
        user_id=user_id,
        role_id=role_id,
        assigned_by=access.user_id,
        expires_at=expires_at,
    )
    session.add(assignment)
    await session.flush()
    await session.refresh(assignment)
    description = f"Gave role {role.name} to {email}" + (
        f" until {expires_at.isoformat()}." if expires_at else "."
    )
    metadata = {
        "user_id": str(user_id),
        "assignment_id": str(assignment.id),
        "expires_at": expires_at.isoformat() if expires_at else None,
    }
    await audit.record_about(session, actor, _subject(access, role), "assigned", description, metadata)
    return assignment


async def unassign(session: AsyncSession, access: Access, actor: Actor, assignment_id: uuid.UUID) -> None:
    assignment = await session.get(UserRole, assignment_id)
    if assignment is None or assignment.organization_id != access.organization_id:
        raise NotFound("no such role assignment", field="assignment_id")
    role = await get_role(session, access, assignment.role_id)
    require_held(access, role.permissions, field="assignment_id", what="taking away this role")
    await session.delete(assignment)
    await session.flush()
    description = f"Took role {role.name} away from a member."
    metadata = {"user_id": str(assignment.user_id), "assignment_id": str(assignment_id)}
    await audit.record_about(session, actor, _subject(access, role), "unassigned", description, metadata)
