"""Point-in-time recovery: WAL archiving, base backups, and restoring a cluster to a moment.

The embedded server archives every completed WAL segment into ``<data_dir>/wal-archive``
(``archive_settings``, on by default: ``SAASKIT_DATABASE_WAL_ARCHIVE``). The commands name the
archive by a path relative to the server's working directory (``pgdata``), ``../wal-archive``:
as root the server runs as a system user that may not be allowed to walk the absolute path
(``kit.embedded``), and a relative path crosses only the data directory itself.

A base backup (``create_base_backup``) is ``pg_basebackup`` with the server's own binaries: a
compressed tar of the cluster plus the WAL needed to make it consistent, and a manifest (JSON)
with the time it finished. ``restore`` picks the newest base backup finished before the target
time, unpacks it into a FRESH data directory with the archive beside it (copied: the restored
server reads ``../wal-archive`` too), and starts it with ``recovery_target_time``: it replays the
archive up to that moment and is promoted. It never touches a directory that holds a cluster
unless told to replace it, and never one a server is running on.

An external server's archiving and base backups are its operator's (docs/operations.md).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from saaskit.kit.db import libpq_url
from saaskit.kit.embedded import EmbeddedPostgres, StartFailed
from saaskit.kit.pginstall import system_user

ARCHIVE = "wal-archive"
MANIFEST = "saaskit-base.json"
_SEGMENT = re.compile(r"^[0-9A-F]{24}\.gz$")
# Relative to the server's working directory, its data directory (see the module's doc). Files
# are gzipped: a segment switched early by archive_timeout is mostly zeros, and compresses so.
_ARCHIVE_COMMAND = (
    f"test ! -f ../{ARCHIVE}/%f.gz && gzip -c %p > ../{ARCHIVE}/%f.gz.part "
    f"&& mv ../{ARCHIVE}/%f.gz.part ../{ARCHIVE}/%f.gz"
)
_RESTORE_COMMAND = f"gzip -dc ../{ARCHIVE}/%f.gz > %p"
# At most this long between a write and its WAL reaching the archive on a quiet server.
ARCHIVE_TIMEOUT_SECONDS = 300


class RecoveryError(Exception):
    """A base backup or a point-in-time restore that could not be made; the message says why."""


def archive_dir(data_dir: Path) -> Path:
    return data_dir / ARCHIVE


def archive_settings() -> dict[str, str]:
    """Server settings that archive WAL into ``<data_dir>/wal-archive`` (embedded server)."""
    return {
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_command": _ARCHIVE_COMMAND,
        "archive_timeout": str(ARCHIVE_TIMEOUT_SECONDS),
    }


def prepare_archive(data_dir: Path) -> Path:
    """Create the archive directory, writable by the server's user only."""
    target = archive_dir(data_dir)
    target.mkdir(parents=True, exist_ok=True)
    target.chmod(0o700)
    _chown_tree(target)
    return target


def _chown_tree(path: Path) -> None:
    user = system_user()
    if user is None:
        return
    import pwd

    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(Path(root) / name, entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def flush_archive(owner_url: str, timeout: float = 30.0) -> str:
    """Switch to a new WAL segment and wait until the one holding everything written so far is
    archived; returns its name. Raises ``RecoveryError`` if archiving fails or is off."""
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
        mode = conn.execute("SELECT current_setting('archive_mode')").fetchone()
        if mode is None or mode[0] == "off":
            raise RecoveryError("WAL archiving is off on this server (archive_mode = off)")
        row = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
        assert row is not None
        segment = str(row[0])
        deadline = time.monotonic() + timeout
        while True:
            # Archived: no segment up to ours is still marked .ready for the archiver.
            state = conn.execute(
                "SELECT NOT EXISTS (SELECT 1 FROM pg_ls_archive_statusdir() "
                "WHERE name LIKE '%%.ready' AND left(name, 24) <= %s), last_failed_wal, "
                "last_failed_time > coalesce(last_archived_time, '-infinity') FROM pg_stat_archiver",
                (segment,),
            ).fetchone()
            assert state is not None
            archived, failed, failing = state
            if archived:
                return segment
            if time.monotonic() > deadline:
                why = f": the archive command fails on {failed}" if failing else ""
                raise RecoveryError(f"WAL segment {segment} was not archived in {timeout:.0f} s{why}")
            time.sleep(0.1)


def archiver_status(owner_url: str) -> dict[str, object]:
    """``pg_stat_archiver`` and ``archive_mode``: is archiving on, and is it keeping up?"""
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT current_setting('archive_mode'), archived_count, last_archived_wal, last_archived_time, "
            "failed_count, last_failed_wal, last_failed_time FROM pg_stat_archiver"
        ).fetchone()
    assert row is not None
    keys = "archive_mode archived_count last_archived_wal last_archived_time failed_count last_failed_wal"
    keys += " last_failed_time"
    return dict(zip(keys.split(), row, strict=True))


