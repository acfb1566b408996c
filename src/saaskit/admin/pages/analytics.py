"""Analytics: daily metrics over a chosen range, KPIs, geography, funnels and retention. Every
figure comes from the nightly rollups or from the insights services the API uses; the page never
scans raw events for the daily part."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from saaskit.admin.charts import COUNTS, chart, series
from saaskit.admin.pages.analytics_funnels import event_names, funnel_context, retention_context
from saaskit.admin.security import AdminDep
from saaskit.admin.web import country_label, render
from saaskit.insights import daily, kpis
from saaskit.insights.endpoints import MAX_DAYS
from saaskit.kit.deps import DbSession, runtime_of
from saaskit.kit.errors import BadRequest
from saaskit.kit.replicas import read_session_for
from saaskit.kit.schemas import Day

router = APIRouter(prefix="/admin/analytics", include_in_schema=False)

DEFAULT_DAYS = 30
TOP_COUNTRIES = 25

DayParam = Annotated[Day | None, Query()]


def day_range(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    """The chosen days, by default the 30 closed days before today; errors name the field."""
    last = end or today - timedelta(days=1)
    first = start or last - timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        raise BadRequest("to: must not be before from", field="to")
    if (last - first).days >= MAX_DAYS:
        raise BadRequest(f"to: at most {MAX_DAYS} days at a time", field="to")
    return first, last


def daily_chart(days: list[dict[str, Any]]) -> dict[str, Any]:
    return chart(
        "line",
        [d["date"] for d in days],
        series("Active users", [d["active_users"] for d in days], tension=0),
        series("Weekly active", [d["weekly_active_users"] for d in days], tension=0),
        series("New sign-ups", [d["new_signups"] for d in days], tension=0),
        series("Sessions", [d["total_sessions"] for d in days], tension=0),
        options=COUNTS,
    )


def countries_chart(countries: list[dict[str, Any]]) -> dict[str, Any]:
    top = countries[:TOP_COUNTRIES]
    return chart(
        "bar",
        [country_label(c["country_code"]) for c in top],
        series("Users", [c["total_users"] for c in top]),
        series("Active (30 d)", [c["active_users_30d"] for c in top]),
        series("Paid", [c["paid_users"] for c in top]),
        options=COUNTS,
    )


async def admin_read_session(
    request: Request, admin: AdminDep, session: DbSession
) -> AsyncIterator[AsyncSession]:
    """The page's analytics reads: a read replica within the lag threshold, else the primary
    (kit/replicas.py); the admin is authenticated on the primary first."""
    async with read_session_for(runtime_of(request).replicas, session) as read:
        yield read


ReadSession = Annotated[AsyncSession, Depends(admin_read_session, scope="function")]


@router.get("")
async def analytics_page(
    request: Request,
    admin: AdminDep,
    session: DbSession,
    reads: ReadSession,
    start: Annotated[Day | None, Query(alias="from")] = None,
    end: Annotated[Day | None, Query(alias="to")] = None,
    funnel: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    today = datetime.now(UTC).date()
    first, last = day_range(start, end, today)
    params = {k: v[:200] for k, v in request.query_params.items()}
    days = await daily.series(reads, first, last, None)
    countries = await daily.geographic(reads)
    context: dict[str, Any] = {
        "first": first,
        "last": last,
        "days": days,
        "daily_chart": daily_chart(days),
        "kpis": await kpis.compute(reads, organization_id=None),
        "countries": countries[:TOP_COUNTRIES],
        "country_count": len(countries),
        "countries_chart": countries_chart(countries),
        "event_names": await event_names(reads, today),
        "retention": await retention_context(reads, params, first, last),
        # Saved funnels and their stored results: the primary (one just saved shows at once).
        **await funnel_context(session, funnel, first, last),
    }
    return render(request, "analytics/page.html", context, section="analytics")
