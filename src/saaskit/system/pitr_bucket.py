"""Base backups and the WAL archive in the backup bucket too (system/pitr.py keeps them locally).

When a bucket is configured (``SAASKIT_BACKUP_S3_*``), every base backup and every archived WAL
segment is also stored there, under ``<prefix>pitr/``, through the same ``S3Target`` as the dumps
(system/storage.py: each upload checked against its SHA-256) and encrypted with the same key
(system/crypto.py) when one is configured:

* ``pitr/base/<id>/base.tar.gz[.enc]`` and ``pg_wal.tar.gz[.enc]``, then ``saaskit-base.json``:
  the base backup's manifest with each file's SHA-256 (a manifest in the bucket means its files
  are complete there);
* ``pitr/wal/<segment>.gz[.enc]`` (and timeline ``.history`` files), shipped by the
  ``system.ship_wal`` job every minute; each object carries its SHA-256 in its metadata.

``fetch_for_restore`` brings what a restore needs back: the base backup (when it is not local)
and every archived segment from its first on, decrypted and checked, into a local directory
that ``pitr.restore`` then reads as its archive.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict
from pathlib import Path

from saaskit.config import Settings
from saaskit.system import crypto, pitr
from saaskit.system.storage import S3Target, StorageError, sha256_of

BASE = "base/"
WAL = "wal/"
_FILES = ("base.tar.gz", "pg_wal.tar.gz")


def bucket(settings: Settings) -> S3Target | None:
    """The bucket's ``pitr/`` area, or None when no bucket is configured."""
    if not settings.backup.s3_bucket:
        return None
    target = S3Target.from_settings(settings.backup)
    target.prefix += "pitr/"
    return target


def _secret(settings: Settings) -> bytes | None:
    from saaskit.system.backup_runs import encryption_key

    return encryption_key(settings)


def _wal_name(name: str) -> bool:
    return name.endswith(".history") or bool(pitr._SEGMENT.match(name))


def _put(target: S3Target, source: Path, key: str, secret: bytes | None) -> str:
    """Store ``source`` (encrypted with ``secret`` if set) under ``key``; its stored SHA-256."""
    if secret is None:
        digest = sha256_of(source)
        target.put(source, key, digest)
        return digest
    with tempfile.TemporaryDirectory(prefix="saaskit-pitr-") as scratch:
        sealed = Path(scratch) / (source.name + crypto.SUFFIX)
        crypto.encrypt_file(source, sealed, secret)
        digest = sha256_of(sealed)
        target.put(sealed, key + crypto.SUFFIX, digest)
        return digest


def _get(target: S3Target, key: str, into: Path, sha256: str | None, secret: bytes | None) -> None:
    """Download ``key`` to ``into`` checked against ``sha256`` (else the object's own), decrypted
    when it is an encrypted one."""
    if sha256 is None:
        sha256 = target.stored_sha256(key)
    if not key.endswith(crypto.SUFFIX):
        target.get(key, into, sha256)
        return
    if secret is None:
        raise StorageError(f"{target.name}:{key} is encrypted: set SAASKIT_BACKUP_ENCRYPTION_KEY")
    sealed = into.with_name(into.name + crypto.SUFFIX)
    target.get(key, sealed, sha256)
    try:
        crypto.decrypt_file(sealed, into, secret)
    except crypto.CryptoError as error:
        raise StorageError(str(error)) from None
    finally:
        sealed.unlink(missing_ok=True)


# -- upload ------------------------------------------------------------------------------------
def upload_base_backup(settings: Settings, directory: Path, backup: pitr.BaseBackup) -> bool:
    """Store a local base backup in the bucket (no-op without one, or if it is there already)."""
    target = bucket(settings)
    if target is None:
        return False
    manifest = f"{BASE}{backup.id}/{pitr.MANIFEST}"
    if target.exists(manifest):
        return True
    secret = _secret(settings)
    files = {}
    for name in _FILES:
        suffix = crypto.SUFFIX if secret is not None else ""
        files[name + suffix] = _put(target, directory / backup.id / name, f"{BASE}{backup.id}/{name}", secret)
    target.put_text(manifest, json.dumps({**asdict(backup), "files": files}, indent=2))
    return True


