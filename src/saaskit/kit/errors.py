"""One error shape for every 4xx/5xx answer: ``{"error": {"code", "message", "field"}}``.

Services raise ``AppError`` subclasses; the handlers installed by ``install_error_handlers``
turn them, FastAPI's validation errors and Starlette's HTTP errors into that shape.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import orjson
import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from saaskit.kit.db import DatabaseUnavailable, is_unavailable
from saaskit.kit.logsafe import format_exception

logger = logging.getLogger(__name__)


class AppError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.headers = headers
        self.extra = extra or {}


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class PaymentRequired(AppError):
    status_code = 402
    code = "payment_required"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class Gone(AppError):
    status_code = 410
    code = "gone"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


class Unprocessable(AppError):
    status_code = 422
    code = "invalid"


class TooManyRequests(AppError):
    status_code = 429
    code = "too_many_requests"


class ServiceUnavailable(AppError):
    status_code = 503
    code = "unavailable"


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field, **extra}}


def error_response(
    status_code: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    return Response(
        orjson.dumps(error_body(code, message, field, **extra)),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
}


def _field_of(location: Sequence[Any]) -> str | None:
    """``("body", "profile", "name")`` -> ``"profile.name"``; the first part says where, not what."""
    parts = [str(p) for p in location]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    return ".".join(parts) or None


def validation_error_response(exc: RequestValidationError) -> Response:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": "value_error"}
    if first.get("type") == "json_invalid":
        return error_response(400, "malformed_json", f"the body is not valid JSON: {first.get('msg')}")
    field = _field_of(first.get("loc", ()))
    message = str(first.get("msg", "invalid value"))
    if field:
        message = f"{field}: {message}"
    details = [
        {"field": _field_of(e.get("loc", ())), "message": str(e.get("msg")), "type": e.get("type")}
        for e in errors
    ]
    return error_response(422, "invalid", message, field, details=details)


DATABASE_ERRORS: tuple[type[Exception], ...] = (DatabaseUnavailable, SQLAlchemyError, psycopg.Error)
RETRY_AFTER_SECONDS = 2
_UNAVAILABLE_LOG_EVERY_SECONDS = 5.0
_unavailable_log = {"next": 0.0, "count": 0}


def unavailable_response() -> Response:
    return error_response(
        503,
        "database_unavailable",
        "the database is unavailable at the moment; retry in a few seconds",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _log_unavailable(request: Request, exc: Exception) -> None:
    """One line every few seconds during an outage, not one per request."""
    _unavailable_log["count"] += 1
    now = time.monotonic()
    if now < _unavailable_log["next"]:
        return
    count, _unavailable_log["count"] = _unavailable_log["count"], 0
    _unavailable_log["next"] = now + _UNAVAILABLE_LOG_EVERY_SECONDS
    logger.warning(
        "database unavailable (%s): answered 503 to %s %s%s",
        type(exc).__name__,
        request.method,
        request.url.path,
        f" and {count - 1} other request(s)" if count > 1 else "",
    )


def install_error_handlers(app: FastAPI) -> None:
    async def app_error_handler(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, AppError)
        return error_response(exc.status_code, exc.code, exc.message, exc.field, exc.headers, **exc.extra)

    async def validation_handler(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return validation_error_response(exc)

    async def http_error_handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = str(exc.detail) if exc.detail else code.replace("_", " ")
        if exc.status_code == 404 and exc.detail == "Not Found":
            message = f"no such resource: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    async def unhandled_handler(request: Request, exc: Exception) -> Response:
        # Not logger.exception: a database error's text may quote the statement's values.
        logger.error("unhandled error on %s %s\n%s", request.method, request.url.path, format_exception(exc))
        return error_response(500, "internal_error", "an internal error occurred; it has been logged")

    async def database_error_handler(request: Request, exc: Exception) -> Response:
        # The database is down or restarting: 503 with Retry-After, not 500. Anything else a
        # statement raised goes on to the unhandled-error handler (logged, 500).
        if not is_unavailable(exc):
            raise exc
        _log_unavailable(request, exc)
        return unavailable_response()

    app.add_exception_handler(AppError, app_error_handler)
    for database_error in DATABASE_ERRORS:
        app.add_exception_handler(database_error, database_error_handler)
    app.add_exception_handler(RequestValidationError, validation_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(Exception, unhandled_handler)
