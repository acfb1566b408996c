"""Admin triage of system events and error logs: list, filter, mark resolved."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from saaskit.kit.errors import NotFound
from saaskit.kit.pagination import keyset_page
from saaskit.tracking.models import ErrorLog, SystemEvent

Row = TypeVar("Row", SystemEvent, ErrorLog)


@dataclass(frozen=True)
class Listing:
    """What both lists filter and page by (the JSON API and the admin pages alike); each list
    adds the filters only its table has."""

    app_version: str | None = None
    resolved: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    cursor: str | None = None


async def _page(
    session: AsyncSession, model: type[Row], conditions: list[ColumnElement[bool]], listing: Listing
) -> tuple[list[Row], str | None]:
    """``conditions`` are the table's own filters; those both tables have are added here."""
    query: Select[Any] = select(model).where(*conditions)
    if listing.app_version is not None:
        query = query.where(model.app_version == listing.app_version)
    if listing.since is not None:
        query = query.where(model.created_at >= listing.since)
    if listing.until is not None:
        query = query.where(model.created_at < listing.until)
    return await keyset_page(
        session,
        query,
        created_at=model.created_at,
        row_id=model.id,
        limit=listing.limit,
        cursor=listing.cursor,
    )


def _equal(filters: dict[InstrumentedAttribute[Any], Any]) -> list[ColumnElement[bool]]:
    return [column == value for column, value in filters.items() if value is not None]


async def list_system_events(
    session: AsyncSession, listing: Listing, *, severity: str | None, event_type: str | None
) -> tuple[list[SystemEvent], str | None]:
    conditions = _equal({SystemEvent.severity: severity, SystemEvent.event_type: event_type})
    # System events have no resolved flag: resolved means a resolved_at.
    if listing.resolved is not None:
        resolved_at = SystemEvent.resolved_at
        conditions.append(resolved_at.is_not(None) if listing.resolved else resolved_at.is_(None))
    return await _page(session, SystemEvent, conditions, listing)


async def list_errors(
    session: AsyncSession, listing: Listing, *, error_type: str | None, error_code: str | None
) -> tuple[list[ErrorLog], str | None]:
    filters: dict[InstrumentedAttribute[Any], Any] = {
        ErrorLog.error_type: error_type,
        ErrorLog.error_code: error_code,
        ErrorLog.resolved: listing.resolved,
    }
    return await _page(session, ErrorLog, _equal(filters), listing)


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
