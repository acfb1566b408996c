"""System: triage counts, request latency per route, partitions and table sizes.

Every query on an event table (system_events, error_logs, performance_metrics) is bounded by a
time window on its indexed time column, so only the window's partitions are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.system import database
from saaskit.tracking import partitions
from saaskit.tracking.latency import METRIC_NAME

WINDOWS = {
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
SEVERITIES = ("critical", "error", "warning", "info")
ERROR_TYPES = ("user_error", "system_error", "model_error")

EVENT_COUNTS_SQL = text(
    """
SELECT severity AS kind, coalesce(app_version, '') AS version, count(*) AS total,
       count(*) FILTER (WHERE resolved_at IS NULL) AS open
FROM system_events WHERE created_at >= :since
GROUP BY 1, 2 ORDER BY total DESC LIMIT 200
"""
)
ERROR_COUNTS_SQL = text(
    """
SELECT error_type AS kind, coalesce(app_version, '') AS version, count(*) AS total,
       count(*) FILTER (WHERE NOT resolved) AS open
FROM error_logs WHERE created_at >= :since
GROUP BY 1, 2 ORDER BY total DESC LIMIT 200
"""
)
LATENCY_SQL = text(
    """
SELECT tags ->> 'method' AS method, tags ->> 'route' AS route,
       sum((tags ->> 'count')::bigint) AS requests,
       sum((tags ->> 'errors')::bigint) AS errors,
       sum((tags ->> 'mean')::float8 * (tags ->> 'count')::bigint)
           / nullif(sum((tags ->> 'count')::bigint), 0) AS mean_ms,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY value) AS typical_p95_ms,
       max(value) AS worst_p95_ms,
       max((tags ->> 'p99')::float8) AS worst_p99_ms,
       max((tags ->> 'max')::float8) AS max_ms
FROM performance_metrics
WHERE metric_name = :metric AND "timestamp" >= :since
GROUP BY 1, 2 ORDER BY requests DESC LIMIT 200
"""
)


def window_start(window: str) -> datetime:
    return datetime.now(UTC) - WINDOWS[window]


@dataclass(frozen=True)
class CountRow:
    kind: str
    version: str
    total: int
    open: int


async def event_counts(session: AsyncSession, since: datetime) -> list[CountRow]:
    rows = (await session.execute(EVENT_COUNTS_SQL, {"since": since})).all()
    return [CountRow(r.kind, r.version, int(r.total), int(r.open)) for r in rows]


async def error_counts(session: AsyncSession, since: datetime) -> list[CountRow]:
    rows = (await session.execute(ERROR_COUNTS_SQL, {"since": since})).all()
    return [CountRow(r.kind, r.version, int(r.total), int(r.open)) for r in rows]


@dataclass(frozen=True)
class RouteLatency:
    method: str
    route: str
    requests: int
    errors: int
    mean_ms: float
    typical_p95_ms: float
    worst_p95_ms: float
    worst_p99_ms: float
    max_ms: float


async def latency(session: AsyncSession, since: datetime) -> list[RouteLatency]:
    rows = (await session.execute(LATENCY_SQL, {"metric": METRIC_NAME, "since": since})).all()
    return [
        RouteLatency(
            r.method or "?",
            r.route or "?",
            int(r.requests or 0),
            int(r.errors or 0),
            float(r.mean_ms or 0),
            float(r.typical_p95_ms or 0),
            float(r.worst_p95_ms or 0),
            float(r.worst_p99_ms or 0),
            float(r.max_ms or 0),
        )
        for r in rows
    ]


async def table_sizes(session: AsyncSession) -> list[database.TableSize]:
    return await database.table_sizes(session)


async def partition_list(session: AsyncSession) -> list[partitions.PartitionInfo]:
    return await partitions.list_partitions(session)


def retention_days() -> dict[str, int | None]:
    return {name: spec.retention_days for name, spec in partitions.SPECS.items()}
