"""Who is sending: a signed-in user (Bearer session token), or an organization through its
public ingestion key (``Authorization: Bearer phc_...``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from saaskit.accounts.dependencies import optional_principal
from saaskit.kit.db import Context, set_context
from saaskit.kit.deps import ClientDep, DbSession, RuntimeDep
from saaskit.kit.errors import Unauthorized
from saaskit.tracking import identity
from saaskit.tracking.ingest import Attribution


async def attribution(
    request: Request, session: DbSession, runtime: RuntimeDep, client: ClientDep
) -> Attribution:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    key = value.strip()
    if scheme.lower() == "bearer" and identity.looks_like_key(key):
        organization_id = await identity.organization_for_key(session, key)
        if organization_id is None:
            raise Unauthorized("unknown or rotated ingestion key", code="invalid_ingestion_key")
        await set_context(session, Context(organization_id=organization_id))
        return Attribution(organization_id=organization_id, country_code=client.country_code)
    principal = await optional_principal(request, session, runtime)
    if principal is None:
        raise Unauthorized(
            "send a session token or an ingestion key (Authorization: Bearer ...)", code="not_authenticated"
        )
    return Attribution(user_id=principal.user_id, country_code=client.country_code)


async def signed_in_attribution(
    request: Request, session: DbSession, runtime: RuntimeDep, client: ClientDep
) -> Attribution:
    principal = await optional_principal(request, session, runtime)
    if principal is None:
        raise Unauthorized("sign in first: these events belong to a user", code="not_authenticated")
    return Attribution(user_id=principal.user_id, country_code=client.country_code)


Sender = Annotated[Attribution, Depends(attribution)]
SignedInSender = Annotated[Attribution, Depends(signed_in_attribution)]
