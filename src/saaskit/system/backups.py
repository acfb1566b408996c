"""Backups: a consistent dump of the whole database with a manifest, listed, verified and
restored into a fresh database.

``create`` opens a REPEATABLE READ transaction on the database, exports its snapshot and, inside
that one snapshot, fingerprints every table (rows, and an order-independent MD5 of their text
form) and runs ``pg_dump --snapshot`` (custom format, compressed): the dump and its manifest
describe exactly the same state, whatever is written meanwhile. The manifest (JSON beside the
dump) carries the fingerprints, the dump's SHA-256, the server version and the schema revision.

``restore`` checks the dump's SHA-256, refuses an existing database unless told to replace it,
creates the database, runs ``pg_restore`` and fingerprints every table again: the report lists
any table whose rows or checksum differ from the manifest (none, for a good backup).

A backup may be encrypted (``key``: system/crypto.py): the dump is then stored as
``saaskit-<id>.dump.enc`` and its manifest's SHA-256 is the encrypted file's, so damage in
transit is found without the key; the manifest itself (counts and checksums, no data) stays
readable. ``progress`` is told how far the dump is (tables dumped of all tables).

The client programs are the server's: the embedded server's own binaries, or those on PATH for
an external server (pg_dump must be at least the server's major version).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from saaskit.kit.db import database_name, libpq_url, with_database
from saaskit.system import crypto

# Told (phase, done, total) as a backup goes: "dump" counts tables, "upload" bytes.
Progress = Callable[[str, int, int], None]

MANIFEST_SUFFIX = ".json"
DUMP_SUFFIX = ".dump"
# Every table with rows of its own (partitions, not their empty parents), in our schemas.
TABLES = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname IN ('public', 'procrastinate')
ORDER BY n.nspname, c.relname
"""


class BackupError(Exception):
    """A backup or restore that could not be made or verified; the message says why."""


@dataclass
class Backup:
    id: str
    created_at: str
    database: str
    server_version: int
    revision: str | None
    size_bytes: int
    sha256: str
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    encrypted_with: str | None = None  # the key id (crypto.key_id), when encrypted

    @property
    def rows(self) -> int:
        return sum(int(t["rows"]) for t in self.tables.values())

    @property
    def file(self) -> str:
        return f"saaskit-{self.id}{DUMP_SUFFIX}" + (crypto.SUFFIX if self.encrypted_with else "")

    @property
    def manifest(self) -> str:
        return f"saaskit-{self.id}{MANIFEST_SUFFIX}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Backup:
        return cls(**json.loads(text))


@dataclass
class RestoreReport:
    backup_id: str
    database: str
    tables: int
    rows: int
    mismatches: list[str]

    @property
    def ok(self) -> bool:
        return not self.mismatches


def fingerprints(conn: psycopg.Connection[Any]) -> dict[str, dict[str, Any]]:
    """Rows and an order-independent checksum of every table, in the connection's snapshot."""
    result: dict[str, dict[str, Any]] = {}
    for schema, table in conn.execute(TABLES).fetchall():
        name = sql.Identifier(schema, table)
        row = conn.execute(
            sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(h, '' ORDER BY h), '')) "
                "FROM (SELECT md5(t::text) AS h FROM {} t) s"
            ).format(name)
        ).fetchone()
        assert row is not None
        result[f"{schema}.{table}"] = {"rows": int(row[0]), "checksum": str(row[1])}
    return result


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _dump(command: list[str], tables: int, progress: Progress | None) -> None:
    """pg_dump --verbose names each table as it dumps its rows: that is the progress."""
    tail: list[str] = []
    done = 0
    try:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except OSError as error:
        raise BackupError(f"pg_dump could not start: {error}") from None
    with process:
        assert process.stderr is not None
        for line in process.stderr:
            tail = [*tail, line][-40:]
            if "dumping contents of table" in line:
                done += 1
                if progress is not None:
                    progress("dump", min(done, tables), tables)
        code = process.wait()
    if code != 0:
        raise BackupError(f"pg_dump failed ({code}): {''.join(tail)[-2000:]}")
    if progress is not None:
        progress("dump", tables, tables)


def _run(command: list[str]) -> None:
    # Files, not pipes: a long dump must not block on a full pipe nobody reads.
    with tempfile.TemporaryFile("w+") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
        if done.returncode != 0:
            out.seek(0)
            raise BackupError(f"{Path(command[0]).name} failed ({done.returncode}): {out.read()[-2000:]}")


