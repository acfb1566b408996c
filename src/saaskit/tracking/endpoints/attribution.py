"""Who is sending: a signed-in user (Bearer session token), or an organization through its
public ingestion key (``Authorization: Bearer phc_...``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from saaskit.accounts.dependencies import optional_principal
from saaskit.kit.db import Context, set_context
from saaskit.kit.deps import ClientDep, DbSession, RuntimeDep
from saaskit.kit.errors import Unauthorized
from saaskit.tracking import identity
from saaskit.tracking.buffer import IngestBuffer
from saaskit.tracking.ingest import Attribution, IngestResult, store_events


async def attribution(
    request: Request, session: DbSession, runtime: RuntimeDep, client: ClientDep
) -> Attribution:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    key = value.strip()
    if scheme.lower() == "bearer" and identity.looks_like_key(key):
        organization_id = await identity.organization_for_key(session, key)
        if organization_id is None:
            raise Unauthorized("unknown or rotated ingestion key", code="invalid_ingestion_key")
        # No context is set here: whoever writes sets it (write_events), in its own transaction.
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


async def enter_context(session: DbSession, sender: Attribution) -> None:
    """The sender's RLS context for writes made in the request's own transaction."""
    await set_context(session, Context(user_id=sender.user_id, organization_id=sender.organization_id))


async def write_events(
    request: Request, session: DbSession, sender: Attribution, events: list[dict[str, Any]]
) -> IngestResult:
    """Through the process's group-commit buffer when it runs (``serve``), else in the
    request's own transaction (an app without a lifespan, as in the ASGI test client)."""
    buffer = getattr(request.app.state, "ingest", None)
    if isinstance(buffer, IngestBuffer):
        # End the request's own (read-only) transaction first: waiting for the buffer while
        # holding a pooled connection would starve everyone else.
        await session.commit()
        return await buffer.submit(sender, events)
    await enter_context(session, sender)
    return await store_events(session, sender, events)


Sender = Annotated[Attribution, Depends(attribution)]
SignedInSender = Annotated[Attribution, Depends(signed_in_attribution)]
