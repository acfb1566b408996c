"""Writers for the smaller analytics tables, and the producers saaskit itself calls
(sign-up/sign-in activity, crash reports)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.columns import insert_from_json
from saaskit.tracking.ingest import Attribution, IngestResult, to_json, user_levels
from saaskit.tracking.models import ActivityEvent, ErrorLog, PerformanceMetric, SystemEvent, WidgetEvent
from saaskit.tracking.privacy import ERRORS_ONLY, FULL

# Rows without a time of their own get the time of writing.
INSERT_ACTIVITY = text(
    insert_from_json(
        ActivityEvent,
        ("created_at", "user_id", "organization_id", "event_type", "action_name"),
        {"created_at": "now()"},
    )
)
INSERT_WIDGETS = text(
    insert_from_json(
        WidgetEvent,
        (
            "timestamp",
            "user_id",
            "dashboard_id",
            "session_id",
            "widget_type",
            "event_type",
            "event_data",
            "duration_seconds",
        ),
        {"timestamp": "now()"},
    )
)
INSERT_SYSTEM_EVENTS = text(
    insert_from_json(
        SystemEvent,
        (
            "created_at",
            "user_id",
            "organization_id",
            "dashboard_id",
            "event_type",
            "severity",
            "message",
            "error_details",
            "user_agent",
            "app_version",
        ),
        {"created_at": "now()"},
    )
)
INSERT_ERRORS = text(
    insert_from_json(
        ErrorLog,
        (
            "created_at",
            "user_id",
            "organization_id",
            "error_type",
            "error_code",
            "error_message",
            "error_stack",
            "app_version",
            "context",
        ),
        {"created_at": "now()"},
    )
)
INSERT_METRICS = text(
    insert_from_json(
        PerformanceMetric,
        ("timestamp", "metric_name", "metric_type", "value", "unit", "tags", "organization_id", "user_id"),
        {"timestamp": "now()", "tags": "'{}'::jsonb"},
    )
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _who(attribution: Attribution) -> dict[str, Any]:
    return {"user_id": attribution.user_id, "organization_id": attribution.organization_id}


# -- producers inside saaskit ----------------------------------------------------------------
async def record_activity(
    session: AsyncSession,
    *,
    user_id: uuid.UUID | None,
    event_type: str,
    action_name: str | None = None,
    organization_id: uuid.UUID | None = None,
) -> None:
    """A login / signup / app_open / action row, in the caller's transaction. Account records:
    written whatever the tracking level (see docs/privacy.md)."""
    await session.execute(
        insert(ActivityEvent).values(
            user_id=user_id, event_type=event_type, action_name=action_name, organization_id=organization_id
        )
    )


async def record_system_event(
    session: AsyncSession,
    *,
    event_type: str,
    severity: str,
    message: str,
    user_id: uuid.UUID | None = None,
    organization_id: uuid.UUID | None = None,
    dashboard_id: uuid.UUID | None = None,
    error_details: dict[str, Any] | None = None,
    user_agent: str | None = None,
    app_version: str | None = None,
) -> None:
    await session.execute(
        insert(SystemEvent).values(
            event_type=event_type,
            severity=severity,
            message=message,
            user_id=user_id,
            organization_id=organization_id,
            dashboard_id=dashboard_id,
            error_details=error_details,
            user_agent=user_agent,
            app_version=app_version,
        )
    )


# -- API writers -------------------------------------------------------------------------------
async def _level(session: AsyncSession, attribution: Attribution) -> str:
    if attribution.user_id is None:
        return FULL
    return (await user_levels(session, {attribution.user_id})).get(attribution.user_id, ERRORS_ONLY)


async def store_activity(
    session: AsyncSession, attribution: Attribution, items: list[dict[str, Any]]
) -> IngestResult:
    """``action`` and ``app_open`` rows sent by apps. Actions are product analytics: dropped at the
    errors_only level; app opens are session records and always kept."""
    result = IngestResult(received=len(items))
    level = await _level(session, attribution)
    rows = []
    for item in items:
        if item["event_type"] == "action" and level == ERRORS_ONLY:
            result.dropped += 1
            continue
        rows.append(
            {
                **_who(attribution),
                "created_at": _iso(item.get("created_at")),
                "event_type": item["event_type"],
                "action_name": item.get("action_name"),
            }
        )
    if rows:
        await session.execute(INSERT_ACTIVITY, {"rows": to_json(rows)})
    result.stored = len(rows)
    return result


async def store_widget_events(
    session: AsyncSession, attribution: Attribution, items: list[dict[str, Any]]
) -> IngestResult:
    """Widget interactions of the signed-in user; their dashboard and session ids were checked
    to be the user's (``ownership``)."""
    assert attribution.user_id is not None, "widget events belong to a signed-in user"
    result = IngestResult(received=len(items))
    level = await _level(session, attribution)
    if level == ERRORS_ONLY:
        result.dropped = len(items)
        return result
    rows = [
        {
            "user_id": attribution.user_id,
            "timestamp": _iso(item.get("timestamp")),
            "dashboard_id": item.get("dashboard_id"),
            "session_id": item.get("session_id"),
            "widget_type": item["widget_type"],
            "event_type": item["event_type"],
            "event_data": item.get("event_data") if level == FULL else None,
            "duration_seconds": item.get("duration_seconds"),
        }
        for item in items
    ]
    await session.execute(INSERT_WIDGETS, {"rows": to_json(rows)})
    result.stored = len(rows)
    return result


async def store_system_events(
    session: AsyncSession, attribution: Attribution, items: list[dict[str, Any]], user_agent: str | None
) -> IngestResult:
    rows = [
        {
            **_who(attribution),
            "created_at": _iso(item.get("created_at")),
            "dashboard_id": item.get("dashboard_id"),
            "event_type": item["event_type"],
            "severity": item["severity"],
            "message": item["message"],
            "error_details": item.get("error_details"),
            "user_agent": user_agent,
            "app_version": item.get("app_version"),
        }
        for item in items
    ]
    await session.execute(INSERT_SYSTEM_EVENTS, {"rows": to_json(rows)})
    return IngestResult(received=len(items), stored=len(rows))


async def store_errors(
    session: AsyncSession, attribution: Attribution, items: list[dict[str, Any]]
) -> IngestResult:
    rows = [
        {
            **_who(attribution),
            "created_at": _iso(item.get("created_at")),
            "error_type": item["error_type"],
            "error_code": item.get("error_code"),
            "error_message": item["error_message"],
            "error_stack": item.get("error_stack"),
            "app_version": item.get("app_version"),
            "context": item.get("context"),
        }
        for item in items
    ]
    await session.execute(INSERT_ERRORS, {"rows": to_json(rows)})
    return IngestResult(received=len(items), stored=len(rows))


async def store_metrics(
    session: AsyncSession, attribution: Attribution, items: list[dict[str, Any]]
) -> IngestResult:
    rows = [
        {
            **_who(attribution),
            "timestamp": _iso(item.get("timestamp")),
            "metric_name": item["metric_name"],
            "metric_type": item["metric_type"],
            "value": item["value"],
            "unit": item.get("unit"),
            "tags": item.get("tags") or {},
        }
        for item in items
    ]
    await session.execute(INSERT_METRICS, {"rows": to_json(rows)})
    return IngestResult(received=len(items), stored=len(rows))