def create(
    owner_url: str,
    directory: Path,
    tools: Path,
    *,
    key: bytes | None = None,
    progress: Progress | None = None,
) -> Backup:
    """A dump of the database at ``owner_url`` in ``directory`` (encrypted with ``key`` if
    given), with its manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    backup_id = now.strftime("%Y%m%dT%H%M%S%fZ")
    dump = directory / f"saaskit-{backup_id}{DUMP_SUFFIX}"
    partial = dump.with_suffix(".partial")
    url = libpq_url(owner_url)
    with psycopg.connect(url) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()
        assert snapshot is not None
        tables = fingerprints(conn)
        revision_row = (
            conn.execute("SELECT version_num FROM alembic_version").fetchone()
            if conn.execute("SELECT to_regclass('public.alembic_version')").fetchone() != (None,)
            else None
        )
        _dump(
            [
                str(tools / "pg_dump"),
                "--format=custom",
                "--verbose",
                f"--snapshot={snapshot[0]}",
                f"--file={partial}",
                f"--dbname={url}",
            ],
            len(tables),
            progress,
        )
        version = conn.info.server_version
        conn.rollback()
    if key is not None:
        crypto.encrypt_file(partial, dump.with_name(dump.name + crypto.SUFFIX), key)
        partial.unlink()
        dump = dump.with_name(dump.name + crypto.SUFFIX)
    else:
        partial.rename(dump)
    backup = Backup(
        id=backup_id,
        created_at=now.isoformat(),
        database=database_name(owner_url),
        server_version=version,
        revision=str(revision_row[0]) if revision_row else None,
        size_bytes=dump.stat().st_size,
        sha256=_sha256(dump),
        tables=tables,
        encrypted_with=crypto.key_id(key) if key is not None else None,
    )
    (directory / backup.manifest).write_text(backup.to_json())
    return backup


def list_backups(directory: Path) -> list[Backup]:
    """The backups in ``directory``, newest first (those whose manifest reads)."""
    found = []
    for manifest in sorted(directory.glob(f"saaskit-*{MANIFEST_SUFFIX}"), reverse=True):
        try:
            found.append(Backup.from_json(manifest.read_text()))
        except (ValueError, TypeError):
            continue
    return found


def find(directory: Path, backup_id: str | None) -> Backup:
    backups = list_backups(directory)
    if not backups:
        raise BackupError(f"no backup in {directory}")
    if backup_id is None:
        return backups[0]
    for backup in backups:
        if backup.id == backup_id:
            return backup
    raise BackupError(f"no backup {backup_id} in {directory}")


def restore(
    backup: Backup,
    directory: Path,
    server_url: str,
    database: str,
    tools: Path,
    *,
    replace: bool = False,
    key: bytes | None = None,
) -> RestoreReport:
    """Restore ``backup`` (its file in ``directory``) into ``database`` on the server of
    ``server_url`` (a role that may create databases), then compare every table with the
    manifest. An encrypted backup needs its ``key``: a wrong or missing one is refused before
    anything is created."""
    dump = directory / backup.file
    if not dump.exists():
        raise BackupError(f"the dump {dump.name} is missing")
    if _sha256(dump) != backup.sha256:
        raise BackupError(f"{dump.name} does not match its manifest's SHA-256: the file is damaged")
    if backup.encrypted_with is None:
        return _restore_plain(backup, dump, server_url, database, tools, replace=replace)
    if key is None:
        raise BackupError(
            f"{dump.name} is encrypted (key {backup.encrypted_with}): set SAASKIT_BACKUP_ENCRYPTION_KEY "
            "or SAASKIT_BACKUP_ENCRYPTION_KEY_FILE to that key"
        )
    with tempfile.TemporaryDirectory(dir=directory, prefix=".restore-") as scratch:
        plain = Path(scratch) / f"saaskit-{backup.id}{DUMP_SUFFIX}"
        try:
            crypto.decrypt_file(dump, plain, key)
        except crypto.CryptoError as error:
            raise BackupError(str(error)) from None
        return _restore_plain(backup, plain, server_url, database, tools, replace=replace)


def _restore_plain(
    backup: Backup, dump: Path, server_url: str, database: str, tools: Path, *, replace: bool
) -> RestoreReport:
    admin_url = libpq_url(with_database(server_url, "postgres"))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if exists and not replace:
            raise BackupError(
                f"the database {database} exists: restore into a new one, or pass --replace to drop it "
                "(its data is lost)"
            )
        if exists:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(database)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    target = libpq_url(with_database(server_url, database))
    _run(
        [
            str(tools / "pg_restore"),
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={target}",
            str(dump),
        ]
    )
    with psycopg.connect(target) as conn:
        restored = fingerprints(conn)
    mismatches = [
        f"{name}: {expected} in the backup, {restored.get(name)} restored"
        for name, expected in backup.tables.items()
        if restored.get(name) != expected
    ] + [f"{name}: not in the backup" for name in restored if name not in backup.tables]
    return RestoreReport(
        backup_id=backup.id,
        database=database,
        tables=len(restored),
        rows=sum(int(t["rows"]) for t in restored.values()),
        mismatches=mismatches,
    )


def prune(directory: Path, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` backups; the ids deleted."""
    deleted = []
    for backup in list_backups(directory)[keep:]:
        for name in (backup.file, backup.manifest):
            (directory / name).unlink(missing_ok=True)
        deleted.append(backup.id)
    return deleted
