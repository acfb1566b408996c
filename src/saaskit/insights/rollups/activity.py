"""Activity rollups: ``activity_events`` counted per 15-minute bucket, per UTC day and per UTC
month, for the platform and for each organization (its active members' activity, membership as
of the rollup).

Each function recomputes its range from the raw rows (delete, then insert, in the caller's
transaction): running it twice gives the same rows, and running it again later picks up rows
that arrived late.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.insights.models import PLATFORM

MEMBERS_JOIN = "JOIN organization_members m ON m.user_id = r.user_id AND m.is_active"

QUARTERS = text(
    f"""
INSERT INTO activity_rollups_15m (scope_id, bucket_start, event_type, events)
WITH r AS (
    SELECT date_bin('15 minutes', created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
           event_type, user_id
    FROM activity_events WHERE created_at >= :lo AND created_at < :hi
)
SELECT CAST(:platform AS uuid), bucket, event_type, count(*) FROM r GROUP BY bucket, event_type
UNION ALL
SELECT m.organization_id, r.bucket, r.event_type, count(*) FROM r {MEMBERS_JOIN}
GROUP BY m.organization_id, r.bucket, r.event_type
"""
)

DAYS = text(
    f"""
INSERT INTO activity_rollups_daily (scope_id, day, event_type, events, users)
WITH r AS (
    SELECT (created_at AT TIME ZONE 'UTC')::date AS day, event_type, user_id
    FROM activity_events WHERE created_at >= :lo AND created_at < :hi
)
SELECT CAST(:platform AS uuid), day, event_type, count(*), count(DISTINCT user_id)
FROM r GROUP BY day, event_type
UNION ALL
SELECT m.organization_id, r.day, r.event_type, count(*), count(DISTINCT r.user_id) FROM r {MEMBERS_JOIN}
GROUP BY m.organization_id, r.day, r.event_type
"""
)

MONTH = text(
    f"""
INSERT INTO activity_events_monthly (scope_id, month, event_type, events, users)
WITH r AS (
    SELECT event_type, user_id FROM activity_events WHERE created_at >= :lo AND created_at < :hi
)
SELECT CAST(:platform AS uuid), CAST(:month AS date), event_type, count(*), count(DISTINCT user_id)
FROM r GROUP BY event_type
UNION ALL
SELECT m.organization_id, CAST(:month AS date), r.event_type, count(*), count(DISTINCT r.user_id)
FROM r {MEMBERS_JOIN} GROUP BY m.organization_id, r.event_type
"""
)


async def roll_quarters(session: AsyncSession, lo: datetime, hi: datetime) -> None:
    """Buckets starting in [lo, hi); both on quarter hours."""
    await session.execute(
        text("DELETE FROM activity_rollups_15m WHERE bucket_start >= :lo AND bucket_start < :hi"),
        {"lo": lo, "hi": hi},
    )
    await session.execute(QUARTERS, {"lo": lo, "hi": hi, "platform": PLATFORM})


async def roll_days(session: AsyncSession, lo: datetime, hi: datetime) -> None:
    """UTC days in [lo, hi); both UTC midnights."""
    await session.execute(
        text("DELETE FROM activity_rollups_daily WHERE day >= :first AND day < :last"),
        {"first": lo.date(), "last": hi.date()},
    )
    await session.execute(DAYS, {"lo": lo, "hi": hi, "platform": PLATFORM})


async def roll_month(session: AsyncSession, month: date, lo: datetime, hi: datetime) -> None:
    await session.execute(text("DELETE FROM activity_events_monthly WHERE month = :month"), {"month": month})
    await session.execute(MONTH, {"lo": lo, "hi": hi, "month": month, "platform": PLATFORM})
