"""Reading the daily rollups: a series of days (zeros where nothing happened), the geographic view."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

PLATFORM_SERIES = text(
    """
SELECT d::date AS date, m.new_signups, m.returning_users, m.active_users, m.weekly_active_users,
       m.monthly_active_users, m.active_dashboards, m.total_sessions, m.avg_session_minutes,
       m.trial_to_paid_conversions
FROM generate_series(CAST(:start AS date), CAST(:end AS date), interval '1 day') AS d
LEFT JOIN daily_metrics m ON m.date = d::date ORDER BY d
"""
)
ORGANIZATION_SERIES = text(
    """
SELECT d::date AS date, m.active_users, m.weekly_active_users, m.monthly_active_users, m.new_users,
       m.revenue_generated, m.api_calls
FROM generate_series(CAST(:start AS date), CAST(:end AS date), interval '1 day') AS d
LEFT JOIN organization_metrics_daily m ON m.organization_id = :org AND m.date = d::date ORDER BY d
"""
)
GEOGRAPHIC = text("SELECT * FROM geographic_stats ORDER BY total_users DESC, country_code")


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if value is None:
        return None
    return float(value) if not isinstance(value, int | str) else value


async def series(
    session: AsyncSession, start: date, end: date, organization_id: uuid.UUID | None
) -> list[dict[str, Any]]:
    """One row per day from start to end; a day not rolled up (or without a row) is all zeros,
    except averages, which are null."""
    statement = PLATFORM_SERIES if organization_id is None else ORGANIZATION_SERIES
    rows = await session.execute(statement, {"start": start, "end": end, "org": organization_id})
    out = []
    for row in rows.mappings():
        out.append(
            {
                key: (_plain(value) if value is not None or key == "avg_session_minutes" else 0)
                for key, value in row.items()
            }
        )
    return out


async def geographic(session: AsyncSession) -> list[dict[str, Any]]:
    rows = await session.execute(GEOGRAPHIC)
    return [{key: _plain(value) for key, value in row.items()} for row in rows.mappings()]
