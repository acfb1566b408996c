"""``saaskit backup`` (create with a progress bar, list across targets, keygen, test-restore)
and ``saaskit archive`` (list, restore into a table). ``saaskit restore`` stays in saaskit/cli.py
and uses ``fetch_for_restore`` here."""

from __future__ import annotations

import shutil
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Column, Table

from saaskit.config import Settings, get_settings
from saaskit.kit.bootstrap import Environment
from saaskit.system import backup_runs, crypto
from saaskit.system.backups import BackupError

console = Console()


def print_listing(
    out: Console,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    whole: Collection[int] = (0,),
    folded: Collection[int] = (),
) -> None:
    """A CLI listing an operator copies ids from: when piped or captured, one tab-separated line
    per row (never cut); on a terminal a boxless table whose ``whole`` columns are never wrapped
    or cut (ids, places, figures) and whose ``folded`` columns wrap by character."""
    if not out.is_terminal:
        for line in (headers, *rows):
            out.print("\t".join(line), soft_wrap=True, highlight=False, markup=False)
        return
    table = Table(
        *(
            Column(name, no_wrap=i in whole, overflow="fold" if i in folded else "ellipsis")
            for i, name in enumerate(headers)
        ),
        box=None,
    )
    for row in rows:
        table.add_row(*row)
    out.print(table)


backup_app = typer.Typer(
    help="Backups: create (local directory and/or S3 bucket, encrypted with the configured key), "
    "list, keygen, test-restore.",
    no_args_is_help=True,
)
archive_app = typer.Typer(
    help="Partitions archived to cold storage: list, restore into a table.", no_args_is_help=True
)


def tools(env: Environment) -> Path:
    """The client programs matching the server: the embedded server's own, else those on PATH."""
    if env.embedded is not None:
        return env.embedded.tool("pg_dump").parent
    found = shutil.which("pg_dump")
    if found is None:
        console.print(
            "[red]pg_dump not found on PATH: install the PostgreSQL client of the server's version[/red]"
        )
        raise typer.Exit(1)
    return Path(found).parent


def settings_with_dir(directory: Path | None) -> Settings:
    settings = get_settings()
    if directory is not None:
        settings = settings.model_copy(
            update={"backup": settings.backup.model_copy(update={"dir": directory, "local": True})}
        )
    return settings


BackupDir = Annotated[
    Path | None,
    typer.Option(
        "--dir", help="The local backup directory (default: SAASKIT_BACKUP_DIR, else <data_dir>/backups)."
    ),
]


