"""Billing: subscriptions, MRR, and the Stripe webhook log with reprocessing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from saaskit.admin.pages.common import PAGE_SIZE, Cursor, choice, page_or_fragment, parse_id
from saaskit.admin.queries import billing as queries
from saaskit.admin.queries.revenue import metering, revenue_chart
from saaskit.admin.security import AdminDep
from saaskit.admin.web import redirect, render
from saaskit.billing import operator as billing_actions
from saaskit.billing import revenue
from saaskit.bookings import revenue as bookings_revenue
from saaskit.kit.deps import DbSession, RuntimeDep

router = APIRouter(prefix="/admin/billing", include_in_schema=False)


@router.get("")
async def billing_page(
    request: Request,
    admin: AdminDep,
    session: DbSession,
    runtime: RuntimeDep,
    status: Annotated[str | None, Query(max_length=20)] = None,
    event_type: Annotated[str | None, Query(max_length=100)] = None,
    cursor: Cursor = None,
) -> Response:
    status = choice(status, queries.WEBHOOK_STATUSES, "status")
    rows, next_cursor = await queries.list_webhook_events(
        session, status=status, event_type=(event_type or "").strip() or None, limit=PAGE_SIZE, cursor=cursor
    )
    context: dict[str, object] = {
        "rows": rows,
        "next_cursor": next_cursor,
        "status": status,
        "event_type": event_type or "",
        "statuses": queries.WEBHOOK_STATUSES,
        "event_types": queries.event_types(),
        "paged": cursor is not None,
    }
    if request.headers.get("hx-target") != "results":
        view = await queries.overview(session, runtime.settings.presence.offline_after_seconds)
        context.update(view=view, mrr_chart=queries.mrr_chart(view), count_days=queries.WEBHOOK_COUNT_DAYS)
        figures = await revenue.monthly(session, queries.MONTHS)
        context.update(revenue=figures, revenue_chart=revenue_chart(figures))
        context["booking_revenue"] = await bookings_revenue.monthly(session, queries.MONTHS)
        context["metering"] = await metering(session)
    return page_or_fragment(request, "billing/page.html", "billing/_events.html", context, section="billing")


@router.get("/webhooks/{event_id}")
async def webhook_event(request: Request, event_id: str, admin: AdminDep, session: DbSession) -> Response:
    row = await queries.get_webhook_event(session, parse_id(event_id, "webhook event"))
    template = (
        "billing/_event_status.html"
        if request.headers.get("hx-target") == "event-status"
        else "billing/event.html"
    )
    return render(request, template, {"e": row}, section="billing")


@router.post("/webhooks/{event_id}/reprocess")
async def reprocess(request: Request, event_id: str, admin: AdminDep, session: DbSession) -> Response:
    row = await billing_actions.reprocess_webhook(session, admin.actor, parse_id(event_id, "webhook event"))
    return redirect(
        request,
        f"/admin/billing/webhooks/{row.id}",
        flash=("success", f"Event {row.stripe_event_id} queued for processing again."),
    )
