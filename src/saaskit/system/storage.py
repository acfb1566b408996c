"""Where backups and archives are kept: a local directory and/or an S3-compatible bucket.

A target stores files under keys (``backups/saaskit-<id>.dump``); every file is stored with its
SHA-256, checked after the upload (the bucket's own SHA-256 of what it received, and the size)
and again after every download: a file that does not match is refused, never used.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from saaskit.config import BackupSettings, Settings
from saaskit.system.backups import BackupError


class StorageError(BackupError):
    """A file that could not be stored or fetched intact; the message says why."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


Sent = Callable[[int], None]  # told each chunk's size as an upload goes


class Target(Protocol):
    name: str

    def put(self, source: Path, key: str, sha256: str, progress: Sent | None = None) -> None: ...
    def get(self, key: str, target: Path, sha256: str | None) -> None: ...
    def put_text(self, key: str, text: str) -> None: ...
    def get_text(self, key: str) -> str: ...
    def keys(self, prefix: str) -> list[str]: ...
    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...


def _check(path: Path, sha256: str | None, what: str) -> None:
    if sha256 is not None and sha256_of(path) != sha256:
        path.unlink(missing_ok=True)
        raise StorageError(f"{what} does not match its SHA-256: the file is damaged")


@dataclass
class LocalTarget:
    root: Path
    name: str = "local"

    def _path(self, key: str) -> Path:
        return self.root / key

    def put(self, source: Path, key: str, sha256: str, progress: Sent | None = None) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        if source.resolve() != path.resolve():
            partial = path.with_name(path.name + ".partial")
            shutil.copyfile(source, partial)
            partial.rename(path)
        _check(path, sha256, f"{self.name}:{key}")

    def get(self, key: str, target: Path, sha256: str | None) -> None:
        path = self._path(key)
        if not path.exists():
            raise StorageError(f"{self.name}:{key} is missing")
        if path.resolve() != target.resolve():
            shutil.copyfile(path, target)
        _check(target, sha256, f"{self.name}:{key}")

    def put_text(self, key: str, text: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def get_text(self, key: str) -> str:
        return self._path(key).read_text()

    def keys(self, prefix: str) -> list[str]:
        if not self.root.is_dir():
            return []
        found = (str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file())
        return sorted(key for key in found if key.startswith(prefix) and not key.endswith(".partial"))

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).exists()


class S3Target:
    """A bucket (and key prefix) of any S3-compatible store, through boto3."""

    def __init__(self, client: Any, bucket: str, prefix: str, name: str = "s3") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.name = name

    @classmethod
    def from_settings(cls, backup: BackupSettings) -> S3Target:
        import boto3
        from botocore.config import Config

        assert backup.s3_bucket
        client = boto3.client(
            "s3",
            endpoint_url=backup.s3_endpoint_url,
            region_name=backup.s3_region,
            aws_access_key_id=backup.s3_access_key_id,
            aws_secret_access_key=(
                backup.s3_secret_access_key.get_secret_value() if backup.s3_secret_access_key else None
            ),
            config=Config(retries={"max_attempts": 5, "mode": "standard"}),
        )
        return cls(client, backup.s3_bucket, backup.s3_prefix, name=f"s3://{backup.s3_bucket}")

    def _key(self, key: str) -> str:
        return self.prefix + key

    def put(self, source: Path, key: str, sha256: str, progress: Sent | None = None) -> None:
        """Upload ``source``; ``progress`` is told the bytes sent as they go."""
        from base64 import b64encode

        size = source.stat().st_size
        try:
            # The bucket computes the SHA-256 of what it receives and refuses a body that does
            # not match the one sent (a multipart upload: of each part).
            self.client.upload_file(
                str(source),
                self.bucket,
                self._key(key),
                ExtraArgs={"ChecksumAlgorithm": "SHA256", "Metadata": {"sha256": sha256}},
                Callback=progress,
            )
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key), ChecksumMode="ENABLED")
        except Exception as error:  # botocore's errors: network, credentials, the bucket
            raise StorageError(f"upload of {key} to {self.name} failed: {error}") from None
        whole = b64encode(bytes.fromhex(sha256)).decode()
        stored = head.get("ChecksumSHA256")
        problem = None
        if head.get("ContentLength") != size or head.get("Metadata", {}).get("sha256") != sha256:
            problem = "does not match what was sent"
        elif stored and "-" not in stored and stored != whole:
            problem = "the bucket's SHA-256 differs from the file's"
        if problem is not None:
            self.delete(key)
            raise StorageError(f"{self.name}:{key}: {problem}")

    def get(self, key: str, target: Path, sha256: str | None) -> None:
        try:
            self.client.download_file(self.bucket, self._key(key), str(target))
        except Exception as error:
            raise StorageError(f"download of {key} from {self.name} failed: {error}") from None
        _check(target, sha256, f"{self.name}:{key}")

    def put_text(self, key: str, text: str) -> None:
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=text.encode(), ChecksumAlgorithm="SHA256"
            )
        except Exception as error:
            raise StorageError(f"upload of {key} to {self.name} failed: {error}") from None

    def stored_sha256(self, key: str) -> str:
        """The SHA-256 an object was stored with (``put``'s metadata)."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as error:
            raise StorageError(f"{self.name}:{key}: {error}") from None
        digest = head.get("Metadata", {}).get("sha256")
        if not digest:
            raise StorageError(f"{self.name}:{key} has no SHA-256: not stored by saaskit")
        return str(digest)

    def get_text(self, key: str) -> str:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except Exception as error:
            raise StorageError(f"download of {key} from {self.name} failed: {error}") from None
        return bytes(body).decode()

    def keys(self, prefix: str) -> list[str]:
        found: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
                found.extend(str(item["Key"])[len(self.prefix) :] for item in page.get("Contents", []))
        except Exception as error:
            raise StorageError(f"listing {self.name} failed: {error}") from None
        return sorted(found)

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as error:
            raise StorageError(f"deleting {key} from {self.name} failed: {error}") from None

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except Exception:
            return False
        return True


def backup_dir(settings: Settings) -> Path:
    return settings.backup.dir or Path(settings.data_dir) / "backups"


def backup_targets(settings: Settings) -> list[Target]:
    """The configured targets, local first: restores read the nearest copy."""
    targets: list[Target] = []
    if settings.backup.local:
        targets.append(LocalTarget(backup_dir(settings)))
    if settings.backup.s3_bucket:
        bucket = S3Target.from_settings(settings.backup)
        bucket.prefix += "backups/"
        targets.append(bucket)
    if not targets:
        raise StorageError("no backup target: set SAASKIT_BACKUP_LOCAL=true or SAASKIT_BACKUP_S3_BUCKET")
    return targets


def archive_target(settings: Settings) -> Target:
    """Archives go to the bucket (under ``archive/``) when one is set, else the local directory."""
    if settings.backup.s3_bucket and settings.archive.to_bucket:
        bucket = S3Target.from_settings(settings.backup)
        bucket.prefix += "archive/"
        return bucket
    return LocalTarget(settings.archive.dir or Path(settings.data_dir) / "archive", name="archive")
