"""Point-in-time recovery from the backup bucket alone, as docs/operations.md tells it: the
embedded server with a bucket (moto's S3 server) and an encryption key configured; ``saaskit
pitr base-backup`` stores the base backup in the bucket too, ``saaskit pitr ship`` (the
every-minute job) the archived WAL; the local base backups and WAL archive are lost; ``saaskit
restore --to-time`` fetches what it needs from the bucket and brings back exactly the rows
written before the moment."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from saaskit.cli import app
from saaskit.config import DatabaseSettings, get_settings
from saaskit.kit.embedded import EmbeddedPostgres
from saaskit.system import crypto, pitr, pitr_bucket
from saaskit.system.backup_runs import describe
from saaskit.system.pitr_tasks import scheduled_wal_shipping
from saaskit.system.storage import StorageError
from tests.conftest import APP_ROLE, TEST_SECRET, make_settings
from tests.system.conftest import CREDENTIALS, backup_settings, s3_client

runner = CliRunner()


def run(env: dict[str, str], *args: str, code: int = 0) -> str:
    get_settings.cache_clear()
    result = runner.invoke(app, list(args), env=env, catch_exceptions=False)
    get_settings.cache_clear()
    assert result.exit_code == code, result.output
    return " ".join(result.output.split())


def rows(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        return [(int(r[0]), str(r[1])) for r in conn.execute("SELECT id, note FROM ledger ORDER BY id")]


def test_restore_to_a_time_from_the_bucket_alone(tmp_path: Path, s3_endpoint: str, bucket: str) -> None:
    data = tmp_path / "data"
    env = {
        "SAASKIT_DATA_DIR": str(data),
        "SAASKIT_SECRET_KEY": TEST_SECRET,
        "SAASKIT_DATABASE_APP_ROLE": APP_ROLE,
        "SAASKIT_LOG_LEVEL": "WARNING",
        "COLUMNS": "200",
        "SAASKIT_BACKUP_ENCRYPTION_KEY": crypto.new_key(),
        "SAASKIT_BACKUP_S3_BUCKET": bucket,
        "SAASKIT_BACKUP_S3_PREFIX": "prod/",
        "SAASKIT_BACKUP_S3_ENDPOINT_URL": s3_endpoint,
        "SAASKIT_BACKUP_S3_REGION": CREDENTIALS["s3_region"],
        "SAASKIT_BACKUP_S3_ACCESS_KEY_ID": CREDENTIALS["s3_access_key_id"],
        "SAASKIT_BACKUP_S3_SECRET_ACCESS_KEY": CREDENTIALS["s3_secret_access_key"],
    }
    run(env, "db", "start")
    stopped = False
    try:
        url = EmbeddedPostgres(data).url("saaskit")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE ledger (id int PRIMARY KEY, note text NOT NULL)")
            conn.execute(
                "INSERT INTO ledger SELECT g, 'before the base backup' FROM generate_series(1, 100) g"
            )
        assert "stored in s3://" in run(env, "pitr", "base-backup")
        with psycopg.connect(url, autocommit=True) as conn:
            for batch in range(3):
                start = 101 + batch * 50
                conn.execute(
                    "INSERT INTO ledger SELECT g, 'first' FROM generate_series(%s::int, %s::int) g",
                    (start, start + 49),
                )
            expected = rows(url)
            noted = conn.execute("SELECT clock_timestamp()").fetchone()
            assert noted is not None
            moment: datetime = noted[0]
            conn.execute("INSERT INTO ledger SELECT g, 'after' FROM generate_series(251, 400) g")
            conn.execute("UPDATE ledger SET note = 'changed after' WHERE id <= 10")
            conn.execute("DELETE FROM ledger WHERE id BETWEEN 101 AND 120")
        segment = run(env, "pitr", "flush").split()[-1]
        # What the every-minute job does: the segment just archived goes to the bucket.
        settings = make_settings(
            data_dir=data,
            backup=backup_settings(
                None, s3_endpoint, bucket, encryption_key=env["SAASKIT_BACKUP_ENCRYPTION_KEY"]
            ),
        )
        assert f"{segment}.gz" in scheduled_wal_shipping(settings)
        assert "0 archived WAL files uploaded" in run(env, "pitr", "ship")  # nothing left to send
        run(env, "db", "stop")
        stopped = True
    finally:
        if not stopped:
            run(env, "db", "stop")
    assert len(expected) == 250

    # What the bucket holds: the base backup (manifest last) and the WAL, all encrypted.
    listed = s3_client(s3_endpoint).list_objects_v2(Bucket=bucket, Prefix="prod/pitr/")
    keys = [str(item["Key"]) for item in listed.get("Contents", [])]
    base = [k for k in keys if k.startswith("prod/pitr/base/")]
    wal = [k for k in keys if k.startswith("prod/pitr/wal/")]
    assert sum(k.endswith("/saaskit-base.json") for k in base) == 1
    assert sum(k.endswith(".tar.gz.enc") for k in base) == 2
    assert wal and all(k.endswith(".enc") for k in wal)

    # The local copies are lost: only the bucket remains.
    shutil.rmtree(data / "base-backups")
    shutil.rmtree(data / "wal-archive")

    restored_dir = tmp_path / "restored"
    output = run(env, "restore", "--to-time", moment.isoformat(), "--into", str(restored_dir))
    assert "restored base backup" in output
    assert not list(tmp_path.glob(".restored.fetch-*"))  # the downloads are cleaned up
    restored = EmbeddedPostgres(restored_dir)
    restored.start()
    try:
        assert rows(restored.url("saaskit")) == expected
    finally:
        restored.stop()

    # Without the key, the encrypted copies cannot be used: said, not a traceback.
    no_key = {k: v for k, v in env.items() if k != "SAASKIT_BACKUP_ENCRYPTION_KEY"}
    output = run(
        no_key, "restore", "--to-time", moment.isoformat(), "--into", str(tmp_path / "nokey"), code=1
    )
    assert "encrypted" in output


def test_the_backups_tab_says_where_base_backups_and_wal_go(tmp_path: Path) -> None:
    with_bucket = make_settings(data_dir=tmp_path, backup=backup_settings(None, "http://s3.test", "ops"))
    assert describe(with_bucket)["pitr"] == [
        f"local directories {tmp_path / 'base-backups'} and {tmp_path / 'wal-archive'}",
        "s3://ops/prod/pitr/ (WAL shipped every minute)",
    ]
    external = make_settings(database=DatabaseSettings(url="postgresql://db.test/saaskit", app_role=APP_ROLE))
    assert describe(external)["pitr"] == ["the external server's operator's (docs/operations.md)"]
    assert scheduled_wal_shipping(external) == []


def test_the_bucket_keeps_the_newest_base_backups_and_the_wal_they_need(
    tmp_path: Path, s3_endpoint: str, bucket: str
) -> None:
    settings = make_settings(data_dir=tmp_path, backup=backup_settings(None, s3_endpoint, bucket))
    target = pitr_bucket.bucket(settings)
    assert target is not None
    for day, start_wal in ((1, "000000010000000000000003"), (2, "000000010000000000000007")):
        backup_id = f"2026120{day}T024700000000Z"
        made = pitr.BaseBackup(
            backup_id, f"2026-12-0{day}T02:47:00+00:00", f"2026-12-0{day}T02:47:05+00:00", start_wal, 10
        )
        source = tmp_path / backup_id
        source.mkdir()
        for name in ("base.tar.gz", "pg_wal.tar.gz"):
            (source / name).write_bytes(f"{backup_id} {name}".encode())
        assert pitr_bucket.upload_base_backup(settings, tmp_path, made)
    archive = tmp_path / "wal-archive"
    archive.mkdir()
    for number in range(2, 10):
        (archive / f"0000000100000000000000{number:02d}.gz").write_bytes(b"wal")
    (archive / "00000002.history").write_text("1\t0/3000000\tno recovery target specified\n")
    (archive / "000000010000000000000009.gz.part").write_bytes(b"half")  # being archived: not sent
    assert len(pitr_bucket.ship_wal(settings, archive)) == 9
    assert pitr_bucket.ship_wal(settings, archive) == []

    assert pitr_bucket.prune(settings, keep=1) == ["20261201T024700000000Z"]
    assert [b.id for b in pitr_bucket.remote_base_backups(target)] == ["20261202T024700000000Z"]
    assert not target.keys("base/20261201T024700000000Z/")
    assert [k.removeprefix("wal/") for k in target.keys("wal/")] == [
        "000000010000000000000007.gz",
        "000000010000000000000008.gz",
        "000000010000000000000009.gz",
        "00000002.history",
    ]
    # Fetched back for a restore from the kept one: checked against the SHA-256 stored with it.
    into = tmp_path / "fetched"
    assert pitr_bucket.fetch_wal(settings, "000000010000000000000007", None, into) == 4
    assert (into / "000000010000000000000008.gz").read_bytes() == b"wal"
    pitr_bucket.fetch_base_backup(settings, pitr_bucket.remote_base_backups(target)[0], tmp_path / "base")
    fetched = tmp_path / "base" / "20261202T024700000000Z" / "base.tar.gz"
    assert fetched.read_bytes() == b"20261202T024700000000Z base.tar.gz"
    # A damaged object (its stored SHA-256 no longer matches) is refused, not replayed.
    key = "prod/pitr/wal/000000010000000000000008.gz"
    client = s3_client(s3_endpoint)
    stored = client.head_object(Bucket=bucket, Key=key)["Metadata"]
    client.put_object(Bucket=bucket, Key=key, Body=b"WAL", Metadata=stored)
    with pytest.raises(StorageError, match="SHA-256"):
        pitr_bucket.fetch_wal(settings, "000000010000000000000007", None, tmp_path / "again")
    assert not (tmp_path / "again" / "000000010000000000000008.gz").exists()
