"""Read replicas for analytics: ``SAASKIT_DATABASE_REPLICA_URLS``.

Analytics reads (the statistics, KPIs, daily metrics, geography and retention of the insights
API, the admin's analytics page) take their session from ``read_session``: a transaction on a
streaming replica whose replay lag is at most ``replica_max_lag_seconds``, else the request's own
session on the primary. Writes, and every read that must see what the request (or the caller's
previous request) wrote, use ``DbSession`` (the primary) and never come here: the analytics
dependencies resolve the caller's access and audit on the primary first, then open the read
session with the same row-level-security context.

The lag is measured on the replica itself at the start of each read session (one round trip):
zero while its WAL receiver runs and has replayed all it received; otherwise the age of the last
transaction it replayed (replay paused or slow, or the primary unreachable: what it serves may be
that old). A replica that is not in recovery (promoted: split brain) is never read. A replica that
cannot be reached is skipped for ``replica_retry_seconds``: the request reads the primary, at once.

A physical replica holds the primary's roles and row-level-security policies: the application
role, its password and the service key's hash are the same, so the RLS context is set there
exactly as on the primary (``app_enter_service`` only reads).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from saaskit.config import Settings
from saaskit.kit.db import (
    app_role_password,
    caused_by_unavailability,
    create_engine,
    current_context,
    set_context,
    with_credentials,
)

logger = logging.getLogger(__name__)

# Seconds the replica may be serving stale data: 0 when its receiver runs and it has replayed all
# it received; else the age of the last replayed transaction. Not a standby: NULL.
LAG_SQL = text("""
SELECT CASE
  WHEN NOT pg_is_in_recovery() THEN NULL
  WHEN EXISTS (SELECT 1 FROM pg_stat_wal_receiver)
       AND pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0.0
  ELSE coalesce(EXTRACT(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8, 1e9)
END
""")


@dataclass
class Replica:
    name: str  # host and port, for logs: never the credentials
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    down_until: float = 0.0
    last_lag: float | None = None
    reads: int = 0  # read sessions served


@dataclass
class Replicas:
    """The configured replicas and the routing rule (see the module's doc)."""

    members: list[Replica]
    max_lag_seconds: float
    retry_seconds: float
    primary_reads: int = 0  # read sessions that fell back to the primary
    _turn: itertools.count[int] = field(default_factory=itertools.count)

    def candidates(self) -> list[Replica]:
        """The replicas not known to be down, starting with the next in turn (round robin)."""
        now = time.monotonic()
        up = [r for r in self.members if r.down_until <= now]
        if not up:
            return []
        start = next(self._turn) % len(up)
        return up[start:] + up[:start]

    def mark_down(self, replica: Replica, reason: object) -> None:
        replica.down_until = time.monotonic() + self.retry_seconds
        logger.warning(
            "read replica %s unusable (%s): analytics read the primary for %.0f s",
            replica.name,
            reason,
            self.retry_seconds,
        )

    async def _open(self, replica: Replica) -> AsyncSession | None:
        """A session on ``replica`` if it is a standby within the lag threshold, else None."""
        session = replica.sessionmaker()
        try:
            lag = (await session.execute(LAG_SQL)).scalar_one()
        except Exception as exc:  # down, refusing, timing out, missing role: read the primary
            await _close(session)
            self.mark_down(replica, type(exc).__name__)
            with contextlib.suppress(Exception):
                await replica.engine.dispose(close=False)  # its other pooled connections died too
            return None
        replica.last_lag = None if lag is None else float(lag)
        if lag is None:
            await _close(session)
            self.mark_down(replica, "not in recovery: promoted?")
            return None
        if float(lag) > self.max_lag_seconds:
            await _close(session)
            logger.info("read replica %s is %.1f s behind: reading the primary", replica.name, lag)
            return None
        return session

    @asynccontextmanager
    async def read_session(self, primary: AsyncSession) -> AsyncIterator[AsyncSession]:
        """A read-only unit of work with ``primary``'s RLS context: on a replica within the lag
        threshold, else ``primary`` itself."""
        for replica in self.candidates():
            session = await self._open(replica)
            if session is None:
                continue
            try:
                await set_context(session, current_context(primary))
                replica.reads += 1
                yield session
            except BaseException as exc:
                if caused_by_unavailability(exc):
                    self.mark_down(replica, type(exc).__name__)
                raise
            finally:
                await _close(session)  # rolls back: nothing is written on a replica
            return
        self.primary_reads += 1
        yield primary

    async def dispose(self) -> None:
        for replica in self.members:
            await replica.engine.dispose()


@asynccontextmanager
async def read_session_for(replicas: Replicas | None, primary: AsyncSession) -> AsyncIterator[AsyncSession]:
    """``Replicas.read_session``, or ``primary`` itself when no replica is configured."""
    if replicas is None:
        yield primary
        return
    async with replicas.read_session(primary) as session:
        yield session


async def _close(session: AsyncSession) -> None:
    with contextlib.suppress(Exception):  # a dead connection: nothing to roll back
        await session.close()


def replica_app_url(settings: Settings, url: str, secret: str) -> str:
    """A replica's URL as the application role: its credentials are the primary's."""
    if settings.database.app_url:
        return url
    return with_credentials(url, settings.database.app_role, app_role_password(settings, secret))


def replicas_for(settings: Settings, secret: str) -> Replicas | None:
    """The replicas ``settings`` configure, or None. Engines connect on first use."""
    database = settings.database
    if not database.replica_urls:
        return None
    members = []
    for url in database.replica_urls:
        engine = create_engine(
            replica_app_url(settings, url, secret),
            pool_size=max(2, database.pool_size // 2),
            max_overflow=database.max_overflow,
            connect_timeout=min(database.connect_timeout_seconds, 2.0),
            pool_timeout=database.pool_timeout_seconds,
        )
        members.append(Replica(_display(url), engine, async_sessionmaker(engine, expire_on_commit=False)))
    return Replicas(
        members,
        max_lag_seconds=database.replica_max_lag_seconds,
        retry_seconds=database.replica_retry_seconds,
    )


def _display(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1] or parts.query
    return f"{host}{parts.path}"
