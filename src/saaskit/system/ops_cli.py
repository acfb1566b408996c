"""``saaskit pitr ...``, ``saaskit failover ...`` and ``saaskit restore --to-time``: the commands
docs/operations.md gives for point-in-time recovery and failover (system/pitr.py,
system/failover.py)."""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from saaskit.config import get_settings
from saaskit.kit.embedded import EmbeddedPostgres
from saaskit.system import failover, pitr, pitr_bucket
from saaskit.system.backups import BackupError

pitr_app = typer.Typer(
    help="Point-in-time recovery: WAL archive status and base backups.", no_args_is_help=True
)
failover_app = typer.Typer(
    help="Failover: check a database's role, promote a replica, fence the old primary.", no_args_is_help=True
)
console = Console()
err = Console(stderr=True)

BaseDir = Annotated[
    Path | None, typer.Option("--dir", help="Where base backups are kept (default: <data_dir>/base-backups).")
]
Url = Annotated[
    str | None, typer.Option("--url", help="Owner URL of the database (default: the configured one).")
]


def _data_dir() -> Path:
    return Path(get_settings().data_dir).expanduser().resolve()


def _base_dir(directory: Path | None) -> Path:
    return (directory or _data_dir() / "base-backups").expanduser().resolve()


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]{message}[/red]", soft_wrap=True, highlight=False)
    return typer.Exit(1)


@pitr_app.command("base-backup")
def base_backup(directory: BaseDir = None, keep: Annotated[int, typer.Option(min=1)] = 7) -> None:
    """A base backup (pg_basebackup with the server's binaries); keeps the newest --keep and the
    archived WAL they need."""
    from saaskit.kit.bootstrap import Environment
    from saaskit.system.cli import tools

    target = _base_dir(directory)
    try:
        with Environment(get_settings()) as env, console.status("copying the cluster ..."):
            backup = pitr.create_base_backup(env.urls.owner, target, tools(env))
            archive = pitr.archive_dir(env.data_dir) if env.embedded is not None else None
            removed = pitr.prune(target, archive, keep)
        remote = pitr_bucket.bucket(get_settings())
        if remote is not None:
            with console.status(f"uploading it to {remote.name} ..."):
                pitr_bucket.upload_base_backup(get_settings(), target, backup)
                if archive is not None:
                    pitr_bucket.ship_wal(get_settings(), archive)
                pitr_bucket.prune(get_settings(), keep)
            console.print(f"stored in {remote.name} too")
    except (pitr.RecoveryError, BackupError) as error:
        raise _fail(str(error)) from None
    console.print(
        f"base backup {backup.id}: {backup.size_bytes / 1e6:,.1f} MB, "
        f"from WAL {backup.start_wal}, in {target}"
    )
    if removed:
        console.print(f"removed {len(removed)} older base backups and the WAL only they needed")


@pitr_app.command("list")
def list_command(directory: BaseDir = None) -> None:
    """The base backups, newest first: a restore can reach any time after one finished."""
    from saaskit.system.cli import print_listing

    rows = [
        (b.id, b.finished_at[:16].replace("T", " "), b.start_wal, f"{b.size_bytes / 1e6:,.1f} MB")
        for b in pitr.list_base_backups(_base_dir(directory))
    ]
    print_listing(console, ("id", "finished (UTC)", "first WAL", "size"), rows, whole={0, 2, 3}, folded={1})


@pitr_app.command("status")
def status_command(directory: BaseDir = None) -> None:
    """Whether WAL archiving works (last archived, failures), the archive's size, the newest base backup."""
    from saaskit.kit.bootstrap import Environment

    with Environment(get_settings()) as env:
        status = pitr.archiver_status(env.urls.owner)
        archive = pitr.archive_dir(env.data_dir) if env.embedded is not None else None
    for key, value in status.items():
        console.print(f"{key}: {value if value is not None else '-'}")
    if archive is not None and archive.is_dir():
        files = list(archive.iterdir())
        size = sum(f.stat().st_size for f in files)
        console.print(f"archive: {len(files)} files, {size / 1e6:,.1f} MB in {archive}")
    backups = pitr.list_base_backups(_base_dir(directory))
    console.print(f"newest base backup: {backups[0].id if backups else 'none'}")
    archived, failed = status["last_archived_time"], status["last_failed_time"]
    failing = isinstance(failed, datetime) and (not isinstance(archived, datetime) or failed > archived)
    if status["archive_mode"] == "off" or failing:
        raise _fail("WAL archiving is off or failing: nothing after the last archived WAL can be restored")


@pitr_app.command("flush")
def flush_command(url: Url = None) -> None:
    """Archive the current WAL segment now (everything written so far becomes restorable)."""
    from saaskit.kit.bootstrap import Environment

    try:
        with Environment(get_settings()) as env:
            segment = pitr.flush_archive(url or env.urls.owner)
    except pitr.RecoveryError as error:
        raise _fail(str(error)) from None
    console.print(f"archived up to WAL segment {segment}")


@pitr_app.command("ship")
def ship_command() -> None:
    """Upload the archived WAL the backup bucket lacks (what the every-minute job does)."""
    settings = get_settings()
    if pitr_bucket.bucket(settings) is None:
        raise _fail("no backup bucket configured (SAASKIT_BACKUP_S3_BUCKET)")
    try:
        shipped = pitr_bucket.ship_wal(settings, pitr.archive_dir(_data_dir()))
    except BackupError as error:
        raise _fail(str(error)) from None
    console.print(f"{len(shipped)} archived WAL files uploaded")


