"""The flag endpoints PostHog's SDKs call, with PostHog's answer shapes.

- ``POST /flags`` (``?v=1``: ``featureFlags`` / ``featureFlagPayloads``; ``?v=2`` and later:
  ``flags`` records with ``enabled``, ``variant``, ``reason`` and ``metadata``) and ``POST /decide``
  (``v=3``: the ``featureFlags`` shape; ``v=4``: the ``flags`` shape), authenticated by the
  organization's public ingestion key in the body (``api_key`` / ``token``), like capture.
- ``GET /flags/definitions?token=phc_...`` (posthog-python and posthog-node's local evaluation)
  and ``GET /api/feature_flag/local_evaluation?token=...`` (older SDKs). PostHog asks for a
  personal API key there; saaskit has none, so the ``Authorization: Bearer`` secret is a saaskit
  session token of a member holding ``flags:read`` in the key's organization.

Every answer, errors included, carries CORS headers: posthog-js calls these from pages.
No FastAPI dependencies, like capture: bodies arrive in every encoding posthog-js uses.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from saaskit.access.dependencies import principal_access
from saaskit.accounts.dependencies import optional_principal
from saaskit.experiments import assignments
from saaskit.flags import assets, service
from saaskit.flags.schemas import DecideAnswer, DefinitionsAnswer, FlagsAnswer, RemoteConfigAnswer
from saaskit.kit.db import Context
from saaskit.kit.deps import Client
from saaskit.kit.errors import AppError
from saaskit.kit.ratelimit import RateLimited, limiter_of
from saaskit.tracking import identity
from saaskit.tracking.capture import CaptureError, decode_payload
from saaskit.tracking.endpoints.capture import cors_headers as _cors

router = APIRouter(tags=["posthog feature flags"])

# What posthog-js reads from /decide (and /flags?config=true) besides flags: everything saaskit
# does not serve (session recording, surveys, heatmaps, site apps) is off.
CONFIG: dict[str, Any] = {
    "supportedCompression": ["gzip", "gzip-js"],
    "sessionRecording": False,
    "autocapture_opt_out": False,
    "autocaptureExceptions": False,
    "capturePerformance": False,
    "heatmaps": False,
    "surveys": False,
    "siteApps": [],
    "toolbarParams": {},
    "editorParams": {},
    "isAuthenticated": False,
    "elementsChainAsString": True,
    "defaultIdentifiedOnly": True,
}


def _answer(
    request: Request, body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={**_cors(request), **(headers or {})},
    )


def _failure(
    request: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    # PostHog's error shape (SDKs log ``detail``) and saaskit's usual one.
    body = {
        "type": "validation_error" if status == 400 else "authentication_error",
        "code": code,
        "detail": message,
    }
    return JSONResponse(
        {**body, "error": {"code": code, "message": message, "field": None}},
        status_code=status,
        headers={**_cors(request), **(headers or {})},
    )


def _version(request: Request, default: int) -> int:
    try:
        return int(float(request.query_params.get("v", default)))
    except ValueError:
        return default


def _record(evaluated: service.Evaluated) -> dict[str, Any]:
    result, flag = evaluated.result, evaluated.flag
    return {
        "key": flag.key,
        "enabled": result.enabled,
        "variant": result.variant,
        "reason": {
            "code": result.reason,
            "condition_index": result.condition_index,
            "description": result.description,
        },
        "metadata": {
            "id": flag.number,
            "version": flag.version,
            "description": flag.name,
            "payload": evaluated.payload,
        },
    }


def _legacy(answers: list[service.Evaluated]) -> dict[str, Any]:
    return {
        "featureFlags": {a.flag.key: a.result.value for a in answers},
        "featureFlagPayloads": {a.flag.key: a.payload for a in answers if a.payload is not None},
    }


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


async def _evaluate(request: Request, *, decide: bool) -> Response:
    runtime = request.app.state.runtime
    await limiter_of(runtime).hit("capture_per_ip", Client(request, runtime).ip_hash)
    query = dict(request.query_params)
    try:
        document = decode_payload(
            path=request.url.path,
            query=query,
            content_type=request.headers.get("content-type", "").split(";")[0].strip().lower(),
            content_encoding=request.headers.get("content-encoding", ""),
            body=await request.body(),
            limit=runtime.settings.tracking.max_decompressed_bytes,
        )
    except CaptureError as exc:
        return _failure(request, exc.status, "invalid_payload", exc.message)
    body = _dict(document)
    token = body.get("api_key") or body.get("token") or body.get("$token")
    if not isinstance(token, str) or not token:
        return _failure(request, 401, "invalid_api_key", "send the project api key (api_key or token)")
    distinct_id = body.get("distinct_id")
    if distinct_id is None or distinct_id == "":
        return _failure(request, 400, "missing_distinct_id", "distinct_id is required")
    organization_id = await identity.organization_of_key(runtime.db, token)
    if organization_id is None:
        return _failure(request, 401, "invalid_api_key", "unknown or rotated project api key")
    keys = body.get("flag_keys_to_evaluate")
    groups = {str(k): str(v) for k, v in _dict(body.get("groups")).items()}
    async with runtime.db.session(Context(organization_id=organization_id)) as session:
        answers = await service.evaluate_flags(
            session,
            organization_id,
            str(distinct_id),
            person_properties=_dict(body.get("person_properties")),
            groups=groups,
            group_properties={str(k): _dict(v) for k, v in _dict(body.get("group_properties")).items()},
            only_keys=[str(k) for k in keys] if isinstance(keys, list) else None,
            runtime=runtime,
        )
        answers += await assignments.as_flags(
            session,
            organization_id,
            str(distinct_id),
            _dict(body.get("person_properties")),
            only_keys=[str(k) for k in keys] if isinstance(keys, list) else None,
        )
    version = _version(request, 3 if decide else 1)
    shaped = version >= 4 if decide else version >= 2
    answer: dict[str, Any] = {"errorsWhileComputingFlags": False}
    if shaped:
        answer["flags"] = {a.flag.key: _record(a) for a in answers}
    else:
        answer.update(_legacy(answers))
    if decide or query.get("config") == "true":
        answer.update(CONFIG)
    return _answer(request, answer)


async def flags(request: Request) -> Response:
    try:
        return await _evaluate(request, decide=False)
    except RateLimited as exc:
        return _failure(request, 429, exc.code, exc.message, exc.headers)


async def decide(request: Request) -> Response:
    try:
        return await _evaluate(request, decide=True)
    except RateLimited as exc:
        return _failure(request, 429, exc.code, exc.message, exc.headers)


async def definitions(request: Request) -> Response:
    runtime = request.app.state.runtime
    token = request.query_params.get("token", "")
    try:
        async with runtime.db.session() as session:
            organization_id = await identity.organization_for_key(session, token) if token else None
            if organization_id is None:
                return _failure(request, 401, "invalid_api_key", "send the project api key as ?token=phc_...")
            principal = await optional_principal(request, session, runtime)
            if principal is None:
                return _failure(
                    request,
                    401,
                    "authentication_required",
                    "send a saaskit session token of a member with flags:read (Authorization: Bearer ...)",
                )
            access = await principal_access(session, principal, organization_id)
            if access is None or not access.can("flags:read"):
                return _failure(request, 403, "permission_denied", "this needs the permission flags:read")
            etag = (
                '"'
                + hashlib.sha256(
                    (await service.definitions_version(session, organization_id)).encode()
                ).hexdigest()[:32]
                + '"'
            )
            if request.headers.get("if-none-match") == etag:
                return Response(status_code=304, headers={**_cors(request), "ETag": etag})
            flags = await service.all_flags(session, organization_id)
            answer = {
                "flags": [service.as_definition(f) for f in flags],
                "group_type_mapping": service.group_type_mapping(flags),
                "cohorts": {},
            }
    except AppError as exc:
        return _failure(request, exc.status_code, exc.code, exc.message)
    return _answer(request, answer, headers={"ETag": etag})


async def remote_config(request: Request) -> Response:
    """posthog-js's remote config (``/array/<token>/config`` and ``config.js``), read at load, and
    ``/array/<token>/array.js``: that script followed by posthog-js itself, what PostHog's newer
    snippet loads (one request instead of two; posthog-js then finds its config already set)."""
    runtime = request.app.state.runtime
    token = request.path_params["token"]
    async with runtime.db.session() as session:
        organization_id = await identity.organization_for_key(session, token)
    if organization_id is None:
        return _failure(request, 404, "invalid_api_key", "unknown or rotated project api key")
    async with runtime.db.session(Context(organization_id=organization_id)) as session:
        has_flags = any(f.active for f in await service.all_flags(session, organization_id))
    config = {**CONFIG, "token": token, "hasFeatureFlags": has_flags, "captureDeadClicks": False}
    if request.url.path.endswith(".js"):
        document = orjson.dumps({"config": config, "siteApps": []}).decode()
        script = (
            "(function(){window._POSTHOG_REMOTE_CONFIG=window._POSTHOG_REMOTE_CONFIG||{};"
            f"window._POSTHOG_REMOTE_CONFIG[{orjson.dumps(token).decode()}]={document};}})();"
        ).encode()
        headers = _cors(request)
        if request.url.path.endswith("/array.js"):
            # The flags can change at any time: a minute of caching, like PostHog's.
            script += b"\n" + assets.ASSETS["array.js"].body()
            headers = {**headers, "Cache-Control": "public, max-age=60"}
        return Response(script, media_type="application/javascript; charset=utf-8", headers=headers)
    return _answer(request, config)


async def preflight(request: Request) -> Response:
    return Response(status_code=200, headers=_cors(request))


def _documented(model: type[Any], description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"model": model, "description": description}}


for _path, _endpoint, _model, _summary in (
    ("/flags", flags, FlagsAnswer, "PostHog flags (v1 and v2 answer shapes)"),
    ("/decide", decide, DecideAnswer, "PostHog decide (v3 and v4 answer shapes)"),
):
    for _variant in (_path, _path + "/"):
        # One route per method, so that each has its own operationId (see tracking's capture).
        for _method in ("POST", "GET") if _path == "/decide" else ("POST",):
            router.add_api_route(
                _variant,
                _endpoint,
                methods=[_method],
                include_in_schema=_variant == _path,
                summary=_summary,
                response_class=Response,
                responses=_documented(_model, "Every active flag's value for the distinct id."),
            )
        router.add_api_route(_variant, preflight, methods=["OPTIONS"], include_in_schema=False)
for _variant in (
    "/flags/definitions",
    "/api/feature_flag/local_evaluation",
    "/api/feature_flag/local_evaluation/",
):
    router.add_api_route(
        _variant,
        definitions,
        methods=["GET"],
        include_in_schema=not _variant.endswith("/"),
        summary="Flag definitions for server SDKs' local evaluation",
        response_class=Response,
        responses=_documented(DefinitionsAnswer, "Every flag's definition, in PostHog's format."),
    )
    router.add_api_route(_variant, preflight, methods=["OPTIONS"], include_in_schema=False)
for _variant in ("/array/{token}/config", "/array/{token}/config.js", "/array/{token}/array.js"):
    router.add_api_route(
        _variant,
        remote_config,
        methods=["GET"],
        summary={
            "config": "posthog-js remote config",
            "config.js": "posthog-js remote config (script)",
            "array.js": "posthog-js with its remote config (PostHog's newer snippet)",
        }[_variant.rsplit("/", 1)[1]],
        response_class=Response,
        responses=_documented(RemoteConfigAnswer, "What posthog-js reads at load; session recording is off."),
    )
    router.add_api_route(_variant, preflight, methods=["OPTIONS"], include_in_schema=False)
