"""The operator's procedures of docs/operations.md, command by command, against a real database
and moto's S3 server: keygen, an encrypted backup to the local directory and the bucket with its
progress, list, restore from the bucket alone after the local copies are lost, a wrong key refused,
the restore test, and an archived month of events listed and restored into a table."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import psycopg
from typer.testing import CliRunner

from saaskit.cli import app
from saaskit.config import get_settings
from saaskit.kit.db import libpq_url, with_database
from tests.conftest import APP_ROLE, TEST_SECRET, DbUnderTest
from tests.system.conftest import CREDENTIALS, pg_tools
from tests.system.test_archive import MONTH, ROWS, _prepare

runner = CliRunner()


def run(env: dict[str, str], *args: str, code: int = 0) -> str:
    get_settings.cache_clear()
    result = runner.invoke(app, list(args), env=env, catch_exceptions=False)
    get_settings.cache_clear()
    assert result.exit_code == code, result.output
    return " ".join(result.output.split())  # as one line, however the terminal wrapped it


def test_the_backup_and_archive_procedures(
    fresh_database: DbUnderTest, tmp_path: Path, s3_endpoint: str, bucket: str
) -> None:
    key = run({}, "backup", "keygen").split()[0]
    env = {
        "SAASKIT_DATABASE_URL": fresh_database.owner_url,
        "SAASKIT_SECRET_KEY": TEST_SECRET,
        "SAASKIT_DATABASE_APP_ROLE": APP_ROLE,
        "SAASKIT_DATA_DIR": str(tmp_path / "data"),
        "SAASKIT_LOG_LEVEL": "WARNING",
        "COLUMNS": "200",
        # pg_dump of the server's version first on PATH
        "PATH": f"{pg_tools()}{os.pathsep}{os.environ['PATH']}",
        "SAASKIT_BACKUP_ENCRYPTION_KEY": key,
        "SAASKIT_BACKUP_S3_BUCKET": bucket,
        "SAASKIT_BACKUP_S3_ENDPOINT_URL": s3_endpoint,
        "SAASKIT_BACKUP_S3_REGION": CREDENTIALS["s3_region"],
        "SAASKIT_BACKUP_S3_ACCESS_KEY_ID": CREDENTIALS["s3_access_key_id"],
        "SAASKIT_BACKUP_S3_SECRET_ACCESS_KEY": CREDENTIALS["s3_secret_access_key"],
    }
    _prepare(fresh_database)

    created = run(env, "backup", "create")
    match = re.search(r"backup (\S+): \d+ tables, [\d,]+ rows", created)
    assert match, created
    backup_id = match.group(1)
    assert (
        "dumping tables" in created and f"in local, s3://{bucket}" in created and "encrypted (key" in created
    )
    listed = run(env, "backup", "list")
    assert backup_id in listed and f"s3://{bucket}" in listed

    # The local disk is lost: restore from the bucket.
    shutil.rmtree(tmp_path / "data" / "backups")
    database = f"{fresh_database.name}_cli"
    try:
        restored = run(env, "restore", "--database", database)
        assert f"into {database}: identical to the backup" in restored
        wrong = run(
            {**env, "SAASKIT_BACKUP_ENCRYPTION_KEY": run({}, "backup", "keygen").split()[0]},
            "restore",
            "--database",
            f"{database}_2",
            code=1,
        )
        assert "wrong encryption key" in wrong
        assert "exists" in run(env, "restore", "--database", database, code=1)
        assert "is the live database" in run(env, "restore", "--database", fresh_database.name, code=1)
    finally:
        with psycopg.connect(
            libpq_url(with_database(fresh_database.server_url, "postgres")), autocommit=True
        ) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    assert f"restore test of {backup_id}" in run(env, "backup", "test-restore")

    # Archival: the retention run exports the old month to the bucket before dropping it.
    run(env, "retention")
    archives = run(env, "archive", "list")
    found = re.search(rf"({MONTH}-[0-9a-f]{{12}})", archives)
    assert found, archives
    assert f"s3://{bucket}" in archives
    restored = run(env, "archive", "restore", found.group(1), "--into", "events_jan_2025")
    assert f"restored {ROWS:,} rows of {MONTH} into events_jan_2025: identical" in restored
