"""Feature flags of an organization: list, create, read, change, delete, and "what would this id
get" (``flags:read`` to read, ``flags:write`` to change)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from saaskit.access.dependencies import OrgRequest, org_access
from saaskit.flags import service
from saaskit.flags.schemas import EvaluateIn, FlagEvaluation, FlagIn, FlagOut, FlagPatch
from saaskit.kit.deps import DbSession
from saaskit.kit.pagination import CursorParam, LimitParam, Page

router = APIRouter(prefix="/api/orgs/{org_id}/flags", tags=["feature flags"])

Read = Annotated[OrgRequest, Depends(org_access("flags:read"))]
Write = Annotated[OrgRequest, Depends(org_access("flags:write"))]


@router.get("", response_model=Page[FlagOut], summary="The organization's feature flags, newest first")
async def list_flags(
    session: DbSession, org: Read, limit: LimitParam = 50, cursor: CursorParam = None
) -> Page[FlagOut]:
    rows, next_cursor = await service.list_flags(session, org.organization_id, limit=limit, cursor=cursor)
    return Page[FlagOut](items=[FlagOut.model_validate(f) for f in rows], next_cursor=next_cursor)


@router.post("", status_code=201, response_model=FlagOut, summary="Create a feature flag")
async def create_flag(body: FlagIn, session: DbSession, org: Write) -> FlagOut:
    return FlagOut.model_validate(await service.create_flag(session, org.actor, org.organization_id, body))


@router.get("/{flag_id}", response_model=FlagOut, summary="One feature flag")
async def get_flag(flag_id: uuid.UUID, session: DbSession, org: Read) -> FlagOut:
    return FlagOut.model_validate(await service.get_flag(session, org.organization_id, flag_id))


@router.patch("/{flag_id}", response_model=FlagOut, summary="Change a flag's name, active state or filters")
async def update_flag(flag_id: uuid.UUID, body: FlagPatch, session: DbSession, org: Write) -> FlagOut:
    flag = await service.update_flag(session, org.actor, org.organization_id, flag_id, body)
    return FlagOut.model_validate(flag)


@router.delete("/{flag_id}", status_code=204, response_class=Response, summary="Delete a feature flag")
async def delete_flag(flag_id: uuid.UUID, session: DbSession, org: Write) -> Response:
    await service.delete_flag(session, org.actor, org.organization_id, flag_id)
    return Response(status_code=204)


@router.post(
    "/evaluate",
    response_model=list[FlagEvaluation],
    summary="What a distinct id gets from every active flag, and why",
)
async def evaluate(body: EvaluateIn, session: DbSession, org: Read) -> list[FlagEvaluation]:
    answers = await service.evaluate_flags(
        session,
        org.organization_id,
        body.distinct_id,
        person_properties=body.person_properties,
        groups=body.groups,
        group_properties=body.group_properties,
    )
    return [
        FlagEvaluation(
            key=a.flag.key,
            enabled=a.result.enabled,
            variant=a.result.variant,
            reason=a.result.reason,
            condition_index=a.result.condition_index,
            payload=a.payload,
        )
        for a in answers
    ]
