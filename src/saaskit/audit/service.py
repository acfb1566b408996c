"""Writing and reading the audit log. Services call ``record`` in the same transaction as the
change it describes, so a change and its audit row commit (or vanish) together."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.audit.models import Activity
from saaskit.kit.db import Context, current_context, set_context
from saaskit.kit.pagination import keyset_page


@dataclass(frozen=True)
class Actor:
    """Who is acting, as the audit log records it."""

    user_id: uuid.UUID | None
    ip_hash: str | None = None
    as_platform_admin: bool = False
    request: str | None = None  # "METHOD /path", kept in metadata


SYSTEM_ACTOR = Actor(user_id=None)


async def record(
    session: AsyncSession,
    actor: Actor,
    *,
    organization_id: uuid.UUID | None,
    action: str,
    entity_type: str,
    entity_id: uuid.UUID | None = None,
    entity_name: str | None = None,
    description: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    details = dict(metadata or {})
    if actor.as_platform_admin:
        details["as_platform_admin"] = True
    if actor.request:
        details.setdefault("request", actor.request)
    await session.execute(
        insert(Activity).values(
            organization_id=organization_id,
            actor_id=actor.user_id,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            entity_name=entity_name,
            description=description,
            metadata_=details,
            ip_address_hash=actor.ip_hash,
        )
    )


async def record_as_service(session: AsyncSession, actor: Actor, **row: Any) -> None:
    """``record``, for a row the acting context may not insert: a platform-wide row (no
    organization) written by a person about their own account, or a row written before any
    organization is resolved. The insert alone runs in the service context; the caller's
    context is restored afterwards, whatever happens."""
    previous = current_context(session)
    await set_context(session, Context(user_id=previous.user_id, service=True))
    try:
        await record(session, actor, **row)
    finally:
        await set_context(session, previous)


@dataclass(frozen=True)
class Subject:
    """What an activities row is about, and the organization it belongs to (None: platform-wide)."""

    organization_id: uuid.UUID | None
    entity_type: str  # also the prefix of the row's action: "invitation.revoked"
    entity_id: uuid.UUID | None
    entity_name: str | None


async def record_about(
    session: AsyncSession,
    actor: Actor,
    subject: Subject,
    event: str,
    description: str,
    metadata: dict[str, Any] | None = None,
) -> None:
    """``record`` for the usual row: action ``{entity_type}.{event}`` about ``subject``."""
    await record(
        session,
        actor,
        organization_id=subject.organization_id,
        action=f"{subject.entity_type}.{event}",
        entity_type=subject.entity_type,
        entity_id=subject.entity_id,
        entity_name=subject.entity_name,
        description=description,
        metadata=metadata,
    )


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """``{"field": {"from": old, "to": new}}`` for the fields that changed, JSON-safe."""
    out: dict[str, Any] = {}
    for key, new in after.items():
        old = before.get(key)
        if old != new:
            out[key] = {"from": _jsonable(old), "to": _jsonable(new)}
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID | datetime):
        return str(value)
    return value


async def list_activities(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID | None,
    actor_id: uuid.UUID | None = None,
    action: str | None = None,
    entity_type: str | None = None,
    entity_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Activity], str | None]:
    query: Select[Any] = select(Activity)
    if organization_id is not None:
        query = query.where(Activity.organization_id == organization_id)
    filters = {
        Activity.actor_id: actor_id,
        Activity.action: action,
        Activity.entity_type: entity_type,
        Activity.entity_id: entity_id,
    }
    for column, value in filters.items():
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(Activity.created_at >= since)
    if until is not None:
        query = query.where(Activity.created_at < until)
    return await keyset_page(
        session, query, created_at=Activity.created_at, row_id=Activity.id, limit=limit, cursor=cursor
    )
