"""Test harness: a real PostgreSQL, migrated once per run.

- Server: ``SAASKIT_TEST_DATABASE_URL`` (any PostgreSQL >= 15 we may create databases on), else
  an embedded server started once for the run in a temporary directory.
- A database ``saaskit_test_<random>`` is created and migrated once as the owner, with the
  application role granted, exactly as ``saaskit migrate`` does.
- ``session``/``client`` tests run inside one transaction on an application-role connection
  that is rolled back at the end, so tests never see each other's rows. Requests made through
  ``client`` use that connection with savepoints (their commits release a savepoint), the
  one-statement hot paths (``runtime.db.autocommit()``) included.
- Tests that need committed data across connections (concurrency, a live server) use
  ``fresh_database``: a new database cloned from the migrated one.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from saaskit.app import create_app
from saaskit.config import ArchiveSettings, AuthSettings, DatabaseSettings, RateLimitSettings, Settings
from saaskit.kit.bootstrap import build_runtime
from saaskit.kit.db import (
    SERVICE,
    SET_CONTEXT_SQL,
    Context,
    Database,
    app_role_password,
    create_engine,
    libpq_url,
    service_key,
    set_context,
    use_service_key,
    with_credentials,
    with_database,
)
from saaskit.kit.deps import get_session, run_after_commit
from saaskit.kit.embedded import EmbeddedPostgres
from saaskit.kit.migrations import enable_statement_stats, ensure_app_role, upgrade
from saaskit.kit.state import Runtime

pytest_plugins = ["tests.live"]

TEST_SECRET = "test-secret-" + "x" * 32
# Not saaskit_app: tests on a shared server must not touch a real installation's role.
APP_ROLE = "saaskit_test_app"


@dataclass
class DbUnderTest:
    server_url: str  # owner URL to the server's maintenance database
    name: str
    template: str | None = None

    @property
    def owner_url(self) -> str:
        return with_database(self.server_url, self.name)

    def app_url(self, settings: Settings) -> str:
        return with_credentials(self.owner_url, APP_ROLE, app_role_password(settings, TEST_SECRET))


def make_settings(**overrides: object) -> Settings:
    # Cheap argon2 parameters: the suite hashes hundreds of passwords.
    auth = AuthSettings(argon2_time_cost=1, argon2_memory_cost_kib=64, argon2_parallelism=1)
    values: dict[str, object] = {
        "secret_key": TEST_SECRET,
        "auth": auth,
        # The suite signs up hundreds of users from one address, dozens in one test; the tests of
        # the limits set their own (tests.helpers.with_limits).
        "rate_limit": RateLimitSettings(sign_up_per_ip="100000/hour"),
        "log_level": "WARNING",
        "database": DatabaseSettings(app_role=APP_ROLE),
        # Archival writes files under data_dir: its own tests turn it on with a directory of theirs.
        "archive": ArchiveSettings(enabled=False),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """Owner URL of the server's ``postgres`` database."""
    external = os.environ.get("SAASKIT_TEST_DATABASE_URL")
    if external:
        yield external
        return
    with tempfile.TemporaryDirectory(prefix="saaskit-test-pg-") as directory:
        server = EmbeddedPostgres(
            Path(directory),
            extra_settings={"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"},
        )
        server.start()
        try:
            yield server.url("postgres")
        finally:
            server.stop()


def _admin(url: str, sql: str) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def settings() -> Settings:
    return make_settings()


