"""Insights API: seed 002's statistics, KPIs, daily metrics, geographic stats, funnels, retention."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from saaskit.insights import daily, kpis, retention, stats
from saaskit.insights.access import AnalyticsSession, ScopeDep, TimeZone
from saaskit.insights.funnels.endpoints import router as funnels_router
from saaskit.insights.schemas import DailyMetrics, Geographic, Kpis, Period, Retention, RetentionMode, Stats
from saaskit.kit.deps import RuntimeDep
from saaskit.kit.errors import Unprocessable
from saaskit.kit.schemas import Day

MAX_DAYS = 400

admin_router = APIRouter(prefix="/api/admin", tags=["admin: statistics"])
router = APIRouter(prefix="/api/insights", tags=["insights"])


@admin_router.get(
    "/stats",
    summary="The admin dashboard's statistics (seed 002), for the platform or one organization",
    responses={403: {"description": "Not a platform admin (or no analytics:read in the organization)"}},
)
async def admin_stats(scope: ScopeDep, tz: TimeZone, session: AnalyticsSession, runtime: RuntimeDep) -> Stats:
    figures = await stats.compute(
        session,
        scope_id=scope.scope_id,
        organization_id=scope.organization_id,
        tz=tz,
        window_seconds=runtime.settings.presence.offline_after_seconds,
    )
    return Stats.model_validate(figures)


@router.get("/kpis", summary="DAU, WAU, MAU, stickiness, MRR, ARPU, trial conversion, churn, LTV")
async def kpis_endpoint(scope: ScopeDep, session: AnalyticsSession) -> Kpis:
    return Kpis.model_validate(await kpis.compute(session, organization_id=scope.organization_id))


@router.get(
    "/daily-metrics",
    summary="Daily figures over a range of UTC days (the platform's, or one organization's)",
)
async def daily_metrics_endpoint(
    scope: ScopeDep,
    session: AnalyticsSession,
    start: Annotated[Day, Query(alias="from", description="First UTC day.")],
    end: Annotated[Day, Query(alias="to", description="Last UTC day (at most 400 days after from).")],
) -> DailyMetrics:
    if end < start:
        raise Unprocessable("'to' is before 'from'", field="to")
    if (end - start).days >= MAX_DAYS:
        raise Unprocessable(f"at most {MAX_DAYS} days at a time", field="to")
    return DailyMetrics.model_validate(
        {"days": await daily.series(session, start, end, scope.organization_id)}
    )


@router.get("/geographic", summary="Users per country (the geographic_stats view, refreshed nightly)")
async def geographic_endpoint(scope: ScopeDep, session: AnalyticsSession) -> Geographic:
    if scope.organization_id is not None:
        raise Unprocessable("geographic statistics are platform-wide", field="organization_id")
    return Geographic.model_validate({"countries": await daily.geographic(session)})


@router.get(
    "/retention",
    summary="Retention cohorts: people back with return_event in each period after their start_event",
)
async def retention_endpoint(
    scope: ScopeDep,
    session: AnalyticsSession,
    tz: TimeZone,
    start_event: Annotated[
        str, Query(min_length=1, max_length=200, description="Event that puts a person in a cohort.")
    ],
    return_event: Annotated[
        str, Query(min_length=1, max_length=200, description="Event counted as coming back.")
    ],
    period: Annotated[Period, Query(description="day, week (ISO, from Monday) or month, in tz.")],
    start: Annotated[
        Day, Query(alias="from", description="First day (in tz); widened to its period's start.")
    ],
    end: Annotated[Day, Query(alias="to", description="Day after the last one: the range is [from, to).")],
    periods: Annotated[
        int, Query(ge=0, le=retention.MAX_PERIODS, description="Periods after the cohort's.")
    ] = 7,
    mode: Annotated[RetentionMode, Query(description="first_time or recurring.")] = "first_time",
) -> Retention:
    return await retention.compute_retention(
        session,
        start_event=start_event,
        return_event=return_event,
        period=period,
        start=start,
        end=end,
        periods=periods,
        mode=mode,
        tz=tz,
        organization_id=scope.organization_id,
    )


routers = [admin_router, router, funnels_router]
