"""The end of an organization's connection flow: the callback of sign-in with OpenID Connect
finds ``purpose == "connect"`` in the sealed state and hands over here.

The state names the organization and the member who started (sealed: it cannot be changed in
the browser); their access is checked again now, since minutes passed at the provider: the
member must still hold ``org:update`` there.
"""

from __future__ import annotations

import uuid

from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.access.service import resolve
from saaskit.accounts.models import User
from saaskit.accounts.oidc.flow import Identity, Tokens
from saaskit.accounts.oidc.providers import Provider
from saaskit.accounts.oidc.state import Pending
from saaskit.audit.service import Actor
from saaskit.integrations import service
from saaskit.integrations.models import Integration
from saaskit.integrations.schemas import IntegrationOut
from saaskit.kit.errors import Forbidden, NotFound
from saaskit.kit.state import Runtime

PERMISSION = "org:update"


def integration_out(row: Integration) -> IntegrationOut:
    out = IntegrationOut.model_validate(row)
    out.has_refresh_token = row.refresh_token_sealed is not None
    return out


async def finish(
    session: AsyncSession,
    runtime: Runtime,
    actor: Actor,
    provider: Provider,
    pending: Pending,
    identity: Identity,
    tokens: Tokens,
) -> Response:
    if pending.organization_id is None or pending.user_id is None:
        raise Forbidden("the connection was not started by a member", field="state", code="invalid_state")
    organization_id, user_id = uuid.UUID(pending.organization_id), uuid.UUID(pending.user_id)
    user = await session.get(User, user_id)
    if user is None or user.status != "active" or user.deleted_at is not None:
        raise Forbidden("the account that started the connection cannot act now", code="account_suspended")
    access = await resolve(
        session, user_id=user_id, organization_id=organization_id, is_platform_admin=user.role == "admin"
    )
    if access is None or access.is_deleted:
        raise NotFound("no such organization", field="org_id")
    if not access.can(PERMISSION):
        raise Forbidden(f"this needs the permission {PERMISSION}", code="permission_denied")
    actor = Actor(
        user_id=user_id,
        ip_hash=actor.ip_hash,
        as_platform_admin=access.acting_as_platform_admin,
        request=actor.request,
    )
    row = await service.connect(
        session, runtime, actor, organization_id=organization_id, identity=identity, tokens=tokens
    )
    if pending.return_to is not None:
        return RedirectResponse(
            f"{runtime.settings.product.url.rstrip('/')}{pending.return_to}", status_code=303
        )
    return JSONResponse(integration_out(row).model_dump(mode="json"))
