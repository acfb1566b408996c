"""Bodies of the native ingestion API. Batches are validated item by item so that errors can
name the index (``events.3.timestamp``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID

from pydantic import AfterValidator, BaseModel, Field, PlainValidator, TypeAdapter, ValidationError

from saaskit.kit.errors import Unprocessable
from saaskit.kit.schemas import Answer, Input

Short = Annotated[str, Field(max_length=500)]
MAX_BATCH = 1000


def _not_far_future(value: datetime | None) -> datetime | None:
    """A time as UTC (PostgreSQL refuses offsets past 15:59, ISO 8601 allows up to 23:59), no
    more than a day ahead."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    elif value.tzinfo is not UTC:
        try:
            value = value.astimezone(UTC)
        except OverflowError as exc:
            raise ValueError("is out of range (years 1 to 9999 in UTC)") from exc
    if value > datetime.now(UTC) + timedelta(days=1):
        raise ValueError("is more than a day in the future")
    return value


When = Annotated[datetime | None, AfterValidator(_not_far_future)]


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


class EventIn(Input):
    event_name: str = Field(min_length=1, max_length=200)
    event_category: str | None = Field(default=None, max_length=100)
    event_action: str | None = Field(default=None, max_length=100)
    properties: dict[str, Any] = Field(default_factory=dict)
    timestamp: When = None
    distinct_id: str | None = Field(default=None, max_length=200)
    session_id: str | None = Field(default=None, max_length=200)
    uuid: UUID | None = Field(default=None, description="Idempotency key: the same uuid is stored once.")
    utm_source: Short | None = None
    utm_medium: Short | None = None
    utm_campaign: Short | None = None
    utm_term: Short | None = None
    utm_content: Short | None = None


class PageViewIn(Input):
    page_url: str = Field(min_length=1, max_length=2048)
    page_title: str | None = Field(default=None, max_length=1000)
    referrer: str | None = Field(default=None, max_length=2048)
    session_id: str | None = Field(default=None, max_length=200)
    distinct_id: str | None = Field(default=None, max_length=200)
    load_time_ms: int | None = Field(default=None, ge=0, le=3_600_000)
    time_on_page_seconds: int | None = Field(default=None, ge=0, le=86_400 * 7)
    bounce: bool | None = None
    viewed_at: When = None


class PageViewBatchIn(Input):
    """Several page views, stored in one transaction (all or none)."""

    page_views: list[PageViewIn] = Field(min_length=1, max_length=MAX_BATCH)


class WidgetEventIn(Input):
    widget_type: str = Field(min_length=1, max_length=100)
    event_type: Literal["view", "click", "configure", "focus", "active"]
    dashboard_id: UUID | None = None
    session_id: UUID | None = Field(default=None, description="One of your user_sessions.")
    event_data: dict[str, Any] | None = None
    duration_seconds: int | None = Field(default=None, ge=0, le=86_400)
    timestamp: When = None


class ActivityIn(Input):
    event_type: Literal["action", "app_open"] = "action"
    action_name: str | None = Field(default=None, min_length=1, max_length=128)


class SystemEventIn(Input):
    event_type: str = Field(min_length=1, max_length=100)
    severity: Literal["info", "warning", "error", "critical"]
    message: str = Field(min_length=1, max_length=10_000)
    error_details: dict[str, Any] | None = None
    app_version: str | None = Field(default=None, max_length=50)
    dashboard_id: UUID | None = None
    created_at: When = None


class ErrorIn(Input):
    error_type: Literal["user_error", "system_error", "model_error"]
    error_message: str = Field(min_length=1, max_length=10_000)
    error_code: str | None = Field(default=None, max_length=100)
    error_stack: str | None = Field(default=None, max_length=50_000)
    app_version: str | None = Field(default=None, max_length=50)
    context: dict[str, Any] | None = None
    created_at: When = None


class MetricIn(Input):
    metric_name: str = Field(pattern=r"^[A-Za-z0-9_.:\-]{1,100}$")
    metric_type: Literal["counter", "gauge", "histogram", "summary", "timer"]
    value: Annotated[float, AfterValidator(_finite)]
    unit: str | None = Field(default=None, max_length=20)
    tags: dict[str, Any] | None = None
    timestamp: When = None


class IngestOut(BaseModel):
    received: int
    stored: int
    duplicates: int = Field(description="Already stored earlier (same uuid): not stored twice.")
    dropped: int = Field(description="Not kept because of the user's tracking level or consent.")


M = TypeVar("M", bound=BaseModel)


def parse_items(body: Any, model: type[M], batch_key: str) -> list[M]:
    """One object, or ``{batch_key: [objects]}`` (up to 1,000). A bad item fails the whole
    request with 422 naming its index; nothing is stored."""
    if isinstance(body, dict) and batch_key in body:
        items = body[batch_key]
        if set(body) - {batch_key}:
            extra = sorted(set(body) - {batch_key})[0]
            raise Unprocessable(f"{extra}: unexpected field next to {batch_key}", field=extra)
        if not isinstance(items, list) or not items:
            raise Unprocessable(f"{batch_key}: must be a non-empty list", field=batch_key)
        if len(items) > MAX_BATCH:
            raise Unprocessable(f"{batch_key}: at most {MAX_BATCH} items per request", field=batch_key)
        prefix = f"{batch_key}."
    elif isinstance(body, dict):
        items, prefix = [body], ""
    else:
        raise Unprocessable("the body must be a JSON object", field=None)
    adapter = TypeAdapter(model)
    parsed: list[M] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            parsed.append(adapter.validate_python(item))
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(p) for p in error["loc"])
                field = f"{prefix}{index}.{where}" if prefix else where
                errors.append(
                    {"index": index, "field": field, "message": error["msg"], "type": error["type"]}
                )
    if errors:
        first = errors[0]
        raise Unprocessable(
            f"{first['field']}: {first['message']}", field=first["field"], extra={"details": errors}
        )
    return parsed


def field_namer(body: Any, batch_key: str) -> Callable[[int, str], str]:
    """How errors name an item's field, as ``parse_items`` does: ``events.3.dashboard_id`` in a
    batch, ``dashboard_id`` for a single object."""
    if isinstance(body, dict) and batch_key in body:
        return lambda index, name: f"{batch_key}.{index}.{name}"
    return lambda index, name: name


def _page_views(value: Any) -> list[PageViewIn]:
    return parse_items(value, PageViewIn, "page_views")


# POST /api/page-views: one page view or {"page_views": [...]}. OpenAPI shows both models; the
# validation is parse_items', whose 422 names the item (page_views.3.page_url), as every batch.
PageViewsBody = Annotated[
    list[PageViewIn],
    PlainValidator(_page_views, json_schema_input_type=PageViewIn | PageViewBatchIn),
]


class CaptureAccepted(Answer):
    """A PostHog capture endpoint's success, exactly ``{"status": 1}``: the PostHog SDKs treat
    any other answer as a failure and send again. Written as fixed bytes, not through this model
    (the hot path); the model documents it."""

    status: Literal[1] = Field(description="Always 1.")


class CaptureV1Result(Answer):
    result: Literal["ok"] = Field(description="Stored (or already stored: a retry).")


class CaptureV1Accepted(Answer):
    """Capture v1's success: one result per event uuid of the batch, sent after the commit."""

    results: dict[str, CaptureV1Result]