def ship_wal(settings: Settings, archive: Path) -> list[str]:
    """Upload the archived WAL files the bucket does not hold yet; the names shipped."""
    target = bucket(settings)
    if target is None or not archive.is_dir():
        return []
    stored = {key[len(WAL) :].removesuffix(crypto.SUFFIX) for key in target.keys(WAL)}
    secret = _secret(settings)
    shipped = []
    for path in sorted(archive.iterdir()):
        if _wal_name(path.name) and path.name not in stored:
            _put(target, path, WAL + path.name, secret)
            shipped.append(path.name)
    return shipped


def prune(settings: Settings, keep: int) -> list[str]:
    """Keep the newest ``keep`` base backups in the bucket and the WAL the oldest kept one needs."""
    target = bucket(settings)
    if target is None:
        return []
    backups = remote_base_backups(target)
    removed = []
    for old in backups[keep:]:
        target.delete(f"{BASE}{old.id}/{pitr.MANIFEST}")  # first: a listed backup is whole
        for key in target.keys(f"{BASE}{old.id}/"):
            target.delete(key)
        removed.append(old.id)
    kept = backups[:keep]
    if kept:
        oldest = min(b.start_wal for b in kept)
        for key in target.keys(WAL):
            name = key[len(WAL) :].removesuffix(crypto.SUFFIX)
            if pitr._SEGMENT.match(name) and name[8:24] < oldest[8:]:
                target.delete(key)
    return removed


# -- fetch -------------------------------------------------------------------------------------
def _manifest(target: S3Target, backup_id: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(target.get_text(f"{BASE}{backup_id}/{pitr.MANIFEST}"))
    return loaded


def remote_base_backups(target: S3Target) -> list[pitr.BaseBackup]:
    """The complete base backups in the bucket, newest first."""
    found = []
    for key in target.keys(BASE):
        if key.endswith("/" + pitr.MANIFEST):
            data = _manifest(target, key[len(BASE) :].split("/")[0])
            data.pop("files", None)
            found.append(pitr.BaseBackup(**data))  # type: ignore[arg-type]
    return sorted(found, key=lambda b: b.finished_at, reverse=True)


def fetch_base_backup(settings: Settings, backup: pitr.BaseBackup, into: Path) -> Path:
    """Download a base backup from the bucket into ``into/<id>/`` (decrypted, checked); returns
    ``into``, the directory to restore from."""
    target = bucket(settings)
    if target is None:
        raise StorageError("no bucket configured (SAASKIT_BACKUP_S3_BUCKET)")
    files = _manifest(target, backup.id).get("files")
    assert isinstance(files, dict)
    local = into / backup.id
    local.mkdir(parents=True, exist_ok=True)
    secret = _secret(settings)
    for stored, sha256 in files.items():
        name = str(stored).removesuffix(crypto.SUFFIX)
        _get(target, f"{BASE}{backup.id}/{stored}", local / name, str(sha256), secret)
    (local / pitr.MANIFEST).write_text(json.dumps(asdict(backup), indent=2))
    return into


def fetch_wal(settings: Settings, start_wal: str, local_archive: Path | None, into: Path) -> int:
    """Fill ``into`` with the archived WAL a restore from ``start_wal`` needs: the local archive's
    files, and the bucket's for what the local archive lacks. The number downloaded."""
    into.mkdir(parents=True, exist_ok=True)

    def needed(name: str) -> bool:
        return not pitr._SEGMENT.match(name) or name[8:24] >= start_wal[8:]

    if local_archive is not None and local_archive.is_dir():
        for path in local_archive.iterdir():
            if _wal_name(path.name) and needed(path.name):
                (into / path.name).write_bytes(path.read_bytes())
    target = bucket(settings)
    if target is None:
        return 0
    secret = _secret(settings)
    fetched = 0
    for key in target.keys(WAL):
        name = key[len(WAL) :].removesuffix(crypto.SUFFIX)
        if _wal_name(name) and needed(name) and not (into / name).exists():
            _get(target, key, into / name, None, secret)
            fetched += 1
    return fetched
