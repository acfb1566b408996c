"""Devices: presence, versions, crashes, the device list and "require update below X"."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from saaskit.admin.charts import COUNTS, chart, series
from saaskit.admin.pages.common import PAGE_SIZE, Cursor, choice, page_or_fragment
from saaskit.admin.queries import devices as queries
from saaskit.admin.security import AdminDep
from saaskit.admin.web import redirect, render
from saaskit.devices import operator as device_actions
from saaskit.devices.schemas import VERSION_PATTERN
from saaskit.kit.deps import DbSession, RuntimeDep

router = APIRouter(prefix="/admin/devices", include_in_schema=False)


def _charts(overview: queries.DevicesOverview) -> dict[str, object]:
    ordered = list(reversed(overview.by_version))
    crashes = list(reversed(overview.crashes))
    return {
        "versions_chart": chart(
            "bar",
            [v or "unknown" for v, _, _ in ordered],
            series("Devices", [d for _, d, _ in ordered]),
            series("Online now", [o for _, _, o in ordered]),
            options=COUNTS,
        ),
        "crashes_chart": chart(
            "bar",
            [v or "unknown" for v, _, _ in crashes],
            series("Crash reports", [c for _, c, _ in crashes]),
            options=COUNTS,
        ),
    }


@router.get("")
async def devices_page(
    request: Request,
    admin: AdminDep,
    session: DbSession,
    runtime: RuntimeDep,
    device_type: Annotated[str | None, Query(max_length=20)] = None,
    online: Annotated[str | None, Query(max_length=5)] = None,
    needs_update: Annotated[str | None, Query(max_length=5)] = None,
    version: Annotated[str | None, Query(max_length=60)] = None,
    cursor: Cursor = None,
) -> Response:
    filters = queries.DeviceFilters(
        device_type=choice(device_type, queries.DEVICE_TYPES, "device_type"),
        online=online in ("1", "on", "true"),
        needs_update=needs_update in ("1", "on", "true"),
        version=None if version is None else ("" if version == "unknown" else version),
    )
    rows, next_cursor = await queries.list_devices(session, filters, limit=PAGE_SIZE, cursor=cursor)
    context: dict[str, object] = {
        "rows": rows,
        "next_cursor": next_cursor,
        "filters": filters,
        "device_types": queries.DEVICE_TYPES,
        "paged": cursor is not None,
    }
    if request.headers.get("hx-target") != "results":
        overview = await queries.overview(session, runtime.settings.presence.offline_after_seconds)
        context.update(overview=overview, crash_days=queries.CRASH_DAYS, **_charts(overview))
    return page_or_fragment(request, "devices/page.html", "devices/_table.html", context, section="devices")


@router.get("/presence")
async def presence_fragment(
    request: Request, admin: AdminDep, session: DbSession, runtime: RuntimeDep
) -> Response:
    """The "now" figures, refreshed by htmx every 30 seconds."""
    overview = await queries.overview(session, runtime.settings.presence.offline_after_seconds)
    return render(request, "devices/_presence.html", {"overview": overview}, section="devices")


@router.post("/require-update")
async def require_update(
    request: Request,
    admin: AdminDep,
    session: DbSession,
    minimum_version: Annotated[str, Form(max_length=60)] = "",
    device_type: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    version = minimum_version.strip()
    if not re.match(VERSION_PATTERN, version):
        return redirect(
            request,
            "/admin/devices",
            flash=("error", f"minimum_version: a version like 2.4 or 2.4.1 (got {version[:60]!r})."),
        )
    platform = choice(device_type or None, queries.DEVICE_TYPES, "device_type")
    outcome = await device_actions.require_update(session, admin.actor, version, platform)
    return redirect(request, "/admin/devices", flash=("success", outcome.message))
