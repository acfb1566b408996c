"""The retention schedule (seeds 001, 003 and 004) and each user's own ``data_retention_days``.

One ``plan`` lists what is past retention now, with row counts; ``apply`` removes it. ``saaskit
retention --dry-run`` prints the plan; the daily job applies it. Time-partitioned tables lose
whole partitions (tracking/partitions.py, also run hourly by ``tracking.maintain_partitions``);
the others lose rows by a dated DELETE.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.config import Settings
from saaskit.tracking import partitions


@dataclass(frozen=True)
class Item:
    table: str
    rule: str
    removes: str  # a partition's name, or "rows"
    rows: int


# Each user's ``data_retention_days`` applies to their detailed analytics: (table, time column).
PER_USER = (
    ("events", "timestamp"),
    ("page_views", "viewed_at"),
    ("activity_events", "created_at"),
    ("widget_analytics", "timestamp"),
    ("conversion_funnel_events", "created_at"),
)


def _per_user(table: str, column: str, verb: str) -> str:
    join = ", users u WHERE" if verb == "count" else " USING users u WHERE"
    head = "SELECT count(*) FROM" if verb == "count" else "DELETE FROM"
    return (
        f"{head} {table} t{join} t.user_id = u.id AND u.data_retention_days IS NOT NULL "
        f"AND t.{column} < CAST(:now AS timestamptz) - make_interval(days => u.data_retention_days)"
    )


def _rows(settings: Settings) -> list[tuple[str, str, str]]:
    """(table, rule, WHERE) of the row-by-row deletions."""
    privacy = settings.privacy
    return [
        (
            "stripe_webhook_events",
            f"{privacy.stripe_events_years} years (seed 001, legal)",
            f"created_at < CAST(:now AS timestamptz) - make_interval(years => {privacy.stripe_events_years})",
        ),
        (
            "activities",
            f"{privacy.activities_years} years (audit log: records billing acts)",
            f"created_at < CAST(:now AS timestamptz) - make_interval(years => {privacy.activities_years})",
        ),
        (
            "privacy_requests",
            "export archives: deleted after their expiry (the request row stays)",
            "kind = 'export' AND archive IS NOT NULL AND archive_expires_at < CAST(:now AS timestamptz)",
        ),
    ]


async def plan(session: AsyncSession, settings: Settings, now: datetime | None = None) -> list[Item]:
    now = now or datetime.now(UTC)
    items: list[Item] = []
    privacy = settings.privacy
    for info in await partitions.expired(
        session, now, privacy.detail_months, privacy.partition_retention_days
    ):
        spec = partitions.SPECS[info.parent]
        if spec.rolled_up:
            rule = f"{privacy.detail_months} months of detail, then monthly rollups (seed 003)"
        elif spec.table == "activities":
            rule = f"{privacy.activities_years} years (audit log: records billing acts)"
        else:
            rule = f"{spec.retention_days} days"
        rows = await session.scalar(
            text(f"SELECT count(*) FROM {info.parent} WHERE {spec.column} >= :lo AND {spec.column} < :hi"),
            {"lo": info.starts, "hi": info.ends},
        )
        items.append(Item(info.parent, rule, info.name, int(rows or 0)))
    for table, rule, where in _rows(settings):
        rows = await session.scalar(text(f"SELECT count(*) FROM {table} WHERE {where}"), {"now": now})
        items.append(Item(table, rule, "rows", int(rows or 0)))
    for table, column in PER_USER:
        rows = await session.scalar(text(_per_user(table, column, "count")), {"now": now})
        items.append(Item(table, "the user's own data_retention_days", "rows", int(rows or 0)))
    return items


async def apply(session: AsyncSession, settings: Settings, now: datetime | None = None) -> list[Item]:
    """Remove what ``plan`` lists; returns what was removed."""
    from saaskit.system.archive import archiver

    now = now or datetime.now(UTC)
    done = [item for item in await plan(session, settings, now) if item.removes != "rows"]
    privacy = settings.privacy
    # Archived to cold storage first (when archival is on), then dropped.
    before_drop = archiver(settings)
    for info in await partitions.expired(
        session, now, privacy.detail_months, privacy.partition_retention_days
    ):
        await partitions.drop(session, info, before_drop)
    for table, rule, where in _rows(settings):
        if table == "activities":  # append-only: through its SECURITY DEFINER function
            cutoff = (
                f"CAST(:now AS timestamptz) - make_interval(years => {settings.privacy.activities_years})"
            )
            sql = f"SELECT app_trim_activities({cutoff})"
            trimmed = await session.scalar(text(sql), {"now": now})
            done.append(Item(table, rule, "rows", int(trimmed or 0)))
            continue
        if table == "privacy_requests":
            sql = f"UPDATE privacy_requests SET archive = NULL, download_token_hash = NULL WHERE {where}"
        else:
            sql = f"DELETE FROM {table} WHERE {where}"
        result = await session.execute(text(sql), {"now": now})
        done.append(Item(table, rule, "rows", int(result.rowcount)))  # type: ignore[attr-defined]
    done.extend(await trim_per_user(session, now))
    return done


async def trim_per_user(session: AsyncSession, now: datetime | None = None) -> list[Item]:
    now = now or datetime.now(UTC)
    out = []
    for table, column in PER_USER:
        result = await session.execute(text(_per_user(table, column, "delete")), {"now": now})
        out.append(Item(table, "the user's own data_retention_days", "rows", int(result.rowcount)))  # type: ignore[attr-defined]
    return out


async def oldest_rows(session: AsyncSession) -> list[tuple[str, str, datetime | None]]:
    """(table, time column, oldest value) for the admin's retention table."""
    tables = [(spec.table, spec.column) for spec in partitions.SPECS.values()] + [
        ("user_sessions", "started_at"),
        ("stripe_webhook_events", "created_at"),
        ("activities", "created_at"),
        ("event_receipts", "received_at"),
        ("idempotency_keys", "created_at"),
    ]
    out = []
    for table, column in tables:
        oldest = await session.scalar(text(f"SELECT min({column}) FROM {table}"))
        out.append((table, column, oldest))
    return out
