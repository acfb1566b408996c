"""Requests and answers of the webhook API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field, field_validator

from saaskit.kit.schemas import Input, Output
from saaskit.webhooks.catalog import EVERY_TYPE, SUBSCRIBABLE
from saaskit.webhooks.models import DESCRIPTION_MAX_CHARS, URL_MAX_CHARS

EventTypes = list[str]


def _known_types(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    unknown = [t for t in value if t != EVERY_TYPE and t not in SUBSCRIBABLE]
    if unknown:
        raise ValueError(f"unknown event type {unknown[0]!r} (GET /api/webhooks/event-types lists them)")
    return sorted(set(value))


class WebhookEndpointIn(Input):
    url: str = Field(min_length=1, max_length=URL_MAX_CHARS, description="http(s) URL to POST events to.")
    description: str = Field("", max_length=DESCRIPTION_MAX_CHARS)
    event_types: EventTypes = Field(
        min_length=1, max_length=50, description='Event types to receive, or ["*"] for every type.'
    )

    _types = field_validator("event_types")(_known_types)


class WebhookEndpointPatch(Input):
    url: str | None = Field(None, min_length=1, max_length=URL_MAX_CHARS)
    description: str | None = Field(None, max_length=DESCRIPTION_MAX_CHARS)
    event_types: EventTypes | None = Field(None, min_length=1, max_length=50)
    is_enabled: bool | None = Field(
        None, description="false disables it; true enables it again (and forgets past failures)."
    )

    _types = field_validator("event_types")(_known_types)


class WebhookEndpointOut(Output):
    id: uuid.UUID
    organization_id: uuid.UUID
    url: str
    description: str
    event_types: list[str]
    is_enabled: bool
    disabled_at: datetime | None
    disabled_reason: str | None
    consecutive_failures: int = Field(description="Failed attempts since the last successful one.")
    failing_since: datetime | None
    last_success_at: datetime | None
    previous_secret_expires_at: datetime | None = Field(
        description="Until then the secret before the last rotation also signs."
    )
    created_at: datetime
    updated_at: datetime


class WebhookEndpointWithSecret(WebhookEndpointOut):
    secret: str = Field(description="The signing secret (whsec_...): shown on creation and rotation only.")


class WebhookDeliveryOut(Output):
    id: uuid.UUID
    endpoint_id: uuid.UUID
    message_id: uuid.UUID
    event_type: str
    attempt: int
    trigger: str = Field(description="event, retry, replay or test.")
    is_success: bool
    status_code: int | None
    latency_ms: int | None
    response_excerpt: str | None
    error: str | None
    next_attempt_at: datetime | None
    created_at: datetime


class WebhookMessageOut(Output):
    id: uuid.UUID
    webhook_id: str = Field(description="The webhook-id header's value.")
    event_type: str
    data: dict[str, Any]
    created_at: datetime


class WebhookQueued(Output):
    message_id: uuid.UUID
    webhook_id: str
    endpoint_id: uuid.UUID
    status: str = Field(description="queued: the attempt runs in the job worker; see the delivery log.")


class WebhookEventTypeOut(Output):
    name: str
    description: str
    data: str
    emitted: bool = Field(description="false: listed for a feature that does not emit it yet.")
