"""Insights API: seed 002's statistics, KPIs, daily metrics, geographic stats, funnels, retention."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from saaskit.insights import daily, kpis, stats
from saaskit.insights.access import ScopeDep, TimeZone
from saaskit.kit.deps import DbSession
from saaskit.kit.errors import Unprocessable

MAX_DAYS = 400

admin_router = APIRouter(prefix="/api/admin", tags=["admin: statistics"])
router = APIRouter(prefix="/api/insights", tags=["insights"])


@admin_router.get(
    "/stats",
    summary="The admin dashboard's statistics (seed 002), for the platform or one organization",
    responses={403: {"description": "Not a platform admin (or no analytics:read in the organization)"}},
)
async def admin_stats(scope: ScopeDep, tz: TimeZone, session: DbSession) -> dict[str, Any]:
    return await stats.compute(session, scope_id=scope.scope_id, organization_id=scope.organization_id, tz=tz)


@router.get("/kpis", summary="DAU, WAU, MAU, stickiness, MRR, ARPU, trial conversion, churn, LTV")
async def kpis_endpoint(scope: ScopeDep, session: DbSession) -> dict[str, Any]:
    return await kpis.compute(session, organization_id=scope.organization_id)


@router.get(
    "/daily-metrics",
    summary="Daily figures over a range of UTC days (the platform's, or one organization's)",
)
async def daily_metrics_endpoint(
    scope: ScopeDep,
    session: DbSession,
    start: Annotated[date, Query(alias="from", description="First UTC day.")],
    end: Annotated[date, Query(alias="to", description="Last UTC day (at most 400 days after from).")],
) -> dict[str, Any]:
    if end < start:
        raise Unprocessable("'to' is before 'from'", field="to")
    if (end - start).days >= MAX_DAYS:
        raise Unprocessable(f"at most {MAX_DAYS} days at a time", field="to")
    return {"days": await daily.series(session, start, end, scope.organization_id)}


@router.get("/geographic", summary="Users per country (the geographic_stats view, refreshed nightly)")
async def geographic_endpoint(scope: ScopeDep, session: DbSession) -> dict[str, Any]:
    if scope.organization_id is not None:
        raise Unprocessable("geographic statistics are platform-wide", field="organization_id")
    return {"countries": await daily.geographic(session)}


routers = [admin_router, router]