@dataclass
class BaseBackup:
    id: str
    started_at: str
    finished_at: str
    start_wal: str  # the first WAL segment a restore needs from the archive
    size_bytes: int

    @property
    def finished(self) -> datetime:
        return datetime.fromisoformat(self.finished_at)


def create_base_backup(owner_url: str, directory: Path, tools: Path) -> BaseBackup:
    """``pg_basebackup`` of the whole cluster into ``directory/<id>/`` with its manifest."""
    started = datetime.now(UTC)
    backup_id = started.strftime("%Y%m%dT%H%M%S%fZ")
    target = directory / backup_id
    partial = directory / f".{backup_id}.partial"
    directory.mkdir(parents=True, exist_ok=True)
    command = [
        str(tools / "pg_basebackup"),
        "-d",
        libpq_url(owner_url),
        "-D",
        str(partial),
        "--format=tar",
        "--gzip",
        "--wal-method=stream",
        "--checkpoint=fast",
        "--label",
        f"saaskit {backup_id}",
        "--no-password",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise RecoveryError(f"pg_basebackup failed ({done.returncode}): {done.stderr[-2000:]}")
    finished = datetime.now(UTC)
    backup = BaseBackup(
        id=backup_id,
        started_at=started.isoformat(),
        finished_at=finished.isoformat(),
        start_wal=_start_wal(partial / "base.tar.gz"),
        size_bytes=sum(p.stat().st_size for p in partial.iterdir()),
    )
    (partial / MANIFEST).write_text(json.dumps(asdict(backup), indent=2))
    partial.rename(target)
    return backup


def _start_wal(base_tar: Path) -> str:
    with tarfile.open(base_tar) as archive:
        member = archive.extractfile("backup_label")
        label = member.read().decode() if member is not None else ""
    found = re.search(r"START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)", label)
    if found is None:
        raise RecoveryError(f"{base_tar} has no backup_label naming its first WAL segment")
    return found.group(1)


def list_base_backups(directory: Path) -> list[BaseBackup]:
    """The complete base backups in ``directory``, newest first."""
    found = []
    for manifest in directory.glob(f"*/{MANIFEST}"):
        found.append(BaseBackup(**json.loads(manifest.read_text())))
    return sorted(found, key=lambda b: b.finished_at, reverse=True)


def prune(directory: Path, archive: Path | None, keep: int) -> list[str]:
    """Keep the newest ``keep`` base backups, and the archived WAL the oldest kept one needs."""
    backups = list_base_backups(directory)
    removed = []
    for old in backups[keep:]:
        shutil.rmtree(directory / old.id)
        removed.append(old.id)
    kept = backups[:keep]
    if archive is not None and kept and archive.is_dir():
        oldest = min(b.start_wal for b in kept)
        for segment in archive.iterdir():
            # Segments only (timeline histories stay): same timeline width, compared by name.
            if _SEGMENT.match(segment.name) and segment.name[8:24] < oldest[8:]:
                segment.unlink()
    return removed


def choose(directory: Path, to_time: datetime | None, backup_id: str | None) -> BaseBackup:
    """The base backup to restore from: the one named, else the newest finished before
    ``to_time`` (the newest of all without one)."""
    return choose_among(list_base_backups(directory), to_time, backup_id, str(directory))


def choose_among(
    backups: list[BaseBackup], to_time: datetime | None, backup_id: str | None, where: str
) -> BaseBackup:
    """``choose`` from a list of base backups (newest first) found in ``where``."""
    if to_time is None:
        if backup_id is None and backups:
            return backups[0]
        to_time = datetime.max.replace(tzinfo=UTC)
    if backup_id is not None:
        for backup in backups:
            if backup.id == backup_id:
                if backup.finished > to_time:
                    raise RecoveryError(f"base backup {backup_id} finished after {to_time.isoformat()}")
                return backup
        raise RecoveryError(f"no base backup {backup_id} in {where}")
    for backup in backups:
        if backup.finished <= to_time:
            return backup
    raise RecoveryError(f"no base backup in {where} finished before {to_time.isoformat()}")


@dataclass
class Restored:
    base_backup: str
    data_dir: Path
    to_time: datetime | None  # None: to the end of the archive
    recovered_to: str  # the last transaction replayed, as the restored server reports it


def restore(
    backup: BaseBackup,
    backups_dir: Path,
    archive: Path,
    target: Path,
    to_time: datetime | None,
    *,
    replace: bool = False,
    timeout: float = 120.0,
) -> Restored:
    """Recover ``backup`` + ``archive`` up to ``to_time`` (None: all the archive holds) into the
    data directory ``target`` (``target/pgdata``), run the recovery to its end (the server is
    promoted), and stop it."""
    target = target.expanduser().resolve()
    server = EmbeddedPostgres(target)
    if server.running_process() is not None:
        raise RecoveryError(f"a PostgreSQL server is running on {server.pgdata}: stop it first")
    if server.pgdata.exists() and any(server.pgdata.iterdir()):
        if not replace:
            raise RecoveryError(
                f"{server.pgdata} already holds a cluster: choose a fresh directory or --replace"
            )
        shutil.rmtree(server.pgdata)
    target.mkdir(parents=True, exist_ok=True)
    staging = target / "pgdata.restore"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    source = backups_dir / backup.id
    with tarfile.open(source / "base.tar.gz") as base:
        base.extractall(staging, filter="data")
    with tarfile.open(source / "pg_wal.tar.gz") as wal:
        wal.extractall(staging / "pg_wal", filter="data")
    local_archive = archive_dir(target)
    if local_archive.resolve() != archive.resolve():
        local_archive.mkdir(exist_ok=True)
        for segment in archive.iterdir():
            name = segment.name
            if name.endswith(".part") or (local_archive / name).exists():
                continue
            if _SEGMENT.match(name) and name[8:24] < backup.start_wal[8:]:
                continue  # older than the base backup: recovery never asks for it
            shutil.copy2(segment, local_archive / name)
    settings = f"\n# saaskit restore (system/pitr.py)\nrestore_command = '{_RESTORE_COMMAND}'\n"
    if to_time is not None:
        settings += (
            f"recovery_target_time = '{to_time.isoformat(sep=' ')}'\nrecovery_target_action = 'promote'\n"
        )
    with (staging / "postgresql.auto.conf").open("a") as conf:
        conf.write(settings)
    (staging / "recovery.signal").touch()
    _chown_tree(staging)
    _chown_tree(local_archive)
    local_archive.chmod(0o700)
    staging.rename(server.pgdata)
    return _recover(server, backup, target, to_time, timeout)


def _recover(
    server: EmbeddedPostgres, backup: BaseBackup, target: Path, to_time: datetime | None, timeout: float
) -> Restored:
    server.extra_settings = archive_settings()
    try:
        server.start(timeout=timeout)
    except StartFailed as exc:  # e.g. the archive ends before the moment: the log says which WAL
        raise RecoveryError(f"the restored server did not start or recover: {exc}") from None
    try:
        deadline = time.monotonic() + timeout
        with psycopg.connect(libpq_url(server.url()), autocommit=True) as conn:
            while True:
                row = conn.execute("SELECT pg_is_in_recovery(), pg_last_xact_replay_timestamp()").fetchone()
                assert row is not None
                if not row[0]:
                    break
                if time.monotonic() > deadline:
                    raise RecoveryError(f"recovery did not finish in {timeout:.0f} s:\n{server.log_tail()}")
                time.sleep(0.1)
            conn.execute("CHECKPOINT")
        replayed = row[1].isoformat() if row[1] is not None else "(no transaction after the base backup)"
    except psycopg.OperationalError:  # the server stopped during recovery
        raise RecoveryError(f"recovery failed:\n{server.log_tail(1200)}") from None
    finally:
        server.stop()
    return Restored(backup.id, target, to_time, replayed)
