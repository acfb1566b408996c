"""Who gets a notice sent to many: an organization's active members, or everyone.

Fan-out is set-based: one ``INSERT ... SELECT`` writes every recipient's copy, whatever their
number (docs/notifications.md has the time for 100,000 users). The recipients are read in SQL
from ``organization_members`` and ``users``; this module is the only place the notifications
domain reads another domain's tables, and it only reads them.

- An organization's members: active memberships of accounts that are not deleted.
- Everyone: accounts that are active (``users.status = 'active'``) and not deleted.

Either way, users who switched the kind off in the app are skipped (``preferences.wanted``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Insert, Select, Text, cast, func, literal, select
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts.models import User
from saaskit.kit.errors import NotFound
from saaskit.notifications.kinds import Kind
from saaskit.notifications.models import NOTIFICATIONS
from saaskit.notifications.preferences import wanted
from saaskit.tenancy.models import Organization, OrganizationMember

COLUMNS = (
    "id",
    "user_id",
    "kind",
    "severity",
    "title",
    "body",
    "link",
    "data",
    "audience",
    "organization_id",
    "actor_id",
    "broadcast_id",
)


def members(organization_id: uuid.UUID, roles: Sequence[str] | None = None) -> Select[Any]:
    """The organization's active members who have an account (``user_id`` column)."""
    query = (
        select(OrganizationMember.user_id.label("user_id"))
        .join(User, User.id == OrganizationMember.user_id)
        .where(
            OrganizationMember.organization_id == organization_id,
            OrganizationMember.is_active.is_(True),
            User.deleted_at.is_(None),
        )
    )
    if roles:
        query = query.where(OrganizationMember.role.in_(list(roles)))
    return query


def everyone() -> Select[Any]:
    """Every active account (``user_id`` column)."""
    return select(User.id.label("user_id")).where(User.status == "active", User.deleted_at.is_(None))


def fan_out_statement(
    recipients: Select[Any],
    *,
    kind: Kind,
    severity: str,
    title: str,
    body: str | None,
    link: str | None,
    data: dict[str, Any],
    audience: str,
    organization_id: uuid.UUID | None,
    actor_id: uuid.UUID | None,
    broadcast_id: uuid.UUID | None,
) -> Insert:
    """The INSERT ... SELECT writing one copy per recipient who wants ``kind`` in the app."""
    chosen = recipients.subquery("recipients")
    user_id: ColumnElement[uuid.UUID] = chosen.c.user_id
    rows = select(
        func.gen_random_uuid(),
        user_id,
        cast(literal(kind.name), Text),
        cast(literal(severity), Text),
        cast(literal(title), Text),
        cast(literal(body), Text),
        cast(literal(link), Text),
        cast(literal(data, JSONB), JSONB),
        cast(literal(audience), Text),
        cast(literal(organization_id), UUID(as_uuid=True)),
        cast(literal(actor_id), UUID(as_uuid=True)),
        cast(literal(broadcast_id), UUID(as_uuid=True)),
    ).where(wanted(kind, "in_app", user_id))
    return NOTIFICATIONS.insert().from_select(COLUMNS, rows)


async def fan_out(session: AsyncSession, recipients: Select[Any], **notice: Any) -> int:
    """Write the copies (``fan_out_statement``'s arguments) in one statement; how many."""
    statement = fan_out_statement(recipients, **notice)
    # preserve_rowcount: SQLAlchemy reports an INSERT's row count only when asked.
    result = await session.execute(statement.execution_options(preserve_rowcount=True))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def find_organization(session: AsyncSession, reference: str) -> Organization:
    """An organization that is not deleted, by id or by slug (what an admin types)."""
    reference = reference.strip()
    try:
        condition = Organization.id == uuid.UUID(reference)
    except ValueError:
        condition = Organization.slug == reference.lower()
    org = await session.scalar(select(Organization).where(condition, Organization.deleted_at.is_(None)))
    if org is None:
        raise NotFound(
            f"organization: no organization with the id or slug {reference[:64]!r}", field="organization"
        )
    return org
