"""What the API-abuse tallies add to the paths that count (capture, a failed sign-in, a rate-limit
refusal), next to the costs those paths already pay, measured in the same run.

    uv run python -m benchmarks.trust_tallies [--calls 1000000]

Starts ``saaskit serve`` on a fresh embedded database (for its migrated schema), then, from this
process, on the server's kind of connections (``Database.autocommit``):

  round trip     ``SELECT 1`` (the baseline of any database work)
  buffered hit   ``RateLimiter.hit`` on capture's limit (what every capture request already pays)
  tally          ``Tallies.add`` + ``write_if_due`` (what capture / a failed sign-in / a refusal adds:
                 a dictionary increment; one write per second, counted in)
  write          one ``app_trust_tally`` call of 1,000 keys (a busy process's write, once a second)
"""

from __future__ import annotations

import time
import uuid

from benchmarks.common import run_on_fresh_server
from saaskit.config import RateLimitSettings, Settings
from saaskit.kit.db import Database, create_engine
from saaskit.kit.ratelimit import RateLimiter
from saaskit.kit.tallies import INGEST_ACCEPTED, Tallies


async def measure(owner_url: str, calls: int) -> list[tuple[str, ...]]:
    db = Database(create_engine(owner_url, pool_size=4))
    limits = RateLimitSettings(capture_per_ip="1000000000/minute")
    limiter = RateLimiter(Settings(rate_limit=limits), lambda: db)
    tallies = Tallies(lambda: db, 1.0)
    sources = [uuid.uuid4().hex for _ in range(256)]
    rows: list[tuple[str, ...]] = [("measure", "per call", "vs round trip")]
    try:
        started = time.perf_counter()
        for _ in range(1000):
            async with db.autocommit() as connection:
                await connection.execute("SELECT 1")
        trip = (time.perf_counter() - started) / 1000
        rows.append(("round trip (SELECT 1)", f"{trip * 1e6:,.1f} us", "1.00 x"))

        started = time.perf_counter()
        for n in range(calls):
            await limiter.hit("capture_per_ip", sources[n % 256])
        hit = (time.perf_counter() - started) / calls
        rows.append(("buffered limiter hit (capture)", f"{hit * 1e6:,.2f} us", f"{hit / trip:.3f} x"))

        writes = 0
        started = time.perf_counter()
        for n in range(calls):
            tallies.add(INGEST_ACCEPTED, sources[n % 256], count=3)
            if tallies.due():
                writes += 1
                await tallies.write()
        took = time.perf_counter() - started
        add = took / calls
        rows.append(
            (
                f"tally add + write when due ({took:.1f} s, {writes} writes)",
                f"{add * 1e6:,.2f} us",
                f"{add / trip:.3f} x",
            )
        )

        for n in range(1000):
            tallies.add(INGEST_ACCEPTED, uuid.uuid4().hex, count=n + 1)
        started = time.perf_counter()
        written = await tallies.write()
        write = time.perf_counter() - started
        rows.append(
            (
                f"write of {written:,} keys (app_trust_tally)",
                f"{write * 1e3:,.1f} ms",
                f"{write / trip:.0f} x",
            )
        )
    finally:
        await db.dispose()
    return rows


def main() -> None:
    run_on_fresh_server(__doc__.split("\n\n")[0], measure, 1_000_000)


if __name__ == "__main__":
    main()
