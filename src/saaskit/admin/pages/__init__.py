"""The admin pages' routes, one module per section."""

from __future__ import annotations

from fastapi import APIRouter

from saaskit.admin.pages import (
    analytics,
    analytics_funnels,
    api_keys,
    auth,
    billing,
    bookings,
    devices,
    experiments,
    flags,
    notifications,
    orgs,
    outbox,
    overview,
    persons,
    privacy,
    system,
    trust,
    users,
    webhooks,
)

router = APIRouter(include_in_schema=False)
for module in (
    auth,
    overview,
    users,
    api_keys,
    orgs,
    devices,
    billing,
    bookings,
    outbox,
    notifications,
    flags,
    experiments,
    persons,
    analytics,
    analytics_funnels,
    privacy,
    trust,
    system,
    webhooks,
):
    router.include_router(module.router)
