"""Overview: seed 002's statistics as number cards and charts, in a chosen time zone. The same
computation as ``GET /api/admin/stats`` (rollups, counters, presence indexes: no raw scan)."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from saaskit.admin.security import AdminDep
from saaskit.admin.web import render
from saaskit.insights import stats
from saaskit.insights.access import time_zone
from saaskit.insights.models import PLATFORM
from saaskit.kit.deps import DbSession, RuntimeDep

router = APIRouter(prefix="/admin/overview", include_in_schema=False)

TimeZoneParam = Annotated[str, Query(max_length=64)]


@cache
def zones() -> list[str]:
    return sorted(available_timezones() | {"UTC"})


def _charts(figures: dict[str, Any]) -> dict[str, Any]:
    days = [d["date"] for d in figures["dailyActivity"]]
    integer_axis = {"scales": {"y": {"beginAtZero": True, "ticks": {"precision": 0}}}}
    stacked = {
        "scales": {
            "x": {"stacked": True},
            "y": {"stacked": True, "beginAtZero": True, "ticks": {"precision": 0}},
        }
    }
    return {
        "activity_chart": {
            "type": "bar",
            "data": {
                "labels": days,
                "datasets": [
                    {"label": "Logins", "data": [d["logins"] for d in figures["activityByDay"]]},
                    {"label": "Sign-ups", "data": [d["signups"] for d in figures["activityByDay"]]},
                ],
            },
            "options": integer_axis,
        },
        "monthly_chart": {
            "type": "line",
            "data": {
                "labels": [m["month"] for m in figures["monthlyLogins"]],
                "datasets": [{"label": "Logins", "data": [m["logins"] for m in figures["monthlyLogins"]]}],
            },
            "options": integer_axis,
        },
        "daily_chart": {
            "type": "bar",
            "data": {
                "labels": days,
                "datasets": [
                    {"label": "Logins", "data": [d["logins"] for d in figures["dailyActivity"]]},
                    {"label": "App opens", "data": [d["appOpens"] for d in figures["dailyActivity"]]},
                    {"label": "Actions", "data": [d["actions"] for d in figures["dailyActivity"]]},
                ],
            },
            "options": stacked,
        },
        "plans_chart": {
            "type": "doughnut",
            "data": {
                "labels": [p["plan"] for p in figures["planDistribution"]],
                "datasets": [
                    {
                        "label": "Active subscriptions",
                        "data": [p["count"] for p in figures["planDistribution"]],
                    }
                ],
            },
        },
        "status_chart": {
            "type": "doughnut",
            "data": {
                "labels": ["Active now", "Lapsed", "Idle"],
                "datasets": [
                    {
                        "label": "Users (%)",
                        "data": [
                            figures["usersPartitionPercentage"]["active"],
                            figures["usersPartitionPercentage"]["lapsed"],
                            figures["usersPartitionPercentage"]["idle"],
                        ],
                    }
                ],
            },
        },
    }


@router.get("")
async def overview_page(
    request: Request, admin: AdminDep, session: DbSession, runtime: RuntimeDep, tz: TimeZoneParam = "UTC"
) -> Response:
    zone = time_zone(tz)
    figures = await stats.compute(
        session,
        scope_id=PLATFORM,
        organization_id=None,
        tz=zone,
        window_seconds=runtime.settings.presence.offline_after_seconds,
    )
    context = {"figures": figures, "tz": zone, "zones": zones(), **_charts(figures)}
    return render(request, "overview/page.html", context, section="overview")


@router.get("/now")
async def now_fragment(
    request: Request, admin: AdminDep, session: DbSession, runtime: RuntimeDep, tz: TimeZoneParam = "UTC"
) -> Response:
    """The number cards, refreshed by htmx every 30 seconds."""
    zone = time_zone(tz)
    figures = await stats.compute(
        session,
        scope_id=PLATFORM,
        organization_id=None,
        tz=zone,
        window_seconds=runtime.settings.presence.offline_after_seconds,
    )
    return render(request, "overview/_cards.html", {"figures": figures, "tz": zone}, section="overview")