@backup_app.command("create")
def backup_create(
    directory: BackupDir = None,
    keep: Annotated[
        int | None, typer.Option(min=1, help="Backups kept (default: SAASKIT_BACKUP_KEEP_COUNT).")
    ] = None,
) -> None:
    """A consistent dump of the whole database and its manifest (rows and checksums per table),
    stored in every target (encrypted when a key is configured); then retention by count and age."""
    settings = settings_with_dir(directory)
    if keep is not None:
        settings = settings.model_copy(
            update={"backup": settings.backup.model_copy(update={"keep_count": keep})}
        )
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
    )
    tasks: dict[str, TaskID] = {}
    try:
        with Environment(settings) as env, Progress(*columns, console=console, transient=False) as bar:

            def progress(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    label = {"dump": "dumping tables", "upload": "uploading (bytes)"}.get(phase, phase)
                    tasks[phase] = bar.add_task(label, total=total)
                bar.update(tasks[phase], completed=done, total=total)

            made = backup_runs.make_backup(settings, env.urls.owner, tools(env), progress)
    except BackupError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    backup = made.backup
    encrypted = f", encrypted (key {backup.encrypted_with})" if backup.encrypted_with else ""
    console.print(
        f"backup {backup.id}: {len(backup.tables)} tables, {backup.rows:,} rows, "
        f"{backup.size_bytes / 1e6:,.1f} MB, sha256 {backup.sha256[:16]}...{encrypted} "
        f"in {', '.join(made.targets)}"
    )
    for target, ids in made.pruned.items():
        console.print(f"removed {len(ids)} older backups from {target}")


@backup_app.command("list")
def backup_list(directory: BackupDir = None) -> None:
    """The backups of every target, newest first."""
    try:
        listed = backup_runs.catalog(settings_with_dir(directory))
    except BackupError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    headers = ("id", "created (UTC)", "revision", "tables", "rows", "size", "key", "where")
    rows = [
        (
            item.backup.id,
            item.backup.created_at[:16].replace("T", " "),
            item.backup.revision or "",
            str(len(item.backup.tables)),
            f"{item.backup.rows:,}",
            f"{item.backup.size_bytes / 1e6:,.1f} MB",
            item.backup.encrypted_with or "no",
            ", ".join(item.targets),
        )
        for item in listed
    ]
    print_listing(console, headers, rows, whole={0, 3, 4, 5, 7}, folded={1, 2, 6})


@backup_app.command("keygen")
def backup_keygen() -> None:
    """Print a new encryption key (set it as SAASKIT_BACKUP_ENCRYPTION_KEY, and keep a copy
    away from the backups: without it they cannot be restored)."""
    key = crypto.new_key()
    console.print(key, highlight=False, soft_wrap=True)
    console.print(f"key id {crypto.key_id(crypto.parse_key(key))}", style="dim")


@backup_app.command("test-restore")
def backup_test_restore(directory: BackupDir = None) -> None:
    """What the weekly job does: restore the newest backup into a scratch server (the embedded
    installation; an external server: a scratch database on it), compare every table with the
    manifest, remove the scratch copy."""
    settings = settings_with_dir(directory)
    try:
        with (
            Environment(settings) as env,
            console.status("restoring the newest backup into a scratch server or database"),
        ):
            test = backup_runs.restore_test(settings, env.urls.owner, tools(env))
    except BackupError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    for line in test.report.mismatches:
        console.print(f"[red]{line}[/red]")
    verdict = (
        "identical to its manifest" if test.report.ok else f"{len(test.report.mismatches)} tables differ"
    )
    console.print(
        f"restore test of {test.backup_id} (from {test.source}, into a {test.into}): "
        f"{test.report.tables} tables, "
        f"{test.report.rows:,} rows, {verdict}"
    )
    if not test.report.ok:
        raise typer.Exit(1)


# -- archive ----------------------------------------------------------------------------------
@archive_app.command("list")
def archive_list() -> None:
    """The archived partitions, by table and month."""
    from saaskit.system import archive, storage

    target = storage.archive_target(get_settings())
    headers = ("id", "table", "from (UTC)", "to (UTC)", "rows", "size", "archived (UTC)")
    rows = [
        (
            a.id,
            a.table,
            a.starts[:10],
            a.ends[:10],
            f"{a.rows:,}",
            f"{a.size_bytes / 1e3:,.0f} kB",
            a.created_at[:16].replace("T", " "),
        )
        for a in archive.list_archives(target)
    ]
    print_listing(console, headers, rows, whole={0, 4, 5}, folded={6})
    console.print(f"in {target.name}", style="dim")


@archive_app.command("restore")
def archive_restore(
    archive_id: Annotated[str, typer.Argument(help="The archive's id (saaskit archive list).")],
    into: Annotated[str, typer.Option("--into", help="A new table to load the rows into.")],
) -> None:
    """Load an archived partition into a new table and check its rows and checksum."""
    from saaskit.system import archive, storage

    settings = get_settings()
    try:
        key = backup_runs.encryption_key(settings)
        with Environment(settings) as env, console.status(f"restoring {archive_id} into {into}"):
            restored = archive.restore_archive(
                storage.archive_target(settings), archive_id, env.urls.owner, into, key
            )
    except (archive.ArchiveError, BackupError) as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    if not restored.ok:
        console.print(
            f"[red]{into}: {restored.rows:,} rows, checksum {restored.checksum}; the archive has "
            f"{restored.archive.rows:,} rows, checksum {restored.archive.checksum}: not kept[/red]"
        )
        raise typer.Exit(1)
    console.print(f"restored {restored.rows:,} rows of {restored.archive.partition} into {into}: identical")
