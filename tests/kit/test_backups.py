"""Backups (system/backups.py) on the real server: a dump taken while rows are being written
describes one consistent moment (its manifest's counts are the dump's), a restore into a new
database gives identical rows and checksums in every table, a damaged dump or an existing
database is refused, and old backups are pruned."""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

import psycopg
import pytest

from saaskit.kit.db import database_name, libpq_url, with_database
from saaskit.kit.embedded import EmbeddedPostgres
from saaskit.system import backups
from tests.conftest import DbUnderTest


def _tools() -> Path:
    return EmbeddedPostgres(Path("/nonexistent")).tool("pg_dump").parent


@pytest.fixture
def source(migrated_db: DbUnderTest) -> str:
    """A database of its own (a copy of the migrated template) with some rows, as the owner."""
    name = f"saaskit_backup_{secrets.token_hex(4)}"
    admin = libpq_url(with_database(migrated_db.server_url, "postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_db.template}" STRATEGY FILE_COPY')
    url = with_database(migrated_db.server_url, name)
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute(
            "INSERT INTO users (email) SELECT 'b' || g || '-zoë@example.com' FROM generate_series(1, 300) g"
        )
        conn.execute(
            "INSERT INTO system_settings (key, value) VALUES ('backup.test', '{\"nested\": [1, \"two\", null]}')"
        )
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'DROP DATABASE IF EXISTS "{name}_restored" WITH (FORCE)')


def test_backup_and_restore_give_identical_tables(
    source: str, tmp_path: Path, migrated_db: DbUnderTest
) -> None:
    # Writes go on while the backup runs: the manifest and the dump still agree.
    stop = threading.Event()

    def write() -> None:
        with psycopg.connect(libpq_url(source), autocommit=True) as conn:
            n = 0
            while not stop.is_set():
                n += 1
                conn.execute(
                    "INSERT INTO users (email) VALUES (%s)",
                    (f"during-{n}-{secrets.token_hex(3)}@example.com",),
                )

    writer = threading.Thread(target=write)
    writer.start()
    try:
        backup = backups.create(source, tmp_path, _tools())
    finally:
        stop.set()
        writer.join()
    assert backup.tables["public.users"]["rows"] >= 300 and backup.revision is not None
    assert (tmp_path / f"saaskit-{backup.id}.dump").stat().st_size == backup.size_bytes
    assert [b.id for b in backups.list_backups(tmp_path)] == [backup.id]

    target = f"{database_name(source)}_restored"
    report = backups.restore(backup, tmp_path, migrated_db.server_url, target, _tools())
    assert report.ok, report.mismatches
    assert report.tables == len(backup.tables) and report.rows == backup.rows
    # Rows written after the backup are not in it, and the restored copy is a working database.
    with psycopg.connect(libpq_url(with_database(migrated_db.server_url, target))) as conn:
        assert conn.execute("SELECT value FROM system_settings WHERE key = 'backup.test'").fetchone() == (
            {"nested": [1, "two", None]},
        )
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (
            backup.tables["public.users"]["rows"],
        )

    # An existing database is not overwritten unless asked; --replace restores again.
    with pytest.raises(backups.BackupError, match="exists"):
        backups.restore(backup, tmp_path, migrated_db.server_url, target, _tools())
    assert backups.restore(backup, tmp_path, migrated_db.server_url, target, _tools(), replace=True).ok


def test_a_damaged_dump_is_refused_and_old_backups_pruned(
    source: str, tmp_path: Path, migrated_db: DbUnderTest
) -> None:
    first = backups.create(source, tmp_path, _tools())
    second = backups.create(source, tmp_path, _tools())
    assert [b.id for b in backups.list_backups(tmp_path)] == [second.id, first.id]
    assert backups.find(tmp_path, None).id == second.id
    dump = tmp_path / f"saaskit-{first.id}.dump"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    with pytest.raises(backups.BackupError, match="damaged"):
        backups.restore(first, tmp_path, migrated_db.server_url, "saaskit_never_made", _tools())
    with pytest.raises(backups.BackupError, match="no backup nope"):
        backups.find(tmp_path, "nope")
    assert backups.prune(tmp_path, keep=1) == [first.id]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"saaskit-{second.id}.dump", f"saaskit-{second.id}.json"]
    )
