"""HTTP endpoints of an organization's integrations: list, connect (start the OAuth flow with the
organization in its sealed state), disconnect. Permissions: org:read to list, org:update to
connect and disconnect (docs/integrations.md)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from saaskit.access.dependencies import OrgAccess, OrgRequest
from saaskit.accounts.oidc import flow
from saaskit.accounts.oidc.endpoints import ProviderName, check_return_to, state_cookie
from saaskit.accounts.oidc.providers import get_provider
from saaskit.integrations import service
from saaskit.integrations.connection import PERMISSION, integration_out
from saaskit.integrations.schemas import ConnectIn, ConnectOut, IntegrationOut
from saaskit.kit.deps import DbSession, RuntimeDep
from saaskit.kit.ratelimit import rate_limit

router = APIRouter(prefix="/api/orgs/{org_id}/integrations", tags=["integrations"])


@router.get("", response_model=list[IntegrationOut], summary="The organization's integrations")
async def list_integrations(
    session: DbSession, org: OrgRequest = OrgAccess("org:read"), include_disconnected: bool = False
) -> list[IntegrationOut]:
    rows = await service.list_integrations(
        session, org.organization_id, include_disconnected=include_disconnected
    )
    return [integration_out(row) for row in rows]


@router.post(
    "/{provider}/connect",
    response_model=ConnectOut,
    summary="Connect a provider: answers the provider's address to send the browser to",
    dependencies=[rate_limit("oidc_start_per_ip")],
)
async def connect(
    provider: ProviderName, body: ConnectIn, runtime: RuntimeDep, org: OrgRequest = OrgAccess(PERMISSION)
) -> Response:
    found = get_provider(runtime.settings, provider)
    url, sealed = await flow.start(
        runtime,
        found,
        purpose="connect",
        return_to=check_return_to(body.return_to),
        organization_id=str(org.organization_id),
        user_id=str(org.user_id),
    )
    expires = datetime.now(UTC) + timedelta(seconds=runtime.settings.oidc.state_ttl_seconds)
    response = JSONResponse(ConnectOut(authorization_url=url, expires_at=expires).model_dump(mode="json"))
    state_cookie(response, runtime, sealed)
    return response


@router.delete(
    "/{integration_id}",
    response_model=IntegrationOut,
    summary="Disconnect: the tokens are forgotten (and revoked at the provider when it allows)",
)
async def disconnect(
    integration_id: uuid.UUID,
    session: DbSession,
    runtime: RuntimeDep,
    org: OrgRequest = OrgAccess(PERMISSION),
) -> IntegrationOut:
    row = await service.disconnect(
        session, runtime, org.actor, organization_id=org.organization_id, integration_id=integration_id
    )
    return integration_out(row)
