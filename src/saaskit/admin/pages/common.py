"""Small helpers the page modules share."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Query, Request
from starlette.responses import HTMLResponse

from saaskit.admin.web import is_htmx, render
from saaskit.kit.errors import BadRequest, NotFound

PAGE_SIZE = 50

Cursor = Annotated[str | None, Query(max_length=200)]
ShortText = Annotated[str | None, Query(max_length=200)]


def parse_id(value: str, what: str) -> uuid.UUID:
    """Path ids: anything that is not a UUID is simply an unknown id (404, not 422)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"There is no {what} with the id {value[:64]!r}.", field="id") from None


def choice(value: str | None, allowed: tuple[str, ...] | list[str], field: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise BadRequest(f"{field}: must be one of {', '.join(allowed)} (got {value[:40]!r})", field=field)
    return value


def page_or_fragment(
    request: Request,
    page: str,
    fragment: str,
    context: Mapping[str, Any],
    *,
    section: str,
    target: str = "results",
) -> HTMLResponse:
    """htmx requests aimed at the results area get the fragment; anything else the whole page."""
    if is_htmx(request) and request.headers.get("hx-target") == target:
        return render(request, fragment, context, section=section)
    return render(request, page, context, section=section)
