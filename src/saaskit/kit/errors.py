"""One error shape for every 4xx/5xx answer: ``{"error": {"code", "message", "field"}}``.

Services raise ``AppError`` subclasses; the handlers installed by ``install_error_handlers``
turn them, FastAPI's validation errors, Starlette's HTTP errors and PostgreSQL's constraint
violations into that shape.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, UniqueConstraint
from sqlalchemy import exc as sa_exc
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


def _body_fields(request: Request | None) -> list[str]:
    """The fields of the route's body model (``name?`` when optional), or [] when unknown."""
    body_field = getattr(request.scope.get("route") if request is not None else None, "body_field", None)
    model = getattr(getattr(body_field, "field_info", None), "annotation", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    return [name if info.is_required() else f"{name}?" for name, info in model.model_fields.items()]


def _field_and_message(error: dict[str, Any], request: Request | None) -> tuple[str | None, str]:
    """The field an error names, and its message. An error about the whole body (none sent, or
    not an object) names ``body`` and says which fields the body takes."""
    location = tuple(error.get("loc", ()))
    message = str(error.get("msg", "invalid value"))
    kind = str(error.get("type", ""))
    # None sent, or not an object ("model_attributes_type" ...); a model's own rule across its
    # fields (a value_error at the body) names no field, as before.
    if location == ("body",) and (kind == "missing" or kind.endswith("_type")):
        fields = _body_fields(request)
        shape = f"a JSON object with the fields {', '.join(fields)}" if fields else "a JSON object"
        if fields and all(name.endswith("?") for name in fields):
            shape += " (all optional: {} will do)"
        return "body", f"required: {shape}" if kind == "missing" else f"must be {shape}: {message}"
    return _field_of(location), message


def validation_error_response(exc: RequestValidationError, request: Request | None = None) -> Response:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": "value_error"}
    if first.get("type") == "json_invalid":
        return error_response(400, "malformed_json", f"the body is not valid JSON: {first.get('msg')}")
    field, message = _field_and_message(first, request)
    if field:
        message = f"{field}: {message}"
    details = []
    for error in errors:
        name, text = _field_and_message(error, request)
        details.append({"field": name, "message": text, "type": error.get("type")})
    return error_response(422, "invalid", message, field, details=details)


# -- constraint violations ------------------------------------------------------------------------
#
# A write that breaks a constraint (unique, foreign key, check, not-null) is the client's doing as
# often as not: a slug taken by an organization the caller cannot see, a name taken between the
# service's check and its write, an id that vanished meanwhile. PostgreSQL refused the statement,
# so the request's transaction rolls back (kit/deps.py) and nothing of it is written; the handler
# below answers 409 (unique: taken) or 422 (the others), naming the field the constraint is about.
#
# Which field: the models declare every constraint (kit/models.py's naming convention gives the
# names PostgreSQL reports), so the map from name to field is built from them: a unique
# constraint's last column (``(organization_id, slug)`` is about ``slug``), a foreign key's
# column, the first column a check mentions. A constraint whose API field or error code differs
# says so in its ``info`` (``{"field": "email", "code": "already_invited"}``), so that a conflict
# found by PostgreSQL answers exactly as the service's own check would have.

UNIQUE_VIOLATIONS = {"23505", "23P01"}  # unique, exclusion
_NOT_NULL, _FOREIGN_KEY, _CHECK = "23502", "23503", "23514"


@dataclass(frozen=True)
class ConstraintRule:
    field: str | None
    code: str | None = None


def _mentioned_columns(sql: str, columns: Sequence[str]) -> list[str]:
    found = {name: m.start() for name in columns if (m := re.search(rf"\b{re.escape(name)}\b", sql))}
    return sorted(found, key=found.__getitem__)


@cache
def constraint_rules() -> dict[str, ConstraintRule]:
    """Constraint or unique index name -> the field it is about (and its error code), from every
    model imported so far (all of them, once the app exists)."""
    from saaskit.kit.models import Base  # the models import kit; read them at first use

    rules: dict[str, ConstraintRule] = {}
    for table in Base.metadata.tables.values():
        objects: list[Any] = [*table.constraints, *(i for i in table.indexes if i.unique)]
        for item in objects:
            if item.name is None:
                continue
            if isinstance(item, CheckConstraint):
                columns = _mentioned_columns(str(item.sqltext), [c.name for c in table.columns])
                field = columns[0] if columns else None
            elif isinstance(item, ForeignKeyConstraint):
                field = item.column_keys[0]
            elif isinstance(item, UniqueConstraint | Index):
                names = [c.name for c in item.columns]
                field = names[-1] if names else None
            else:  # the primary key: ids are the server's
                field = None
            info = item.info
            rules[str(item.name)] = ConstraintRule(info.get("field", field), info.get("code"))
    return rules


def _database_error(exc: Exception) -> psycopg.Error | None:
    original = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    return original if isinstance(original, psycopg.Error) else None


INTEGRITY_ERRORS = (sa_exc.IntegrityError, psycopg.errors.IntegrityError)


def constraint_violation(exc: Exception) -> AppError | None:
    """The refusal a constraint violation amounts to, or None when ``exc`` is not one."""
    error = _database_error(exc)
    if not isinstance(error, psycopg.errors.IntegrityError) or error.sqlstate is None:
        return None
    diag = error.diag
    rule = constraint_rules().get(diag.constraint_name or "")
    field = rule.field if rule is not None else diag.column_name
    code = rule.code if rule is not None else None
    about = f"{field}: " if field else ""
    if error.sqlstate in UNIQUE_VIOLATIONS:
        return Conflict(f"{about}this value is taken", field=field, code=code or "already_exists")
    if error.sqlstate == _FOREIGN_KEY and (diag.message_primary or "").startswith("update or delete"):
        # Deleting (or re-keying) a row that others still refer to: a conflict with what exists.
        return Conflict("it is still referred to; remove those first", code=code or "in_use")
    if error.sqlstate == _FOREIGN_KEY:
        message = f"{about}refers to something that does not exist"
    elif error.sqlstate == _NOT_NULL:
        message = f"{about}required"
    elif error.sqlstate == _CHECK:
        message = f"{about}not an allowed value"
    else:
        message = f"{about}not allowed"
    return Unprocessable(message, field=field, code=code or "invalid")


def constraint_violation_response(exc: Exception) -> Response | None:
    """The answer to a constraint violation, or None when ``exc`` is not one."""
    refusal = constraint_violation(exc)
    if refusal is None:
        return None
    return error_response(refusal.status_code, refusal.code, refusal.message, refusal.field)


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

    async def validation_handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return validation_error_response(exc, request)

    async def integrity_handler(request: Request, exc: Exception) -> Response:
        refusal = constraint_violation(exc)
        if refusal is None:
            return await unhandled_handler(request, exc)
        error = _database_error(exc)
        name = error.diag.constraint_name if error is not None else None
        logger.info(
            "constraint %s refused %s %s: %s", name, request.method, request.url.path, refusal.status_code
        )
        return await app_error_handler(request, refusal)

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
    for integrity_error in INTEGRITY_ERRORS:
        app.add_exception_handler(integrity_error, integrity_handler)
    app.add_exception_handler(Exception, unhandled_handler)
