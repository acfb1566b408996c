"""Who is sending: a signed-in user (Bearer session token), or an organization through its
public ingestion key (``Authorization: Bearer phc_...``).

The event endpoints are the hottest of the API, so they declare no database session: a key is
usually answered from the in-process cache, and a short session is opened only to look a key
up or to authenticate a user. Events then go to the process's group-commit buffer.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from saaskit.accounts.dependencies import optional_principal
from saaskit.kit.db import Context, set_context
from saaskit.kit.deps import Client, DbSession
from saaskit.kit.errors import Unauthorized
from saaskit.kit.ratelimit import limiter_of
from saaskit.kit.state import Runtime
from saaskit.tracking import identity
from saaskit.tracking.buffer import IngestBuffer
from saaskit.tracking.ingest import Attribution, IngestResult, store_events


def _runtime(request: Request) -> Runtime:
    runtime = request.app.state.runtime
    assert isinstance(runtime, Runtime)
    return runtime


async def sender_of(request: Request, *, keys_allowed: bool = True) -> Attribution:
    """The sender of an ingestion request; 401 when there is none; 429 past the rate limits
    (``capture_per_ip`` before anything else, ``capture_per_key`` per organization or user)."""
    runtime = _runtime(request)
    client = Client(request, runtime)
    limiter = limiter_of(runtime)
    await limiter.hit("capture_per_ip", client.ip_hash)
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    key = value.strip()
    country = client.country_code
    if keys_allowed and scheme.lower() == "bearer" and identity.looks_like_key(key):
        organization_id = await identity.organization_of_key(runtime.db, key)
        if organization_id is None:
            raise Unauthorized("unknown or rotated ingestion key", code="invalid_ingestion_key")
        await limiter.hit("capture_per_key", str(organization_id))
        return Attribution(organization_id=organization_id, country_code=country)
    async with runtime.db.session() as session:
        principal = await optional_principal(request, session, runtime)
    if principal is None:
        if keys_allowed:
            raise Unauthorized(
                "send a session token or an ingestion key (Authorization: Bearer ...)",
                code="not_authenticated",
            )
        raise Unauthorized(
            "sign in first: these events belong to a user (Authorization: Bearer <session token>)",
            code="not_authenticated",
        )
    await limiter.hit("capture_per_key", str(principal.user_id))
    return Attribution(user_id=principal.user_id, country_code=country)


async def attribution(request: Request) -> Attribution:
    return await sender_of(request)


async def signed_in_attribution(request: Request) -> Attribution:
    return await sender_of(request, keys_allowed=False)


async def enter_context(session: DbSession, sender: Attribution) -> None:
    """The sender's RLS context for writes made in the request's own transaction."""
    await set_context(session, Context(user_id=sender.user_id, organization_id=sender.organization_id))


async def write_events(request: Request, sender: Attribution, events: list[dict[str, Any]]) -> IngestResult:
    """Through the process's group-commit buffer when it runs (``serve``), else in a
    transaction of this request (an app without a lifespan, as in the ASGI test client)."""
    buffer = getattr(request.app.state, "ingest", None)
    if isinstance(buffer, IngestBuffer):
        return await buffer.submit(sender, events)
    context = Context(user_id=sender.user_id, organization_id=sender.organization_id)
    async with _runtime(request).db.session(context) as session:
        return await store_events(session, sender, events)


Sender = Annotated[Attribution, Depends(attribution)]
SignedInSender = Annotated[Attribution, Depends(signed_in_attribution)]
