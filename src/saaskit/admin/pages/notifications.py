"""Notifications: compose a notice to everyone or to one organization's members, and the past
broadcasts with how many got them and how many read them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from saaskit.admin.pages.common import PAGE_SIZE, Cursor, page_or_fragment
from saaskit.admin.queries import notifications as queries
from saaskit.admin.security import AdminDep
from saaskit.admin.web import redirect
from saaskit.kit.deps import DbSession
from saaskit.kit.errors import NotFound, Unprocessable
from saaskit.notifications import operator as notification_actions
from saaskit.notifications.kinds import SEVERITIES
from saaskit.notifications.models import BODY_MAX_CHARS, LINK_MAX_CHARS, TITLE_MAX_CHARS

router = APIRouter(prefix="/admin/notifications", include_in_schema=False)

LIMITS = {"title": TITLE_MAX_CHARS, "body": BODY_MAX_CHARS, "link": LINK_MAX_CHARS}


async def _page(
    request: Request,
    session: DbSession,
    *,
    form: dict[str, str],
    cursor: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    rows, next_cursor = await queries.broadcast_rows(session, limit=PAGE_SIZE, cursor=cursor)
    context: dict[str, Any] = {
        "rows": rows,
        "next_cursor": next_cursor,
        "paged": cursor is not None,
        "form": form,
        "error": error,
        "severities": SEVERITIES,
        "limits": LIMITS,
    }
    response = page_or_fragment(
        request, "notifications/page.html", "notifications/_table.html", context, section="notifications"
    )
    response.status_code = status_code
    return response


@router.get("")
async def notifications_page(
    request: Request,
    admin: AdminDep,
    session: DbSession,
    organization: Annotated[str | None, Query(max_length=100)] = None,
    cursor: Cursor = None,
) -> Response:
    """``?organization=<slug or id>`` opens the form addressed to that organization."""
    form = {"audience": "organization" if organization else "everyone", "organization": organization or ""}
    return await _page(request, session, form=form, cursor=cursor)


@router.post("")
async def send(
    request: Request,
    admin: AdminDep,
    session: DbSession,
    audience: Annotated[str, Form(max_length=20)] = "everyone",
    organization: Annotated[str, Form(max_length=100)] = "",
    title: Annotated[str, Form(max_length=TITLE_MAX_CHARS + 50)] = "",
    body: Annotated[str, Form(max_length=BODY_MAX_CHARS + 50)] = "",
    link: Annotated[str, Form(max_length=LINK_MAX_CHARS + 50)] = "",
    severity: Annotated[str, Form(max_length=20)] = "info",
) -> Response:
    form = {
        "audience": audience,
        "organization": organization,
        "title": title,
        "body": body,
        "link": link,
        "severity": severity,
    }
    try:
        outcome = await notification_actions.broadcast(
            session,
            admin.actor,
            audience=audience,
            organization=organization if audience == "organization" else None,
            title=title,
            body=body,
            link=link,
            severity=severity,
        )
    except (Unprocessable, NotFound) as refused:
        # Refused before anything is written: the form comes back as typed, with what is wrong.
        return await _page(request, session, form=form, error=refused.message, status_code=422)
    return redirect(request, "/admin/notifications", flash=("success", outcome.message))
