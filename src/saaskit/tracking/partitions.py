"""Time partitions of the analytics tables: created ahead, dropped after retention.

The application role does not own the tables, so DDL goes through two SECURITY DEFINER
functions created by migration 0005: ``app_ensure_partition`` (creates one partition, moving any
rows of its range out of the DEFAULT partition first) and ``app_drop_partition``. Both accept
only the tables and the partition-name shape below.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

Period = Literal["month", "day"]


@dataclass(frozen=True)
class PartitionSpec:
    table: str
    column: str
    period: Period
    retention_days: int | None  # None: see ``rolled_up``
    ahead: int = 2  # periods created beyond the current one
    # Seed 003: full detail for ``detail_months`` (privacy settings, 6), then only the monthly
    # rollups; a month goes only once the rollups cover it (``rollups_cover``).
    rolled_up: bool = False


SPECS: dict[str, PartitionSpec] = {
    spec.table: spec
    for spec in (
        PartitionSpec("events", "timestamp", "month", None, rolled_up=True),
        PartitionSpec("page_views", "viewed_at", "month", None, rolled_up=True),
        PartitionSpec("activity_events", "created_at", "month", None, rolled_up=True),
        PartitionSpec("widget_analytics", "timestamp", "day", 30, ahead=3),
        PartitionSpec("system_events", "created_at", "month", 90),
        PartitionSpec("error_logs", "created_at", "month", 180),
        PartitionSpec("performance_metrics", "timestamp", "month", 90),
        # Seed 004's audit-log rotation; its retention is a setting (privacy.activities_years),
        # passed to ``expired`` as an override. Append-only rows: months go whole.
        PartitionSpec("activities", "created_at", "month", None),
    )
}

_BOUND = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


def period_start(period: Period, at: datetime) -> datetime:
    at = at.astimezone(UTC)
    if period == "month":
        return datetime(at.year, at.month, 1, tzinfo=UTC)
    return datetime(at.year, at.month, at.day, tzinfo=UTC)


def next_start(period: Period, start: datetime) -> datetime:
    if period == "day":
        return start + timedelta(days=1)
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)


def partition_name(table: str, period: Period, start: datetime) -> str:
    suffix = f"y{start.year:04d}m{start.month:02d}"
    if period == "day":
        suffix += f"d{start.day:02d}"
    return f"{table}_{suffix}"


def is_partition_name(name: str) -> bool:
    """Partitions are not in the models; the schema-drift check skips them by name."""
    return re.search(r"_(y\d{4}m\d{2}(d\d{2})?|default)$", name) is not None and any(
        name.startswith(table + "_") for table in SPECS
    )


async def ensure_partition(session: AsyncSession, spec: PartitionSpec, start: datetime) -> str | None:
    """Create the partition starting at ``start``; returns its name if it was created now."""
    end = next_start(spec.period, start)
    name = partition_name(spec.table, spec.period, start)
    created = await session.scalar(
        text("SELECT app_ensure_partition(:parent, :name, :start, :end)"),
        {"parent": spec.table, "name": name, "start": start, "end": end},
    )
    return name if created else None


async def ensure_range(session: AsyncSession, table: str, first: datetime, last: datetime) -> list[str]:
    """Every partition of ``table`` covering ``first`` .. ``last`` (for backfills)."""
    spec = SPECS[table]
    created: list[str] = []
    start = period_start(spec.period, first)
    while start <= last:
        if (name := await ensure_partition(session, spec, start)) is not None:
            created.append(name)
        start = next_start(spec.period, start)
    return created


async def ensure_ahead(session: AsyncSession, now: datetime | None = None) -> list[str]:
    """The current period and ``ahead`` more of every table, so no insert waits on DDL."""
    now = now or datetime.now(UTC)
    created: list[str] = []
    for spec in SPECS.values():
        start = period_start(spec.period, now)
        for _ in range(spec.ahead + 1):
            if (name := await ensure_partition(session, spec, start)) is not None:
                created.append(name)
            start = next_start(spec.period, start)
    return created


@dataclass(frozen=True)
class PartitionInfo:
    parent: str
    name: str
    starts: datetime | None  # None for the DEFAULT partition
    ends: datetime | None
    row_estimate: int
    size_bytes: int


async def list_partitions(session: AsyncSession) -> list[PartitionInfo]:
    rows = await session.execute(
        text(
            """
            SELECT parent.relname AS parent, child.relname AS name,
                   pg_get_expr(child.relpartbound, child.oid) AS bound,
                   greatest(child.reltuples, 0)::bigint AS row_estimate,
                   pg_total_relation_size(child.oid) AS size_bytes
            FROM pg_inherits i
            JOIN pg_class parent ON parent.oid = i.inhparent
            JOIN pg_class child ON child.oid = i.inhrelid
            JOIN pg_namespace n ON n.oid = parent.relnamespace AND n.nspname = 'public'
            WHERE parent.relname = ANY(:tables) AND child.relkind = 'r'
            ORDER BY parent.relname, child.relname
            """
        ),
        {"tables": list(SPECS)},
    )
    out = []
    for row in rows.all():
        match = _BOUND.search(row.bound)
        starts = datetime.fromisoformat(match.group(1)) if match else None
        ends = datetime.fromisoformat(match.group(2)) if match else None
        out.append(
            PartitionInfo(row.parent, row.name, starts, ends, int(row.row_estimate), int(row.size_bytes))
        )
    return out


# The rollup watermarks (insights/rollups/runner.py) below which monthly and daily rollups are
# complete: the monthly tables and the daily activity rollups the statistics read.
ROLLUP_WATERMARKS = ("monthly", "activity_daily")
DEFAULT_DETAIL_MONTHS = 6


def months_before(now: datetime, months: int) -> datetime:
    """The first day of the month ``months`` before ``now``'s month (UTC)."""
    index = now.astimezone(UTC).year * 12 + now.astimezone(UTC).month - 1 - months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


