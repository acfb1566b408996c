"""System jobs: the daily sample of every table's size (the Database page's growth chart), the
scheduled backup (checked hourly, made when the newest is ``SAASKIT_BACKUP_SCHEDULE_HOURS`` old)
and the restore test (checked daily, run when the last is ``SAASKIT_BACKUP_RESTORE_TEST_DAYS`` old).

The owner's URL and the client programs come from ``runtime.extras`` when set (tests, or a host
that knows better), else from the settings (system/backup_runs.owner_access).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from procrastinate import JobContext

from saaskit.jobs import jobs, runtime_of
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from saaskit.system import backup_runs, database
from saaskit.system.backups import BackupError

logger = logging.getLogger(__name__)


@jobs.periodic(cron="23 3 * * *", periodic_id="daily")
@jobs.task(name="system.record_table_sizes", queue="maintenance", pass_context=True)
async def record_table_sizes(context: JobContext, timestamp: int) -> int:
    """Today's size of every table (a rerun the same day replaces the day's row)."""
    runtime = runtime_of(context)
    async with runtime.db.session(SERVICE) as session:
        return await database.record_sizes(session, datetime.fromtimestamp(timestamp, tz=UTC).date())


def _access(runtime: Runtime) -> tuple[str, Path]:
    extras = runtime.extras
    if "owner_url" in extras and "pg_tools" in extras:
        return str(extras["owner_url"]), Path(extras["pg_tools"])
    return backup_runs.owner_access(runtime.settings)


@jobs.periodic(cron="7 * * * *", periodic_id="hourly")
@jobs.task(name="system.scheduled_backup", queue="maintenance", pass_context=True)
async def scheduled_backup(context: JobContext, timestamp: int) -> dict[str, Any]:
    return await backup_if_due(runtime_of(context), datetime.fromtimestamp(timestamp, tz=UTC))


async def backup_if_due(runtime: Runtime, now: datetime) -> dict[str, Any]:
    """A backup when one is due; its outcome recorded (a failure told to the admins)."""
    async with runtime.db.session(SERVICE) as session:
        last = await backup_runs.last_run(session, "backup")
    if not backup_runs.is_due(last, runtime.settings.backup.schedule_hours, now):
        return {"due": False}
    started = datetime.now(UTC)
    try:
        owner_url, tools = _access(runtime)
        made = await asyncio.to_thread(backup_runs.make_backup, runtime.settings, owner_url, tools)
    except Exception as error:  # whatever it was, the admins are told
        logger.exception("the scheduled backup failed")
        message = str(error) if isinstance(error, BackupError) else f"{type(error).__name__}: {error}"
        async with runtime.db.session(SERVICE) as session:
            await backup_runs.record(session, kind="backup", started_at=started, error=message)
        return {"due": True, "error": message}
    async with runtime.db.session(SERVICE) as session:
        await backup_runs.record(
            session,
            kind="backup",
            started_at=started,
            backup=made.backup,
            targets=made.targets,
            detail={"tables": len(made.backup.tables), "rows": made.backup.rows, "pruned": made.pruned},
        )
    return {"due": True, "backup": made.backup.id, "targets": made.targets}


@jobs.periodic(cron="41 4 * * *", periodic_id="daily")
@jobs.task(name="system.restore_test", queue="maintenance", pass_context=True)
async def scheduled_restore_test(context: JobContext, timestamp: int) -> dict[str, Any]:
    return await restore_test_if_due(runtime_of(context), datetime.fromtimestamp(timestamp, tz=UTC))


async def restore_test_if_due(runtime: Runtime, now: datetime) -> dict[str, Any]:
    """Restore the newest backup into a scratch database and compare it with its manifest,
    when the last test is old enough; the outcome recorded (a failure told to the admins)."""
    async with runtime.db.session(SERVICE) as session:
        last = await backup_runs.last_run(session, "restore_test")
    if not backup_runs.is_due(last, runtime.settings.backup.restore_test_days * 24, now):
        return {"due": False}
    started = datetime.now(UTC)
    try:
        owner_url, tools = _access(runtime)
        test = await asyncio.to_thread(backup_runs.restore_test, runtime.settings, owner_url, tools)
    except Exception as failure:  # whatever it was, the admins are told
        logger.exception("the restore test failed")
        message = str(failure) if isinstance(failure, BackupError) else f"{type(failure).__name__}: {failure}"
        async with runtime.db.session(SERVICE) as session:
            await backup_runs.record(session, kind="restore_test", started_at=started, error=message)
        return {"due": True, "error": message}
    report = test.report
    differ = None if report.ok else f"{len(report.mismatches)} tables differ from the manifest"
    detail = {
        "into": test.into,
        "tables": report.tables,
        "rows": report.rows,
        "mismatches": report.mismatches[:20],
    }
    async with runtime.db.session(SERVICE) as session:
        await backup_runs.record(
            session,
            kind="restore_test",
            started_at=started,
            error=differ,
            backup_id=test.backup_id,
            targets=[test.source],
            detail=detail,
        )
    return {"due": True, "backup": test.backup_id, "ok": report.ok}
