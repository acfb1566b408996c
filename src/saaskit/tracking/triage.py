"""Admin triage of system events and error logs: list, filter, mark resolved."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.errors import NotFound
from saaskit.kit.pagination import keyset_page
from saaskit.tracking.models import ErrorLog, SystemEvent


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
    query: Select[Any] = select(SystemEvent)
    for column, value in (
        (SystemEvent.severity, severity),
        (SystemEvent.event_type, event_type),
        (SystemEvent.app_version, app_version),
    ):
        if value is not None:
            query = query.where(column == value)
    if resolved is not None:
        query = query.where(
            SystemEvent.resolved_at.is_not(None) if resolved else SystemEvent.resolved_at.is_(None)
        )
    if since is not None:
        query = query.where(SystemEvent.created_at >= since)
    if until is not None:
        query = query.where(SystemEvent.created_at < until)
    return await keyset_page(
        session, query, created_at=SystemEvent.created_at, row_id=SystemEvent.id, limit=limit, cursor=cursor
    )


async def resolve_system_event(
    session: AsyncSession, event_id: uuid.UUID, admin_id: uuid.UUID
) -> SystemEvent:
    row = await session.scalar(
        update(SystemEvent)
        .where(SystemEvent.id == event_id)
        .values(
            resolved_at=func.coalesce(SystemEvent.resolved_at, func.now()),
            resolved_by=func.coalesce(SystemEvent.resolved_by, admin_id),
        )
        .returning(SystemEvent)
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound("no such system event", field="event_id")
    return row


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
    query: Select[Any] = select(ErrorLog)
    for column, value in (
        (ErrorLog.error_type, error_type),
        (ErrorLog.error_code, error_code),
        (ErrorLog.app_version, app_version),
        (ErrorLog.resolved, resolved),
    ):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(ErrorLog.created_at >= since)
    if until is not None:
        query = query.where(ErrorLog.created_at < until)
    return await keyset_page(
        session, query, created_at=ErrorLog.created_at, row_id=ErrorLog.id, limit=limit, cursor=cursor
    )


async def resolve_error(session: AsyncSession, error_id: uuid.UUID, admin_id: uuid.UUID) -> ErrorLog:
    row = await session.scalar(
        update(ErrorLog)
        .where(ErrorLog.id == error_id)
        .values(
            resolved=True,
            resolved_at=func.coalesce(ErrorLog.resolved_at, func.now()),
            resolved_by=func.coalesce(ErrorLog.resolved_by, admin_id),
        )
        .returning(ErrorLog)
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound("no such error", field="error_id")
    return row
