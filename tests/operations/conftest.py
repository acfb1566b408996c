"""A primary and a streaming replica built from the embedded binaries, for the replica and
failover tests (one pair per module: the failover test ends it).

The primary is an embedded server with the schema migrated and the application role granted, as
``saaskit migrate`` leaves it. The replica is ``pg_basebackup -R`` of it, started on its own data
directory (its own socket): a hot standby streaming from the primary, named ``saaskit_replica``
(its ``cluster_name``, the name ``synchronous_standby_names`` uses). Both live under a directory
of /tmp that the servers' system user may walk (as root they run as ``embedded_postgres``, and the
replica reaches the primary's socket by its absolute path)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from saaskit.config import Settings
from saaskit.kit.db import app_role_password, libpq_url, service_key, use_service_key, with_credentials
from saaskit.kit.embedded import EmbeddedPostgres
from saaskit.kit.migrations import ensure_app_role, upgrade
from saaskit.system.pitr import _chown_tree
from tests.conftest import APP_ROLE, TEST_SECRET

DATABASE = "saaskit"
REPLICA_NAME = "saaskit_replica"


@dataclass
class Pair:
    root: Path
    primary: EmbeddedPostgres
    replica: EmbeddedPostgres

    @property
    def primary_url(self) -> str:
        return self.primary.url(DATABASE)

    @property
    def replica_url(self) -> str:
        return self.replica.url(DATABASE)

    def app_url(self, owner_url: str, settings: Settings) -> str:
        return with_credentials(owner_url, APP_ROLE, app_role_password(settings, TEST_SECRET))

    def caught_up(self, timeout: float = 20.0) -> None:
        """Wait until the replica has replayed everything the primary has written."""
        target = one(self.primary_url, "SELECT pg_current_wal_lsn()::text")
        wait_for(
            lambda: bool(one(self.replica_url, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")),
            timeout,
            "the replica to catch up",
        )


def one(url: str, query: str) -> object:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[arg-type]
    return row[0] if row else None


def wait_for(condition: object, timeout: float, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def pair(settings: Settings) -> Iterator[Pair]:
    root = Path(tempfile.mkdtemp(prefix="saaskit-ops-", dir="/tmp"))
    root.chmod(0o755)
    primary = EmbeddedPostgres(root / "primary", extra_settings={"fsync": "off"})
    replica = EmbeddedPostgres(
        root / "replica", extra_settings={"fsync": "off", "cluster_name": REPLICA_NAME}
    )
    try:
        primary.start()
        primary.ensure_database(DATABASE)
        upgrade(primary.url(DATABASE))
        ensure_app_role(
            primary.url(DATABASE),
            APP_ROLE,
            app_role_password(settings, TEST_SECRET),
            service_key=service_key(TEST_SECRET),
        )
        use_service_key(service_key(TEST_SECRET))
        # The replica: a base backup of the primary with its standby configuration (-R).
        replica.data_dir.mkdir(parents=True)
        subprocess.run(
            [
                str(primary.tool("pg_basebackup")),
                "-d",
                libpq_url(primary.url("postgres")),
                "-D",
                str(replica.pgdata),
                "-R",
                "--wal-method=stream",
                "--checkpoint=fast",
            ],
            check=True,
            capture_output=True,
        )
        replica.pgdata.chmod(0o700)
        _chown_tree(replica.pgdata)
        replica.start()
        yield Pair(root, primary, replica)
    finally:
        replica.stop(timeout=2)
        primary.stop(timeout=2)
        shutil.rmtree(root, ignore_errors=True)