async def rollups_cover(session: AsyncSession) -> datetime | None:
    """Up to when every rollup the statistics read is complete (None: not rolled up at all)."""
    marks = (
        await session.execute(
            text("SELECT name, rolled_through FROM rollup_watermarks WHERE name = ANY(:names)"),
            {"names": list(ROLLUP_WATERMARKS)},
        )
    ).all()
    if len(marks) < len(ROLLUP_WATERMARKS):
        return None
    earliest: datetime = min(row.rolled_through for row in marks)
    return earliest


async def expired(
    session: AsyncSession,
    now: datetime | None = None,
    detail_months: int = DEFAULT_DETAIL_MONTHS,
    retention_days: Mapping[str, int] | None = None,
) -> list[PartitionInfo]:
    """Partitions whose whole range is past their table's retention (and, for the rolled-up
    tables, older than ``detail_months`` months and covered by the rollups). ``retention_days``
    gives the retention of tables whose spec has none (the audit log's, from the settings)."""
    now = now or datetime.now(UTC)
    overrides = retention_days or {}
    covered = await rollups_cover(session)
    detail_from = months_before(now, detail_months)
    out = []
    for info in await list_partitions(session):
        spec = SPECS[info.parent]
        if info.ends is None:
            continue
        if spec.rolled_up:
            if covered is not None and info.ends <= min(detail_from, covered):
                out.append(info)
        elif (days := spec.retention_days or overrides.get(spec.table)) and info.ends <= now - timedelta(
            days=days
        ):
            out.append(info)
    return out


# Called with each partition before it is dropped (system/archive.py exports it to cold storage);
# raising keeps the partition.
BeforeDrop = Callable[[AsyncSession, "PartitionInfo"], Awaitable[object]]


async def drop(session: AsyncSession, info: PartitionInfo, before_drop: BeforeDrop | None = None) -> None:
    if before_drop is not None:
        await before_drop(session, info)
    await session.execute(
        text("SELECT app_drop_partition(:parent, :name)"), {"parent": info.parent, "name": info.name}
    )


async def drop_expired(
    session: AsyncSession,
    now: datetime | None = None,
    detail_months: int = DEFAULT_DETAIL_MONTHS,
    retention_days: Mapping[str, int] | None = None,
    before_drop: BeforeDrop | None = None,
) -> list[str]:
    """Drop the partitions ``expired`` lists (each archived first by ``before_drop``, if given)."""
    dropped: list[str] = []
    for info in await expired(session, now, detail_months, retention_days):
        await drop(session, info, before_drop)
        dropped.append(info.name)
    return dropped


def month_floor(day: date) -> datetime:
    return datetime(day.year, day.month, 1, tzinfo=UTC)
