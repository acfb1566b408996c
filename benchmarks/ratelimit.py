"""What a rate-limit check costs, next to a trivial database round trip measured in the same run.

    uv run python -m benchmarks.ratelimit [--calls 3000]

Starts ``saaskit serve`` on a fresh embedded database (for its migrated schema), then, from this
process, on the same kind of connections the server uses (``Database.autocommit``):

  round trip   ``SELECT 1`` (the baseline)
  exact        ``RateLimiter.hit`` on a limit of ``PostgresStorage``: one ``app_rate_limit_acquire()``
               per hit (sign-in, sign-up ...)
  buffered     ``RateLimiter.hit`` on a limit of ``BufferedPostgresStorage``: decided in process,
               one ``app_rate_limit_add()`` per sync interval (capture, track-visit)

each sequentially (latency per call) and from 8 concurrent tasks (calls per second).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from benchmarks.common import run_on_fresh_server
from saaskit.config import RateLimitSettings, Settings
from saaskit.kit.db import Database, create_engine
from saaskit.kit.ratelimit import RateLimiter


async def timed(calls: int, concurrency: int, work: Callable[[int], Awaitable[object]]) -> float:
    """Seconds for ``calls`` calls of ``work`` from ``concurrency`` tasks."""
    counter = iter(range(calls))

    async def task() -> None:
        for n in counter:
            await work(n)

    started = time.perf_counter()
    await asyncio.gather(*(task() for _ in range(concurrency)))
    return time.perf_counter() - started


async def measure(owner_url: str, calls: int) -> list[tuple[str, ...]]:
    db = Database(create_engine(owner_url, pool_size=8))
    out_of_reach = "1000000000/minute"
    limits = RateLimitSettings(sign_up_per_ip=out_of_reach, capture_per_ip=out_of_reach)
    limiter = RateLimiter(Settings(rate_limit=limits), lambda: db)

    async def round_trip(n: int) -> None:
        async with db.autocommit() as connection:
            await connection.execute("SELECT 1")

    async def exact_hit(n: int) -> None:
        await limiter.hit("sign_up_per_ip", str(n % 64))

    async def buffered_hit(n: int) -> None:
        await limiter.hit("capture_per_ip", str(n % 64))

    rows: list[tuple[str, ...]] = [("measure", "sequential, per call", "8 tasks, calls/s", "vs round trip")]
    try:
        for work in (round_trip, exact_hit, buffered_hit):
            await timed(200, 1, work)  # warm-up: connections, prepared statements
        baseline = await timed(calls, 1, round_trip)
        baseline_8 = await timed(calls, 8, round_trip)
        for label, work in (
            ("round trip (SELECT 1)", round_trip),
            ("exact hit (app_rate_limit_acquire)", exact_hit),
            ("buffered hit (in process + sync)", buffered_hit),
        ):
            n = calls * (10 if work is buffered_hit else 1)
            alone = await timed(n, 1, work)
            together = await timed(n, 8, work)
            rows.append(
                (
                    label,
                    f"{alone / n * 1e6:,.0f} us",
                    f"{n / together:,.0f}",
                    f"{(alone / n) / (baseline / calls):.2f} x latency, "
                    f"{(n / together) / (calls / baseline_8):.2f} x rate",
                )
            )
    finally:
        await db.dispose()
    return rows


def main() -> None:
    run_on_fresh_server(__doc__.split("\n\n")[0], measure, 3000)


if __name__ == "__main__":
    main()
