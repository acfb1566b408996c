"""Retention: each user's data_retention_days, the schedule (dry run, then applied), and the
six-month rule: old detail goes only once rolled up, and the Overview's figures do not change."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from saaskit import cli
from saaskit.cli import app
from saaskit.config import get_settings
from saaskit.insights import stats
from saaskit.insights.models import PLATFORM
from saaskit.insights.rollups import runner
from saaskit.kit.db import libpq_url
from saaskit.privacy import retention
from saaskit.tracking import partitions
from tests.conftest import APP_ROLE, TEST_SECRET, DbUnderTest
from tests.factories import insert_activity_events, insert_events, insert_user

TRIM_AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


async def _count(session: AsyncSession, sql: str, **params: object) -> int:
    return int(await session.scalar(text(sql), params) or 0)


async def test_each_users_retention_trims_only_their_old_detail(session: AsyncSession) -> None:
    now = datetime.now(UTC)
    short = await insert_user(session, data_retention_days=30)
    default = await insert_user(session)
    for user in (short, default):
        await insert_events(session, [now - timedelta(days=40), now - timedelta(days=10)], "e", user_id=user)
        await insert_activity_events(session, user, [now - timedelta(days=40)], event_type="action")
    planned = {i.table: i.rows for i in await retention.plan(session, get_settings(), now) if "own" in i.rule}
    assert planned["events"] == 1 and planned["activity_events"] == 1
    await retention.trim_per_user(session, now)
    ages = "SELECT count(*) FROM events WHERE user_id = :u AND timestamp < :cut"
    assert await _count(session, ages, u=short, cut=now - timedelta(days=30)) == 0
    assert await _count(session, "SELECT count(*) FROM events WHERE user_id = :u", u=short) == 1
    assert await _count(session, "SELECT count(*) FROM events WHERE user_id = :u", u=default) == 2
    assert await _count(session, "SELECT count(*) FROM activity_events WHERE user_id = :u", u=default) == 1


async def test_schedule_removes_rows_past_their_years(session: AsyncSession) -> None:
    now = datetime.now(UTC)
    for age_days, name in ((8 * 366, "evt_old"), (30, "evt_recent")):
        await session.execute(
            text(
                "INSERT INTO stripe_webhook_events (stripe_event_id, event_type, event_data, stripe_created_at, "
                "created_at) VALUES (:id, 'invoice.paid', '{}', :at, :at)"
            ),
            {"id": name, "at": now - timedelta(days=age_days)},
        )
    await session.execute(
        text("INSERT INTO activities (action, entity_type, created_at) VALUES ('old.act', 'x', :at)"),
        {"at": now - timedelta(days=8 * 366)},
    )
    plan = {(i.table, i.removes): i.rows for i in await retention.plan(session, get_settings(), now)}
    assert plan[("stripe_webhook_events", "rows")] == 1 and plan[("activities", "rows")] == 1
    done = {(i.table, i.removes): i.rows for i in await retention.apply(session, get_settings(), now)}
    assert done[("stripe_webhook_events", "rows")] == 1 and done[("activities", "rows")] == 1
    assert await _count(session, "SELECT count(*) FROM stripe_webhook_events") == 1
    assert await _count(session, "SELECT count(*) FROM activities WHERE action = 'old.act'") == 0


async def test_six_month_trim_waits_for_rollups_and_keeps_the_overview(session: AsyncSession) -> None:
    may = datetime(2026, 5, 12, 9, 0, tzinfo=UTC)
    november = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    for table in ("events", "page_views", "activity_events"):
        await partitions.ensure_range(session, table, may, november)
    user = await insert_user(session)
    await insert_activity_events(session, user, [may, may + timedelta(days=1), may + timedelta(days=2)])
    await insert_activity_events(session, user, [november, november + timedelta(hours=1)])
    await insert_events(session, [may], "old_click", user_id=user)
    old = {"activity_events_y2026m05", "events_y2026m05", "page_views_y2026m05"}

    # Not rolled up yet: nothing of May may go, however old.
    names = {i.name for i in await partitions.expired(session, TRIM_AT)}
    assert not names & old

    for day in await runner.pending_days(session, TRIM_AT):
        await runner.roll_day(session, day, TRIM_AT)
    for month in await runner.pending_months(session, TRIM_AT):
        await runner.roll_month(session, month, TRIM_AT)
    seen_at = datetime(2026, 10, 15, 12, 0, tzinfo=UTC)  # monthlyLogins then covers May .. October

    async def overview() -> dict[str, object]:
        return await stats.compute(session, scope_id=PLATFORM, organization_id=None, tz="UTC", now=seen_at)

    before = await overview()
    assert {"month": "2026-05", "logins": 3} in before["monthlyLogins"]  # type: ignore[operator]

    plan = [i for i in await retention.plan(session, get_settings(), TRIM_AT) if i.removes in old]
    assert {i.removes: i.rows for i in plan} == {
        "activity_events_y2026m05": 3,
        "events_y2026m05": 1,
        "page_views_y2026m05": 0,
    }
    await retention.apply(session, get_settings(), TRIM_AT)
    assert await _count(session, "SELECT count(*) FROM activity_events WHERE created_at < '2026-06-01'") == 0
    assert await _count(session, "SELECT count(*) FROM activity_events WHERE created_at >= '2026-11-01'") == 2
    assert not {p.name for p in await partitions.list_partitions(session)} & old
    assert await overview() == before, "the Overview reads the rollups: no figure changed"
    monthly = (
        "SELECT coalesce(sum(events), 0) FROM activity_events_monthly WHERE month = :m AND scope_id = :p"
    )
    assert await _count(session, monthly, m=date(2026, 5, 1), p=PLATFORM) == 3


def test_retention_command_dry_run(
    fresh_database: DbUnderTest, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    insert = (
        "INSERT INTO stripe_webhook_events (stripe_event_id, event_type, event_data, stripe_created_at, "
        "created_at) VALUES ('evt_ancient', 'x', '{}', now(), now() - interval '9 years')"
    )
    with psycopg.connect(libpq_url(fresh_database.owner_url), autocommit=True) as conn:
        conn.execute(insert)
    monkeypatch.setattr(cli.console, "width", 200)
    get_settings.cache_clear()
    env = {
        "SAASKIT_DATABASE_URL": fresh_database.owner_url,
        "SAASKIT_SECRET_KEY": TEST_SECRET,
        "SAASKIT_DATABASE_APP_ROLE": APP_ROLE,
        "SAASKIT_DATA_DIR": str(tmp_path),
        "COLUMNS": "200",
    }
    result = CliRunner().invoke(app, ["retention", "--dry-run"], env=env, catch_exceptions=False)
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "would remove" in result.output and "dry run: 1 rows would remove" in result.output
    line = next(line for line in result.output.splitlines() if "stripe_webhook_events" in line)
    assert line.rstrip().rstrip("│ ").endswith("1"), line
    with psycopg.connect(libpq_url(fresh_database.owner_url), autocommit=True) as conn:
        kept = conn.execute("SELECT count(*) FROM stripe_webhook_events").fetchone()
    assert kept == (1,), "a dry run removes nothing"


async def test_audit_log_months_past_retention_are_dropped(session: AsyncSession) -> None:
    """Seed 004's rotation: activities is partitioned by month; a month wholly older than the
    retention (7 years) goes as a partition. The application role still cannot delete a row."""
    now = datetime.now(UTC)
    ancient = datetime(now.year - 8, 3, 14, tzinfo=UTC)
    await partitions.ensure_range(session, "activities", ancient, ancient)
    name = f"activities_y{ancient.year:04d}m03"
    for at in (ancient, now):
        await session.execute(
            text("INSERT INTO activities (action, entity_type, created_at) VALUES ('rotated.act', 'x', :at)"),
            {"at": at},
        )
    where = text(
        "SELECT tableoid::regclass::text FROM activities WHERE action = 'rotated.act' ORDER BY created_at"
    )
    assert (await session.execute(where)).scalars().all() == [
        name,
        f"activities_y{now.year:04d}m{now.month:02d}",
    ]
    plan = {i.removes: i for i in await retention.plan(session, get_settings(), now)}
    assert plan[name].rows == 1 and "years" in plan[name].rule
    await retention.apply(session, get_settings(), now)
    assert name not in {p.name for p in await partitions.list_partitions(session)}
    assert await _count(session, "SELECT count(*) FROM activities WHERE action = 'rotated.act'") == 1
    savepoint = await session.begin_nested()
    with pytest.raises(DBAPIError, match="permission denied"):
        await session.execute(text("DELETE FROM activities WHERE action = 'rotated.act'"))
    await savepoint.rollback()
