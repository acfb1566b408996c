"""Insights API: seed 002's statistics, KPIs, daily metrics, geographic stats, funnels, retention."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from saaskit.insights import stats
from saaskit.insights.access import ScopeDep, TimeZone
from saaskit.kit.deps import DbSession

admin_router = APIRouter(prefix="/api/admin", tags=["admin: statistics"])
router = APIRouter(prefix="/api/insights", tags=["insights"])


@admin_router.get(
    "/stats",
    summary="The admin dashboard's statistics (seed 002), for the platform or one organization",
    responses={403: {"description": "Not a platform admin (or no analytics:read in the organization)"}},
)
async def admin_stats(scope: ScopeDep, tz: TimeZone, session: DbSession) -> dict[str, Any]:
    return await stats.compute(session, scope_id=scope.scope_id, organization_id=scope.organization_id, tz=tz)


routers = [admin_router, router]
