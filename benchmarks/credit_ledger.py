"""What the credit ledger costs a spend: ``billing.ledger.post`` (the conditional UPDATE and the
ledger row in one statement) against the spend as it was before the ledger (the conditional
UPDATE alone), in the same run on the same database.

    uv run python -m benchmarks.credit_ledger [--spends 2000] [--tasks 8] [--rounds 3]

Starts ``saaskit serve`` (fresh embedded PostgreSQL, migrated) and uses its database directly:

  sequential  one spend per committed transaction, back to back, on one user: spends/s
  concurrent  ``--tasks`` tasks on separate connections spending from one user (they queue on
              its row lock) and from one user each: spends/s

Each case runs ``--rounds`` times, baseline and ledger alternated, and prints the medians and
the ledger's ratio over the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from benchmarks.common import report, serve
from saaskit.billing import ledger
from saaskit.billing.owners import Owner
from saaskit.kit.db import create_engine

BEFORE = text(
    "UPDATE users SET credits_cents = credits_cents - 1, updated_at = now() "
    "WHERE id = :user_id AND credits_cents >= 1 RETURNING credits_cents"
)


async def _users(engine: AsyncEngine, count: int) -> list[uuid.UUID]:
    async with engine.begin() as conn:
        rows = await conn.execute(
            text(
                "INSERT INTO users (email, credits_cents) "
                "SELECT 'bench-' || n || '-' || :tag || '@example.com', 100000000 "
                "FROM generate_series(1, :count) n RETURNING id"
            ),
            {"count": count, "tag": uuid.uuid4().hex[:8]},
        )
        return [r[0] for r in rows]


async def _run(engine: AsyncEngine, users: list[uuid.UUID], spends: int, tasks: int, ledgered: bool) -> float:
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def worker(user_id: uuid.UUID, count: int) -> None:
        for _ in range(count):
            async with sessions() as session, session.begin():
                if ledgered:
                    await ledger.post(session, Owner(user_id=user_id), "spend", -1, reason="bench")
                else:
                    (await session.execute(BEFORE, {"user_id": user_id})).one()

    started = time.perf_counter()
    await asyncio.gather(*(worker(users[i % len(users)], spends // tasks) for i in range(tasks)))
    return (spends // tasks * tasks) / (time.perf_counter() - started)


async def measure(owner_url: str, spends: int, tasks: int, rounds: int) -> list[tuple[str, ...]]:
    engine = create_engine(owner_url, pool_size=tasks + 1, max_overflow=0)
    try:
        one = await _users(engine, 1)
        many = await _users(engine, tasks)
        rows: list[tuple[str, ...]] = [("case", "before the ledger (spends/s)", "ledger (spends/s)", "ratio")]
        for label, users, n_tasks in (
            ("sequential, one user", one, 1),
            (f"{tasks} tasks, one user", one, tasks),
            (f"{tasks} tasks, a user each", many, tasks),
        ):
            await _run(engine, users, max(50, spends // 10), n_tasks, True)  # warm-up
            await _run(engine, users, max(50, spends // 10), n_tasks, False)
            befores, afters = [], []
            for _ in range(rounds):  # alternated, the median of each: the machine is shared
                befores.append(await _run(engine, users, spends, n_tasks, False))
                afters.append(await _run(engine, users, spends, n_tasks, True))
            before, after = statistics.median(befores), statistics.median(afters)
            rows.append((label, f"{before:,.0f}", f"{after:,.0f}", f"{after / before:.2f}"))
        return rows
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spends", type=int, default=2000)
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, serve(1, Path(tmp) / "data") as (_, owner_url):
        report(asyncio.run(measure(owner_url, args.spends, args.tasks, args.rounds)))


if __name__ == "__main__":
    main()
