"""Failover: promote a replica, fence the old primary, refuse to run against either wrong one.

- ``promote``: ``pg_promote()`` on the replica, waiting until it accepts writes. With
  ``synchronous_standby_names`` naming it, every commit the primary acknowledged was flushed on
  the replica first, and a promotion replays all it received: nothing acknowledged is lost.
- ``fence``: on the old primary (if it can still be reached, or once it is back), every new
  session of its database becomes read-only (``default_transaction_read_only``), a marker
  (``saaskit.fenced``) says when and why, and the application role's sessions are ended.
- ``check_primary``: ``serve``, ``worker`` and ``migrate`` call it first and refuse a database
  that is in recovery (a standby) or fenced, so a saaskit still configured with the old primary
  does not write there again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from saaskit.kit.db import database_name, libpq_url

FENCE_SETTING = "saaskit.fenced"


class NotPrimary(Exception):
    """The database is a standby or has been fenced: saaskit must not write to it."""


@dataclass(frozen=True)
class Role:
    in_recovery: bool
    fenced: str | None  # the fence's reason, if fenced


def role(url: str) -> Role:
    with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT pg_is_in_recovery(), nullif(current_setting(%s, true), '')", (FENCE_SETTING,)
        ).fetchone()
    assert row is not None
    return Role(in_recovery=bool(row[0]), fenced=row[1])


def check_primary(url: str) -> None:
    """Raise ``NotPrimary`` unless ``url`` reaches a writable primary that is not fenced."""
    found = role(url)
    if found.in_recovery:
        raise NotPrimary(
            "the database is a standby (in recovery): point SAASKIT_DATABASE_URL at the primary, "
            "or promote this one first (saaskit failover promote)"
        )
    if found.fenced:
        raise NotPrimary(
            f"the database has been fenced ({found.fenced}): it is no longer the primary. Point "
            "SAASKIT_DATABASE_URL at the new primary (docs/operations.md, Failover)"
        )


def promote(url: str, timeout: float = 60.0) -> None:
    """Promote the standby at ``url`` and wait until it accepts writes."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        if row is None or not row[0]:
            raise NotPrimary("this server is not a standby: nothing to promote")
        conn.execute("SELECT pg_promote(true, %s)", (max(1, int(timeout)),))
        deadline = time.monotonic() + timeout
        while True:
            state = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if state is not None and not state[0]:
                return
            if time.monotonic() > deadline:
                raise NotPrimary(f"the standby was not promoted in {timeout:.0f} s")
            time.sleep(0.05)


def fence(url: str, reason: str, *, app_role: str) -> int:
    """Fence the database at ``url`` (its owner's URL); returns the application sessions ended."""
    database = database_name(url)
    stamp = f"{reason} at {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC"
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        # An old primary still configured for synchronous replication would wait forever for its
        # (promoted) standby to confirm these commits.
        conn.execute("SET synchronous_commit = local")
        name = sql.Identifier(database)
        conn.execute(sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(name))
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET {} = {}").format(name, sql.SQL(FENCE_SETTING), sql.Literal(stamp))
        )
        ended = conn.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND usename = %s AND pid <> pg_backend_pid()",
            (database, app_role),
        ).fetchone()
    return int(ended[0]) if ended else 0


def unfence(url: str) -> None:
    """Lift the fence (the database is the primary again, e.g. rebuilt and switched back)."""
    database = database_name(url)
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("SET synchronous_commit = local")
        name = sql.Identifier(database)
        conn.execute(sql.SQL("ALTER DATABASE {} RESET default_transaction_read_only").format(name))
        conn.execute(sql.SQL("ALTER DATABASE {} RESET {}").format(name, sql.SQL(FENCE_SETTING)))
