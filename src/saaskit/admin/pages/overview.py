"""Overview: seed 002's statistics as number cards and charts, in a chosen time zone. The same
computation as ``GET /api/admin/stats`` (rollups, counters, presence indexes: no raw scan)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from saaskit.admin.charts import COUNTS, chart, series
from saaskit.admin.security import AdminDep
from saaskit.admin.web import render
from saaskit.insights import stats
from saaskit.insights.models import PLATFORM
from saaskit.kit import timezones
from saaskit.kit.deps import DbSession, RuntimeDep
from saaskit.kit.state import Runtime

router = APIRouter(prefix="/admin/overview", include_in_schema=False)

TimeZoneParam = Annotated[str, Query(max_length=64)]


async def zones(runtime: Runtime) -> list[str]:
    """The picker's choices: the zones PostgreSQL accepts (kit/timezones.py)."""
    return sorted(await timezones.names(runtime.db))


def _charts(figures: dict[str, Any]) -> dict[str, Any]:
    by_day, daily, monthly = figures["activityByDay"], figures["dailyActivity"], figures["monthlyLogins"]
    plans, partition = figures["planDistribution"], figures["usersPartitionPercentage"]
    days = [d["date"] for d in daily]
    stacked = {
        "scales": {
            "x": {"stacked": True},
            "y": {"stacked": True, "beginAtZero": True, "ticks": {"precision": 0}},
        }
    }
    return {
        "activity_chart": chart(
            "bar",
            days,
            series("Logins", [d["logins"] for d in by_day]),
            series("Sign-ups", [d["signups"] for d in by_day]),
            options=COUNTS,
        ),
        "monthly_chart": chart(
            "line",
            [m["month"] for m in monthly],
            series("Logins", [m["logins"] for m in monthly]),
            options=COUNTS,
        ),
        "daily_chart": chart(
            "bar",
            days,
            series("Logins", [d["logins"] for d in daily]),
            series("App opens", [d["appOpens"] for d in daily]),
            series("Actions", [d["actions"] for d in daily]),
            options=stacked,
        ),
        "plans_chart": chart(
            "doughnut",
            [p["plan"] for p in plans],
            series("Active subscriptions", [p["count"] for p in plans]),
        ),
        "status_chart": chart(
            "doughnut",
            ["Active now", "Lapsed", "Idle"],
            series("Users (%)", [partition["active"], partition["lapsed"], partition["idle"]]),
        ),
    }


async def _platform_figures(session: AsyncSession, runtime: Runtime, tz: str) -> tuple[str, dict[str, Any]]:
    """The whole platform's statistics in the time zone asked for (checked), with that zone."""
    zone = await timezones.check(runtime.db, tz)
    figures = await stats.compute(
        session,
        scope_id=PLATFORM,
        organization_id=None,
        tz=zone,
        window_seconds=runtime.settings.presence.offline_after_seconds,
    )
    return zone, figures


@router.get("")
async def overview_page(
    request: Request, admin: AdminDep, session: DbSession, runtime: RuntimeDep, tz: TimeZoneParam = "UTC"
) -> Response:
    zone, figures = await _platform_figures(session, runtime, tz)
    context = {"figures": figures, "tz": zone, "zones": await zones(runtime), **_charts(figures)}
    return render(request, "overview/page.html", context, section="overview")


@router.get("/now")
async def now_fragment(
    request: Request, admin: AdminDep, session: DbSession, runtime: RuntimeDep, tz: TimeZoneParam = "UTC"
) -> Response:
    """The number cards, refreshed by htmx every 30 seconds."""
    zone, figures = await _platform_figures(session, runtime, tz)
    return render(request, "overview/_cards.html", {"figures": figures, "tz": zone}, section="overview")
