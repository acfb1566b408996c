"""Archival to cold storage (system/archive.py): `saaskit retention` (privacy/retention.apply)
exports a month of events past its detail retention to zstd Parquet, with its row count and
checksum, before the partition is dropped; the archive is listed and restored into a new table
with identical rows; a damaged file, an existing table and a missing key are refused. Locally,
and encrypted in moto's S3 server."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest

from saaskit.config import ArchiveSettings, Settings
from saaskit.kit.bootstrap import runtime_for
from saaskit.kit.db import SERVICE, libpq_url
from saaskit.privacy import retention
from saaskit.system import archive, crypto
from saaskit.system.storage import LocalTarget, Target, archive_target
from tests.conftest import TEST_SECRET, DbUnderTest, make_settings
from tests.system.conftest import backup_settings, s3_client

MONTH = "events_y2025m01"
ROWS = 2500


def _prepare(db: DbUnderTest) -> list[str]:
    """A month of events long past detail retention, rolled up; the rows' text forms."""
    with psycopg.connect(libpq_url(db.owner_url)) as conn:
        conn.execute(f"SELECT app_ensure_partition('events', '{MONTH}', '2025-01-01Z', '2025-02-01Z')")
        conn.execute(
            """
            INSERT INTO events (timestamp, distinct_id, session_id, event_name, properties, utm_source,
                                country_code, created_at)
            SELECT '2025-01-01Z'::timestamptz + g * interval '17 minutes 3.000123 seconds',
                   'person-' || (g %% 97) || E' "quoted"\\ttab', CASE WHEN g %% 3 = 0 THEN NULL ELSE 's' || g END,
                   CASE WHEN g %% 2 = 0 THEN '$pageview' ELSE 'zoë signed up' END,
                   jsonb_build_object('n', g, 'price', g * 1.25, 'nested', jsonb_build_array(g, 'two', NULL),
                                      'big', 12345678901234567890.5),
                   CASE WHEN g %% 5 = 0 THEN 'news' END, 'NL', now()
            FROM generate_series(1, %s) g
            """,
            (ROWS,),
        )
        conn.execute(
            "INSERT INTO rollup_watermarks (name, rolled_through) VALUES ('monthly', '2025-06-01Z'), "
            "('activity_daily', '2025-06-01Z') ON CONFLICT (name) DO UPDATE SET rolled_through = excluded.rolled_through"
        )
        rows = conn.execute(
            "SELECT t::text FROM events t WHERE timestamp >= '2025-01-01Z' AND timestamp < '2025-02-01Z'"
        ).fetchall()
    return sorted(str(r[0]) for r in rows)


async def _apply_retention(db: DbUnderTest, settings: Settings) -> list[retention.Item]:
    runtime = runtime_for(settings, db.app_url(settings), TEST_SECRET, pool_size=1)
    try:
        async with runtime.db.session(SERVICE) as session:
            return await retention.apply(session, settings, datetime(2026, 1, 15, tzinfo=UTC))
    finally:
        await runtime.db.dispose()


def _partition_exists(db: DbUnderTest) -> bool:
    with psycopg.connect(libpq_url(db.owner_url)) as conn:
        return conn.execute(f"SELECT to_regclass('{MONTH}')").fetchone() != (None,)


def _restored_rows(db: DbUnderTest, table: str) -> list[str]:
    with psycopg.connect(libpq_url(db.owner_url)) as conn:
        return sorted(str(r[0]) for r in conn.execute(f"SELECT t::text FROM {table} t").fetchall())


def _one(target: Target) -> archive.Archive:
    archives = [a for a in archive.list_archives(target) if a.partition == MONTH]
    assert len(archives) == 1, archives
    return archives[0]


