"""The admin pages' routes, one module per section."""

from __future__ import annotations

from fastapi import APIRouter

from saaskit.admin.pages import (
    analytics,
    analytics_funnels,
    auth,
    billing,
    devices,
    notifications,
    orgs,
    outbox,
    overview,
    system,
    trust,
    users,
)

router = APIRouter(include_in_schema=False)
for module in (
    auth,
    overview,
    users,
    orgs,
    devices,
    billing,
    outbox,
    notifications,
    analytics,
    analytics_funnels,
    trust,
    system,
):
    router.include_router(module.router)
