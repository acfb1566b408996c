"""An organization's catalog, for its staff: categories, services, options and which options a
service offers (reading needs ``bookings:read``, changing ``catalog:write``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from saaskit.access.dependencies import OrgRequest, org_access
from saaskit.bookings import catalog
from saaskit.bookings.schemas import (
    CategoryIn,
    CategoryOut,
    CategoryPatch,
    OptionIn,
    OptionOut,
    OptionPatch,
    ServiceIn,
    ServiceOptionLinkIn,
    ServiceOut,
    ServicePatch,
)
from saaskit.kit.deps import DbSession

router = APIRouter(prefix="/api/orgs/{org_id}/catalog", tags=["bookings"])
Read = Annotated[OrgRequest, Depends(org_access("bookings:read", "catalog:write"))]
Write = Annotated[OrgRequest, Depends(org_access("catalog:write"))]


@router.get("/categories", response_model=list[CategoryOut], summary="Service categories in display order")
async def list_categories(session: DbSession, org: Read) -> list[CategoryOut]:
    rows = await catalog.list_categories(session, org.organization_id, active_only=False)
    return [CategoryOut.model_validate(r) for r in rows]


@router.post("/categories", status_code=201, response_model=CategoryOut, summary="Add a category")
async def create_category(body: CategoryIn, session: DbSession, org: Write) -> CategoryOut:
    return CategoryOut.model_validate(
        await catalog.create_category(session, org.actor, org.organization_id, body)
    )


@router.patch(
    "/categories/{category_id}", response_model=CategoryOut, summary="Rename, reorder, (de)activate"
)
async def update_category(
    category_id: uuid.UUID, body: CategoryPatch, session: DbSession, org: Write
) -> CategoryOut:
    row = await catalog.update_category(session, org.actor, org.organization_id, category_id, body)
    return CategoryOut.model_validate(row)


@router.get("/options", response_model=list[OptionOut], summary="Service options (add-ons)")
async def list_options(session: DbSession, org: Read) -> list[OptionOut]:
    return [OptionOut.model_validate(r) for r in await catalog.list_options(session, org.organization_id)]


@router.post("/options", status_code=201, response_model=OptionOut, summary="Add an option")
async def create_option(body: OptionIn, session: DbSession, org: Write) -> OptionOut:
    return OptionOut.model_validate(
        await catalog.create_option(session, org.actor, org.organization_id, body)
    )


@router.patch("/options/{option_id}", response_model=OptionOut, summary="Reprice, rename, (de)activate")
async def update_option(option_id: uuid.UUID, body: OptionPatch, session: DbSession, org: Write) -> OptionOut:
    row = await catalog.update_option(session, org.actor, org.organization_id, option_id, body)
    return OptionOut.model_validate(row)


@router.get("/services", response_model=list[ServiceOut], summary="Services with their options")
async def list_services(session: DbSession, org: Read) -> list[ServiceOut]:
    return await catalog.list_services(session, org.organization_id, active_only=False)


@router.post("/services", status_code=201, response_model=ServiceOut, summary="Add a service")
async def create_service(body: ServiceIn, session: DbSession, org: Write) -> ServiceOut:
    row = await catalog.create_service(session, org.actor, org.organization_id, body)
    return catalog.service_out(row, [])


@router.patch("/services/{service_id}", response_model=ServiceOut, summary="Change a service")
async def update_service(
    service_id: uuid.UUID, body: ServicePatch, session: DbSession, org: Write
) -> ServiceOut:
    row = await catalog.update_service(session, org.actor, org.organization_id, service_id, body)
    options = await catalog.offered_options(session, [row.id])
    return catalog.service_out(row, options.get(row.id, []))


@router.delete("/services/{service_id}", status_code=204, response_class=Response, summary="Retire a service")
async def delete_service(service_id: uuid.UUID, session: DbSession, org: Write) -> Response:
    await catalog.delete_service(session, org.actor, org.organization_id, service_id)
    return Response(status_code=204)


@router.put(
    "/services/{service_id}/options",
    response_model=ServiceOut,
    summary="Offer an option (required or optional)",
)
async def link_option(
    service_id: uuid.UUID, body: ServiceOptionLinkIn, session: DbSession, org: Write
) -> ServiceOut:
    await catalog.link_option(
        session, org.actor, org.organization_id, service_id, body.service_option_id, body.is_required
    )
    row = await catalog.get_service(session, org.organization_id, service_id)
    options = await catalog.offered_options(session, [row.id])
    return catalog.service_out(row, options.get(row.id, []))
