"""The restore test on a server of its own (system/scratch_server.py): the newest backup is
restored into a new cluster made with the embedded binaries, compared with its manifest, and the
cluster stopped and deleted; the live server never gets a scratch database. A manifest the
restored tables do not match is reported as such. An external server's test stays a scratch
database on that server."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import psutil
import psycopg

from saaskit.config import DatabaseSettings
from saaskit.kit.db import libpq_url
from saaskit.system import backup_runs, scratch_server
from tests.conftest import APP_ROLE, DbUnderTest, make_settings
from tests.system.conftest import backup_settings, pg_tools


def _one(url: str, query: str) -> object:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[arg-type]
    return row[0] if row else None


def _databases(db: DbUnderTest) -> list[str]:
    with psycopg.connect(libpq_url(db.owner_url)) as conn:
        return sorted(str(r[0]) for r in conn.execute("SELECT datname FROM pg_database"))


def _leftovers() -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob("saaskit-restore-test-server-*"))


def test_the_scratch_server_is_another_cluster_removed_afterwards(fresh_database: DbUnderTest) -> None:
    assert scratch_server.available()
    live_id = _one(fresh_database.owner_url, "SELECT system_identifier FROM pg_control_system()")
    before = _leftovers()
    with scratch_server.scratch_server(fresh_database.owner_url) as server:
        url = server.url("postgres")
        assert _one(url, "SELECT system_identifier FROM pg_control_system()") != live_id
        # The roles the dump grants to exist there, without login.
        assert _one(url, f"SELECT NOT rolcanlogin FROM pg_roles WHERE rolname = '{APP_ROLE}'") is True
        pid = server.pid
        assert pid is not None
        root = server.data_dir
    assert not root.exists() and not psutil.pid_exists(pid)
    assert _leftovers() == before


def test_the_restore_test_uses_a_scratch_server(fresh_database: DbUnderTest, tmp_path: Path) -> None:
    with psycopg.connect(libpq_url(fresh_database.owner_url)) as conn:
        conn.execute(
            "INSERT INTO users (email) SELECT 'r' || g || '@example.com' FROM generate_series(1, 120) g"
        )
    settings = make_settings(backup=backup_settings(tmp_path / "backups", None, None))
    made = backup_runs.make_backup(settings, fresh_database.owner_url, pg_tools())
    databases = _databases(fresh_database)

    test = backup_runs.restore_test(settings, fresh_database.owner_url, pg_tools())
    assert test.into == "scratch server" and test.backup_id == made.backup.id
    assert test.report.ok and test.report.rows == made.backup.rows and test.report.rows >= 120
    assert _databases(fresh_database) == databases  # nothing made on the live server
    assert _leftovers() == []

    # A manifest the restored tables do not match: the comparison on the scratch server says so.
    manifest = tmp_path / "backups" / made.backup.manifest
    data = json.loads(manifest.read_text())
    data["tables"]["public.users"]["rows"] += 1
    manifest.write_text(json.dumps(data))
    wrong = backup_runs.restore_test(settings, fresh_database.owner_url, pg_tools())
    assert wrong.into == "scratch server" and not wrong.report.ok
    assert any(m.startswith("public.users:") for m in wrong.report.mismatches)

    # An external server: a scratch database on it, dropped afterwards.
    external = make_settings(
        backup=settings.backup, database=DatabaseSettings(url=fresh_database.owner_url, app_role=APP_ROLE)
    )
    on_live = backup_runs.restore_test(external, fresh_database.owner_url, pg_tools())
    assert on_live.into == "scratch database" and on_live.report.rows == test.report.rows
    assert _databases(fresh_database) == databases
