"""PostHog's capture v1 (``POST /i/v1/analytics/events``): posthog-python's ``capture_mode='v1'``.

The wire format, as posthog-python 7.91 sends it (``posthog/capture_v1.py``):

- ``Authorization: Bearer <project key>`` (no key in the body); ``PostHog-Sdk-Info:
  posthog-python/7.91.1`` names the library (v1 events carry no ``$lib``: the server adds it);
  ``PostHog-Request-Timestamp`` is the client's clock when this attempt was sent;
  ``Content-Encoding`` gzip or zlib deflate (zstd: 415, as on v0).
- ``{"created_at", "batch": [{"event", "uuid", "distinct_id", "timestamp", "options",
  "properties", "session_id"?, "window_id"?}], "historical_migration"?}``, where ``options``
  holds v0's sentinel properties under typed names (``process_person_profile``,
  ``disable_skew_correction``, ``cookieless_mode``, ``product_tour_id``).
- The answer is ``200 {"results": {uuid: {"result": "ok"}}}`` per event; a batch-level
  problem is 400 / 401 / 413 / 415 (the SDK does not retry those) with saaskit's ``error``
  object plus ``error_description`` and ``detail``, the strings the SDKs log.

Each v1 event is turned back into v0's shape and goes through the same ``parse`` and the same
group-commit write as ``/batch``: same repairs, same limits, same answer only after commit,
same idempotency by uuid (a retried attempt stores nothing twice and is answered ``ok``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from saaskit.kit.deps import Client
from saaskit.kit.errors import error_body
from saaskit.kit.ratelimit import RateLimited, limiter_of
from saaskit.tracking import identity, ingest
from saaskit.tracking.capture import CaptureError, decode_payload, parse
from saaskit.tracking.endpoints.attribution import write_events
from saaskit.tracking.endpoints.capture import ERROR_CODES, cors_headers
from saaskit.tracking.schemas import CaptureV1Accepted

router = APIRouter(tags=["posthog capture"])

PATH = "/i/v1/analytics/events"
# v1's typed options, back to the v0 properties the rest of ingestion reads.
OPTIONS = {
    "process_person_profile": "$process_person_profile",
    "disable_skew_correction": "$ignore_sent_at",
    "cookieless_mode": "$cookieless_mode",
    "product_tour_id": "$product_tour_id",
}
TOP_LEVEL = {"session_id": "$session_id", "window_id": "$window_id"}


def _failure(
    request: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    # posthog-python reads ``error_description`` first (then ``error``, ``detail``) from a v1
    # error body; ``error`` is saaskit's usual error object.
    return JSONResponse(
        {**error_body(code, message), "error_description": message, "detail": message},
        status_code=status,
        headers={**cors_headers(request), **(headers or {})},
    )


def _library(sdk_info: str) -> dict[str, str]:
    """``posthog-python/7.91.1`` -> ``$lib`` and ``$lib_version``."""
    name, _, version = sdk_info.strip().partition("/")
    found = {"$lib": name[:100]} if name else {}
    if version:
        found["$lib_version"] = version.split()[0][:100]
    return found


def _as_v0(event: Any, library: dict[str, str]) -> Any:
    if not isinstance(event, dict):
        return event  # parse() refuses it with the v0 message
    properties = event.get("properties")
    properties = dict(properties) if isinstance(properties, dict) else {}
    options = event.get("options")
    if options is not None and not isinstance(options, dict):
        raise CaptureError(400, "options must be an object")
    for option, value in (options or {}).items():
        if option in OPTIONS:
            properties[OPTIONS[option]] = value
    for field, key in TOP_LEVEL.items():
        if isinstance(event.get(field), str):
            properties[key] = event[field]
    for key, value in library.items():
        properties.setdefault(key, value)
    return {
        "event": event.get("event"),
        "uuid": event.get("uuid"),
        "distinct_id": event.get("distinct_id"),
        "timestamp": event.get("timestamp"),
        "properties": properties,
    }


async def capture_v1(request: Request) -> Response:
    runtime = request.app.state.runtime
    try:
        return await _capture_v1(request, runtime)
    except RateLimited as exc:
        return _failure(request, 429, exc.code, exc.message, exc.headers)


async def _capture_v1(request: Request, runtime: Any) -> Response:
    settings = runtime.settings.tracking
    limiter = limiter_of(runtime)
    await limiter.hit("capture_per_ip", Client(request, runtime).ip_hash)
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    token = value.strip() if scheme.lower() == "bearer" else ""
    if not token or len(token) > 64:
        message = "send the project api key as Authorization: Bearer phc_..."
        return _failure(request, 401, "invalid_ingestion_key", message)
    try:
        document = decode_payload(
            path=request.url.path,
            query={},
            content_type=request.headers.get("content-type", "").split(";")[0].strip().lower(),
            content_encoding=request.headers.get("content-encoding", ""),
            body=await request.body(),
            limit=settings.max_decompressed_bytes,
        )
        if not isinstance(document, dict) or not isinstance(document.get("batch"), list):
            raise CaptureError(400, 'expected {"batch": [...]}')
        library = _library(request.headers.get("posthog-sdk-info", ""))
        batch: list[Any] = document["batch"]
        if len(batch) > settings.max_events_per_request:  # before any work per event
            raise CaptureError(
                413,
                f"the request holds {len(batch)} events, more than {settings.max_events_per_request}: "
                "send them in several requests",
            )
        v0 = {
            "token": token,
            "batch": [_as_v0(e, library) for e in batch],
            # The client's clock at this attempt (the batch's created_at stays the same across
            # retries, so it would count the retry delay as skew).
            "sent_at": request.headers.get("posthog-request-timestamp") or document.get("created_at"),
        }
        parsed = parse(
            v0,
            path=request.url.path,
            query={},
            max_events=settings.max_events_per_request,
            secret=runtime.secret,
        )
    except CaptureError as exc:
        return _failure(request, exc.status, ERROR_CODES.get(exc.status, "error"), exc.message)
    organization_id = await identity.organization_of_key(runtime.db, parsed.token)
    if organization_id is None:
        return _failure(request, 401, "invalid_ingestion_key", "unknown or rotated project api key")
    await limiter.hit("capture_per_key", str(organization_id))
    country = Client(request, runtime).country_code
    attribution = ingest.Attribution(organization_id=organization_id, country_code=country)
    if parsed.events:
        await write_events(request, attribution, parsed.events)
    # Keyed by the uuids as sent (parse may have written them in canonical form).
    results = {e["uuid"]: {"result": "ok"} for e in batch if isinstance(e.get("uuid"), str)}
    return JSONResponse({"results": results}, headers=cors_headers(request))


async def preflight(request: Request) -> Response:
    return Response(status_code=200, headers=cors_headers(request))


for _variant in (PATH, PATH + "/"):
    router.add_api_route(
        _variant,
        capture_v1,
        methods=["POST"],
        include_in_schema=_variant == PATH,
        summary="PostHog capture v1 (posthog-python's capture_mode='v1')",
        response_class=Response,
        responses={200: {"model": CaptureV1Accepted, "description": "Stored before this answer, per event."}},
    )
    router.add_api_route(_variant, preflight, methods=["OPTIONS"], include_in_schema=False)
