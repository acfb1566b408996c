"""The daily base backup of the embedded server (system/pitr.py): with the WAL archive, any
moment since the oldest kept base backup can be restored (``saaskit restore --to-time``)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from procrastinate import JobContext

from saaskit.config import Settings
from saaskit.jobs import jobs, runtime_of
from saaskit.kit.embedded import EmbeddedPostgres
from saaskit.system import pitr, pitr_bucket

logger = logging.getLogger(__name__)


def scheduled_base_backup(settings: Settings) -> pitr.BaseBackup | None:
    """A base backup of the embedded server, keeping ``base_backup_keep``; None when there is
    nothing for saaskit to do (an external server, archiving off, the server not running here)."""
    from saaskit.kit.bootstrap import EMBEDDED_DATABASE

    if settings.database.url or not settings.database.wal_archive:
        return None
    data_dir = Path(settings.data_dir).expanduser().resolve()
    server = EmbeddedPostgres(data_dir)
    if server.running_process() is None:
        return None
    directory = data_dir / "base-backups"
    backup = pitr.create_base_backup(
        server.url(EMBEDDED_DATABASE), directory, server.tool("pg_basebackup").parent
    )
    removed = pitr.prune(directory, pitr.archive_dir(data_dir), settings.database.base_backup_keep)
    logger.info("base backup %s taken; %d older removed", backup.id, len(removed))
    if pitr_bucket.upload_base_backup(settings, directory, backup):
        pitr_bucket.ship_wal(settings, pitr.archive_dir(data_dir))
        pitr_bucket.prune(settings, settings.database.base_backup_keep)
    return backup


def scheduled_wal_shipping(settings: Settings) -> list[str]:
    """Upload the embedded server's newly archived WAL to the bucket (none configured, an
    external server: nothing to do)."""
    if settings.database.url or not settings.database.wal_archive or not settings.backup.s3_bucket:
        return []
    archive = pitr.archive_dir(Path(settings.data_dir).expanduser().resolve())
    return pitr_bucket.ship_wal(settings, archive)


@jobs.periodic(cron="47 2 * * *", periodic_id="daily")
@jobs.task(name="system.base_backup", queue="maintenance", pass_context=True)
async def base_backup(context: JobContext, timestamp: int) -> str | None:
    """The daily base backup (embedded server with WAL archiving only)."""
    backup = await asyncio.to_thread(scheduled_base_backup, runtime_of(context).settings)
    return backup.id if backup is not None else None


@jobs.periodic(cron="* * * * *", periodic_id="every_minute")
@jobs.task(name="system.ship_wal", queue="maintenance", pass_context=True)
async def ship_wal(context: JobContext, timestamp: int) -> int:
    """Every minute: archived WAL segments to the backup bucket (when one is configured)."""
    shipped = await asyncio.to_thread(scheduled_wal_shipping, runtime_of(context).settings)
    return len(shipped)
