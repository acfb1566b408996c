"""An S3-compatible server for the backup and archive tests: moto's server mode on loopback,
reached over real HTTP by real boto3 (system/storage.py's S3Target)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from saaskit.config import BackupSettings
from saaskit.kit.embedded import EmbeddedPostgres

CREDENTIALS = {
    "s3_access_key_id": "testing",
    "s3_secret_access_key": "testing-secret",
    "s3_region": "us-east-1",
}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    """A new bucket of the test's own."""
    name = f"saaskit-test-{secrets.token_hex(4)}"
    s3_client(s3_endpoint).create_bucket(Bucket=name)
    return name


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=CREDENTIALS["s3_region"],
        aws_access_key_id=CREDENTIALS["s3_access_key_id"],
        aws_secret_access_key=CREDENTIALS["s3_secret_access_key"],
    )


def backup_settings(
    directory: Path | None, endpoint: str | None, bucket: str | None, **more: Any
) -> BackupSettings:
    values: dict[str, Any] = {"local": directory is not None, "dir": directory, **more}
    if bucket is not None:
        values.update(s3_bucket=bucket, s3_endpoint_url=endpoint, s3_prefix="prod/", **CREDENTIALS)
    return BackupSettings(**values)


def pg_tools() -> Path:
    return EmbeddedPostgres(Path("/nonexistent")).tool("pg_dump").parent
