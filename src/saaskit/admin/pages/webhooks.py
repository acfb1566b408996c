"""An organization's webhooks: its endpoints (state, failures, subscribed types) and the latest
delivery attempts (read-only: organizations run their webhooks through the API)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from starlette.responses import Response

from saaskit.admin.pages.common import parse_id
from saaskit.admin.security import AdminDep
from saaskit.admin.web import render
from saaskit.kit.deps import DbSession
from saaskit.kit.errors import NotFound
from saaskit.tenancy.models import Organization
from saaskit.webhooks import service as webhooks

router = APIRouter(prefix="/admin/orgs", include_in_schema=False)
LOG_SIZE = 100


@router.get("/{organization_id}/webhooks")
async def webhooks_page(
    request: Request,
    organization_id: str,
    admin: AdminDep,
    session: DbSession,
    endpoint: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    org_id = parse_id(organization_id, "organization")
    org = await session.scalar(select(Organization).where(Organization.id == org_id))
    if org is None:
        raise NotFound("no such organization", field="organization_id")
    endpoint_id = parse_id(endpoint, "endpoint") if endpoint else None
    endpoints, _ = await webhooks.list_endpoints(session, org_id, limit=100, cursor=None)
    log = await webhooks.recent_deliveries(session, org_id, endpoint_id=endpoint_id, limit=LOG_SIZE)
    context = {
        "org": org,
        "endpoints": endpoints,
        "log": log,
        "endpoint_id": endpoint_id,
        "log_size": LOG_SIZE,
    }
    return render(request, "webhooks/page.html", context, section="orgs")
