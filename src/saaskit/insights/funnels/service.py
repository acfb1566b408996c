"""Saved funnel definitions: create, read, change, delete, within one analytics scope.

A funnel belongs to the platform (``organization_id`` null, platform admins) or to one
organization (its analytics readers, with ``?organization_id=``). A funnel of another scope is
"not found", as if it did not exist. Flushes, never commits.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.insights.funnels import storage
from saaskit.insights.funnels.schemas import FunnelIn, FunnelUpdate
from saaskit.insights.models import ConversionFunnel
from saaskit.kit.errors import NotFound, Unprocessable
from saaskit.kit.pagination import keyset_page

# Changing these changes what the stored progress means.
DEFINING = {"steps", "conversion_window_days", "order_mode"}
NOT_NULL = {"name", "steps", "conversion_window_days", "order_mode", "is_active"}


def _in_scope(organization_id: uuid.UUID | None) -> Any:
    if organization_id is None:
        return ConversionFunnel.organization_id.is_(None)
    return ConversionFunnel.organization_id == organization_id


async def list_funnels(
    session: AsyncSession, organization_id: uuid.UUID | None, *, limit: int, cursor: str | None
) -> tuple[list[ConversionFunnel], str | None]:
    query = select(ConversionFunnel).where(_in_scope(organization_id))
    return await keyset_page(
        session,
        query,
        created_at=ConversionFunnel.created_at,
        row_id=ConversionFunnel.id,
        limit=limit,
        cursor=cursor,
    )


async def get_funnel(
    session: AsyncSession, organization_id: uuid.UUID | None, funnel_id: uuid.UUID, *, lock: bool = False
) -> ConversionFunnel:
    query = select(ConversionFunnel).where(ConversionFunnel.id == funnel_id, _in_scope(organization_id))
    if lock:
        query = query.with_for_update()
    funnel = await session.scalar(query.execution_options(populate_existing=True))
    if funnel is None:
        raise NotFound("no such funnel", field="funnel_id")
    return funnel


def _steps_json(body: FunnelIn | FunnelUpdate) -> list[dict[str, Any]]:
    assert body.steps is not None
    return [step.as_step().as_json() for step in body.steps]


async def create_funnel(
    session: AsyncSession, organization_id: uuid.UUID | None, created_by: uuid.UUID | None, body: FunnelIn
) -> ConversionFunnel:
    funnel = ConversionFunnel(
        organization_id=organization_id,
        name=body.name,
        description=body.description,
        steps=_steps_json(body),
        conversion_window_days=body.conversion_window_days,
        order_mode=body.order_mode,
        is_active=body.is_active,
        created_by=created_by,
    )
    session.add(funnel)
    await session.flush()
    await session.refresh(funnel)
    return funnel


async def update_funnel(
    session: AsyncSession, organization_id: uuid.UUID | None, funnel_id: uuid.UUID, body: FunnelUpdate
) -> ConversionFunnel:
    changes = body.model_dump(exclude_unset=True)
    for name in sorted(NOT_NULL & changes.keys()):
        if changes[name] is None:
            raise Unprocessable(f"{name}: may not be null", field=name)
    funnel = await get_funnel(session, organization_id, funnel_id, lock=True)
    if "steps" in changes:
        changes["steps"] = _steps_json(body)
    if any(changes[name] != getattr(funnel, name) for name in DEFINING & changes.keys()):
        await storage.delete_progress(session, funnel.id)
        storage.forget_progress(funnel)
    for name, value in changes.items():
        setattr(funnel, name, value)
    await session.flush()
    await session.refresh(funnel)
    return funnel


async def delete_funnel(
    session: AsyncSession, organization_id: uuid.UUID | None, funnel_id: uuid.UUID
) -> None:
    funnel = await get_funnel(session, organization_id, funnel_id, lock=True)
    # The progress rows go with it (ON DELETE CASCADE).
    await session.delete(funnel)
    await session.flush()
