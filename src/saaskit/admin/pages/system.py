"""System: events and errors (with resolve), request latency per route, storage, database health,
backups and restore tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from saaskit.admin.charts import chart, series
from saaskit.admin.pages.common import PAGE_SIZE, Cursor, ShortText, choice, page_or_fragment, parse_id
from saaskit.admin.queries import system as queries
from saaskit.admin.security import AdminDep
from saaskit.admin.web import is_htmx, redirect, render
from saaskit.kit.deps import DbSession, RuntimeDep
from saaskit.system import backup_runs, database
from saaskit.tracking import operator as tracking_actions
from saaskit.tracking import triage

router = APIRouter(prefix="/admin/system", include_in_schema=False)

Window = Annotated[str, Query(max_length=5)]
Resolved = Annotated[str | None, Query(max_length=10)]
RESOLVED = ("open", "resolved")


def _window(value: str) -> str:
    return choice(value, tuple(queries.WINDOWS), "window") or "7d"


def _resolved(value: str | None) -> bool | None:
    state = choice(value, RESOLVED, "resolved")
    return None if state is None else state == "resolved"


@dataclass(frozen=True)
class Triage:
    """The query string the events and errors tabs share: the counts' window, the filters both
    tables have, the page."""

    window: str
    app_version: str | None
    resolved: str | None
    cursor: str | None

    def listing(self) -> triage.Listing:
        # ``resolved`` is checked here, after the tab's own filters, so that of several bad
        # values the one reported is the first in the filter form's order.
        return triage.Listing(
            app_version=self.app_version or None,
            resolved=_resolved(self.resolved),
            limit=PAGE_SIZE,
            cursor=self.cursor,
        )


def _triage(
    window: Window = "7d", app_version: ShortText = None, resolved: Resolved = "open", cursor: Cursor = None
) -> Triage:
    return Triage(_window(window), app_version, resolved, cursor)


TriageDep = Annotated[Triage, Depends(_triage)]
Counts = Callable[[AsyncSession, datetime], Awaitable[object]]


async def _triage_tab(
    request: Request,
    session: AsyncSession,
    query: Triage,
    tab: str,
    found: tuple[Sequence[object], str | None],
    counts: Counts,
    choices: dict[str, object],
) -> Response:
    """One page of rows; a whole page (not the htmx results) also gets the counts by kind and
    version over the window. ``choices`` are the tab's own filter options."""
    rows, next_cursor = found
    context: dict[str, object] = {
        "rows": rows,
        "next_cursor": next_cursor,
        "paged": query.cursor is not None,
        "window": query.window,
        "windows": queries.WINDOWS,
        **choices,
        "tab": tab,
    }
    if request.headers.get("hx-target") != "results":
        context["counts"] = await counts(session, queries.window_start(query.window))
    return page_or_fragment(request, f"system/{tab}.html", f"system/_{tab}.html", context, section="system")


@router.get("")
async def system_home(request: Request, admin: AdminDep) -> Response:
    return redirect(request, "/admin/system/events")


@router.get("/events")
async def events_page(
    request: Request,
    admin: AdminDep,
    session: DbSession,
    query: TriageDep,
    severity: Annotated[str | None, Query(max_length=10)] = None,
    event_type: ShortText = None,
) -> Response:
    severity = choice(severity, queries.SEVERITIES, "severity")
    found = await triage.list_system_events(
        session, query.listing(), severity=severity, event_type=event_type or None
    )
    choices: dict[str, object] = {"severities": queries.SEVERITIES}
    return await _triage_tab(request, session, query, "events", found, queries.event_counts, choices)


@router.get("/errors")
async def errors_page(
    request: Request,
    admin: AdminDep,
    session: DbSession,
    query: TriageDep,
    error_type: Annotated[str | None, Query(max_length=20)] = None,
    error_code: ShortText = None,
) -> Response:
    error_type = choice(error_type, queries.ERROR_TYPES, "error_type")
    found = await triage.list_errors(
        session, query.listing(), error_type=error_type, error_code=error_code or None
    )
    choices: dict[str, object] = {"error_types": queries.ERROR_TYPES}
    return await _triage_tab(request, session, query, "errors", found, queries.error_counts, choices)


@router.post("/events/{event_id}/resolve")
async def resolve_event(request: Request, event_id: str, admin: AdminDep, session: DbSession) -> Response:
    row = await tracking_actions.resolve_system_event(
        session, admin.actor, parse_id(event_id, "system event")
    )
    if is_htmx(request):
        return render(request, "system/_event_row.html", {"e": row}, section="system")
    return redirect(request, "/admin/system/events", flash=("success", "System event marked resolved."))


@router.post("/errors/{error_id}/resolve")
async def resolve_error(request: Request, error_id: str, admin: AdminDep, session: DbSession) -> Response:
    row = await tracking_actions.resolve_error(session, admin.actor, parse_id(error_id, "error"))
    if is_htmx(request):
        return render(request, "system/_error_row.html", {"e": row}, section="system")
    return redirect(request, "/admin/system/errors", flash=("success", "Error marked resolved."))


@router.get("/latency")
async def latency_page(
    request: Request, admin: AdminDep, session: DbSession, window: Window = "24h"
) -> Response:
    window = _window(window)
    routes = await queries.latency(session, queries.window_start(window))
    top = sorted(routes, key=lambda r: r.typical_p95_ms, reverse=True)[:12]
    spec = chart(
        "bar",
        [f"{r.method} {r.route}" for r in top],
        series("typical p95 (ms)", [round(r.typical_p95_ms, 1) for r in top]),
        series("mean (ms)", [round(r.mean_ms, 1) for r in top]),
        # Every route named: no skipped labels, and a bar height that leaves room for each.
        options={
            "indexAxis": "y",
            "scales": {"x": {"beginAtZero": True}, "y": {"ticks": {"autoSkip": False}}},
        },
    )
    context = {
        "routes": routes,
        "window": window,
        "windows": queries.WINDOWS,
        "tab": "latency",
        "chart_spec": spec,
        "chart_height": max(220, 60 + 36 * len(top)),
    }
    return render(request, "system/latency.html", context, section="system")


@router.get("/database")
async def database_page(request: Request, admin: AdminDep, session: DbSession) -> Response:
    report = await database.health(session)
    history = await database.size_history(session, report.checked_at.date() - timedelta(days=90))
    growth = chart(
        "line",
        [d.isoformat() for d, _ in history],
        series("Database size (MB)", [round(size / 1_000_000, 1) for _, size in history]),
    )
    context = {"health": report, "growth": growth if history else None, "tab": "database"}
    return render(request, "system/database.html", context, section="system")


@router.get("/backups")
async def backups_page(
    request: Request, admin: AdminDep, session: DbSession, runtime: RuntimeDep
) -> Response:
    settings = runtime.settings
    runs = await backup_runs.recent_runs(session, limit=30)
    context = {
        "config": backup_runs.describe(settings),
        "last_backup": await backup_runs.last_run(session, "backup"),
        "last_test": await backup_runs.last_run(session, "restore_test"),
        "runs": runs,
        "tab": "backups",
    }
    return render(request, "system/backups.html", context, section="system")


@router.get("/storage")
async def storage_page(request: Request, admin: AdminDep, session: DbSession) -> Response:
    context = {
        "tables": await queries.table_sizes(session),
        "partitions": await queries.partition_list(session),
        "retention": queries.retention_days(),
        "tab": "storage",
    }
    return render(request, "system/storage.html", context, section="system")
