"""The catalog: staff write categories, services and options (``catalog:write``); customers
read the live, active part of it. Flushes, never commits."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.audit import service as audit
from saaskit.audit.service import Actor
from saaskit.bookings.models import Service, ServiceCategory, ServiceOption, ServiceServiceOption
from saaskit.bookings.schemas import (
    CategoryIn,
    CategoryPatch,
    OfferedOptionOut,
    OptionIn,
    OptionOut,
    OptionPatch,
    ServiceIn,
    ServiceOut,
    ServicePatch,
)
from saaskit.kit.errors import Conflict, NotFound, Unprocessable


async def _audit(
    session: AsyncSession, actor: Actor, org_id: uuid.UUID, action: str, row: Any, data: dict[str, Any]
) -> None:
    await audit.record(
        session,
        actor,
        organization_id=org_id,
        action=action,
        entity_type=action.split(".")[0],
        entity_id=row.id,
        entity_name=row.name,
        metadata=audit.changes({}, data) if data else None,
    )


# -- categories -----------------------------------------------------------------------------------
async def list_categories(
    session: AsyncSession, org_id: uuid.UUID, *, active_only: bool
) -> list[ServiceCategory]:
    query = select(ServiceCategory).where(
        ServiceCategory.organization_id == org_id, ServiceCategory.deleted_at.is_(None)
    )
    if active_only:
        query = query.where(ServiceCategory.is_active)
    rows = await session.scalars(query.order_by(ServiceCategory.sort_order, ServiceCategory.name))
    return list(rows)


async def get_category(session: AsyncSession, org_id: uuid.UUID, category_id: uuid.UUID) -> ServiceCategory:
    row = await session.scalar(
        select(ServiceCategory).where(
            ServiceCategory.id == category_id,
            ServiceCategory.organization_id == org_id,
            ServiceCategory.deleted_at.is_(None),
        )
    )
    if row is None:
        raise NotFound("no such category", field="category_id")
    return row


async def create_category(
    session: AsyncSession, actor: Actor, org_id: uuid.UUID, body: CategoryIn
) -> ServiceCategory:
    row = ServiceCategory(organization_id=org_id, **body.model_dump())
    session.add(row)
    await session.flush()
    await _audit(session, actor, org_id, "service_category.created", row, body.model_dump())
    return row


async def update_category(
    session: AsyncSession, actor: Actor, org_id: uuid.UUID, category_id: uuid.UUID, body: CategoryPatch
) -> ServiceCategory:
    row = await get_category(session, org_id, category_id)
    changes = body.model_dump(exclude_unset=True)
    for name, value in changes.items():
        if value is None and name in ("name", "sort_order", "is_active"):
            raise Unprocessable(f"{name}: may not be null", field=name)
        setattr(row, name, value)
    await session.flush()
    await _audit(session, actor, org_id, "service_category.updated", row, changes)
    return row


# -- options --------------------------------------------------------------------------------------
async def list_options(session: AsyncSession, org_id: uuid.UUID) -> list[ServiceOption]:
    rows = await session.scalars(
        select(ServiceOption)
        .where(ServiceOption.organization_id == org_id, ServiceOption.deleted_at.is_(None))
        .order_by(ServiceOption.category, ServiceOption.name)
    )
    return list(rows)


async def create_option(
    session: AsyncSession, actor: Actor, org_id: uuid.UUID, body: OptionIn
) -> ServiceOption:
    taken = await session.scalar(
        select(func.count())
        .select_from(ServiceOption)
        .where(
            ServiceOption.organization_id == org_id,
            ServiceOption.code == body.code,
            ServiceOption.deleted_at.is_(None),
        )
    )
    if taken:
        raise Conflict("code: another option has this code", field="code", code="already_exists")
    row = ServiceOption(organization_id=org_id, **body.model_dump())
    session.add(row)
    await session.flush()
    await _audit(session, actor, org_id, "service_option.created", row, body.model_dump())
    return row


async def update_option(
    session: AsyncSession, actor: Actor, org_id: uuid.UUID, option_id: uuid.UUID, body: OptionPatch
) -> ServiceOption:
    row = await session.scalar(
        select(ServiceOption).where(
            ServiceOption.id == option_id,
            ServiceOption.organization_id == org_id,
            ServiceOption.deleted_at.is_(None),
        )
    )
    if row is None:
        raise NotFound("no such option", field="option_id")
    changes = body.model_dump(exclude_unset=True)
    for name, value in changes.items():
        if value is None and name != "description":
            raise Unprocessable(f"{name}: may not be null", field=name)
        setattr(row, name, value)
    await session.flush()
    await _audit(session, actor, org_id, "service_option.updated", row, changes)
    return row


# -- services -------------------------------------------------------------------------------------
def _check_limits(min_items: int, max_items: int) -> None:
    if max_items < min_items:
        raise Unprocessable(f"max_items: at least min_items ({min_items})", field="max_items")


async def create_service(session: AsyncSession, actor: Actor, org_id: uuid.UUID, body: ServiceIn) -> Service:
    _check_limits(body.min_items, body.max_items)
    if body.category_id is not None:
        await get_category(session, org_id, body.category_id)
    taken = await session.scalar(
        select(func.count())
        .select_from(Service)
        .where(Service.organization_id == org_id, Service.code == body.code, Service.deleted_at.is_(None))
    )
    if taken:
        raise Conflict("code: another service has this code", field="code", code="already_exists")
    row = Service(organization_id=org_id, **body.model_dump())
    session.add(row)
    await session.flush()
    await _audit(session, actor, org_id, "service.created", row, body.model_dump(mode="json"))
    return row


async def get_service(
    session: AsyncSession, org_id: uuid.UUID, service_id: uuid.UUID, *, field: str = "service_id"
) -> Service:
    row = await session.scalar(
        select(Service).where(
            Service.id == service_id, Service.organization_id == org_id, Service.deleted_at.is_(None)
        )
    )
    if row is None:
        raise NotFound("no such service", field=field)
    return row


async def update_service(
    session: AsyncSession, actor: Actor, org_id: uuid.UUID, service_id: uuid.UUID, body: ServicePatch
) -> Service:
    row = await get_service(session, org_id, service_id)
    changes = body.model_dump(exclude_unset=True)
    for name, value in changes.items():
        if value is None and name not in ("category_id", "description"):
            raise Unprocessable(f"{name}: may not be null", field=name)
    if changes.get("category_id") is not None:
        await get_category(session, org_id, changes["category_id"])
    _check_limits(changes.get("min_items", row.min_items), changes.get("max_items", row.max_items))
    for name, value in changes.items():
        setattr(row, name, value)
    await session.flush()
    await _audit(
        session, actor, org_id, "service.updated", row, body.model_dump(mode="json", exclude_unset=True)
    )
    return row


async def delete_service(
    session: AsyncSession, actor: Actor, org_id: uuid.UUID, service_id: uuid.UUID
) -> None:
    row = await get_service(session, org_id, service_id)
    await session.execute(
        update(Service).where(Service.id == row.id).values(deleted_at=func.now(), is_active=False)
    )
    await _audit(session, actor, org_id, "service.deleted", row, {})


async def link_option(
    session: AsyncSession,
    actor: Actor,
    org_id: uuid.UUID,
    service_id: uuid.UUID,
    option_id: uuid.UUID,
    required: bool,
) -> None:
    service = await get_service(session, org_id, service_id)
    option = await session.scalar(
        select(ServiceOption).where(
            ServiceOption.id == option_id,
            ServiceOption.organization_id == org_id,
            ServiceOption.deleted_at.is_(None),
        )
    )
    if option is None:
        raise NotFound("no such option", field="service_option_id")
    await session.execute(
        insert(ServiceServiceOption)
        .values(
            organization_id=org_id, service_id=service.id, service_option_id=option.id, is_required=required
        )
        .on_conflict_do_update(
            index_elements=["service_id", "service_option_id"],
            set_={"is_required": required, "updated_at": func.now()},
        )
    )
    await _audit(
        session,
        actor,
        org_id,
        "service.option_linked",
        service,
        {"option": option.code, "is_required": required},
    )


async def offered_options(
    session: AsyncSession, service_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[ServiceOption, bool]]]:
    """Each service's live, active options and whether each is required."""
    rows = await session.execute(
        select(ServiceServiceOption.service_id, ServiceOption, ServiceServiceOption.is_required)
        .join(ServiceOption, ServiceOption.id == ServiceServiceOption.service_option_id)
        .where(
            ServiceServiceOption.service_id.in_(service_ids),
            ServiceOption.deleted_at.is_(None),
            ServiceOption.is_active,
        )
        .order_by(ServiceOption.name)
    )
    found: dict[uuid.UUID, list[tuple[ServiceOption, bool]]] = defaultdict(list)
    for service_id, option, required in rows.all():
        found[service_id].append((option, bool(required)))
    return found


async def list_services(session: AsyncSession, org_id: uuid.UUID, *, active_only: bool) -> list[ServiceOut]:
    query = select(Service).where(Service.organization_id == org_id, Service.deleted_at.is_(None))
    if active_only:
        query = query.where(Service.is_active)
    services = list(await session.scalars(query.order_by(Service.name)))
    options = await offered_options(session, [s.id for s in services])
    return [service_out(s, options.get(s.id, [])) for s in services]


def service_out(service: Service, options: list[tuple[ServiceOption, bool]]) -> ServiceOut:
    out = ServiceOut.model_validate(service)
    out.options = [
        OfferedOptionOut(**OptionOut.model_validate(o).model_dump(), is_required=required)
        for o, required in options
    ]
    return out
