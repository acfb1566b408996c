"""An organization's webhooks: endpoints, their secret, the events sent and the delivery log,
replays and test sends (``webhooks:read`` to read, ``webhooks:write`` to change). Thin: the
rules are in ``service``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from saaskit.access.dependencies import OrgRequest, org_access
from saaskit.kit.deps import DbSession, RuntimeDep
from saaskit.kit.pagination import CursorParam, LimitParam, Page
from saaskit.webhooks import service, signing
from saaskit.webhooks.catalog import EVENT_TYPES
from saaskit.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookMessage
from saaskit.webhooks.schemas import (
    WebhookDeliveryOut,
    WebhookEndpointIn,
    WebhookEndpointOut,
    WebhookEndpointPatch,
    WebhookEndpointWithSecret,
    WebhookEventTypeOut,
    WebhookMessageOut,
    WebhookQueued,
)

router = APIRouter(prefix="/api/orgs/{org_id}/webhooks", tags=["webhooks"])
catalog_router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])

Read = Annotated[OrgRequest, Depends(org_access("webhooks:read"))]
Write = Annotated[OrgRequest, Depends(org_access("webhooks:write"))]


def _with_secret(endpoint: WebhookEndpoint, secret: str) -> WebhookEndpointWithSecret:
    return WebhookEndpointWithSecret.model_validate(
        {**WebhookEndpointOut.model_validate(endpoint).model_dump(), "secret": secret}
    )


def _message(message: WebhookMessage) -> WebhookMessageOut:
    return WebhookMessageOut(
        id=message.id,
        webhook_id=signing.webhook_id(message.id),
        event_type=message.event_type,
        data=message.data,
        created_at=message.created_at,
    )


def _columns(delivery: WebhookDelivery) -> dict[str, object]:
    return {name: getattr(delivery, name) for name in WebhookDeliveryOut.model_fields if name != "event_type"}


def _queued(message: WebhookMessage, endpoint_id: uuid.UUID) -> WebhookQueued:
    return WebhookQueued(
        message_id=message.id,
        webhook_id=signing.webhook_id(message.id),
        endpoint_id=endpoint_id,
        status="queued",
    )


@catalog_router.get(
    "/event-types", response_model=list[WebhookEventTypeOut], summary="Every webhook event type"
)
async def event_types() -> list[WebhookEventTypeOut]:
    return [WebhookEventTypeOut.model_validate(spec) for spec in EVENT_TYPES.values()]


@router.get(
    "", response_model=Page[WebhookEndpointOut], summary="The organization's webhook endpoints, newest first"
)
async def list_endpoints(
    session: DbSession, org: Read, limit: LimitParam = 50, cursor: CursorParam = None
) -> Page[WebhookEndpointOut]:
    rows, next_cursor = await service.list_endpoints(session, org.organization_id, limit=limit, cursor=cursor)
    return Page[WebhookEndpointOut](
        items=[WebhookEndpointOut.model_validate(r) for r in rows], next_cursor=next_cursor
    )


@router.post("", status_code=201, response_model=WebhookEndpointWithSecret, summary="Add a webhook endpoint")
async def create_endpoint(
    body: WebhookEndpointIn, session: DbSession, runtime: RuntimeDep, org: Write
) -> WebhookEndpointWithSecret:
    endpoint, secret = await service.create_endpoint(session, runtime, org.actor, org.organization_id, body)
    return _with_secret(endpoint, secret)


@router.get(
    "/messages",
    response_model=Page[WebhookMessageOut],
    summary="Events emitted for the organization, newest first",
)
async def list_messages(
    session: DbSession,
    org: Read,
    event_type: Annotated[str | None, Query(max_length=100)] = None,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[WebhookMessageOut]:
    rows, next_cursor = await service.list_messages(
        session, org.organization_id, event_type=event_type, limit=limit, cursor=cursor
    )
    return Page[WebhookMessageOut](items=[_message(m) for m in rows], next_cursor=next_cursor)


@router.get("/{endpoint_id}", response_model=WebhookEndpointOut, summary="One webhook endpoint")
async def get_endpoint(endpoint_id: uuid.UUID, session: DbSession, org: Read) -> WebhookEndpointOut:
    return WebhookEndpointOut.model_validate(
        await service.get_endpoint(session, org.organization_id, endpoint_id)
    )


@router.patch(
    "/{endpoint_id}", response_model=WebhookEndpointOut, summary="Change, disable or enable an endpoint"
)
async def update_endpoint(
    endpoint_id: uuid.UUID, body: WebhookEndpointPatch, session: DbSession, runtime: RuntimeDep, org: Write
) -> WebhookEndpointOut:
    endpoint = await service.update_endpoint(
        session, runtime, org.actor, org.organization_id, endpoint_id, body
    )
    return WebhookEndpointOut.model_validate(endpoint)


@router.delete(
    "/{endpoint_id}", status_code=204, response_class=Response, summary="Delete a webhook endpoint"
)
async def delete_endpoint(endpoint_id: uuid.UUID, session: DbSession, org: Write) -> Response:
    await service.delete_endpoint(session, org.actor, org.organization_id, endpoint_id)
    return Response(status_code=204)


@router.post(
    "/{endpoint_id}/rotate-secret",
    response_model=WebhookEndpointWithSecret,
    summary="A new signing secret (the old one also signs for SAASKIT_WEBHOOKS_SECRET_OVERLAP_HOURS)",
)
async def rotate_secret(
    endpoint_id: uuid.UUID, session: DbSession, runtime: RuntimeDep, org: Write
) -> WebhookEndpointWithSecret:
    endpoint, secret = await service.rotate_secret(
        session, runtime, org.actor, org.organization_id, endpoint_id
    )
    return _with_secret(endpoint, secret)


@router.post(
    "/{endpoint_id}/test", status_code=202, response_model=WebhookQueued, summary="Send a webhook.test event"
)
async def send_test(endpoint_id: uuid.UUID, session: DbSession, org: Write) -> WebhookQueued:
    message = await service.send_test(session, org.actor, org.organization_id, endpoint_id)
    return _queued(message, endpoint_id)


@router.post(
    "/{endpoint_id}/messages/{message_id}/replay",
    status_code=202,
    response_model=WebhookQueued,
    summary="Send a past event to the endpoint again",
)
async def replay(
    endpoint_id: uuid.UUID, message_id: uuid.UUID, session: DbSession, org: Write
) -> WebhookQueued:
    message = await service.replay(session, org.actor, org.organization_id, endpoint_id, message_id)
    return _queued(message, endpoint_id)


@router.get(
    "/{endpoint_id}/deliveries",
    response_model=Page[WebhookDeliveryOut],
    summary="The endpoint's delivery log (one row per attempt), newest first",
)
async def list_deliveries(
    endpoint_id: uuid.UUID,
    session: DbSession,
    org: Read,
    message_id: uuid.UUID | None = None,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[WebhookDeliveryOut]:
    rows, next_cursor = await service.list_deliveries(
        session, org.organization_id, endpoint_id, message_id=message_id, limit=limit, cursor=cursor
    )
    items = [
        WebhookDeliveryOut.model_validate({**_columns(delivery), "event_type": event_type})
        for delivery, event_type in rows
    ]
    return Page[WebhookDeliveryOut](items=items, next_cursor=next_cursor)
