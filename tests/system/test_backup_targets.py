"""Backups in a local directory and an S3-compatible bucket (moto's server, real HTTP, real
boto3), encrypted with the configured key: made, listed from both, restored from the bucket
alone with identical tables; a wrong key, a missing key and a damaged object are refused with a
clear error; retention by count and age in both targets."""

from __future__ import annotations

import hashlib
import json
from base64 import b64encode
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from saaskit.kit.db import libpq_url, with_database
from saaskit.system import backup_runs, backups, crypto
from saaskit.system.backups import Backup, BackupError
from saaskit.system.storage import LocalTarget, S3Target, StorageError
from tests.conftest import DbUnderTest, make_settings
from tests.system.conftest import backup_settings, pg_tools, s3_client


def _fill(db: DbUnderTest) -> None:
    with psycopg.connect(libpq_url(db.owner_url)) as conn:
        conn.execute(
            "INSERT INTO users (email) SELECT 't' || g || '@example.com' FROM generate_series(1, 200) g"
        )


def _drop(db: DbUnderTest, name: str) -> None:
    with psycopg.connect(libpq_url(with_database(db.server_url, "postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_encrypted_backup_to_both_targets_restored_from_the_bucket(
    fresh_database: DbUnderTest, tmp_path: Path, s3_endpoint: str, bucket: str
) -> None:
    _fill(fresh_database)
    key = crypto.new_key()
    settings = make_settings(
        backup=backup_settings(tmp_path / "local", s3_endpoint, bucket, encryption_key=key)
    )
    steps: list[tuple[str, int, int]] = []
    made = backup_runs.make_backup(
        settings, fresh_database.owner_url, pg_tools(), lambda *step: steps.append(step)
    )
    backup = made.backup
    assert made.targets == ["local", f"s3://{bucket}"]
    assert backup.encrypted_with == crypto.key_id(crypto.parse_key(key))
    # Progress: every table dumped, then the upload.
    dumped = [s for s in steps if s[0] == "dump"]
    assert dumped[-1] == ("dump", len(backup.tables), len(backup.tables)) and len(dumped) > 10
    assert ("upload", backup.size_bytes, backup.size_bytes) in steps

    # In the bucket, under the prefix: the encrypted dump (no plain SQL in it) and the manifest.
    s3 = s3_client(s3_endpoint)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == [f"prod/backups/saaskit-{backup.id}.dump.enc", f"prod/backups/saaskit-{backup.id}.json"]
    body = s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read()
    assert body.startswith(crypto.MAGIC) and b"@example.com" not in body and b"PGDMP" not in body
    assert json.loads(s3.get_object(Bucket=bucket, Key=keys[1])["Body"].read())["sha256"] == backup.sha256

    listed = backup_runs.catalog(settings)
    assert [(x.backup.id, x.targets) for x in listed] == [(backup.id, ["local", f"s3://{bucket}"])]

    # The bucket alone (the local disk is lost): fetched, checked, decrypted, restored.
    remote_only = make_settings(backup=backup_settings(None, s3_endpoint, bucket, encryption_key=key))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    fetched, directory, source = backup_runs.fetch(remote_only, None, scratch)
    assert (fetched.id, directory, source) == (backup.id, scratch, f"s3://{bucket}")
    target = f"{fresh_database.name}_from_s3"
    try:
        report = backups.restore(
            fetched, directory, fresh_database.server_url, target, pg_tools(), key=crypto.parse_key(key)
        )
        assert report.ok, report.mismatches
        assert report.rows == backup.rows and backup.tables["public.users"]["rows"] == 200

        # A wrong key and no key are refused before anything is created.
        with pytest.raises(BackupError, match=r"wrong encryption key: .* was encrypted with key"):
            backups.restore(
                fetched,
                directory,
                fresh_database.server_url,
                "saaskit_never",
                pg_tools(),
                key=crypto.parse_key(crypto.new_key()),
            )
        with pytest.raises(BackupError, match=r"is encrypted .*SAASKIT_BACKUP_ENCRYPTION_KEY"):
            backups.restore(fetched, directory, fresh_database.server_url, "saaskit_never", pg_tools())
    finally:
        _drop(fresh_database, target)

    # A damaged object in the bucket: the download's SHA-256 check refuses it.
    s3.put_object(Bucket=bucket, Key=keys[0], Body=body[:-10] + bytes(10))
    (scratch / backup.file).unlink()
    with pytest.raises(BackupError, match="damaged"):
        backup_runs.fetch(remote_only, backup.id, scratch)
    assert not (scratch / backup.file).exists()


def test_the_upload_is_checked(s3_endpoint: str, bucket: str, tmp_path: Path) -> None:
    settings = make_settings(backup=backup_settings(None, s3_endpoint, bucket))
    target = S3Target.from_settings(settings.backup)
    file = tmp_path / "f.bin"
    file.write_bytes(b"x" * 100_000)
    target.put(file, "f.bin", hashlib.sha256(b"x" * 100_000).hexdigest())
    head = s3_client(s3_endpoint).head_object(Bucket=bucket, Key="prod/f.bin", ChecksumMode="ENABLED")
    digest = hashlib.sha256(b"x" * 100_000)
    # The bucket computed the SHA-256 of what it received; ours rides along as metadata.
    assert head["ChecksumSHA256"] == b64encode(digest.digest()).decode()
    assert head["Metadata"]["sha256"] == digest.hexdigest()
    # A file that does not match the SHA-256 it is sent with is refused.
    with pytest.raises(StorageError, match=r"the bucket's SHA-256 differs from the file's"):
        target.put(file, "g.bin", "0" * 64)
    assert not target.exists("g.bin")  # and not left behind


def _fake(target: LocalTarget | S3Target, tmp_path: Path, created: datetime) -> str:
    backup_id = created.strftime("%Y%m%dT%H%M%S%fZ")
    backup = Backup(backup_id, created.isoformat(), "db", 180000, "0043", 3, "", {})
    dump = tmp_path / backup.file
    dump.write_bytes(b"abc")
    backup.sha256 = hashlib.sha256(b"abc").hexdigest()
    target.put(dump, backup.file, backup.sha256)
    target.put_text(backup.manifest, backup.to_json())
    return backup_id


@pytest.mark.parametrize("where", ["local", "s3"])
def test_retention_by_count_and_age(where: str, tmp_path: Path, s3_endpoint: str, bucket: str) -> None:
    settings = make_settings(backup=backup_settings(None, s3_endpoint, bucket))
    target: LocalTarget | S3Target = (
        LocalTarget(tmp_path / "backups") if where == "local" else S3Target.from_settings(settings.backup)
    )
    now = datetime.now(UTC)
    ids = [_fake(target, tmp_path, now - timedelta(days=days)) for days in (40, 35, 3, 2, 1, 0)]
    # Count: the newest 4 stay.
    assert backup_runs.prune(target, keep_count=4, keep_days=0, now=now) == [ids[1], ids[0]]
    # Age: older than 2 days (12 hours later: the 3 and 2 days old ones) goes...
    assert backup_runs.prune(target, keep_count=10, keep_days=2, now=now + timedelta(hours=12)) == [
        ids[3],
        ids[2],
    ]
    remaining = sorted(k for k in target.keys("saaskit-"))
    assert remaining == sorted(f"saaskit-{i}{s}" for i in ids[4:] for s in (".dump", ".json"))
    # ...but the newest backup is never deleted for its age.
    assert backup_runs.prune(target, keep_count=10, keep_days=1, now=now + timedelta(days=30)) == [ids[4]]
    assert [b.id for b in backup_runs._manifests(target)] == [ids[5]]
