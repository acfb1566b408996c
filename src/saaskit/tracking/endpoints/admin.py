"""Admin triage of system events and errors; organizations' ingestion keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from saaskit.access.dependencies import OrgRequest, org_access
from saaskit.accounts.dependencies import AdminUser
from saaskit.audit.dependencies import AdminActor
from saaskit.kit.deps import DbSession
from saaskit.kit.pagination import CursorParam, LimitParam, Page
from saaskit.kit.schemas import Output, Timestamp
from saaskit.tracking import identity, operator, triage

router = APIRouter(prefix="/api/admin", tags=["admin: system events and errors"])
keys_router = APIRouter(prefix="/api/orgs/{org_id}/ingestion-keys", tags=["ingestion"])


class SystemEventOut(Output):
    id: uuid.UUID
    created_at: datetime
    user_id: uuid.UUID | None
    organization_id: uuid.UUID | None
    dashboard_id: uuid.UUID | None
    event_type: str
    severity: str
    message: str
    error_details: dict[str, Any] | None
    user_agent: str | None
    app_version: str | None
    resolved_at: datetime | None
    resolved_by: uuid.UUID | None


class ErrorOut(Output):
    id: uuid.UUID
    created_at: datetime
    user_id: uuid.UUID | None
    organization_id: uuid.UUID | None
    error_type: str
    error_code: str | None
    error_message: str
    error_stack: str | None
    app_version: str | None
    context: dict[str, Any] | None
    resolved: bool
    resolved_by: uuid.UUID | None
    resolved_at: datetime | None


Severity = Annotated[str | None, Query(pattern="^(info|warning|error|critical)$")]
ErrorType = Annotated[str | None, Query(pattern="^(user_error|system_error|model_error)$")]
Text = Annotated[str | None, Query(max_length=100)]


def _listing(
    limit: LimitParam = 50,
    cursor: CursorParam = None,
    app_version: Text = None,
    resolved: bool | None = None,
    since: Timestamp | None = None,
    until: Timestamp | None = None,
) -> triage.Listing:
    """The query parameters both lists take."""
    return triage.Listing(app_version, resolved, since, until, limit, cursor)


Listing = Annotated[triage.Listing, Depends(_listing)]


@router.get("/system-events", response_model=Page[SystemEventOut], summary="System events, newest first")
async def list_system_events(
    admin: AdminUser, session: DbSession, listing: Listing, severity: Severity = None, event_type: Text = None
) -> Page[SystemEventOut]:
    rows, cursor = await triage.list_system_events(session, listing, severity=severity, event_type=event_type)
    return Page[SystemEventOut](items=[SystemEventOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.post("/system-events/{event_id}/resolve", response_model=SystemEventOut, summary="Mark resolved")
async def resolve_system_event(event_id: uuid.UUID, actor: AdminActor, session: DbSession) -> SystemEventOut:
    return SystemEventOut.model_validate(await operator.resolve_system_event(session, actor, event_id))


@router.get("/errors", response_model=Page[ErrorOut], summary="Error logs, newest first")
async def list_errors(
    admin: AdminUser,
    session: DbSession,
    listing: Listing,
    error_type: ErrorType = None,
    error_code: Text = None,
) -> Page[ErrorOut]:
    rows, cursor = await triage.list_errors(session, listing, error_type=error_type, error_code=error_code)
    return Page[ErrorOut](items=[ErrorOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.post("/errors/{error_id}/resolve", response_model=ErrorOut, summary="Mark resolved")
async def resolve_error(error_id: uuid.UUID, actor: AdminActor, session: DbSession) -> ErrorOut:
    return ErrorOut.model_validate(await operator.resolve_error(session, actor, error_id))


class IngestionKeyOut(Output):
    id: uuid.UUID
    key_prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class NewIngestionKeyOut(IngestionKeyOut):
    key: str = Field(description="The public capture key (phc_...): shown only now, stored hashed.")


Manage = Annotated[OrgRequest, Depends(org_access("ingestion:manage"))]


@keys_router.get(
    "", response_model=Page[IngestionKeyOut], summary="The organization's ingestion keys, newest (live) first"
)
async def list_keys(
    session: DbSession, org: Manage, limit: LimitParam = 50, cursor: CursorParam = None
) -> Page[IngestionKeyOut]:
    rows, next_cursor = await identity.list_keys(session, org.organization_id, limit=limit, cursor=cursor)
    return Page[IngestionKeyOut](
        items=[IngestionKeyOut.model_validate(k) for k in rows], next_cursor=next_cursor
    )


@keys_router.post(
    "",
    status_code=201,
    response_model=NewIngestionKeyOut,
    summary="Issue a new ingestion key (earlier ones stop working)",
)
async def rotate_key(session: DbSession, org: Manage) -> NewIngestionKeyOut:
    row, key = await identity.rotate_key(session, org.actor, org.organization_id)
    return NewIngestionKeyOut(**IngestionKeyOut.model_validate(row).model_dump(), key=key)
