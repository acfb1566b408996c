"""Partitions: created ahead, DEFAULT catches the rest, backfill moves rows, retention drops,
and the application role cannot reach a partition directly (that would bypass RLS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from typer.testing import CliRunner

from saaskit import cli
from saaskit.cli import app
from saaskit.config import get_settings
from saaskit.tracking import partitions
from tests.conftest import APP_ROLE, TEST_SECRET, DbUnderTest
from tests.factories import insert_events


async def _names(session: AsyncSession, table: str) -> set[str]:
    return {p.name for p in await partitions.list_partitions(session) if p.parent == table}


async def test_current_and_next_periods_exist_for_every_table(session: AsyncSession) -> None:
    now = datetime.now(UTC)
    created = await partitions.ensure_ahead(session, now)
    assert created == [], "the migration and the start-up already created them"
    for spec in partitions.SPECS.values():
        names = await _names(session, spec.table)
        start = partitions.period_start(spec.period, now)
        for _ in range(spec.ahead + 1):
            assert partitions.partition_name(spec.table, spec.period, start) in names, spec.table
            start = partitions.next_start(spec.period, start)
        assert f"{spec.table}_default" in names


async def test_ensure_ahead_creates_what_is_missing(session: AsyncSession) -> None:
    later = datetime.now(UTC) + timedelta(days=200)
    created = await partitions.ensure_ahead(session, later)
    assert partitions.partition_name("events", "month", partitions.period_start("month", later)) in created
    assert await partitions.ensure_ahead(session, later) == [], "idempotent"


async def test_backfill_moves_rows_out_of_the_default_partition(session: AsyncSession) -> None:
    old = datetime(2021, 3, 14, 15, 9, tzinfo=UTC)
    await insert_events(session, [old], event_name="ancient")
    where = text("SELECT tableoid::regclass::text FROM events WHERE event_name = 'ancient'")
    assert (await session.execute(where)).scalar() == "events_default"
    created = await partitions.ensure_range(session, "events", old, old)
    assert created == ["events_y2021m03"]
    assert (await session.execute(where)).scalar() == "events_y2021m03", "moved out of DEFAULT"
    assert (
        await session.execute(text("SELECT count(*) FROM events WHERE event_name = 'ancient'"))
    ).scalar() == 1


async def test_retention_drops_only_expired_partitions(session: AsyncSession) -> None:
    now = datetime.now(UTC)
    old_day = now - timedelta(days=45)
    await partitions.ensure_range(session, "widget_analytics", old_day, old_day)
    await partitions.ensure_range(session, "events", now - timedelta(days=400), now - timedelta(days=400))
    dropped = await partitions.drop_expired(session, now)
    assert (
        partitions.partition_name("widget_analytics", "day", partitions.period_start("day", old_day))
        in dropped
    )
    assert not [name for name in dropped if name.startswith("events_")], "events wait for the monthly rollups"
    assert partitions.partition_name(
        "widget_analytics", "day", partitions.period_start("day", now)
    ) in await _names(session, "widget_analytics")


async def test_partition_functions_refuse_other_tables(session: AsyncSession) -> None:
    savepoint = await session.begin_nested()
    with pytest.raises(DBAPIError, match="not a partitioned analytics table"):
        await session.execute(
            text("SELECT app_ensure_partition('users', 'users_y2026m01', now(), now() + interval '1 day')")
        )
    await savepoint.rollback()
    dropped = (await session.execute(text("SELECT app_drop_partition('events', 'users')"))).scalar()
    assert dropped is False


async def test_the_application_role_cannot_read_partitions_directly(connection: AsyncConnection) -> None:
    name = partitions.partition_name("events", "month", partitions.period_start("month", datetime.now(UTC)))
    savepoint = await connection.begin_nested()
    with pytest.raises(DBAPIError, match="permission denied"):
        await connection.execute(text(f"SELECT count(*) FROM {name}"))
    await savepoint.rollback()


def test_partitions_command(
    fresh_database: DbUnderTest, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The console was made at import, maybe before COLUMNS was set (another test, an xdist worker).
    monkeypatch.setattr(cli.console, "width", 200)
    get_settings.cache_clear()
    env = {
        "SAASKIT_DATABASE_URL": fresh_database.owner_url,
        "SAASKIT_SECRET_KEY": TEST_SECRET,
        "SAASKIT_DATABASE_APP_ROLE": APP_ROLE,
        "SAASKIT_DATA_DIR": str(tmp_path),
        "COLUMNS": "200",
    }
    result = CliRunner().invoke(app, ["partitions", "--ensure"], env=env, catch_exceptions=False)
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "events_default" in result.output and "widget_analytics_y" in result.output
    assert "30 days" in result.output
