"""Organization members: list, change role/permissions/activity, remove, leave.

An organization always keeps at least one active owner. Every change that could remove the last
one locks the organization row first, so two owners demoting each other at the same moment
cannot both succeed.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.access.grants import require_held, require_role_held
from saaskit.access.permissions import ORG_ROLE_RANK, is_known
from saaskit.access.service import Access
from saaskit.accounts.models import User
from saaskit.audit import service as audit
from saaskit.audit.service import Actor
from saaskit.billing import quotas
from saaskit.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from saaskit.kit.pagination import keyset_page
from saaskit.tenancy.models import Organization, OrganizationMember
from saaskit.webhooks import events as webhook_events


async def list_members(
    session: AsyncSession,
    organization_id: uuid.UUID,
    *,
    role: str | None,
    is_active: bool | None,
    search: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[tuple[OrganizationMember, User]], str | None]:
    query = (
        select(OrganizationMember, User)
        .join(User, User.id == OrganizationMember.user_id)
        .where(OrganizationMember.organization_id == organization_id)
    )
    if role is not None:
        query = query.where(OrganizationMember.role == role)
    if is_active is not None:
        query = query.where(OrganizationMember.is_active.is_(is_active))
    if search:
        query = query.where(User.email.contains(search.lower()) | User.name.ilike(f"%{search}%"))
    return await keyset_page(
        session,
        query,
        created_at=OrganizationMember.created_at,
        row_id=OrganizationMember.id,
        limit=limit,
        cursor=cursor,
    )


async def get_member(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID
) -> OrganizationMember:
    member = await session.scalar(
        select(OrganizationMember).where(
            OrganizationMember.organization_id == organization_id, OrganizationMember.user_id == user_id
        )
    )
    if member is None:
        raise NotFound("no such member", field="user_id")
    return member


async def _lock_and_count_owners(session: AsyncSession, organization_id: uuid.UUID) -> int:
    await session.execute(select(Organization.id).where(Organization.id == organization_id).with_for_update())
    count = await session.scalar(
        select(func.count())
        .select_from(OrganizationMember)
        .where(
            OrganizationMember.organization_id == organization_id,
            OrganizationMember.role == "owner",
            OrganizationMember.is_active.is_(True),
        )
    )
    return int(count or 0)


async def _refuse_losing_last_owner(session: AsyncSession, member: OrganizationMember) -> None:
    if member.role != "owner" or not member.is_active:
        return
    if await _lock_and_count_owners(session, member.organization_id) <= 1:
        raise Conflict(
            "an organization must keep at least one owner: make someone else owner first",
            code="last_owner",
        )


def _check_can_grant(access: Access, role: str) -> None:
    """Only owners create owners; nobody grants a role above their own, nor one holding a
    permission they do not hold (``access.grants``)."""
    mine = ORG_ROLE_RANK.get(access.role or "", -1) if not access.acting_as_platform_admin else 99
    if ORG_ROLE_RANK[role] > mine or (role == "owner" and mine < ORG_ROLE_RANK["owner"]):
        raise Forbidden(f"only an owner can make someone {role}", field="role", code="role_too_high")
    require_role_held(access, role)


async def update_member(
    session: AsyncSession, access: Access, actor: Actor, user_id: uuid.UUID, changes: dict[str, Any]
) -> OrganizationMember:
    member = await get_member(session, access.organization_id, user_id)
    before = {"role": member.role, "permissions": list(member.permissions), "is_active": member.is_active}
    # Every check before the first change: a refused request changes nothing.
    if changes.get("permissions") is not None:
        unknown = [p for p in changes["permissions"] if not is_known(p)]
        if unknown:
            raise Unprocessable(f"permissions: unknown permission {unknown[0]!r}", field="permissions")
        added = set(changes["permissions"]) - set(member.permissions)
        require_held(access, added, field="permissions", what="these extra permissions")
    if member.role == "owner" and changes.get("is_active") not in (None, member.is_active):
        _check_can_grant(access, "owner")  # only owners deactivate owners
    if changes.get("is_active") is True and not member.is_active:
        await quotas.claim_seat(session, access.organization_id)  # the plan's seats
    if "role" in changes and changes["role"] is not None and changes["role"] != member.role:
        _check_can_grant(access, changes["role"])
        if member.role == "owner":
            _check_can_grant(access, "owner")  # only owners demote owners
            await _refuse_losing_last_owner(session, member)
        member.role = changes["role"]
    if changes.get("permissions") is not None:
        member.permissions = sorted(set(changes["permissions"]))
    if changes.get("is_active") is not None and changes["is_active"] != member.is_active:
        if not changes["is_active"]:
            await _refuse_losing_last_owner(session, member)
        member.is_active = changes["is_active"]
    await session.flush()
    after = {"role": member.role, "permissions": list(member.permissions), "is_active": member.is_active}
    diff = audit.changes(before, after)
    if diff:
        email = await session.scalar(select(User.email).where(User.id == user_id))
        event = "role_changed" if "role" in diff else "updated"
        description = f"Changed {', '.join(sorted(diff))} of {email}."
        subject = audit.Subject(access.organization_id, "member", user_id, email)
        await audit.record_about(session, actor, subject, event, description, {"changes": diff})
    return member


async def remove_member(
    session: AsyncSession, access: Access, actor: Actor, user_id: uuid.UUID, *, leaving: bool
) -> None:
    member = await get_member(session, access.organization_id, user_id)
    if member.role == "owner" and not leaving:
        _check_can_grant(access, "owner")
    await _refuse_losing_last_owner(session, member)
    email = await session.scalar(select(User.email).where(User.id == user_id))
    await session.delete(member)
    await session.flush()
    description = f"{email} {'left' if leaving else 'was removed from'} the organization."
    subject = audit.Subject(access.organization_id, "member", user_id, email)
    await audit.record_about(
        session, actor, subject, "left" if leaving else "removed", description, {"role": member.role}
    )
    await webhook_events.member_removed(session, access.organization_id, user_id, email, member, leaving)


async def add_member(
    session: AsyncSession,
    actor: Actor,
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    role: str,
    *,
    invited_by: uuid.UUID | None = None,
    invited_at: Any = None,
) -> OrganizationMember:
    """Add a member, or return the existing membership unchanged (reactivated if inactive)."""
    existing = await session.scalar(
        select(OrganizationMember).where(
            OrganizationMember.organization_id == organization_id, OrganizationMember.user_id == user_id
        )
    )
    if existing is not None:
        if not existing.is_active:
            await quotas.claim_seat(session, organization_id)
            existing.is_active = True
            await session.flush()
            await webhook_events.member_added(session, existing, invited_by)
        return existing
    await quotas.claim_seat(session, organization_id)  # the plan's seats (billing/quotas.py)
    member = OrganizationMember(
        organization_id=organization_id,
        user_id=user_id,
        role=role,
        invited_by=invited_by,
        invited_at=invited_at,
    )
    session.add(member)
    await session.flush()
    email = await session.scalar(select(User.email).where(User.id == user_id))
    subject = audit.Subject(organization_id, "member", user_id, email)
    await audit.record_about(session, actor, subject, "added", f"{email} joined as {role}.", {"role": role})
    await webhook_events.member_added(session, member, invited_by)
    return member
