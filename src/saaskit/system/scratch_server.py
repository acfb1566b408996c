"""A throwaway PostgreSQL server for the restore test (system/backup_runs.py).

The restore test proves a backup restores on a server that is not the live one: a new cluster
(``initdb`` with the embedded binaries) in a temporary directory, reachable on its own Unix
socket only (no TCP port: nothing to collide with), the dump restored there and compared with its
manifest, then the server stopped and its directory deleted. The roles the dump grants to (the
application role, ...) are created first, without login, as the live server names them.

An external server's restore test stays a scratch database on that server (its extensions and
version are the operator's; the embedded binaries may lack them): docs/operations.md.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from saaskit.kit.db import libpq_url
from saaskit.kit.embedded import EmbeddedPostgres

# A scratch cluster never needs to survive a crash: its writes need not reach the disk.
_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "archive_mode": "off"}


def available() -> bool:
    """Whether the embedded binaries (initdb, postgres, pg_restore) are installed here."""
    try:
        return EmbeddedPostgres(Path(tempfile.gettempdir())).tool("initdb").exists()
    except (RuntimeError, OSError):
        return False


def _roles(source_url: str) -> list[str]:
    with psycopg.connect(libpq_url(source_url), autocommit=True) as conn:
        found = conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' AND rolname <> current_user ORDER BY 1"
        ).fetchall()
    return [str(row[0]) for row in found]


@contextmanager
def scratch_server(source_url: str) -> Iterator[EmbeddedPostgres]:
    """A started scratch server with the roles of the server at ``source_url``; stopped and
    deleted on exit, whatever happened."""
    # Under the temporary directory, walkable: as root the server runs as its own system user.
    root = Path(tempfile.mkdtemp(prefix="saaskit-restore-test-server-"))
    root.chmod(0o755)
    server = EmbeddedPostgres(root, extra_settings=dict(_SETTINGS))
    try:
        server.start()
        roles = _roles(source_url)
        with psycopg.connect(libpq_url(server.url("postgres")), autocommit=True) as conn:
            present = {str(r[0]) for r in conn.execute("SELECT rolname FROM pg_roles").fetchall()}
            for role in roles:
                if role not in present:
                    conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
        yield server
    finally:
        server.stop(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
