"""Webhooks: emitting events, and an organization's endpoints (flush, never commit).

``emit`` is what other domains call, inside the transaction of the change it describes: it
writes the message and defers one delivery job per enabled endpoint subscribed to the type, in
that same transaction, so a change that rolls back sends nothing, and a committed one is sent
even if the process stops right after the commit.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, any_, literal, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.audit import service as audit
from saaskit.audit.service import Actor
from saaskit.jobs import defer
from saaskit.kit.errors import Conflict, NotFound, Unprocessable
from saaskit.kit.pagination import keyset_page
from saaskit.kit.state import Runtime
from saaskit.webhooks import signing
from saaskit.webhooks.addresses import AddressRefused, resolve_target
from saaskit.webhooks.catalog import EVERY_TYPE, check_type
from saaskit.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookMessage
from saaskit.webhooks.schemas import WebhookEndpointIn, WebhookEndpointPatch


async def defer_attempt(
    session: AsyncSession,
    message_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    *,
    attempt: int = 1,
    trigger: str = "event",
    at: datetime | None = None,
) -> None:
    from saaskit.webhooks.tasks import deliver

    await defer(
        session,
        deliver,
        schedule_at=at,
        message_id=str(message_id),
        endpoint_id=str(endpoint_id),
        attempt=attempt,
        trigger=trigger,
    )


async def emit(
    session: AsyncSession,
    organization_id: uuid.UUID,
    event_type: str,
    data: dict[str, Any],
    *,
    dedupe_key: str | None = None,
) -> uuid.UUID | None:
    """Record the event and queue its delivery to every enabled endpoint subscribed to it.

    Returns the message's id; None when ``dedupe_key`` was emitted before for the organization
    (the second emit of one fact). An unknown type is a bug in the caller (``ValueError``).
    The session must act as the service or as the organization (RLS)."""
    check_type(event_type)
    statement = insert(WebhookMessage).values(
        id=uuid.uuid4(),
        organization_id=organization_id,
        event_type=event_type,
        data=data,
        dedupe_key=dedupe_key,
    )
    if dedupe_key is not None:
        statement = statement.on_conflict_do_nothing(
            index_elements=["organization_id", "dedupe_key"],
            index_where=WebhookMessage.dedupe_key.is_not(None),
        )
    message_id: uuid.UUID | None = await session.scalar(statement.returning(WebhookMessage.id))
    if message_id is None:
        return None
    endpoints = await session.scalars(
        select(WebhookEndpoint.id).where(
            WebhookEndpoint.organization_id == organization_id,
            WebhookEndpoint.is_enabled.is_(True),
            or_(
                literal(event_type) == any_(WebhookEndpoint.event_types),
                literal(EVERY_TYPE) == any_(WebhookEndpoint.event_types),
            ),
        )
    )
    for endpoint_id in endpoints.all():
        await defer_attempt(session, message_id, endpoint_id)
    return message_id


# -- endpoints -------------------------------------------------------------------------------------


async def check_url(runtime: Runtime, url: str) -> None:
    """422 naming ``url`` when it may not be delivered to (addresses.py)."""
    try:
        await resolve_target(url, runtime.settings.webhooks.allow_private_networks)
    except AddressRefused as exc:
        raise Unprocessable(f"url: {exc}", field="url", code="url_refused") from exc


def _subject(endpoint: WebhookEndpoint) -> audit.Subject:
    return audit.Subject(endpoint.organization_id, "webhook_endpoint", endpoint.id, endpoint.url)


async def list_endpoints(
    session: AsyncSession, organization_id: uuid.UUID, *, limit: int, cursor: str | None
) -> tuple[list[WebhookEndpoint], str | None]:
    query: Select[Any] = select(WebhookEndpoint).where(WebhookEndpoint.organization_id == organization_id)
    return await keyset_page(
        session,
        query,
        created_at=WebhookEndpoint.created_at,
        row_id=WebhookEndpoint.id,
        limit=limit,
        cursor=cursor,
    )


async def get_endpoint(
    session: AsyncSession, organization_id: uuid.UUID, endpoint_id: uuid.UUID, *, lock: bool = False
) -> WebhookEndpoint:
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id, WebhookEndpoint.organization_id == organization_id
    )
    endpoint = await session.scalar(query.with_for_update() if lock else query)
    if endpoint is None:
        raise NotFound("no such webhook endpoint", field="endpoint_id")
    return endpoint


async def create_endpoint(
    session: AsyncSession, runtime: Runtime, actor: Actor, organization_id: uuid.UUID, body: WebhookEndpointIn
) -> tuple[WebhookEndpoint, str]:
    """The new endpoint and its secret (shown once)."""
    await check_url(runtime, body.url)
    endpoint_id = uuid.uuid4()
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        id=endpoint_id,
        organization_id=organization_id,
        url=body.url,
        description=body.description,
        event_types=body.event_types,
        sealed_secret=signing.seal(runtime.secret, endpoint_id, secret),
        created_by=actor.user_id,
    )
    session.add(endpoint)
    await session.flush()
    await session.refresh(endpoint)
    metadata = {"event_types": body.event_types}
    await audit.record_about(
        session, actor, _subject(endpoint), "created", f"Added webhook endpoint {body.url}.", metadata
    )
    return endpoint, secret


async def update_endpoint(
    session: AsyncSession,
    runtime: Runtime,
    actor: Actor,
    organization_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    body: WebhookEndpointPatch,
) -> WebhookEndpoint:
    endpoint = await get_endpoint(session, organization_id, endpoint_id, lock=True)
    fields = ("url", "description", "event_types", "is_enabled")
    before = {name: getattr(endpoint, name) for name in fields}
    if body.url is not None and body.url != endpoint.url:
        await check_url(runtime, body.url)
        endpoint.url = body.url
    if body.description is not None:
        endpoint.description = body.description
    if body.event_types is not None:
        endpoint.event_types = body.event_types
    if body.is_enabled is not None and body.is_enabled != endpoint.is_enabled:
        if body.is_enabled:
            enable(endpoint)
        else:
            disable(endpoint, f"disabled by {actor.user_id or 'an operator'}", datetime.now(UTC))
    await session.flush()
    diff = audit.changes(before, {name: getattr(endpoint, name) for name in fields})
    if diff:
        description = f"Changed {', '.join(sorted(diff))} of webhook endpoint {endpoint.url}."
        await audit.record_about(
            session, actor, _subject(endpoint), "updated", description, {"changes": diff}
        )
    await session.refresh(endpoint)
    return endpoint


def enable(endpoint: WebhookEndpoint) -> None:
    endpoint.is_enabled = True
    endpoint.disabled_at = None
    endpoint.disabled_reason = None
    endpoint.consecutive_failures = 0
    endpoint.failing_since = None


def disable(endpoint: WebhookEndpoint, reason: str, now: datetime) -> None:
    endpoint.is_enabled = False
    endpoint.disabled_at = now
    endpoint.disabled_reason = reason


async def delete_endpoint(
    session: AsyncSession, actor: Actor, organization_id: uuid.UUID, endpoint_id: uuid.UUID
) -> None:
    endpoint = await get_endpoint(session, organization_id, endpoint_id, lock=True)
    subject = _subject(endpoint)
    await session.delete(endpoint)
    await session.flush()
    await audit.record_about(
        session, actor, subject, "deleted", f"Deleted webhook endpoint {subject.entity_name}."
    )


async def rotate_secret(
    session: AsyncSession, runtime: Runtime, actor: Actor, organization_id: uuid.UUID, endpoint_id: uuid.UUID
) -> tuple[WebhookEndpoint, str]:
    """A new secret; the current one keeps signing too for ``secret_overlap_hours``."""
    endpoint = await get_endpoint(session, organization_id, endpoint_id, lock=True)
    overlap = timedelta(hours=runtime.settings.webhooks.secret_overlap_hours)
    secret = signing.new_secret()
    endpoint.previous_sealed_secret = endpoint.sealed_secret if overlap else None
    endpoint.previous_secret_expires_at = datetime.now(UTC) + overlap if overlap else None
    endpoint.sealed_secret = signing.seal(runtime.secret, endpoint.id, secret)
    await session.flush()
    await session.refresh(endpoint)
    description = f"Rotated the secret of webhook endpoint {endpoint.url}."
    metadata = {"previous_secret_expires_at": str(endpoint.previous_secret_expires_at)}
    await audit.record_about(session, actor, _subject(endpoint), "secret_rotated", description, metadata)
    return endpoint, secret


# -- messages and the delivery log -----------------------------------------------------------------


async def list_deliveries(
    session: AsyncSession,
    organization_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    *,
    message_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[tuple[WebhookDelivery, str]], str | None]:
    await get_endpoint(session, organization_id, endpoint_id)
    query: Select[Any] = (
        select(WebhookDelivery, WebhookMessage.event_type)  # type: ignore[assignment]
        .join(WebhookMessage, WebhookMessage.id == WebhookDelivery.message_id)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.organization_id == organization_id)
    )
    if message_id is not None:
        query = query.where(WebhookDelivery.message_id == message_id)
    return await keyset_page(
        session,
        query,
        created_at=WebhookDelivery.created_at,
        row_id=WebhookDelivery.id,
        limit=limit,
        cursor=cursor,
    )


async def list_messages(
    session: AsyncSession,
    organization_id: uuid.UUID,
    *,
    event_type: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[WebhookMessage], str | None]:
    query: Select[Any] = select(WebhookMessage).where(WebhookMessage.organization_id == organization_id)
    if event_type is not None:
        query = query.where(WebhookMessage.event_type == event_type)
    return await keyset_page(
        session,
        query,
        created_at=WebhookMessage.created_at,
        row_id=WebhookMessage.id,
        limit=limit,
        cursor=cursor,
    )


async def replay(
    session: AsyncSession,
    actor: Actor,
    organization_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    message_id: uuid.UUID,
) -> WebhookMessage:
    """Send a past message to the endpoint again (same webhook-id), whatever its earlier fate."""
    endpoint = await get_endpoint(session, organization_id, endpoint_id)
    if not endpoint.is_enabled:
        raise Conflict(
            "the endpoint is disabled: enable it first", field="endpoint_id", code="endpoint_disabled"
        )
    message = await session.scalar(
        select(WebhookMessage).where(
            WebhookMessage.id == message_id, WebhookMessage.organization_id == organization_id
        )
    )
    if message is None:
        raise NotFound("no such webhook message", field="message_id")
    await defer_attempt(session, message.id, endpoint.id, trigger="replay")
    description = f"Replayed {message.event_type} message {signing.webhook_id(message.id)} to {endpoint.url}."
    await audit.record_about(
        session, actor, _subject(endpoint), "replayed", description, {"message_id": str(message.id)}
    )
    return message


async def send_test(
    session: AsyncSession, actor: Actor, organization_id: uuid.UUID, endpoint_id: uuid.UUID
) -> WebhookMessage:
    """A ``webhook.test`` message to this endpoint only (even a disabled one: that is how one
    checks it works again before enabling it)."""
    endpoint = await get_endpoint(session, organization_id, endpoint_id)
    message = WebhookMessage(
        id=uuid.uuid4(),
        organization_id=organization_id,
        event_type="webhook.test",
        data={"endpoint_id": str(endpoint.id), "message": "A test event sent from saaskit."},
    )
    session.add(message)
    await session.flush()
    await session.refresh(message)
    await defer_attempt(session, message.id, endpoint.id, trigger="test")
    description = f"Sent a test event to webhook endpoint {endpoint.url}."
    await audit.record_about(
        session, actor, _subject(endpoint), "tested", description, {"message_id": str(message.id)}
    )
    return message


async def recent_deliveries(
    session: AsyncSession, organization_id: uuid.UUID, *, endpoint_id: uuid.UUID | None, limit: int
) -> list[tuple[WebhookDelivery, str, str]]:
    """The latest attempts to the organization's endpoints (delivery, event type, endpoint URL),
    newest first: the admin page's log."""
    query = (
        select(WebhookDelivery, WebhookMessage.event_type, WebhookEndpoint.url)
        .join(WebhookMessage, WebhookMessage.id == WebhookDelivery.message_id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.organization_id == organization_id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(limit)
    )
    if endpoint_id is not None:
        query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
    return [(row[0], row[1], row[2]) for row in (await session.execute(query)).all()]
