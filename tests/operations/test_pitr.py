"""Point-in-time recovery as docs/operations.md tells it, through the CLI on the embedded server:
``saaskit db start`` (WAL archiving on), ``saaskit pitr base-backup``, writes, a moment noted,
more writes, ``saaskit restore --to-time`` into a fresh data directory; started, the restored
cluster holds exactly the rows written before that moment, and accepts writes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from saaskit.cli import app
from saaskit.config import DatabaseSettings, get_settings
from saaskit.kit.embedded import EmbeddedPostgres
from saaskit.system import pitr
from saaskit.system.pitr_tasks import scheduled_base_backup
from tests.conftest import APP_ROLE, TEST_SECRET, make_settings

runner = CliRunner()


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    get_settings.cache_clear()
    result = runner.invoke(app, list(args), env=env, catch_exceptions=False)
    get_settings.cache_clear()
    return result.exit_code, result.output


def invoke(env: dict[str, str], *args: str) -> str:
    code, output = run(env, *args)
    assert code == 0, output
    return output


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Path]]:
    """One embedded installation for the module (the tests run in order: the daily job's pruning
    comes after the restores)."""
    data = tmp_path_factory.mktemp("pitr") / "data"
    env = {
        "SAASKIT_DATA_DIR": str(data),
        "SAASKIT_SECRET_KEY": TEST_SECRET,
        "SAASKIT_DATABASE_APP_ROLE": APP_ROLE,
        "SAASKIT_LOG_LEVEL": "WARNING",
    }
    invoke(env, "db", "start")
    try:
        yield env, data
    finally:
        invoke(env, "db", "stop")


def rows(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        return [(int(r[0]), str(r[1])) for r in conn.execute("SELECT id, note FROM ledger ORDER BY id")]


def test_restore_to_a_time_brings_back_exactly_the_rows_written_before_it(
    embedded: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    env, data = embedded
    url = EmbeddedPostgres(data).url("saaskit")
    with psycopg.connect(url, autocommit=True) as conn:
        archiving = conn.execute("SELECT current_setting('archive_mode')").fetchone()
        assert archiving == ("on",)
        conn.execute("CREATE TABLE ledger (id int PRIMARY KEY, note text NOT NULL)")
        conn.execute("INSERT INTO ledger SELECT g, 'before the base backup' FROM generate_series(1, 100) g")
    assert "base backup" in invoke(env, "pitr", "base-backup")
    status = invoke(env, "pitr", "status")
    assert "archive_mode: on" in status and "newest base backup: 2" in status
    with psycopg.connect(url, autocommit=True) as conn:
        for batch in range(5):  # several commits before the moment
            start = 101 + batch * 30
            conn.execute(
                "INSERT INTO ledger SELECT g, 'first' FROM generate_series(%s::int, %s::int) g",
                (start, start + 29),
            )
        expected = rows(url)
        noted = conn.execute("SELECT clock_timestamp()").fetchone()
        assert noted is not None
        moment: datetime = noted[0]
        conn.execute("INSERT INTO ledger SELECT g, 'after' FROM generate_series(251, 400) g")
        conn.execute("UPDATE ledger SET note = 'changed after' WHERE id <= 10")
        conn.execute("DELETE FROM ledger WHERE id BETWEEN 101 AND 120")
    assert len(expected) == 250

    restored_dir = tmp_path / "restored"
    # Never over the live data directory, nor over a directory that holds a cluster.
    code, output = run(env, "restore", "--to-time", moment.isoformat(), "--into", str(data))
    assert code == 1 and "live data directory" in output
    output = invoke(env, "restore", "--to-time", moment.isoformat(), "--into", str(restored_dir))
    assert "restored base backup" in output
    code, output = run(env, "restore", "--to-time", moment.isoformat(), "--into", str(restored_dir))
    assert code == 1 and "already holds a cluster" in output
    code, output = run(env, "restore", "--to-time", "yesterday-ish", "--into", str(tmp_path / "other"))
    assert code == 1 and "--to-time" in output

    restored = EmbeddedPostgres(restored_dir)
    restored.start()
    try:
        restored_url = restored.url("saaskit")
        assert rows(restored_url) == expected
        with psycopg.connect(restored_url, autocommit=True) as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
            conn.execute("INSERT INTO ledger VALUES (1000, 'written after the restore')")
    finally:
        restored.stop()
    # The live cluster is untouched: all its rows, its later changes included.
    latest = rows(url)
    assert len(latest) == 380
    # Without --to-time: a base backup and everything archived since (the live state).
    backup_id = pitr.list_base_backups(data / "base-backups")[0].id
    invoke(env, "restore", "--base-backup", backup_id, "--into", str(tmp_path / "latest"))
    whole = EmbeddedPostgres(tmp_path / "latest")
    whole.start()
    try:
        assert rows(whole.url("saaskit")) == latest
    finally:
        whole.stop()
    # A moment past what the archive holds cannot be reached: said, not a traceback.
    code, output = run(
        env,
        "restore",
        "--to-time",
        "2999-01-01T00:00:00Z",
        "--into",
        str(tmp_path / "future"),
        "--dir",
        str(data / "base-backups"),
    )
    assert code == 1 and "recover" in output, output
    assert [b.id for b in pitr.list_base_backups(data / "base-backups")] != []


def test_the_daily_base_backup_keeps_the_newest_and_the_wal_they_need(
    embedded: tuple[dict[str, str], Path],
) -> None:
    _, data = embedded
    url = EmbeddedPostgres(data).url("saaskit")
    settings = make_settings(data_dir=data, database=DatabaseSettings(app_role=APP_ROLE, base_backup_keep=1))
    first = scheduled_base_backup(settings)
    assert first is not None
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE filler AS SELECT g FROM generate_series(1, 1000) g")
    pitr.flush_archive(url)
    second = scheduled_base_backup(settings)
    assert second is not None and second.start_wal > first.start_wal
    assert [b.id for b in pitr.list_base_backups(data / "base-backups")] == [second.id]
    archived = sorted(p.name for p in (data / "wal-archive").iterdir() if len(p.name) == 27)
    assert archived and archived[0][:24] == second.start_wal  # nothing older than it needs
    # Compressed: a segment is 16 MB in pg_wal.
    assert all(p.stat().st_size < 4_000_000 for p in (data / "wal-archive").iterdir())
    # An external server's base backups are its operator's: the job does nothing.
    external = make_settings(data_dir=data, database=DatabaseSettings(url=url, app_role=APP_ROLE))
    assert scheduled_base_backup(external) is None
