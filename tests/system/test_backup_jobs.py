"""The scheduled backup and the restore test as `serve` runs them (system/tasks.py), against a
database with committed rows: a backup when one is due (and not again before its time), the
newest backup restored into a scratch database and found identical; a damaged backup fails the
test, and any failure is recorded, logged as a system event and told to every platform admin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from saaskit.jobs import jobs
from saaskit.kit.bootstrap import runtime_for
from saaskit.kit.db import libpq_url
from saaskit.kit.state import Runtime
from saaskit.system import tasks
from tests.conftest import TEST_SECRET, DbUnderTest, make_settings
from tests.system.conftest import backup_settings, pg_tools


@pytest.fixture
async def job_runtime(fresh_database: DbUnderTest, tmp_path: Path) -> Runtime:
    settings = make_settings(backup=backup_settings(tmp_path / "backups", None, None))
    runtime = runtime_for(settings, fresh_database.app_url(settings), TEST_SECRET, pool_size=2)
    runtime.extras.update(owner_url=fresh_database.owner_url, pg_tools=str(pg_tools()))
    yield runtime
    await runtime.db.dispose()


def _query(db: DbUnderTest, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(libpq_url(db.owner_url)) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]


def test_the_jobs_are_periodic() -> None:
    periodic = {p.task.name for p in jobs.periodic_registry.periodic_tasks.values()}
    assert {
        "system.scheduled_backup",
        "system.restore_test",
        "system.base_backup",
        "system.ship_wal",
    } <= periodic


async def test_backup_and_restore_test_jobs(
    job_runtime: Runtime, fresh_database: DbUnderTest, tmp_path: Path
) -> None:
    db = fresh_database
    _query(db, "INSERT INTO users (email, role) VALUES ('ops-admin@example.com', 'admin') RETURNING id")
    now = datetime.now(UTC)

    made = await tasks.backup_if_due(job_runtime, now)
    assert made["due"] and made["targets"] == ["local"]
    assert await tasks.backup_if_due(job_runtime, now + timedelta(hours=1)) == {"due": False}
    tested = await tasks.restore_test_if_due(job_runtime, now)
    assert tested == {"due": True, "backup": made["backup"], "ok": True}
    assert await tasks.restore_test_if_due(job_runtime, now + timedelta(days=1)) == {"due": False}
    runs = _query(
        db, "SELECT kind, status, backup_id, error, detail->>'tables' FROM backup_runs ORDER BY started_at"
    )
    assert [(r[0], r[1], r[2], r[3]) for r in runs] == [
        ("backup", "ok", made["backup"], None),
        ("restore_test", "ok", made["backup"], None),
    ]
    assert int(str(runs[1][4])) > 50
    # The embedded binaries are here: the test ran on a scratch server of its own.
    assert _query(db, "SELECT detail->>'into' FROM backup_runs WHERE kind = 'restore_test'") == [
        ("scratch server",)
    ]
    # The scratch database is gone.
    assert _query(db, "SELECT count(*) FROM pg_database WHERE datname LIKE 'saaskit_restore_test_%'") == [
        (0,)
    ]

    # A week later the newest backup is damaged: the restore test fails, loudly.
    dump = tmp_path / "backups" / f"saaskit-{made['backup']}.dump"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    failed = await tasks.restore_test_if_due(job_runtime, now + timedelta(days=7, minutes=1))
    assert failed["due"] and "damaged" in failed["error"]
    # A backup that cannot be made (no pg_dump there) fails the same way.
    job_runtime.extras["pg_tools"] = "/nonexistent"
    broken = await tasks.backup_if_due(job_runtime, now + timedelta(days=1, minutes=1))
    assert "pg_dump could not start" in broken["error"]

    assert _query(db, "SELECT kind, status FROM backup_runs ORDER BY started_at")[2:] == [
        ("restore_test", "failed"),
        ("backup", "failed"),
    ]
    events = _query(db, "SELECT event_type, severity, message FROM system_events ORDER BY created_at")
    assert [(e[0], e[1]) for e in events] == [
        ("restore_test_failed", "critical"),
        ("backup_failed", "critical"),
    ]
    assert "damaged" in str(events[0][2])
    notices = _query(
        db,
        "SELECT n.kind, n.title, n.link FROM notifications n JOIN users u ON u.id = n.user_id "
        "WHERE u.email = 'ops-admin@example.com' ORDER BY n.created_at",
    )
    assert notices == [
        ("operations", "Restore test failed", "/admin/system/backups"),
        ("operations", "Backup failed", "/admin/system/backups"),
    ]
    # After a failure (just now) the next attempt comes after a quarter of the interval.
    job_runtime.extras["pg_tools"] = str(pg_tools())
    assert await tasks.backup_if_due(job_runtime, datetime.now(UTC) + timedelta(hours=2)) == {"due": False}
    again = await tasks.backup_if_due(job_runtime, datetime.now(UTC) + timedelta(hours=7))
    assert again["due"] and "backup" in again
