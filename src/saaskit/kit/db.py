"""Engines, sessions and the row-level-security context.

Two roles reach the database (DESIGN.md, "Tenancy and security"):

- the *owner* runs migrations and owns every table;
- the *application role* (``saaskit_app``) is what ``serve`` and ``worker`` use: no superuser,
  no BYPASSRLS, not the owner, so the RLS policies apply to every query it makes.

The RLS context is three transaction-local settings: ``app.user_id``, ``app.organization_id``
and ``app.service`` (jobs and platform admins). Policies read them through the SQL functions
``app_user_id()``, ``app_organization_id()`` and ``app_is_service()`` and match nothing when
they are unset.

The service context (every tenant's rows) cannot be switched on by the application role alone,
so SQL injected into any query cannot reach it: writing ``app.service`` with ``set_config`` is
allowed but proves nothing. ``app_is_service()`` is true only when ``app.service`` holds the
*seal* that the SECURITY DEFINER function ``app_enter_service(key)`` writes: a hash of a random
per-database key that only the owner can read (``context_keys``), the backend's pid and the
transaction's start, so it can be neither computed nor reused in another transaction. And
``app_enter_service`` writes it only when given the server's *service key* (derived from the
instance secret, never stored in the database: ``migrate`` stores its SHA-256). The server sends
the key as a bind parameter of ``SET_CONTEXT_SQL``, in the same one round trip as before;
a tenant context (no service) does not call the function at all. See docs/permissions.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy import Engine, event, text
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from saaskit.config import Settings
from saaskit.kit.hashing import derived_password
from saaskit.kit.logsafe import scrub_database_error

logger = logging.getLogger(__name__)

SET_CONTEXT_SQL = text(
    "SELECT set_config('app.user_id', :user_id, true), "
    "set_config('app.organization_id', :organization_id, true), "
    "CASE WHEN :service = '' THEN set_config('app.service', '', true) ELSE app_enter_service(:service) END"
)

# The server's service key, set once per process by ``build_runtime`` (``use_service_key``).
_service_key: str | None = None


def service_key(secret: str) -> str:
    """The key that opens the service context, derived from the instance secret (``migrate``
    stores its SHA-256 in ``context_keys``; ``serve``, ``worker`` and the CLI derive it again)."""
    return derived_password(secret, "service-context")


def use_service_key(key: str) -> None:
    global _service_key
    _service_key = key


@dataclass(frozen=True)
class Context:
    user_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None
    service: bool = False

    def params(self) -> dict[str, str]:
        return {
            "user_id": str(self.user_id) if self.user_id else "",
            "organization_id": str(self.organization_id) if self.organization_id else "",
            "service": self._service_key() if self.service else "",
        }

    @staticmethod
    def _service_key() -> str:
        if not _service_key:
            raise RuntimeError("no service key: build_runtime() (or use_service_key) must run first")
        return _service_key


SERVICE = Context(service=True)


async def set_context(session: AsyncSession, context: Context) -> None:
    """Set the whole RLS context for the current transaction (unset keys are cleared)."""
    await session.execute(SET_CONTEXT_SQL, context.params())
    session.info["context"] = context


def current_context(session: AsyncSession) -> Context:
    context = session.info.get("context")
    return context if isinstance(context, Context) else Context()


def sqlalchemy_url(url: str) -> str:
    """``postgresql://`` (as users write it) -> ``postgresql+psycopg://`` (the driver we use)."""
    for prefix in ("postgresql+psycopg://", "postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url!r}")


def libpq_url(url: str) -> str:
    """The plain ``postgresql://`` form, for psql, psycopg and procrastinate."""
    return "postgresql://" + url.split("://", 1)[1]