@pytest.fixture(scope="session")
def migrated_db(pg_server: str, settings: Settings) -> Iterator[DbUnderTest]:
    """The migrated template (never connected to after migration) and a working copy of it."""
    suffix = secrets.token_hex(4)
    template = DbUnderTest(server_url=pg_server, name=f"saaskit_tpl_{suffix}")
    db = DbUnderTest(server_url=pg_server, name=f"saaskit_test_{suffix}")
    _admin(pg_server, f'CREATE DATABASE "{template.name}"')
    try:
        upgrade(template.owner_url)
        ensure_app_role(
            template.owner_url,
            APP_ROLE,
            app_role_password(settings, TEST_SECRET),
            service_key=service_key(TEST_SECRET),
        )
        enable_statement_stats(template.owner_url, APP_ROLE)  # as serve does on the embedded server
        use_service_key(service_key(TEST_SECRET))
        _admin(pg_server, f'CREATE DATABASE "{db.name}" TEMPLATE "{template.name}" STRATEGY FILE_COPY')
        db.template = template.name
        yield db
    finally:
        for name in (db.name, template.name):
            _admin(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def app_engine(migrated_db: DbUnderTest, settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(migrated_db.app_url(settings), pool_size=2, max_overflow=2)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(app_engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """An application-role connection inside a transaction rolled back after the test."""
    async with app_engine.connect() as conn:
        transaction = await conn.begin()
        try:
            yield conn
        finally:
            await transaction.rollback()


@pytest.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    """A session on the test's transaction, with the service context (sees every row)."""
    maker = async_sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    async with maker() as db_session:
        await set_context(db_session, SERVICE)
        yield db_session


@pytest.fixture
def runtime(settings: Settings, app_engine: AsyncEngine) -> Runtime:
    return build_runtime(settings, Database(app_engine), TEST_SECRET)


class ConnectionBoundDatabase(Database):
    """``runtime.db`` for the ASGI test client: every session it opens, by dependency or on
    demand, joins the test's transaction with a savepoint (its commit releases the savepoint).

    A real request starts a new transaction with no RLS context; here the outer transaction
    lives on, so each session clears the context first, and afterwards restores the service
    context that the test body's own ``session`` (on the same connection) reads with.
    """

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self.engine = connection.engine
        self.sessionmaker = async_sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )

    @asynccontextmanager
    async def session(self, context: Context | None = None) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as db_session:
            await set_context(db_session, context or Context())
            try:
                yield db_session
                await db_session.commit()
            except BaseException:
                await db_session.rollback()
                raise
            finally:
                await self.connection.execute(SET_CONTEXT_SQL, SERVICE.params())

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[psycopg.AsyncConnection[tuple[object, ...]]]:
        """The one-statement hot paths run on the test's connection too, each in a savepoint
        (its own "transaction": released on success, rolled back if the statement fails)."""
        raw = (await self.connection.get_raw_connection()).driver_connection
        assert isinstance(raw, psycopg.AsyncConnection)
        if raw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            # Nothing ran on the test's transaction yet, so it has not begun: raw.transaction()
            # would be a real, committed transaction (a rate-limit hit made before any other
            # statement of a request would outlive the test). Begin the test's one first.
            await self.connection.execute(text("SELECT 1"))
        try:
            async with raw.transaction():
                yield raw
        finally:
            await self.connection.execute(SET_CONTEXT_SQL, SERVICE.params())

    async def dispose(self) -> None:
        return None


@pytest.fixture
async def client(runtime: Runtime, connection: AsyncConnection) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP through the real ASGI app; everything it writes joins the test's transaction."""
    bound = ConnectionBoundDatabase(connection)
    runtime.db = bound
    app = create_app(runtime, dispose_on_shutdown=False)

    async def test_session() -> AsyncIterator[AsyncSession]:
        async with bound.session() as db_session:
            yield db_session
        await run_after_commit(db_session)

    app.dependency_overrides[get_session] = test_session
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def fresh_database(pg_server: str, migrated_db: DbUnderTest) -> Iterator[DbUnderTest]:
    """A committed-data database cloned from the migrated template, dropped afterwards."""
    clone = DbUnderTest(server_url=pg_server, name=f"saaskit_t_{uuid.uuid4().hex[:10]}")
    _admin(pg_server, f'CREATE DATABASE "{clone.name}" TEMPLATE "{migrated_db.template}" STRATEGY FILE_COPY')
    try:
        yield clone
    finally:
        _admin(pg_server, f'DROP DATABASE IF EXISTS "{clone.name}" WITH (FORCE)')


async def exec_sql(
    conn: AsyncConnection | AsyncSession, sql: str, **params: object
) -> list[tuple[object, ...]]:
    result = await conn.execute(text(sql), params)
    return [tuple(row) for row in result.all()] if result.returns_rows else []


@pytest.fixture
async def fresh_runtime(fresh_database: DbUnderTest, settings: Settings) -> AsyncIterator[Runtime]:
    """A runtime on a fresh database, whose units of work really commit."""
    engine = create_engine(fresh_database.app_url(settings), pool_size=8, max_overflow=8)
    runtime = build_runtime(settings, Database(engine), TEST_SECRET)
    runtime.extras["app_url"] = fresh_database.app_url(settings)
    try:
        yield runtime
    finally:
        await runtime.db.dispose()
