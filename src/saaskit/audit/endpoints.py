"""``GET /api/orgs/{org_id}/activities``: the audit log, newest first. Read-only by design."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from saaskit.access.dependencies import OrgRequest, org_access
from saaskit.audit import service
from saaskit.kit.deps import DbSession
from saaskit.kit.pagination import CursorParam, LimitParam, Page
from saaskit.kit.schemas import Output, Timestamp

router = APIRouter(prefix="/api/orgs/{org_id}", tags=["audit"])


class ActivityOut(Output):
    id: uuid.UUID
    actor_id: uuid.UUID | None
    action: str
    entity_type: str
    entity_id: uuid.UUID | None
    entity_name: str | None
    description: str | None
    metadata: dict[str, Any] = Field(validation_alias="metadata_")
    created_at: datetime


@router.get("/activities", response_model=Page[ActivityOut], summary="Audit log (permission audit:read)")
async def list_activities(
    session: DbSession,
    org: Annotated[OrgRequest, Depends(org_access("audit:read"))],
    limit: LimitParam = 50,
    cursor: CursorParam = None,
    actor_id: uuid.UUID | None = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    entity_type: Annotated[str | None, Query(max_length=50)] = None,
    entity_id: uuid.UUID | None = None,
    since: Timestamp | None = None,
    until: Timestamp | None = None,
) -> Page[ActivityOut]:
    rows, next_cursor = await service.list_activities(
        session,
        organization_id=org.organization_id,
        actor_id=actor_id,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
    return Page[ActivityOut](items=[ActivityOut.model_validate(a) for a in rows], next_cursor=next_cursor)
