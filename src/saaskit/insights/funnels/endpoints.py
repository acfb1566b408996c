"""Funnels API: saved definitions (CRUD), computing and storing progress, results, ad-hoc queries.

Access is the insights rule (``ScopeDep``): platform funnels for platform admins, an
organization's funnels with ``?organization_id=`` for its analytics readers.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from saaskit.accounts.dependencies import CurrentUser
from saaskit.insights.access import AnalyticsSession, ScopeDep, TimeZone
from saaskit.insights.funnels import service, storage
from saaskit.insights.funnels.compute import compute_funnel
from saaskit.insights.funnels.schemas import (
    FunnelComputeOut,
    FunnelIn,
    FunnelOut,
    FunnelQuery,
    FunnelResultOut,
    FunnelResultsOut,
    FunnelUpdate,
)
from saaskit.kit.deps import DbSession
from saaskit.kit.pagination import CursorParam, LimitParam, Page
from saaskit.kit.schemas import Day

router = APIRouter(prefix="/api/insights/funnels", tags=["insights: funnels"])

From = Annotated[Day, Query(alias="from", description="First day of the range (in tz).")]
To = Annotated[Day, Query(alias="to", description="Day after the last one: the range is [from, to).")]


@router.post("", status_code=201, response_model=FunnelOut, summary="Define a funnel")
async def create(body: FunnelIn, scope: ScopeDep, principal: CurrentUser, session: DbSession) -> FunnelOut:
    funnel = await service.create_funnel(session, scope.organization_id, principal.user_id, body)
    return FunnelOut.model_validate(funnel)


@router.get("", response_model=Page[FunnelOut], summary="The scope's funnels, newest first")
async def list_all(
    scope: ScopeDep, session: DbSession, limit: LimitParam = 100, cursor: CursorParam = None
) -> Page[FunnelOut]:
    funnels, next_cursor = await service.list_funnels(
        session, scope.organization_id, limit=limit, cursor=cursor
    )
    return Page[FunnelOut](items=[FunnelOut.model_validate(f) for f in funnels], next_cursor=next_cursor)


@router.post("/query", summary="Compute a funnel given inline, without saving anything")
async def query(
    body: FunnelQuery, scope: ScopeDep, session: AnalyticsSession, start: From, end: To, tz: TimeZone
) -> FunnelResultOut:
    result = await compute_funnel(session, body.definition(scope.organization_id), start, end, tz)
    return result.to_schema()


@router.get("/{funnel_id}", response_model=FunnelOut, summary="One funnel")
async def get(funnel_id: uuid.UUID, scope: ScopeDep, session: DbSession) -> FunnelOut:
    return FunnelOut.model_validate(await service.get_funnel(session, scope.organization_id, funnel_id))


@router.patch("/{funnel_id}", response_model=FunnelOut, summary="Change a funnel")
async def update(funnel_id: uuid.UUID, body: FunnelUpdate, scope: ScopeDep, session: DbSession) -> FunnelOut:
    funnel = await service.update_funnel(session, scope.organization_id, funnel_id, body)
    return FunnelOut.model_validate(funnel)


@router.delete("/{funnel_id}", status_code=204, summary="Delete a funnel and its stored progress")
async def delete(funnel_id: uuid.UUID, scope: ScopeDep, session: DbSession) -> Response:
    await service.delete_funnel(session, scope.organization_id, funnel_id)
    return Response(status_code=204)


@router.post(
    "/{funnel_id}/compute",
    summary="Compute over [from, to) and store each person's progress (replacing the previous)",
)
async def compute(
    funnel_id: uuid.UUID, scope: ScopeDep, session: DbSession, start: From, end: To, tz: TimeZone
) -> FunnelComputeOut:
    funnel = await service.get_funnel(session, scope.organization_id, funnel_id)
    result = await storage.compute_and_store(session, funnel, start, end, tz)
    return FunnelComputeOut(id=funnel.id, people=len(result.progress), **result.answer_fields())


@router.get(
    "/{funnel_id}/results",
    summary="Per-step figures: from the stored progress when it is for [from, to), else computed now",
)
async def results(
    funnel_id: uuid.UUID, scope: ScopeDep, session: DbSession, start: From, end: To, tz: TimeZone
) -> FunnelResultsOut:
    funnel = await service.get_funnel(session, scope.organization_id, funnel_id)
    result = await storage.results(session, funnel, start, end, tz)
    return FunnelResultsOut(id=funnel.id, **result.answer_fields())
