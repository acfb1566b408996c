"""The rate limiter (kit/ratelimit.py): limits' sliding window counter on PostgreSQL storages.

- the exact storage counts under concurrency exactly, across connections (as N processes would);
- the buffered storage (hot paths) decides alone between syncs and shares its counts at each;
- the table is the functions' alone: the application role reads and writes nothing in it;
- a refusal is 429 ``rate_limited`` with Retry-After; the hourly job deletes finished windows.
"""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest
from limits import parse
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from saaskit.config import RateLimitSettings
from saaskit.kit import ratelimit
from saaskit.kit.db import libpq_url
from saaskit.kit.ratelimit import BufferedPostgresStorage, PostgresStorage, RateLimited, RateLimiter
from saaskit.kit.state import Runtime
from tests import helpers
from tests.conftest import DbUnderTest


def with_limits(runtime: Runtime, **limits: object) -> RateLimiter:
    helpers.with_limits(runtime, **limits)
    return ratelimit.limiter_of(runtime)


async def test_exact_storage_admits_exactly_the_limit_under_concurrency(fresh_runtime: Runtime) -> None:
    strategy = SlidingWindowCounterRateLimiter(PostgresStorage(lambda: fresh_runtime.db))
    item = parse("7/minute")
    answers = await asyncio.gather(*(strategy.hit(item, "concurrent", "me") for _ in range(30)))
    assert answers.count(True) == 7
    stats = await strategy.get_window_stats(item, "concurrent", "me")
    assert stats.remaining == 0
    assert stats.reset_time > time.time()
    # Another identity has its own count; clearing forgets one identity only.
    assert await strategy.hit(item, "concurrent", "someone else")
    await strategy.clear(item, "concurrent", "me")
    assert await strategy.hit(item, "concurrent", "me")
    assert (await strategy.get_window_stats(item, "concurrent", "someone else")).remaining == 6


async def test_a_cost_larger_than_what_is_left_is_refused_and_counts_nothing(fresh_runtime: Runtime) -> None:
    strategy = SlidingWindowCounterRateLimiter(PostgresStorage(lambda: fresh_runtime.db))
    item = parse("10/hour")
    assert await strategy.hit(item, "cost", cost=8)
    assert not await strategy.hit(item, "cost", cost=3)
    assert not await strategy.hit(item, "cost", cost=11)
    assert await strategy.hit(item, "cost", cost=2)
    assert (await strategy.get_window_stats(item, "cost")).remaining == 0


async def test_buffered_storages_share_their_counts_at_each_sync(fresh_runtime: Runtime) -> None:
    """Two buffered storages stand for two processes: each decides alone between syncs, then
    sees what the other admitted."""
    first = BufferedPostgresStorage(lambda: fresh_runtime.db, sync_seconds=3600)
    second = BufferedPostgresStorage(lambda: fresh_runtime.db, sync_seconds=3600)
    item = parse("10/hour")
    one, two = SlidingWindowCounterRateLimiter(first), SlidingWindowCounterRateLimiter(second)
    # The first hit of each syncs (nothing synced yet), the rest are decided in process.
    assert all([await one.hit(item, "shared") for _ in range(6)])
    assert all([await two.hit(item, "shared") for _ in range(6)]), "alone, the second admits its own 6"
    await first.sync()
    await second.sync()
    await first.sync()
    assert (await one.get_window_stats(item, "shared")).remaining == 0
    assert (await two.get_window_stats(item, "shared")).remaining == 0
    assert not await one.hit(item, "shared")
    assert not await two.hit(item, "shared")
    # A third, new process reads 12 at its first sync.
    third = BufferedPostgresStorage(lambda: fresh_runtime.db, sync_seconds=3600)
    await SlidingWindowCounterRateLimiter(third).hit(item, "shared")
    assert (await SlidingWindowCounterRateLimiter(third).get_window_stats(item, "shared")).remaining == 0


async def test_buffered_storage_makes_no_round_trip_between_syncs(fresh_runtime: Runtime) -> None:
    calls = 0
    database = fresh_runtime.db
    autocommit = database.autocommit

    def counting():  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return autocommit()

    storage = BufferedPostgresStorage(lambda: database, sync_seconds=3600)
    database.autocommit = counting  # type: ignore[method-assign]
    strategy = SlidingWindowCounterRateLimiter(storage)
    item = parse("1000/minute")
    for _ in range(200):
        assert await strategy.hit(item, "quiet")
    assert calls == 1, "only the first hit synced"


async def test_the_application_role_cannot_touch_the_counters(
    fresh_database: DbUnderTest, fresh_runtime: Runtime
) -> None:
    limiter = with_limits(fresh_runtime, sign_up_per_ip="5/minute")
    await limiter.hit("sign_up_per_ip", "somebody")
    app_url = libpq_url(fresh_runtime.extras["app_url"])
    async with await psycopg.AsyncConnection.connect(app_url, autocommit=True) as connection:
        seen = await (await connection.execute("SELECT count(*) FROM rate_limit_counters")).fetchone()
        assert seen == (0,), "row-level security without a policy: the role sees no counter"
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await connection.execute(
                "INSERT INTO rate_limit_counters VALUES ('x', 60, 0, 0, 0, now() + interval '1 hour')"
            )
    async with await psycopg.AsyncConnection.connect(libpq_url(fresh_database.owner_url)) as owner:
        rows = await (
            await owner.execute(
                "SELECT key, current_count, c.relpersistence FROM rate_limit_counters, pg_class c "
                "WHERE c.relname = 'rate_limit_counters'"
            )
        ).fetchall()
    assert len(rows) == 1 and rows[0][0].startswith("LIMITER/sign_up_per_ip/somebody/")
    assert rows[0][1] == 1 and rows[0][2] == "u", "an UNLOGGED table"


async def test_a_refusal_says_when_to_retry(fresh_runtime: Runtime) -> None:
    limiter = with_limits(fresh_runtime, password_change_per_user="2/hour")
    await limiter.hit("password_change_per_user", "u1")
    await limiter.hit("password_change_per_user", "u1")
    with pytest.raises(RateLimited) as refused:
        await limiter.hit("password_change_per_user", "u1")
    assert refused.value.status_code == 429 and refused.value.code == "rate_limited"
    retry = int(refused.value.headers["Retry-After"])  # type: ignore[index]
    assert 1 <= retry <= 3600
    assert "2 per 1 hour" in refused.value.message
    # Switched off, nothing is ever refused.
    off = with_limits(fresh_runtime, enabled=False)
    await off.hit("password_change_per_user", "u1")


async def test_the_hourly_job_deletes_finished_windows(fresh_runtime: Runtime) -> None:
    limiter = with_limits(fresh_runtime, sign_up_per_ip="5/second", sign_up_per_email="5/hour")
    await limiter.hit("sign_up_per_ip", "brief")
    await limiter.hit("sign_up_per_email", "lasting")
    assert await ratelimit.purge(fresh_runtime) == 0
    await asyncio.sleep(2.1)  # a 1-second window's counts matter for 2 windows at most
    assert await ratelimit.purge(fresh_runtime) == 1


def test_settings_refuse_a_malformed_limit() -> None:
    with pytest.raises(ValueError, match="couldn't parse rate limit string"):
        RateLimitSettings(sign_in_per_ip="thirty a minute")
    with pytest.raises(ValueError, match="no rate limit named"):
        ratelimit.rate_limit("sign_in_per_planet")
