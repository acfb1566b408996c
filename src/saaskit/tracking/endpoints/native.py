"""The native ingestion API: ``/api/events``, ``/api/page-views``, ``/api/widget-events``,
``/api/activity``, ``/api/system-events``, ``/api/errors``, ``/api/metrics``.

Every answer counts what was received, stored, already there (duplicates) and dropped (privacy);
it is sent only after the transaction committed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Request
from fastapi.responses import Response

from saaskit.kit.deps import DbSession
from saaskit.kit.errors import Unprocessable
from saaskit.kit.hotroutes import json_body, validated
from saaskit.tracking import ingest, ownership, records
from saaskit.tracking.endpoints.attribution import (
    Sender,
    SignedInSender,
    enter_context,
    sender_of,
    write_events,
)
from saaskit.tracking.privacy import hash_ip_properties
from saaskit.tracking.sanitize import clean_text, may_hold_nul
from saaskit.tracking.schemas import (
    ActivityIn,
    ErrorIn,
    EventIn,
    IngestOut,
    MetricIn,
    PageViewsBody,
    SystemEventIn,
    WidgetEventIn,
    field_namer,
    parse_items,
)

router = APIRouter(prefix="/api", tags=["ingestion"])

ONE_OR_MANY = 'One object, or `{"%s": [...]}` with up to 1,000 of them (all stored or none).'


def _out(result: ingest.IngestResult) -> IngestOut:
    return IngestOut(**result.as_dict())


def _event_dict(event: EventIn, now: datetime, secret: str) -> dict[str, Any]:
    properties = event.properties
    if "$ip" in properties or "ip" in properties:  # privacy.IP_PROPERTIES, spelled out: hot path
        hash_ip_properties(properties, secret)
    return {
        "id": str(event.uuid) if event.uuid else None,
        "timestamp": event.timestamp or now,
        "event_name": event.event_name,
        "event_category": event.event_category,
        "event_action": event.event_action,
        "properties": properties,
        "distinct_id": event.distinct_id,
        "session_id": event.session_id,
        "utm_source": event.utm_source,
        "utm_medium": event.utm_medium,
        "utm_campaign": event.utm_campaign,
        "utm_term": event.utm_term,
        "utm_content": event.utm_content,
    }


async def _event_dicts(request: Request, events: list[EventIn]) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    secret = request.app.state.runtime.secret
    rows = [_event_dict(e, now, secret) for e in events]
    # Rows are written through ingest.to_json, which repairs NUL characters; distinct ids are
    # also matched in SQL before that (identified users), so they are repaired here.
    if may_hold_nul(await request.body()):
        for row in rows:
            if row["distinct_id"]:
                row["distinct_id"] = clean_text(row["distinct_id"])
    return rows


@router.post("/events", response_model=IngestOut, summary="Store one event")
async def post_event(request: Request, event: EventIn, sender: Sender) -> IngestOut:
    return _out(await write_events(request, sender, await _event_dicts(request, [event])))


@router.post(
    "/events/batch",
    response_model=IngestOut,
    summary="Store up to 1,000 events in one transaction (all or nothing)",
)
async def post_events(
    request: Request, sender: Sender, body: Any = Body(description=ONE_OR_MANY % "events")
) -> IngestOut:
    if not isinstance(body, dict) or "events" not in body:
        raise Unprocessable("events: required (a list of events)", field="events")
    events = parse_items(body, EventIn, "events")
    return _out(await write_events(request, sender, await _event_dicts(request, events)))


def _answer(result: ingest.IngestResult) -> Response:
    return Response(orjson.dumps(result.as_dict()), media_type="application/json")


async def post_event_hot(request: Request) -> Response:
    """``POST /api/events`` as the raw route of ``kit.hotroutes``: the same checks in the same
    order as the declared route (sender, then body), no FastAPI machinery."""
    sender = await sender_of(request)
    event = validated(EventIn, await json_body(request))
    return _answer(await write_events(request, sender, await _event_dicts(request, [event])))


async def post_events_hot(request: Request) -> Response:
    """``POST /api/events/batch`` as a raw route (see ``post_event_hot``)."""
    sender = await sender_of(request)
    body = await json_body(request)
    if not isinstance(body, dict) or "events" not in body:
        raise Unprocessable("events: required (a list of events)", field="events")
    events = parse_items(body, EventIn, "events")
    return _answer(await write_events(request, sender, await _event_dicts(request, events)))


HOT_ROUTES = (("POST", "/api/events", post_event_hot), ("POST", "/api/events/batch", post_events_hot))


@router.post("/page-views", response_model=IngestOut, summary="Store page views")
async def post_page_views(
    sender: Sender,
    session: DbSession,
    body: Annotated[PageViewsBody, Body(description=ONE_OR_MANY % "page_views")],
) -> IngestOut:
    now = datetime.now(UTC)
    pages = [
        {
            "url": p.page_url,
            "title": p.page_title,
            "referrer": p.referrer,
            "load_time_ms": p.load_time_ms,
            "time_on_page_seconds": p.time_on_page_seconds,
            "bounce": p.bounce,
            "viewed_at": p.viewed_at or now,
            "session_id": p.session_id,
            "distinct_id": p.distinct_id,
        }
        for p in body
    ]
    await enter_context(session, sender)
    return _out(await ingest.store_page_views(session, sender, pages))


@router.post("/widget-events", response_model=IngestOut, summary="Store widget interactions (signed in)")
async def post_widget_events(
    sender: SignedInSender, session: DbSession, body: Any = Body(description=ONE_OR_MANY % "events")
) -> IngestOut:
    items = [w.model_dump() for w in parse_items(body, WidgetEventIn, "events")]
    await enter_context(session, sender)
    await ownership.check_dashboards(session, sender, items, field_namer(body, "events"))
    await ownership.check_sessions(session, sender, items, field_namer(body, "events"))
    return _out(await records.store_widget_events(session, sender, items))


@router.post("/activity", response_model=IngestOut, summary="Record an action or app open (signed in)")
async def post_activity(item: ActivityIn, sender: SignedInSender, session: DbSession) -> IngestOut:
    if item.event_type == "action" and not item.action_name:
        raise Unprocessable("action_name: required for actions", field="action_name")
    await enter_context(session, sender)
    return _out(await records.store_activity(session, sender, [item.model_dump()]))


@router.post("/system-events", response_model=IngestOut, summary="Report system events (crashes, health)")
async def post_system_events(
    request: Request,
    sender: Sender,
    session: DbSession,
    body: Any = Body(description=ONE_OR_MANY % "events"),
) -> IngestOut:
    items = [s.model_dump() for s in parse_items(body, SystemEventIn, "events")]
    user_agent = (request.headers.get("user-agent") or "")[:512] or None
    await enter_context(session, sender)
    await ownership.check_dashboards(session, sender, items, field_namer(body, "events"))
    return _out(await records.store_system_events(session, sender, items, user_agent))


@router.post("/errors", response_model=IngestOut, summary="Report application errors")
async def post_errors(
    sender: Sender, session: DbSession, body: Any = Body(description=ONE_OR_MANY % "errors")
) -> IngestOut:
    items = [e.model_dump() for e in parse_items(body, ErrorIn, "errors")]
    await enter_context(session, sender)
    return _out(await records.store_errors(session, sender, items))


@router.post("/metrics", response_model=IngestOut, summary="Report performance metrics")
async def post_metrics(
    sender: Sender, session: DbSession, body: Any = Body(description=ONE_OR_MANY % "metrics")
) -> IngestOut:
    items = [m.model_dump() for m in parse_items(body, MetricIn, "metrics")]
    await enter_context(session, sender)
    return _out(await records.store_metrics(session, sender, items))
