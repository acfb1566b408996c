"""A raw ASGI dispatch for the few hottest routes (event capture, the heartbeat), in front of
FastAPI's router.

FastAPI and Starlette spend per request on work these routes do not need: the exception
middleware's wrapping, matching the path against the routes one regex at a time, the
``request_response`` wrapper, dependency solving. The hot endpoints take a ``Request`` and
return a ``Response`` with no dependencies, so this layer answers them directly: one dict lookup
on (method, path), then the endpoint. Everything else goes to the application unchanged.

What stays the same: the routes are still declared on their routers (OpenAPI, tests calling the
app, and any path not listed here); the edge middleware (``kit/middleware.py``) still wraps this
layer, so body limits, input refusals and the per-route latency record apply as before (the
route's template is put in the scope as the router would); an exception raised by the endpoint is
answered by the application's own exception handlers, as FastAPI's would be, and anything they
do not handle goes on to the server-error middleware. Measured in docs/ingestion.md.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]
Model = TypeVar("Model", bound=BaseModel)


@dataclass(frozen=True)
class Template:
    """What the edge's latency record reads of a matched route (``scope["route"].path``): a hot
    route has no path parameters, so its template is its path."""

    path: str


class HotRoutes:
    """``routes``: (method, path, endpoint), each also declared on a router (for OpenAPI, and
    for whatever does not come through this layer). Paths take no parameters."""

    def __init__(self, app: ASGIApp, routes: Iterable[tuple[str, str, Endpoint]] = ()) -> None:
        self.app = app
        self.routes: dict[tuple[str, str], tuple[Endpoint, Template]] = {}
        for method, path, endpoint in routes:
            assert "{" not in path, f"hot routes take no path parameters: {path}"
            self.routes[(method, path)] = (endpoint, Template(path))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = (
            self.routes.get((scope.get("method", ""), scope.get("path", "")))
            if scope["type"] == "http"
            else None
        )
        if found is None:
            await self.app(scope, receive, send)
            return
        endpoint, template = found
        scope["route"] = template
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request)
        except Exception as exc:
            handler = _handler_for(scope["app"], exc)
            if handler is None:
                raise
            response = handler(request, exc)
            if inspect.isawaitable(response):
                response = await response
        await response(scope, receive, send)


def _handler_for(app: Any, exc: Exception) -> Callable[..., Any] | None:
    """The application's handler for ``exc``, chosen as Starlette's exception middleware does:
    by status code for HTTP exceptions, else by the exception's class and its bases."""
    handlers: dict[Any, Callable[..., Any]] = getattr(app, "exception_handlers", {})
    status = getattr(exc, "status_code", None)
    if isinstance(exc, HTTPException) and status in handlers:
        return handlers[status]
    for cls in type(exc).__mro__:
        if cls in handlers and cls is not Exception:
            return handlers[cls]
    return None


async def json_body(request: Request) -> Any:
    """The JSON body, or the RequestValidationError FastAPI raises for a body parameter (so the
    answer is the same 400 malformed_json / 422 as on any route)."""
    raw = await request.body()
    if not raw:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if not (kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))):
        return raw  # as FastAPI: not JSON, so the body fails validation (422)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    # What orjson refuses but Python's json (FastAPI's parser) reads: integers past 64 bits,
    # lone surrogates, deep nesting. The endpoints repair those values; the rare path.
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        pos = getattr(exc, "pos", 0)
        message = getattr(exc, "msg", str(exc))
        error = {"type": "json_invalid", "loc": ("body", pos), "msg": "JSON decode error", "input": {}}
        raise RequestValidationError([{**error, "ctx": {"error": message}}]) from None


def validated(model: type[Model], document: Any) -> Model:
    """``document`` as ``model``, errors located under ``body`` as FastAPI locates them."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None
