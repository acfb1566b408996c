"""Cold storage: a time partition past retention is exported to Parquet before it is dropped.

``export_partition`` runs in the dropping transaction (the retention job's, as the application
role in the service context): it fingerprints the partition's rows (count and the same
order-independent checksum as backups), streams them through a server-side cursor into a
zstd-compressed Parquet file (native Arrow types for numbers, booleans, times and text; the
PostgreSQL text form for the rest: uuid, jsonb, inet ...), checks that as many rows were written
as counted, encrypts it when a backup key is configured, stores it with its SHA-256 (the bucket,
else the local archive directory) and then its manifest. A failure raises, so the partition is
not dropped.

``restore_archive`` (``saaskit archive restore <id> --into <table>``, as the owner) fetches the
file, checks its SHA-256, decrypts, creates the new table with the archived columns, loads the
rows with COPY and compares the table's fingerprint with the manifest's.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.config import Settings
from saaskit.kit.db import libpq_url
from saaskit.system import crypto
from saaskit.system.storage import StorageError, Target, archive_target, sha256_of
from saaskit.tracking.partitions import SPECS, PartitionInfo

if TYPE_CHECKING:
    import pyarrow as pa

# pyarrow (and the numpy it loads) is imported where an archive is written or read: the job
# worker inside every API process imports this module, and importing pyarrow costs it ~50 MB.

PARQUET = ".parquet"
MANIFEST = ".json"
BATCH = 10_000


@cache
def _native() -> dict[str, pa.DataType]:
    """PostgreSQL type -> Arrow type, read natively; any other type travels as its text form."""
    import pyarrow as pa

    return {
        "smallint": pa.int16(),
        "integer": pa.int32(),
        "bigint": pa.int64(),
        "boolean": pa.bool_(),
        "real": pa.float32(),
        "double precision": pa.float64(),
        "text": pa.string(),
        "character varying": pa.string(),
        "timestamp with time zone": pa.timestamp("us", tz="UTC"),
        "timestamp without time zone": pa.timestamp("us"),
        "date": pa.date32(),
    }


COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
WHERE a.attrelid = CAST(:table AS regclass) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
"""
FINGERPRINT = """SELECT count(*), md5(coalesce(string_agg(h, '' ORDER BY h), ''))
FROM (SELECT md5(t::text) AS h FROM {} t{}) s"""


class ArchiveError(Exception):
    """An archive that could not be written, found or restored intact; the message says why."""


@dataclass
class Archive:
    id: str
    table: str
    partition: str
    starts: str
    ends: str
    rows: int
    checksum: str
    sha256: str
    size_bytes: int
    created_at: str
    columns: list[list[str]] = field(default_factory=list)  # [name, PostgreSQL type]
    encrypted_with: str | None = None

    @property
    def file(self) -> str:
        return self.id + PARQUET + (crypto.SUFFIX if self.encrypted_with else "")

    @property
    def manifest(self) -> str:
        return self.id + MANIFEST


def _base_type(pg_type: str) -> str:
    return pg_type.split("(")[0].strip()


def _arrow(pg_type: str) -> pa.DataType:
    import pyarrow as pa

    return _native().get(_base_type(pg_type), pa.string())


