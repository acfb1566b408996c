"""The audited lifecycle teams and workspaces share: change fields, archive or unarchive, delete;
add a member, change a member's role, remove a member. Each real change writes one ``activities``
row about the team or workspace (``team.updated`` with the changes, ``workspace.archived`` ...) in
the same transaction; a request that changes nothing writes none. Flushes, never commits.

The caller loads the row first (``get_visible``: it exists, belongs to the organization, and may be
seen) and checks what only its kind knows (a free slug, a team in the organization)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.audit import service as audit
from saaskit.audit.service import Actor
from saaskit.tenancy.models import Team, TeamMember, Workspace, WorkspaceMember

Audited = TypeVar("Audited", Team, Workspace)
Member = TypeVar("Member", TeamMember, WorkspaceMember)


@dataclass(frozen=True)
class Kind:
    """What differs between teams and workspaces here."""

    entity_type: str  # the audit rows' entity_type, their action's prefix, the descriptions' noun
    fields: tuple[str, ...]  # what an update compares and records
    clearable: str  # the one field an update's None clears; for the others None means "leave as is"


def _snapshot(kind: Kind, row: Audited) -> dict[str, Any]:
    return {f: getattr(row, f) for f in kind.fields}


async def record(
    session: AsyncSession,
    actor: Actor,
    kind: Kind,
    row: Audited,
    event: str,
    description: str,
    metadata: dict[str, Any] | None = None,
) -> None:
    """One ``activities`` row about ``row``: action ``{entity_type}.{event}``."""
    subject = audit.Subject(row.organization_id, kind.entity_type, row.id, row.name)
    await audit.record_about(session, actor, subject, event, description, metadata)


async def update(
    session: AsyncSession,
    actor: Actor,
    kind: Kind,
    row: Audited,
    given: dict[str, Any],
    validate: Callable[[Audited], None] | None = None,
) -> Audited:
    """Apply the fields the request gave; ``validate`` sees the result before anything is
    written and may refuse it. Records the fields that changed, if any."""
    before = _snapshot(kind, row)
    for name, value in given.items():
        if value is not None or name == kind.clearable:
            setattr(row, name, value)
    if validate is not None:
        validate(row)
    await session.flush()
    diff = audit.changes(before, _snapshot(kind, row))
    if diff:
        description = f"Changed {', '.join(sorted(diff))} of {kind.entity_type} {row.name}."
        await record(session, actor, kind, row, "updated", description, {"changes": diff})
    return row


async def set_archived(
    session: AsyncSession, actor: Actor, kind: Kind, row: Audited, archived: bool
) -> Audited:
    if (row.archived_at is not None) != archived:
        row.archived_at = func.now() if archived else None
        await session.flush()
        await session.refresh(row)
        verb = "archived" if archived else "unarchived"
        await record(session, actor, kind, row, verb, f"{verb.capitalize()} {kind.entity_type} {row.name}.")
    return row


async def delete(session: AsyncSession, actor: Actor, kind: Kind, row: Audited) -> None:
    await session.delete(row)
    await session.flush()
    await record(session, actor, kind, row, "deleted", f"Deleted {kind.entity_type} {row.name}.")


async def add_member(
    session: AsyncSession, actor: Actor, kind: Kind, row: Audited, member: Member, description: str
) -> Member:
    """Store the new membership (the caller has checked the user may join) and record it."""
    session.add(member)
    await session.flush()
    metadata = {"user_id": str(member.user_id), "role": member.role}
    await record(session, actor, kind, row, "member_added", description, metadata)
    return member


async def set_member_role(
    session: AsyncSession, actor: Actor, kind: Kind, row: Audited, member: Member, role: str
) -> Member:
    if member.role != role:
        before = member.role
        member.role = role
        await session.flush()
        description = f"Changed a member's {kind.entity_type} role from {before} to {role}."
        metadata = {"user_id": str(member.user_id), "changes": {"role": {"from": before, "to": role}}}
        await record(session, actor, kind, row, "member_role_changed", description, metadata)
    return member


async def member_removed(
    session: AsyncSession, actor: Actor, kind: Kind, row: Audited, member: Member
) -> None:
    """Record a removal the caller has made (a team member leaves, a workspace member is deleted)."""
    await session.flush()
    description = f"Removed a member from {kind.entity_type} {row.name}."
    await record(session, actor, kind, row, "member_removed", description, {"user_id": str(member.user_id)})