def parse_time(value: str) -> datetime:
    """An ISO 8601 time; without a zone, UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(f"--to-time: not an ISO 8601 time: {value!r} (e.g. 2026-12-07T03:12:00Z)") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def restore_to_time(
    to_time: str | None,
    base_backup_id: str | None,
    into: Path | None,
    directory: Path | None,
    archive: Path | None,
    replace: bool,
) -> None:
    """``saaskit restore --to-time T --into DIR``: see system/pitr.py."""
    from saaskit.kit.bootstrap import EMBEDDED_DATABASE

    if into is None:
        raise _fail("--into: the fresh data directory to restore into is required with --to-time")
    moment = parse_time(to_time) if to_time else None  # None: to the end of the archive
    settings = get_settings()
    live = None if settings.database.url else _data_dir()
    target = into.expanduser().resolve()
    if live is not None and target == live and not replace:
        raise _fail(f"{target} is the live data directory: restore into a fresh one, or pass --replace")
    source_archive = archive or (pitr.archive_dir(live) if live is not None else None)
    remote = pitr_bucket.bucket(settings)
    if remote is None and (source_archive is None or not source_archive.is_dir()):
        raise _fail("--archive: the WAL archive directory is required (an external server's own archive)")
    until = moment.isoformat() if moment is not None else "the end of the archive"
    target.parent.mkdir(parents=True, exist_ok=True)
    cache = Path(tempfile.mkdtemp(prefix=f".{target.name}.fetch-", dir=target.parent))
    try:
        if live is not None and target != live:
            server = EmbeddedPostgres(live)
            if server.running_process() is not None:  # the latest writes join the archive first
                pitr.flush_archive(server.url(EMBEDDED_DATABASE))
        backups_dir = _base_dir(directory)
        local = pitr.list_base_backups(backups_dir)
        stored: list[pitr.BaseBackup] = []
        if remote is not None:
            try:
                stored = pitr_bucket.remote_base_backups(remote)
            except BackupError as error:  # the bucket unreachable: the local copies may do
                if source_archive is None or not source_archive.is_dir():
                    raise
                err.print(f"[yellow]{error}: restoring from the local copies only[/yellow]")
                remote = None
        if remote is None:
            backup = pitr.choose_among(local, moment, base_backup_id, str(backups_dir))
            wal = source_archive
        else:
            every = {b.id: b for b in stored} | {b.id: b for b in local}
            newest_first = sorted(every.values(), key=lambda b: b.finished_at, reverse=True)
            where = f"{backups_dir} or {remote.name}"
            backup = pitr.choose_among(newest_first, moment, base_backup_id, where)
            with console.status(f"fetching what {backup.id} needs from {remote.name} ..."):
                if backup.id not in {b.id for b in local}:
                    backups_dir = pitr_bucket.fetch_base_backup(settings, backup, cache / "base")
                wal = cache / "wal"
                pitr_bucket.fetch_wal(settings, backup.start_wal, source_archive, wal)
        assert wal is not None
        with console.status(f"recovering {backup.id} to {until} ..."):
            restored = pitr.restore(backup, backups_dir, wal, target, moment, replace=replace)
    except (pitr.RecoveryError, BackupError) as error:
        raise _fail(str(error)) from None
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    secret = live / "secret_key" if live is not None else None
    if secret is not None and secret.is_file() and not (target / "secret_key").exists():
        shutil.copy2(secret, target / "secret_key")  # the restored cluster's roles were derived from it
    console.print(
        f"restored base backup {restored.base_backup} to {until} in {target} "
        f"(last transaction replayed: {restored.recovered_to}). Start it with: "
        f"SAASKIT_DATA_DIR={target} saaskit db start",
        soft_wrap=True,
    )


@failover_app.command("check")
def check_command(url: Url = None) -> None:
    """Whether the database is a writable primary (exit 1 if a standby or fenced)."""
    from saaskit.kit.bootstrap import Environment

    with Environment(get_settings()) as env:
        target = url or env.urls.owner
        try:
            failover.check_primary(target)
        except failover.NotPrimary as exc:
            raise _fail(str(exc)) from None
    console.print("primary: writable, not fenced")


@failover_app.command("promote")
def promote_command(
    replica: Annotated[str, typer.Option("--replica", help="Owner URL of the standby to promote.")],
    old_primary: Annotated[
        str | None, typer.Option("--old-primary", help="Owner URL of the old primary, fenced if reachable.")
    ] = None,
) -> None:
    """Promote the standby, then fence the old primary if it can be reached."""
    try:
        failover.promote(replica)
    except failover.NotPrimary as exc:
        raise _fail(str(exc)) from None
    console.print("replica promoted: it is the primary now")
    if old_primary:
        _fence(old_primary)


@failover_app.command("fence")
def fence_command(
    url: Annotated[str, typer.Option("--url", help="Owner URL of the old primary.")],
) -> None:
    """Make the old primary's database read-only for every new session, end saaskit's sessions
    there, and mark it so saaskit refuses to start against it."""
    _fence(url)


def _fence(url: str) -> None:
    try:
        ended = failover.fence(
            url, "replaced by a promoted replica", app_role=get_settings().database.app_role
        )
    except Exception as exc:  # unreachable: the procedure says to fence it before it comes back
        raise _fail(
            f"could not fence the old primary ({type(exc).__name__}): do not start it again "
            "before fencing it (docs/operations.md, Failover)"
        ) from None
    console.print(f"old primary fenced ({ended} application sessions ended)")


@failover_app.command("unfence")
def unfence_command(url: Annotated[str, typer.Option("--url", help="Owner URL of the database.")]) -> None:
    """Lift a fence (only once this database is the primary again)."""
    failover.unfence(url)
    console.print("fence lifted")
