"""Backups across targets, their retention, restore tests, and the record of each run.

``make_backup`` dumps (system/backups.py) into the local directory (or a scratch one when only
the bucket is kept), encrypted when a key is configured, uploads the dump then its manifest to
the bucket (a manifest in a target means its dump is complete there) and applies retention in
every target. ``catalog`` lists the backups of every target; ``fetch`` brings one backup's
verified file to a local directory from the nearest target that has it. ``restore_test``
restores the newest backup into a scratch server (system/scratch_server.py; a scratch database
on an external server), compares it with its manifest and removes it.

These are blocking (subprocesses, boto3): the jobs run them in a thread. ``record`` writes the
outcome (``backup_runs``); a failure also writes a system event and tells every platform admin.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts.models import User
from saaskit.config import Settings
from saaskit.kit.db import libpq_url, with_database
from saaskit.system import backups, crypto
from saaskit.system.backups import Backup, BackupError, Progress
from saaskit.system.models import BackupRun
from saaskit.system.storage import LocalTarget, StorageError, Target, backup_dir, backup_targets


def encryption_key(settings: Settings) -> bytes | None:
    """The configured master key (the setting, else the file), or None: no encryption."""
    backup = settings.backup
    try:
        if backup.encryption_key is not None:
            return crypto.parse_key(backup.encryption_key.get_secret_value())
        if backup.encryption_key_file is not None:
            return crypto.parse_key(backup.encryption_key_file.read_text())
    except (crypto.CryptoError, OSError) as error:
        raise BackupError(f"SAASKIT_BACKUP_ENCRYPTION_KEY: {error}") from None
    return None


@dataclass
class Made:
    backup: Backup
    targets: list[str]
    pruned: dict[str, list[str]] = field(default_factory=dict)


def make_backup(settings: Settings, owner_url: str, tools: Path, progress: Progress | None = None) -> Made:
    targets = backup_targets(settings)
    key = encryption_key(settings)
    local = next((t for t in targets if isinstance(t, LocalTarget)), None)
    staging = local.root if local is not None else Path(tempfile.mkdtemp(prefix="saaskit-backup-"))
    try:
        backup = backups.create(owner_url, staging, tools, key=key, progress=progress)
        for target in targets:
            if target is not local:
                _upload(target, staging, backup, progress)
    finally:
        if local is None:
            shutil.rmtree(staging, ignore_errors=True)
    pruned = {t.name: prune(t, settings.backup.keep_count, settings.backup.keep_days) for t in targets}
    return Made(backup, [t.name for t in targets], {k: v for k, v in pruned.items() if v})


def _upload(target: Target, staging: Path, backup: Backup, progress: Progress | None) -> None:
    """The dump, then its manifest (a manifest in a target means its dump is complete there)."""
    sent = 0

    def uploaded(size: int) -> None:
        nonlocal sent
        sent += size
        if progress is not None:
            progress("upload", min(sent, backup.size_bytes), backup.size_bytes)

    uploaded(0)
    try:
        target.put(staging / backup.file, backup.file, backup.sha256, uploaded)
        target.put_text(backup.manifest, backup.to_json())
    except StorageError as error:
        raise BackupError(str(error)) from None
    uploaded(backup.size_bytes)  # the total, whatever the callbacks counted


def _manifests(target: Target) -> list[Backup]:
    found = []
    for key in reversed(target.keys("saaskit-")):
        if key.endswith(backups.MANIFEST_SUFFIX):
            try:
                found.append(Backup.from_json(target.get_text(key)))
            except (ValueError, TypeError):
                continue
    return sorted(found, key=lambda b: b.id, reverse=True)


def prune(target: Target, keep_count: int, keep_days: int, now: datetime | None = None) -> list[str]:
    """Delete the backups beyond the newest ``keep_count``, and those older than ``keep_days``
    (0: no age limit) except the newest one; the ids deleted."""
    now = now or datetime.now(UTC)
    deleted = []
    for index, backup in enumerate(_manifests(target)):
        too_old = keep_days > 0 and datetime.fromisoformat(backup.created_at) < now - timedelta(
            days=keep_days
        )
        if index >= keep_count or (index > 0 and too_old):
            target.delete(backup.manifest)  # first: a listed backup always has its dump
            target.delete(backup.file)
            deleted.append(backup.id)
    return deleted


@dataclass
class Listed:
    backup: Backup
    targets: list[str]


def catalog(settings: Settings) -> list[Listed]:
    """Every backup of every target, newest first, with the targets holding it."""
    found: dict[str, Listed] = {}
    for target in backup_targets(settings):
        try:
            manifests = _manifests(target)
        except StorageError as error:
            raise BackupError(str(error)) from None
        for backup in manifests:
            found.setdefault(backup.id, Listed(backup, [])).targets.append(target.name)
    return sorted(found.values(), key=lambda listed: listed.backup.id, reverse=True)


def fetch(settings: Settings, backup_id: str | None, scratch: Path) -> tuple[Backup, Path, str]:
    """The backup (the newest if no id), the local directory holding its verified file, and the
    target it came from. A download goes to ``scratch``."""
    listed = catalog(settings)
    if not listed:
        raise BackupError("no backup in any target")
    chosen = listed[0] if backup_id is None else next((x for x in listed if x.backup.id == backup_id), None)
    if chosen is None:
        raise BackupError(f"no backup {backup_id} in any target")
    backup = chosen.backup
    errors = []
    for target in backup_targets(settings):
        if target.name not in chosen.targets:
            continue
        if isinstance(target, LocalTarget):
            return backup, target.root, target.name
        try:
            target.get(backup.file, scratch / backup.file, backup.sha256)
        except StorageError as error:
            errors.append(str(error))
            continue
        return backup, scratch, target.name
    raise BackupError("; ".join(errors) or f"no target holds {backup.id}")


@dataclass
class RestoreTest:
    backup_id: str
    source: str
    report: backups.RestoreReport
    into: str = "scratch database"  # or "scratch server"


def restore_test(
    settings: Settings, owner_url: str, tools: Path, *, use_server: bool | None = None
) -> RestoreTest:
    """Restore the newest backup into a scratch server (``use_server``; default: the embedded
    server's installation, when its binaries are here) or a scratch database on the live server
    (an external server), compare it with its manifest, and remove the scratch copy."""
    from saaskit.system import scratch_server

    if use_server is None:
        use_server = not settings.database.url and scratch_server.available()
    key = encryption_key(settings)
    with tempfile.TemporaryDirectory(prefix="saaskit-restore-test-") as scratch:
        backup, directory, source = fetch(settings, None, Path(scratch))
        if use_server:
            with scratch_server.scratch_server(owner_url) as server:
                restore_tools = server.tool("pg_restore").parent
                report = backups.restore(
                    backup, directory, server.url("postgres"), "saaskit", restore_tools, key=key
                )
            return RestoreTest(backup.id, source, report, "scratch server")
        scratch_db = f"saaskit_restore_test_{secrets.token_hex(4)}"
        try:
            report = backups.restore(backup, directory, owner_url, scratch_db, tools, key=key)
        finally:
            admin = libpq_url(with_database(owner_url, "postgres"))
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch_db))
                )
    return RestoreTest(backup.id, source, report)


# -- the record --------------------------------------------------------------------------------
async def record(
    session: AsyncSession,
    *,
    kind: str,
    started_at: datetime,
    error: str | None = None,
    backup: Backup | None = None,
    backup_id: str | None = None,
    targets: list[str] | None = None,
    detail: dict[str, Any] | None = None,
) -> BackupRun:
    """One run's outcome; a failure also logs a system event and tells the platform admins.
    Flushes, never commits."""
    from saaskit.notifications import service as notifications
    from saaskit.tracking.records import record_system_event

    run = BackupRun(
        kind=kind,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        status="failed" if error else "ok",
        backup_id=backup.id if backup else backup_id,
        size_bytes=backup.size_bytes if backup else None,
        targets=", ".join(targets) if targets else None,
        detail=detail or {},
        error=error[:4000] if error else None,
    )
    session.add(run)
    await session.flush()
    if error:
        what = "Backup" if kind == "backup" else "Restore test"
        message = f"{what} failed: {error[:500]}"
        await record_system_event(
            session,
            event_type=f"{kind}_failed",
            severity="critical",
            message=message,
            error_details={"run_id": str(run.id), "backup_id": run.backup_id},
        )
        admins = await session.scalars(select(User.id).where(User.role == "admin", User.deleted_at.is_(None)))
        for admin_id in admins.all():
            await notifications.notify(
                session,
                user_id=admin_id,
                kind="operations",
                title=f"{what} failed",
                body=message[:1000],
                link="/admin/system/backups",
                data={"run_id": str(run.id)},
            )
    return run


async def last_run(session: AsyncSession, kind: str, *, ok_only: bool = False) -> BackupRun | None:
    query = select(BackupRun).where(BackupRun.kind == kind)
    if ok_only:
        query = query.where(BackupRun.status == "ok")
    return await session.scalar(query.order_by(BackupRun.started_at.desc()).limit(1))


async def recent_runs(session: AsyncSession, limit: int = 20) -> list[BackupRun]:
    query = select(BackupRun).order_by(BackupRun.started_at.desc()).limit(limit)
    return list(await session.scalars(query))


def is_due(last: BackupRun | None, every_hours: float, now: datetime) -> bool:
    """Due when ``every_hours`` (0: never) has passed since the last run (a quarter of that
    after a failure: retried soon, without telling the admins every hour), with a few minutes'
    slack so an hourly check does not slip by an hour each day."""
    if every_hours <= 0:
        return False
    if last is None:
        return True
    wait = timedelta(hours=every_hours / 4 if last.status == "failed" else every_hours)
    return last.started_at <= now - wait + timedelta(minutes=10)


def describe(settings: Settings) -> dict[str, Any]:
    """The backup configuration in words, for the admin (no secret, no network call)."""
    backup = settings.backup
    where = [f"local directory {backup_dir(settings)}"] if backup.local else []
    if backup.s3_bucket:
        endpoint = f" at {backup.s3_endpoint_url}" if backup.s3_endpoint_url else ""
        where.append(f"s3://{backup.s3_bucket}/{backup.s3_prefix}backups/{endpoint}")
    try:
        key = encryption_key(settings)
        encryption = f"AES-256-GCM, key {crypto.key_id(key)}" if key else "off (no key configured)"
    except BackupError as error:
        encryption = f"misconfigured: {error}"
    return {
        "targets": where or ["none: backups cannot be made"],
        "encryption": encryption,
        "schedule": f"every {backup.schedule_hours:g} hours" if backup.schedule_hours else "off",
        "retention": f"the newest {backup.keep_count}"
        + (f", none older than {backup.keep_days} days" if backup.keep_days else ""),
        "restore_tests": f"every {backup.restore_test_days:g} days" if backup.restore_test_days else "off",
        "archive": "on" if settings.archive.enabled else "off",
        "pitr": _describe_pitr(settings),
    }


def _describe_pitr(settings: Settings) -> list[str]:
    """Where base backups and the WAL archive go (system/pitr.py, system/pitr_bucket.py)."""
    if settings.database.url:
        return ["the external server's operator's (docs/operations.md)"]
    if not settings.database.wal_archive:
        return ["off (SAASKIT_DATABASE_WAL_ARCHIVE=false)"]
    data_dir = Path(settings.data_dir)
    where = [f"local directories {data_dir / 'base-backups'} and {data_dir / 'wal-archive'}"]
    if settings.backup.s3_bucket:
        backup = settings.backup
        where.append(f"s3://{backup.s3_bucket}/{backup.s3_prefix}pitr/ (WAL shipped every minute)")
    return where


def owner_access(settings: Settings) -> tuple[str, Path]:
    """The owner's URL and the matching client programs, for jobs: the external server's URL
    and the programs on PATH, or the embedded server's socket and its own binaries."""
    from saaskit.kit.bootstrap import EMBEDDED_DATABASE
    from saaskit.kit.embedded import EmbeddedPostgres

    if settings.database.url:
        found = shutil.which("pg_dump")
        if found is None:
            raise BackupError(
                "pg_dump not found on PATH: install the PostgreSQL client of the server's version"
            )
        return settings.database.url, Path(found).parent
    embedded = EmbeddedPostgres(Path(settings.data_dir))
    return embedded.url(EMBEDDED_DATABASE), embedded.tool("pg_dump").parent


__all__ = ["BackupError", "backup_dir"]
