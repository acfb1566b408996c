"""Privacy: pending erasures (cancellable), exports, and the retention schedule with each
table's oldest row, so an operator sees that the schedule runs (docs/privacy.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from saaskit.admin.pages.common import parse_id
from saaskit.admin.security import AdminDep
from saaskit.admin.web import redirect, render
from saaskit.config import Settings
from saaskit.kit.deps import DbSession, RuntimeDep
from saaskit.privacy import retention
from saaskit.privacy import service as privacy
from saaskit.tracking import partitions

router = APIRouter(prefix="/admin/privacy", include_in_schema=False)

REQUESTS = text(
    """
SELECT r.id, r.kind, r.status, r.user_id, u.email, r.by_admin, r.reason, r.scheduled_for, r.progress_percent,
       r.archive_size_bytes, r.archive_expires_at, r.downloaded_at, r.completed_at, r.cancelled_by,
       r.error, r.created_at
FROM privacy_requests r LEFT JOIN users u ON u.id = r.user_id
WHERE r.kind = :kind AND (:all OR r.status IN ('pending', 'running'))
ORDER BY r.created_at DESC LIMIT 100
"""
)


def _rules(settings: Settings) -> dict[str, str]:
    months = settings.privacy.detail_months
    rules = {
        spec.table: (
            f"{months} months of detail, then monthly rollups"
            if spec.rolled_up
            else f"{spec.retention_days} days (partitions dropped)"
        )
        for spec in partitions.SPECS.values()
    }
    rules.update(
        user_sessions=f"{settings.jobs.session_retention_days} days after the session ended",
        stripe_webhook_events=f"{settings.privacy.stripe_events_years} years (legal)",
        activities=f"{settings.privacy.activities_years} years (audit log)",
        event_receipts="48 hours",
        idempotency_keys="24 hours",
    )
    return rules


async def _requests(session: AsyncSession, kind: str, *, everything: bool) -> list[Any]:
    return list((await session.execute(REQUESTS, {"kind": kind, "all": everything})).all())


@router.get("")
async def privacy_page(
    request: Request, admin: AdminDep, session: DbSession, runtime: RuntimeDep
) -> Response:
    rules = _rules(runtime.settings)
    oldest = [
        {"table": table, "column": column, "oldest": value, "rule": rules.get(table, "")}
        for table, column, value in await retention.oldest_rows(session)
    ]
    context = {
        "erasures": await _requests(session, "erasure", everything=False),
        "exports": await _requests(session, "export", everything=True),
        "retention": oldest,
        "grace_days": runtime.settings.privacy.erasure_grace_days,
    }
    return render(request, "privacy/page.html", context, section="privacy")


@router.post("/erasures/{user_id}/cancel")
async def cancel_erasure(request: Request, user_id: str, admin: AdminDep, session: DbSession) -> Response:
    await privacy.cancel_erasure(session, parse_id(user_id, "user"), admin.actor, "admin")
    return redirect(request, "/admin/privacy", flash=("success", "Erasure cancelled."))