async def export_partition(
    session: AsyncSession, target: Target, info: PartitionInfo, key: bytes | None = None
) -> Archive:
    """Export one partition (by its parent and range) and store it in ``target``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    spec = SPECS[info.parent]
    assert info.starts is not None and info.ends is not None, "the DEFAULT partition is never archived"
    columns = [(str(r[0]), str(r[1])) for r in (await session.execute(text(COLUMNS), {"table": info.parent}))]
    where = f" WHERE {spec.column} >= %(lo)s AND {spec.column} < %(hi)s"
    bounds = {"lo": info.starts, "hi": info.ends}
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    assert isinstance(raw, psycopg.AsyncConnection)
    parent = sql.Identifier(info.parent)
    counted = await (
        await raw.execute(sql.SQL(FINGERPRINT.format("{}", where)).format(parent), bounds)
    ).fetchone()
    assert counted is not None
    rows, checksum = int(counted[0]), str(counted[1])
    schema = pa.schema(
        [pa.field(name, _arrow(pg_type)) for name, pg_type in columns],
        metadata={"saaskit.columns": json.dumps(columns), "saaskit.partition": info.name},
    )
    select = sql.SQL("SELECT {} FROM {}" + where).format(
        sql.SQL(", ").join(
            sql.Identifier(name)
            if _base_type(pg_type) in _native()
            else sql.SQL("{}::text").format(sql.Identifier(name))
            for name, pg_type in columns
        ),
        parent,
    )
    with tempfile.TemporaryDirectory(prefix="saaskit-archive-") as scratch:
        path = Path(scratch) / f"{info.name}{PARQUET}"
        written = 0
        with pq.ParquetWriter(path, schema, compression="zstd") as writer:
            async with raw.cursor(name=f"archive_{secrets.token_hex(4)}") as cursor:
                await cursor.execute(select, bounds)
                while batch := await cursor.fetchmany(BATCH):
                    arrays = [
                        pa.array([row[i] for row in batch], type=schema.field(i).type)
                        for i in range(len(columns))
                    ]
                    writer.write_batch(pa.record_batch(arrays, schema=schema))
                    written += len(batch)
        if written != rows:
            raise ArchiveError(f"{info.name}: {written} rows exported of {rows} counted")
        archive_id = f"{info.name}-{checksum[:12]}"
        stored = path
        if key is not None:
            stored = path.with_name(path.name + crypto.SUFFIX)
            await asyncio.to_thread(crypto.encrypt_file, path, stored, key)
        archive = Archive(
            id=archive_id,
            table=info.parent,
            partition=info.name,
            starts=info.starts.isoformat(),
            ends=info.ends.isoformat(),
            rows=rows,
            checksum=checksum,
            sha256=await asyncio.to_thread(sha256_of, stored),
            size_bytes=stored.stat().st_size,
            created_at=datetime.now(UTC).isoformat(),
            columns=[list(c) for c in columns],
            encrypted_with=crypto.key_id(key) if key is not None else None,
        )
        try:
            await asyncio.to_thread(target.put, stored, archive.file, archive.sha256)
            await asyncio.to_thread(target.put_text, archive.manifest, json.dumps(asdict(archive), indent=1))
        except StorageError as error:
            raise ArchiveError(str(error)) from None
    return archive


Archiver = Callable[[AsyncSession, PartitionInfo], Awaitable[object]]


def archiver(settings: Settings) -> Archiver | None:
    """What retention calls before dropping a partition (None: archival is off)."""
    if not settings.archive.enabled:
        return None
    from saaskit.system.backup_runs import encryption_key

    async def archive(session: AsyncSession, info: PartitionInfo) -> object:
        if info.starts is None:
            return None
        return await export_partition(session, archive_target(settings), info, encryption_key(settings))

    return archive


# -- listing and restoring (the CLI, as the owner) ----------------------------------------------
def list_archives(target: Target) -> list[Archive]:
    found = []
    for key in target.keys(""):
        if key.endswith(MANIFEST):
            try:
                found.append(Archive(**json.loads(target.get_text(key))))
            except (ValueError, TypeError):
                continue
    return sorted(found, key=lambda a: (a.table, a.starts))


@dataclass
class Restored:
    archive: Archive
    table: str
    rows: int
    checksum: str

    @property
    def ok(self) -> bool:
        return self.rows == self.archive.rows and self.checksum == self.archive.checksum


def restore_archive(
    target: Target, archive_id: str, owner_url: str, into: str, key: bytes | None
) -> Restored:
    """Load archive ``archive_id`` into the new table ``into`` and compare it with the manifest."""
    archive = next((a for a in list_archives(target) if a.id == archive_id), None)
    if archive is None:
        raise ArchiveError(f"no archive {archive_id} in {target.name}")
    with tempfile.TemporaryDirectory(prefix="saaskit-archive-") as scratch:
        stored = Path(scratch) / archive.file
        try:
            target.get(archive.file, stored, archive.sha256)
        except StorageError as error:
            raise ArchiveError(str(error)) from None
        path = stored
        if archive.encrypted_with:
            if key is None:
                raise ArchiveError(
                    f"{archive.id} is encrypted (key {archive.encrypted_with}): configure that key"
                )
            path = Path(scratch) / (archive.id + PARQUET)
            try:
                crypto.decrypt_file(stored, path, key)
            except crypto.CryptoError as error:
                raise ArchiveError(str(error)) from None
        import pyarrow.parquet as pq

        return _load(archive, pq.ParquetFile(path), owner_url, into)


def _load(archive: Archive, parquet: Any, owner_url: str, into: str) -> Restored:
    table = sql.Identifier(into)
    names = [sql.Identifier(name) for name, _ in archive.columns]
    with psycopg.connect(libpq_url(owner_url)) as conn:
        if conn.execute("SELECT to_regclass(%s)", (into,)).fetchone() != (None,):
            raise ArchiveError(f"the table {into} exists: restore into a new table")
        definition = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(pg_type))
            for name, pg_type in archive.columns
        )
        conn.execute(sql.SQL("CREATE TABLE {} ({})").format(table, definition))
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(table, sql.SQL(", ").join(names))
        with conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for batch in parquet.iter_batches(batch_size=BATCH):
                for row in zip(*(column.to_pylist() for column in batch.columns), strict=True):
                    copy.write_row(row)
        found = conn.execute(sql.SQL(FINGERPRINT.format("{}", "")).format(table)).fetchone()
        assert found is not None
        restored = Restored(archive, into, int(found[0]), str(found[1]))
        if not restored.ok:
            conn.rollback()
            return restored
    return restored
