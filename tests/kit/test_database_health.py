"""The database's health (system/database.py): the statistics PostgreSQL keeps, read as the
application role under the service context, on the page and the CLI; the daily size samples."""

from __future__ import annotations

import os
from datetime import date

import psycopg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.db import SERVICE, Context, libpq_url, set_context, with_database
from saaskit.system import database
from tests.conftest import DbUnderTest


async def test_health_reads_the_servers_statistics(session: AsyncSession, migrated_db: DbUnderTest) -> None:
    await set_context(session, SERVICE)
    report = await database.health(session)
    names = {t.name for t in report.tables}
    assert {"events", "users", "table_size_samples"} <= names
    assert report.unindexed_foreign_keys == []
    assert all({"table_name", "index_name", "size_bytes"} <= set(i) for i in report.unused_indexes)
    assert report.vacuum and all({"table_name", "dead_rows", "last_vacuum"} <= set(v) for v in report.vacuum)
    assert report.replicas == []
    # The embedded server collects statements (the test servers preload the library too); an
    # external server (SAASKIT_TEST_DATABASE_URL) may not, and the report then says None.
    if os.environ.get("SAASKIT_TEST_DATABASE_URL"):
        assert report.slowest is None or isinstance(report.slowest, list)
    else:
        assert report.slowest is not None and all(
            {"query", "calls", "mean_ms"} <= set(s) for s in report.slowest
        )
        # The application role reads what it ran (the list is the slowest; the view has all).
        await session.execute(text("SELECT count(*) AS health_probe FROM users WHERE email LIKE 'health-%'"))
        seen = await session.scalar(
            text(
                "SELECT count(*) FROM monitoring.pg_stat_statements WHERE query LIKE '%AS health_probe FROM users%'"
            )
        )
        assert seen == 1  # constants are normalised away: one entry, whatever the address

    # A foreign key without an index is named (made on the owner's connection, then undone).
    url = with_database(migrated_db.server_url, migrated_db.name)
    with psycopg.connect(libpq_url(url)) as owner:
        owner.execute("CREATE TABLE health_child (id int PRIMARY KEY, user_id uuid REFERENCES users(id))")
        found = owner.execute(database.UNINDEXED_FOREIGN_KEYS).fetchall()
        owner.rollback()
    assert [r[0] for r in found] == ["health_child(user_id)"]


async def test_daily_samples_make_the_growth_history(session: AsyncSession) -> None:
    await set_context(session, SERVICE)
    first = await database.record_sizes(session, date(2026, 12, 1))
    again = await database.record_sizes(session, date(2026, 12, 1))  # a rerun replaces the day
    await database.record_sizes(session, date(2026, 12, 2))
    assert first == again > 50
    rows = (
        await session.execute(text("SELECT day, count(*) FROM table_size_samples GROUP BY day ORDER BY day"))
    ).all()
    assert [(d.isoformat(), n) for d, n in rows] == [("2026-12-01", first), ("2026-12-02", first)]
    history = await database.size_history(session, date(2026, 11, 1))
    assert [d for d, _ in history] == [date(2026, 12, 1), date(2026, 12, 2)] and all(
        s > 0 for _, s in history
    )
    # Only the service context reads them.
    await set_context(session, Context())
    assert (await session.execute(text("SELECT count(*) FROM table_size_samples"))).scalar_one() == 0
