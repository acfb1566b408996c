"""The admin pages' routes, one module per section."""

from __future__ import annotations

from fastapi import APIRouter

from saaskit.admin.pages import analytics, auth, billing, devices, orgs, overview, system, users

router = APIRouter(include_in_schema=False)
for module in (auth, overview, users, orgs, devices, billing, analytics, system):
    router.include_router(module.router)
