"""PostHog capture endpoints: ``/capture``, ``/batch``, ``/e``, ``/i/v0/e``, ``/track``,
``/engage``, each with or without a trailing slash, for GET and POST (and OPTIONS for
browsers). Success is exactly ``200 {"status": 1}``: the Python SDK treats any other 2xx as a
failure and retries it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from saaskit.kit.deps import Client
from saaskit.kit.errors import error_body
from saaskit.kit.hashing import token_hash
from saaskit.kit.ratelimit import RateLimited, limiter_of
from saaskit.kit.tallies import INGEST_ACCEPTED, INGEST_REJECTED, tallies_of
from saaskit.tracking import identity, ingest
from saaskit.tracking.capture import CaptureError, decode_payload, parse, token_in
from saaskit.tracking.endpoints.attribution import write_events
from saaskit.tracking.schemas import CaptureAccepted

router = APIRouter(tags=["posthog capture"])

PATHS = ["/capture", "/batch", "/e", "/i/v0/e", "/track", "/engage"]
OK = b'{"status":1}'
ERROR_CODES = {
    400: "bad_request",
    401: "invalid_ingestion_key",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def cors_headers(request: Request) -> dict[str, str]:
    """CORS for PostHog's browser SDK: the origin mirrored, on every answer (errors too)."""
    origin = request.headers.get("origin")
    if not origin:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
        "Access-Control-Allow-Headers": request.headers.get("access-control-request-headers", "content-type"),
        "Vary": "Origin",
    }


_cors = cors_headers


def _failure(
    request: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    # The Python SDK logs `detail`; the rest is saaskit's usual error shape.
    return JSONResponse(
        {**error_body(code, message), "detail": message},
        status_code=status,
        headers={**_cors(request), **(headers or {})},
    )


async def capture(request: Request) -> Response:
    """No dependencies on purpose: this is the hottest endpoint (see attribution.py)."""
    runtime = request.app.state.runtime
    try:
        return await _capture(request, runtime)
    except RateLimited as exc:
        return _failure(request, 429, exc.code, exc.message, exc.headers)


async def _capture(request: Request, runtime: Any) -> Response:
    settings = runtime.settings.tracking
    limiter = limiter_of(runtime)
    # Before the body is read: an address past its limit costs no decoding.
    await limiter.hit("capture_per_ip", Client(request, runtime).ip_hash)
    path = request.url.path
    query = dict(request.query_params)
    document: Any = None
    try:
        document = decode_payload(
            path=path,
            query=query,
            content_type=request.headers.get("content-type", "").split(";")[0].strip().lower(),
            content_encoding=request.headers.get("content-encoding", ""),
            body=await request.body(),
            limit=settings.max_decompressed_bytes,
        )
        parsed = parse(
            document,
            path=path,
            query=query,
            max_events=settings.max_events_per_request,
            secret=runtime.secret,
        )
    except CaptureError as exc:
        if document is not None:
            await _tally_rejected(runtime, document)
        return _failure(request, exc.status, ERROR_CODES.get(exc.status, "error"), exc.message)
    organization_id = await identity.organization_of_key(runtime.db, parsed.token)
    if organization_id is None:
        return _failure(request, 401, "invalid_ingestion_key", "unknown or rotated project api_key")
    await limiter.hit("capture_per_key", str(organization_id))
    # Per key and minute, for the junk-ingestion rule: a dictionary increment (kit/tallies.py).
    await tallies_of(runtime).count(INGEST_ACCEPTED, token_hash(parsed.token), count=parsed.received)
    if parsed.events:
        country = Client(request, runtime).country_code
        attribution = ingest.Attribution(organization_id=organization_id, country_code=country)
        await write_events(request, attribution, parsed.events)
    return Response(OK, media_type="application/json", headers=_cors(request))


async def _tally_rejected(runtime: Any, document: Any) -> None:
    """Count a rejected request's events against its key, when it names a known key (unknown
    tokens are not counted: made-up keys must not fill the table)."""
    token, events = token_in(document)
    if token is None:
        return
    organization_id = await identity.organization_of_key(runtime.db, token)
    if organization_id is not None:
        await tallies_of(runtime).count(INGEST_REJECTED, token_hash(token), count=events)


async def preflight(request: Request) -> Response:
    return Response(b'{"status":"Ok"}', media_type="application/json", headers=_cors(request))


# One route per method: FastAPI names an operation by its route and first method, so a route of
# two methods would give both the same operationId (invalid OpenAPI). POST first: SDKs post.
for _path in PATHS:
    for _variant in (_path, _path + "/"):
        for _method in ("POST", "GET"):
            router.add_api_route(
                _variant,
                capture,
                methods=[_method],
                include_in_schema=_variant == _path,
                summary=f"PostHog capture ({_path})",
                response_class=Response,
                responses={
                    200: {
                        "model": CaptureAccepted,
                        "description": "Accepted: the events are stored before this answer.",
                    }
                },
            )
        router.add_api_route(_variant, preflight, methods=["OPTIONS"], include_in_schema=False)


# Served by kit.hotroutes ahead of FastAPI's router (the routes above stay declared for OpenAPI).
HOT_ROUTES = tuple(
    (method, variant, capture)
    for path in PATHS
    for variant in (path, path + "/")
    for method in ("POST", "GET")
)