def with_credentials(url: str, user: str, password: str | None) -> str:
    """The same server and database, reached as another role."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    auth = quote(user, safe="")
    if password:
        auth += ":" + quote(password, safe="")
    return urlunsplit((parts.scheme, f"{auth}@{host}", parts.path, parts.query, parts.fragment))


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(database), parts.query, parts.fragment))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


def app_role_password(settings: Settings, secret: str) -> str:
    """Derived from the instance secret, so ``migrate`` and ``serve`` agree without storing it."""
    return derived_password(secret, f"role:{settings.database.app_role}")


@dataclass(frozen=True)
class DatabaseUrls:
    """libpq URLs of the two roles."""

    owner: str
    app: str


def app_url_for(settings: Settings, owner_url: str, secret: str) -> str:
    if settings.database.app_url:
        return settings.database.app_url
    return with_credentials(owner_url, settings.database.app_role, app_role_password(settings, secret))


# Defaults of ``SAASKIT_DATABASE_CONNECT_TIMEOUT_SECONDS`` and ``..._POOL_TIMEOUT_SECONDS``: a
# request never waits long for a database that is not there (it gets a 503 instead).
CONNECT_TIMEOUT_SECONDS = 5.0
POOL_TIMEOUT_SECONDS = 5.0


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    pool_timeout: float = POOL_TIMEOUT_SECONDS,
) -> AsyncEngine:
    """The service's engine. Statement parameters never appear in logs or exception texts
    (``hide_parameters``), nor do the values PostgreSQL quotes in its errors (``kit.logsafe``).

    ``connect_timeout``: how long a new connection may take (libpq counts whole seconds, at
    least 2); ``pool_timeout``: how long a checkout waits for a free connection."""
    engine = create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,
        pool_recycle=1800,
        pool_timeout=pool_timeout,
        connect_args={"connect_timeout": _libpq_seconds(connect_timeout)},
        hide_parameters=True,
    )
    event.listen(engine.sync_engine, "handle_error", scrub_database_error)
    return engine


def _libpq_seconds(seconds: float) -> int:
    return max(2, math.ceil(seconds))


def create_owner_engine(url: str) -> Engine:
    """A synchronous, unpooled engine for the owner's work (migrations, role grants), with the
    same rules as ``create_engine`` for parameters and error texts."""
    engine = sa_create_engine(sqlalchemy_url(url), poolclass=NullPool, hide_parameters=True)
    event.listen(engine, "handle_error", scrub_database_error)
    return engine


class DatabaseUnavailable(Exception):
    """The database is known to be down (the embedded server is being restarted): raised before
    any attempt to reach it, and answered 503 (``kit.errors``)."""


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached (down, restarting, refusing
    connections, connection lost, no free connection in time) rather than that a statement
    failed: such errors are answered 503, not 500."""
    if isinstance(exc, DatabaseUnavailable | PoolTimeout | sa_exc.TimeoutError):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig if exc.orig is not None else exc
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        # A write on a database that only reads: a fenced old primary, or a standby (failover).
        return True
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        sqlstate = exc.sqlstate
        # No SQLSTATE: the client library's own failure (cannot connect, connection lost).
        # 08: connection exception; 57P: shutting down, crash, starting up; 53300: too many clients.
        return sqlstate is None or sqlstate.startswith(("08", "57P")) or sqlstate == "53300"
    return False


def caused_by_unavailability(exc: BaseException) -> bool:
    """``is_unavailable`` for ``exc`` or any exception it was raised from (libraries wrap)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if is_unavailable(current):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


AutocommitPool = AsyncConnectionPool[psycopg.AsyncConnection[tuple[object, ...]]]


class Database:
    """The application role's engine and session factory, and a small pool of autocommit
    connections for the hot paths that are one statement each (see ``autocommit``)."""

    # Set while the database is known to be down (``serve``'s supervisor of the embedded server):
    # units of work fail at once with ``DatabaseUnavailable`` instead of trying to connect.
    outage: str | None = None

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        autocommit_pool_size: int | None = None,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        pool_timeout: float = POOL_TIMEOUT_SECONDS,
    ) -> None:
        self.engine = engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False, autoflush=True)
        pool_size = getattr(engine.pool, "size", None)
        self._autocommit_pool_size = autocommit_pool_size or (pool_size() if callable(pool_size) else 10)
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._pool: AutocommitPool | None = None
        self._pool_lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()

    def check_available(self) -> None:
        if self.outage is not None:
            raise DatabaseUnavailable(self.outage)

    async def _autocommit_pool(self) -> AutocommitPool:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    url = libpq_url(self.engine.url.render_as_string(hide_password=False))
                    pool: AutocommitPool = AsyncConnectionPool(
                        url,
                        min_size=1,
                        max_size=self._autocommit_pool_size,
                        kwargs={
                            "autocommit": True,
                            "prepare_threshold": 0,
                            "connect_timeout": _libpq_seconds(self._connect_timeout),
                        },
                        timeout=self._pool_timeout,
                        open=False,
                    )
                    await pool.open()
                    self._pool = pool
        return self._pool

    def _discard_autocommit_pool(self, pool: AutocommitPool) -> None:
        """Drop a pool whose connections failed: its next user gets a new one at once, rather
        than waiting out the pool's reconnection backoff (which grows to minutes)."""
        if self._pool is not pool:
            return
        self._pool = None
        task = asyncio.get_running_loop().create_task(_close_quietly(pool))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[psycopg.AsyncConnection[tuple[object, ...]]]:
        """A psycopg connection in autocommit mode, for a unit of work that is ONE statement (its
        own transaction: it commits or fails whole). No SQLAlchemy, no BEGIN/COMMIT round trips:
        the heartbeat is one round trip. The statement must set its own RLS context (it starts
        with none), as ``app_heartbeat()`` does."""
        self.check_available()
        pool = await self._autocommit_pool()
        try:
            async with pool.connection() as connection:
                yield connection
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            if is_unavailable(exc):
                self._discard_autocommit_pool(pool)
            raise

    async def recover(self) -> None:
        """The database is back (after a restart): forget every pooled connection, which all
        died with the old server, then let units of work through again."""
        await self.engine.dispose(close=False)
        if self._pool is not None:
            self._discard_autocommit_pool(self._pool)
        self.outage = None

    @asynccontextmanager
    async def session(self, context: Context | None = None) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits once at the end, rolls back on error."""
        self.check_available()
        async with self.sessionmaker() as session:
            try:
                if context is not None:
                    await set_context(session, context)
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def dispose(self) -> None:
        if self._pool is not None:
            await _close_quietly(self._pool)
            self._pool = None
        for task in list(self._closing):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.engine.dispose()


async def _close_quietly(pool: AutocommitPool) -> None:
    try:
        await pool.close(timeout=2.0)
    except Exception as exc:  # a pool of dead connections: nothing left to save
        logger.debug("closing a connection pool failed: %s", exc)
