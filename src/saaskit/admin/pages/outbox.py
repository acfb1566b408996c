"""Outbox: every e-mail saaskit queued, its delivery, its rendered text and HTML; send again,
discard. With no SMTP server configured, this is where mail ends up (held)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from saaskit.admin.pages.common import PAGE_SIZE, Cursor, ShortText, choice, page_or_fragment, parse_id
from saaskit.admin.queries import outbox as queries
from saaskit.admin.security import AdminDep
from saaskit.admin.web import redirect, render
from saaskit.kit.deps import DbSession, RuntimeDep
from saaskit.mail import operator as mail_actions
from saaskit.mail import service as mail
from saaskit.mail.delivery import is_local_install
from saaskit.mail.models import STATUSES
from saaskit.mail.rendering import TEMPLATES

router = APIRouter(prefix="/admin/outbox", include_in_schema=False)


@router.get("")
async def outbox_page(
    request: Request,
    admin: AdminDep,
    session: DbSession,
    runtime: RuntimeDep,
    status: Annotated[str | None, Query(max_length=20)] = None,
    template: Annotated[str | None, Query(max_length=50)] = None,
    recipient: ShortText = None,
    cursor: Cursor = None,
) -> Response:
    status = choice(status, STATUSES, "status")
    template = choice(template, sorted(TEMPLATES), "template")
    rows, next_cursor = await mail.list_messages(
        session,
        status=status,
        template=template,
        recipient=(recipient or "").strip() or None,
        limit=PAGE_SIZE,
        cursor=cursor,
    )
    context: dict[str, object] = {
        "rows": rows,
        "next_cursor": next_cursor,
        "status": status,
        "template": template,
        "recipient": recipient or "",
        "statuses": STATUSES,
        "templates": sorted(TEMPLATES),
        "paged": cursor is not None,
    }
    if request.headers.get("hx-target") != "results":
        context.update(
            counts=await queries.status_counts(session),
            smtp_configured=runtime.settings.mail.is_configured,
            local_install=is_local_install(runtime.settings),
        )
    return page_or_fragment(request, "outbox/page.html", "outbox/_table.html", context, section="outbox")


@router.get("/{message_id}")
async def message_page(
    request: Request, message_id: str, admin: AdminDep, session: DbSession, runtime: RuntimeDep
) -> Response:
    row = await mail.get_message(session, parse_id(message_id, "message"))
    try:
        rendered, problem = mail.render_row(runtime, row), None
    except Exception as exc:  # a template changed since: show the row anyway
        rendered, problem = None, f"{type(exc).__name__}: {exc}"
    return render(
        request,
        "outbox/message.html",
        {
            "m": row,
            "rendered": rendered,
            "problem": problem,
            "can_resend": row.status in mail.RESENDABLE,
            "can_discard": row.status in mail.DISCARDABLE,
            "links_wiped": bool(row.secret_keys) and row.sealed_secrets is None,
        },
        section="outbox",
    )


@router.post("/{message_id}/resend")
async def resend(request: Request, message_id: str, admin: AdminDep, session: DbSession) -> Response:
    uid = parse_id(message_id, "message")
    outcome = await mail_actions.resend_message(session, admin.actor, uid)
    return redirect(request, f"/admin/outbox/{uid}", flash=("success", outcome.message))


@router.post("/{message_id}/discard")
async def discard(request: Request, message_id: str, admin: AdminDep, session: DbSession) -> Response:
    uid = parse_id(message_id, "message")
    outcome = await mail_actions.discard_message(session, admin.actor, uid)
    return redirect(request, f"/admin/outbox/{uid}", flash=("success", outcome.message))
