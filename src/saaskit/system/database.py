"""The database's health, read from PostgreSQL's own statistics: table sizes (and their daily
history), foreign keys without an index, indexes never used, dead rows and the last vacuum and
analyze per table, the slowest statements (``pg_stat_statements``, when the server has it) and
replication lag. One definition for the admin's Database page, ``saaskit db health`` and the
migration test that requires an index on every foreign key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.system.models import TableSizeSample

TABLE_SIZES = """
SELECT c.relname AS name, c.relkind = 'p' AS partitioned,
       CASE WHEN c.relkind = 'p'
            THEN (SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0)
                  FROM pg_inherits i WHERE i.inhparent = c.oid)
            ELSE pg_total_relation_size(c.oid) END AS size_bytes,
       CASE WHEN c.relkind = 'p'
            THEN (SELECT coalesce(sum(greatest(ch.reltuples, 0)), 0) FROM pg_inherits i
                  JOIN pg_class ch ON ch.oid = i.inhrelid WHERE i.inhparent = c.oid)
            ELSE greatest(c.reltuples, 0) END::bigint AS row_estimate
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY size_bytes DESC, c.relname LIMIT 200
"""

# A foreign key whose columns lead no index (seed 003 asks for one on each): deleting a parent
# row then scans the child table. Partitions are checked through their parent.
UNINDEXED_FOREIGN_KEYS = """
SELECT c.conrelid::regclass::text || '(' || string_agg(a.attname, ', ' ORDER BY k.i) || ')'
FROM pg_constraint c
JOIN pg_namespace n ON n.oid = c.connamespace
CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, i)
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
WHERE c.contype = 'f' AND n.nspname = 'public' AND c.conrelid::regclass::text NOT LIKE 'procrastinate%'
  AND NOT EXISTS (
    SELECT 1 FROM pg_index x
    WHERE x.indrelid = c.conrelid
      AND (x.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
      AND (x.indkey::int2[])[0:cardinality(c.conkey) - 1] <@ c.conkey
  )
  AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = c.conrelid)
GROUP BY c.oid, c.conrelid
ORDER BY 1
"""

# Indexes never scanned since the statistics were reset, that enforce nothing (not unique,
# not a primary key): candidates to drop once the server has run long enough to tell.
UNUSED_INDEXES = text("""
SELECT s.relname AS table_name, s.indexrelname AS index_name, pg_relation_size(s.indexrelid) AS size_bytes
FROM pg_stat_user_indexes s JOIN pg_index x ON x.indexrelid = s.indexrelid
WHERE s.idx_scan = 0 AND NOT x.indisunique AND NOT x.indisprimary AND s.schemaname = 'public'
  AND s.relname NOT LIKE 'procrastinate%'
ORDER BY size_bytes DESC, s.relname, s.indexrelname
LIMIT 100
""")

VACUUM = text("""
SELECT relname AS table_name, n_live_tup AS live_rows, n_dead_tup AS dead_rows,
       greatest(last_vacuum, last_autovacuum) AS last_vacuum,
       greatest(last_analyze, last_autoanalyze) AS last_analyze
FROM pg_stat_user_tables WHERE schemaname = 'public' AND relname NOT LIKE 'procrastinate%'
ORDER BY n_dead_tup DESC, relname
LIMIT 100
""")

HAS_STATEMENTS = text("SELECT to_regclass('monitoring.pg_stat_statements') IS NOT NULL")
SLOWEST = text("""
SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 300) AS query, calls,
       total_exec_time AS total_ms, mean_exec_time AS mean_ms, rows
FROM monitoring.pg_stat_statements
WHERE query NOT LIKE '%pg_stat_statements%'
  -- The application's own statements: what it runs is what it may read (others: the owner's).
  AND userid = (SELECT oid FROM pg_roles WHERE rolname = current_user)
ORDER BY mean_exec_time DESC
LIMIT :limit
""")

REPLICATION = text("""
SELECT application_name, state, sync_state,
       EXTRACT(epoch FROM replay_lag) AS replay_lag_seconds,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) AS replay_lag_bytes
FROM pg_stat_replication ORDER BY application_name
""")


@dataclass(frozen=True)
class TableSize:
    name: str
    partitioned: bool
    size_bytes: int
    row_estimate: int


async def table_sizes(session: AsyncSession) -> list[TableSize]:
    rows = (await session.execute(text(TABLE_SIZES))).all()
    return [TableSize(r.name, bool(r.partitioned), int(r.size_bytes), int(r.row_estimate)) for r in rows]


async def unindexed_foreign_keys(session: AsyncSession) -> list[str]:
    return [r[0] for r in (await session.execute(text(UNINDEXED_FOREIGN_KEYS))).all()]


async def unused_indexes(session: AsyncSession) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in (await session.execute(UNUSED_INDEXES)).all()]


async def vacuum_state(session: AsyncSession) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in (await session.execute(VACUUM)).all()]


async def slowest_statements(session: AsyncSession, limit: int = 20) -> list[dict[str, Any]] | None:
    """The statements slowest on average, or None when the server does not collect them."""
    if not await session.scalar(HAS_STATEMENTS):
        return None
    try:
        # The view errors when the library is not preloaded (which the application role may not
        # ask the server about): a savepoint keeps the request's transaction usable.
        async with session.begin_nested():
            rows = (await session.execute(SLOWEST, {"limit": limit})).all()
    except DBAPIError:
        return None
    return [dict(r._mapping) for r in rows]


async def replication(session: AsyncSession) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in (await session.execute(REPLICATION)).all()]


async def record_sizes(session: AsyncSession, day: date) -> int:
    """Today's size of every table (one row per table and day; a second run the same day
    updates it), so growth shows as a chart."""
    sizes = await table_sizes(session)
    if not sizes:
        return 0
    statement = insert(TableSizeSample).values(
        [
            {"day": day, "table_name": t.name, "size_bytes": t.size_bytes, "row_estimate": t.row_estimate}
            for t in sizes
        ]
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[TableSizeSample.day, TableSizeSample.table_name],
            set_={
                "size_bytes": statement.excluded.size_bytes,
                "row_estimate": statement.excluded.row_estimate,
            },
        )
    )
    return len(sizes)


SIZE_HISTORY = text("""
SELECT day, sum(size_bytes)::bigint AS size_bytes FROM table_size_samples
WHERE day >= :since GROUP BY day ORDER BY day
""")


async def size_history(session: AsyncSession, since: date) -> list[tuple[date, int]]:
    """The database's total size per sampled day since ``since``."""
    return [(r.day, int(r.size_bytes)) for r in (await session.execute(SIZE_HISTORY, {"since": since})).all()]


@dataclass(frozen=True)
class Health:
    checked_at: datetime
    tables: list[TableSize]
    unindexed_foreign_keys: list[str]
    unused_indexes: list[dict[str, Any]]
    vacuum: list[dict[str, Any]]
    slowest: list[dict[str, Any]] | None
    replicas: list[dict[str, Any]]


async def health(session: AsyncSession) -> Health:
    now: datetime = (await session.execute(text("SELECT now()"))).scalar_one()
    return Health(
        checked_at=now,
        tables=await table_sizes(session),
        unindexed_foreign_keys=await unindexed_foreign_keys(session),
        unused_indexes=await unused_indexes(session),
        vacuum=await vacuum_state(session),
        slowest=await slowest_statements(session),
        replicas=await replication(session),
    )
