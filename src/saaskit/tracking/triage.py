"""Admin triage of system events and error logs: list, filter, mark resolved."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from saaskit.kit.errors import NotFound
from saaskit.kit.pagination import keyset_page
from saaskit.tracking.models import ErrorLog, SystemEvent

Row = TypeVar("Row", SystemEvent, ErrorLog)


async def _page(
    session: AsyncSession,
    model: type[Row],
    conditions: list[ColumnElement[bool]],
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Row], str | None]:
    query: Select[Any] = select(model).where(*conditions)
    if since is not None:
        query = query.where(model.created_at >= since)
    if until is not None:
        query = query.where(model.created_at < until)
    return await keyset_page(
        session, query, created_at=model.created_at, row_id=model.id, limit=limit, cursor=cursor
    )


def _equal(filters: dict[InstrumentedAttribute[Any], Any]) -> list[ColumnElement[bool]]:
    return [column == value for column, value in filters.items() if value is not None]


async def list_system_events(
    session: AsyncSession,
    *,
    severity: str | None,
    event_type: str | None,
    app_version: str | None,
    resolved: bool | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[SystemEvent], str | None]:
    conditions = _equal(
        {
            SystemEvent.severity: severity,
            SystemEvent.event_type: event_type,
            SystemEvent.app_version: app_version,
        }
    )
    if resolved is not None:
        conditions.append(
            SystemEvent.resolved_at.is_not(None) if resolved else SystemEvent.resolved_at.is_(None)
        )
    return await _page(session, SystemEvent, conditions, since, until, limit, cursor)


async def list_errors(
    session: AsyncSession,
    *,
    error_type: str | None,
    error_code: str | None,
    app_version: str | None,
    resolved: bool | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[ErrorLog], str | None]:
    conditions = _equal(
        {
            ErrorLog.error_type: error_type,
            ErrorLog.error_code: error_code,
            ErrorLog.app_version: app_version,
            ErrorLog.resolved: resolved,
        }
    )
    return await _page(session, ErrorLog, conditions, since, until, limit, cursor)


async def _resolve(
    session: AsyncSession,
    model: type[Row],
    row_id: uuid.UUID,
    admin_id: uuid.UUID,
    field: str,
    extra: dict[str, Any],
) -> Row:
    row = await session.scalar(
        update(model)
        .where(model.id == row_id)
        .values(
            resolved_at=func.coalesce(model.resolved_at, func.now()),
            resolved_by=func.coalesce(model.resolved_by, admin_id),
            **extra,
        )
        .returning(model)
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound(f"no such {field.removesuffix('_id').replace('_', ' ')}", field=field)
    return row


async def resolve_system_event(
    session: AsyncSession, event_id: uuid.UUID, admin_id: uuid.UUID
) -> SystemEvent:
    return await _resolve(session, SystemEvent, event_id, admin_id, "event_id", {})


async def resolve_error(session: AsyncSession, error_id: uuid.UUID, admin_id: uuid.UUID) -> ErrorLog:
    return await _resolve(session, ErrorLog, error_id, admin_id, "error_id", {"resolved": True})