async def test_a_partition_is_archived_before_it_is_dropped_and_restores(
    fresh_database: DbUnderTest, tmp_path: Path
) -> None:
    db = fresh_database
    original = _prepare(db)
    settings = make_settings(archive=ArchiveSettings(enabled=True, dir=tmp_path / "archive"))
    done = await _apply_retention(db, settings)
    assert any(item.removes == MONTH for item in done)
    assert not _partition_exists(db)

    target = archive_target(settings)
    assert isinstance(target, LocalTarget)
    found = _one(target)
    assert (found.table, found.rows, found.starts[:10], found.ends[:10]) == (
        "events",
        ROWS,
        "2025-01-01",
        "2025-02-01",
    )
    parquet = pq.ParquetFile(tmp_path / "archive" / found.file)
    assert parquet.metadata.num_rows == ROWS
    assert parquet.metadata.row_group(0).column(0).compression == "ZSTD"
    assert str(parquet.schema_arrow.field("timestamp").type) == "timestamp[us, tz=UTC]"

    restored = archive.restore_archive(target, found.id, db.owner_url, "events_2025_01", None)
    assert restored.ok and restored.rows == ROWS
    assert _restored_rows(db, "events_2025_01") == original

    with pytest.raises(archive.ArchiveError, match="exists: restore into a new table"):
        archive.restore_archive(target, found.id, db.owner_url, "events_2025_01", None)
    with pytest.raises(archive.ArchiveError, match="no archive nope"):
        archive.restore_archive(target, "nope", db.owner_url, "x", None)
    data = bytearray((tmp_path / "archive" / found.file).read_bytes())
    data[100] ^= 0xFF
    (tmp_path / "archive" / found.file).write_bytes(bytes(data))
    with pytest.raises(archive.ArchiveError, match="damaged"):
        archive.restore_archive(target, found.id, db.owner_url, "events_never", None)


async def test_encrypted_archives_in_the_bucket(
    fresh_database: DbUnderTest, tmp_path: Path, s3_endpoint: str, bucket: str
) -> None:
    db = fresh_database
    original = _prepare(db)
    key = crypto.new_key()
    settings = make_settings(
        archive=ArchiveSettings(enabled=True),
        backup=backup_settings(tmp_path / "backups", s3_endpoint, bucket, encryption_key=key),
    )
    await _apply_retention(db, settings)
    assert not _partition_exists(db)
    target = archive_target(settings)
    found = _one(target)
    assert found.encrypted_with == crypto.key_id(crypto.parse_key(key))
    keys = {o["Key"] for o in s3_client(s3_endpoint).list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {f"prod/archive/{found.id}.parquet.enc", f"prod/archive/{found.id}.json"}

    with pytest.raises(archive.ArchiveError, match="is encrypted"):
        archive.restore_archive(target, found.id, db.owner_url, "events_never", None)
    with pytest.raises(archive.ArchiveError, match="wrong encryption key"):
        archive.restore_archive(
            target, found.id, db.owner_url, "events_never", crypto.parse_key(crypto.new_key())
        )
    restored = archive.restore_archive(target, found.id, db.owner_url, "events_back", crypto.parse_key(key))
    assert restored.ok and _restored_rows(db, "events_back") == original


async def test_a_failed_export_keeps_the_partition(
    fresh_database: DbUnderTest, tmp_path: Path, s3_endpoint: str
) -> None:
    """The hourly partition job's path (partitions.drop_expired with the archiver): the bucket
    does not exist, so the export fails and the partition is not dropped."""
    from saaskit.tracking import partitions

    db = fresh_database
    _prepare(db)
    settings = make_settings(
        archive=ArchiveSettings(enabled=True),
        backup=backup_settings(tmp_path / "backups", s3_endpoint, "no-such-bucket"),
    )
    runtime = runtime_for(settings, db.app_url(settings), TEST_SECRET, pool_size=1)
    try:
        with pytest.raises(archive.ArchiveError, match=r"upload of .* failed"):
            async with runtime.db.session(SERVICE) as session:
                await partitions.drop_expired(
                    session, datetime(2026, 1, 15, tzinfo=UTC), before_drop=archive.archiver(settings)
                )
    finally:
        await runtime.db.dispose()
    assert _partition_exists(db)
