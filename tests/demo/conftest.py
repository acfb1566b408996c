"""A demo database built once per test run: small (about a thousand users, a few weeks) so the whole
directory runs in seconds, with an ``until`` in the past so every day is closed and rolled up."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest

from saaskit.config import Settings
from saaskit.demo.config import DemoConfig, resolve_now
from saaskit.demo.generate import DemoSummary, build_demo
from saaskit.demo.progress import QuietReporter
from saaskit.kit.bootstrap import build_runtime
from saaskit.kit.db import Database, create_engine
from saaskit.kit.state import Runtime
from tests.conftest import TEST_SECRET, DbUnderTest, _admin

UNTIL = date(2025, 7, 10)  # the span crosses a month boundary; every day is closed
USERS, DAYS, EVENTS, SEED = 1_000, 30, 12_000, 5


def demo_config(*, seed: int = SEED, jobs: int = 1) -> DemoConfig:
    return DemoConfig(
        users=USERS,
        days=DAYS,
        seed=seed,
        now=resolve_now(UNTIL, datetime.now(UTC)),
        activity_events=EVENTS,
        jobs=jobs,
    )


@contextmanager
def cloned_database(pg_server: str, migrated: DbUnderTest) -> Iterator[DbUnderTest]:
    """A fresh migrated database (like ``fresh_database``, for module-scoped fixtures)."""
    clone = DbUnderTest(server_url=pg_server, name=f"saaskit_d_{uuid.uuid4().hex[:10]}")
    _admin(pg_server, f'CREATE DATABASE "{clone.name}" TEMPLATE "{migrated.template}" STRATEGY FILE_COPY')
    try:
        yield clone
    finally:
        _admin(pg_server, f'DROP DATABASE IF EXISTS "{clone.name}" WITH (FORCE)')


@asynccontextmanager
async def app_runtime(db: DbUnderTest, settings: Settings) -> AsyncIterator[Runtime]:
    """The application role's runtime on ``db`` (what the rollups run through)."""
    engine = create_engine(db.app_url(settings), pool_size=2, max_overflow=2)
    runtime = build_runtime(settings, Database(engine), TEST_SECRET)
    try:
        yield runtime
    finally:
        await runtime.db.dispose()


@dataclass
class BuiltDemo:
    db: DbUnderTest
    config: DemoConfig
    summary: DemoSummary


async def build(db: DbUnderTest, settings: Settings, config: DemoConfig) -> BuiltDemo:
    async with app_runtime(db, settings) as runtime:
        summary = await build_demo(db.owner_url, runtime, config, QuietReporter())
    return BuiltDemo(db, config, summary)


@pytest.fixture(scope="session")
async def demo(pg_server: str, migrated_db: DbUnderTest, settings: Settings) -> AsyncIterator[BuiltDemo]:
    """The demo every consistency test reads (never modified by a test)."""
    with cloned_database(pg_server, migrated_db) as db:
        yield await build(db, settings, demo_config())
