"""The Billing page's revenue figures (``billing.revenue.monthly``, 12 months) next to a baseline
measured in the same run: the MRR series the same page already draws
(``insights.revenue.mrr_series``, 12 months, plans' current prices).

    uv run python -m benchmarks.revenue                    # 10k and 100k users, 2 years of days
    uv run python -m benchmarks.revenue --users 10000 --runs 20

For each size: ``saaskit demo`` fills a fresh embedded database (subscriptions, invoices with
their lines, top-ups), ``saaskit serve`` starts it, and both statements run one at a time as
the application role in the service context (as the admin page runs them). Prints p50 / p95
in ms of each, and the ratio of the p50s.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from benchmarks.common import report, serve
from benchmarks.stats import app_url, saaskit
from saaskit.billing import revenue
from saaskit.config import Settings
from saaskit.insights import revenue as insights_revenue
from saaskit.kit.db import SERVICE, service_key, set_context, sqlalchemy_url, use_service_key
from saaskit.kit.secrets import instance_secret


def _p(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, round(0.95 * len(ordered)) - 1)]


async def _time(url: str, runs: int) -> tuple[list[float], list[float], int, int]:
    engine = create_async_engine(sqlalchemy_url(url))
    figures: list[float] = []
    baseline: list[float] = []
    try:
        async with AsyncSession(engine) as session:
            await set_context(session, SERVICE)
            subscriptions = int(await session.scalar(text("SELECT count(*) FROM subscriptions")) or 0)
            lines = int(await session.scalar(text("SELECT count(*) FROM invoice_line_items")) or 0)
            await revenue.monthly(session, 12)  # warm-up
            await insights_revenue.mrr_series(session, 12)
            for _ in range(runs):
                started = time.perf_counter()
                await revenue.monthly(session, 12)
                figures.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                await insights_revenue.mrr_series(session, 12)
                baseline.append((time.perf_counter() - started) * 1000)
    finally:
        await engine.dispose()
    return figures, baseline, subscriptions, lines


def measure(users: int, days: int, runs: int, directory: Path) -> tuple[str, ...]:
    data_dir = directory / f"data-{users}"
    print(f"\n{users:,} users: saaskit demo ...", flush=True)
    saaskit(data_dir, "demo", "--users", str(users), "--days", str(days), "--activity-events", str(users))
    with serve(1, data_dir):
        use_service_key(service_key(instance_secret(Settings(data_dir=data_dir))))
        figures, baseline, subscriptions, lines = asyncio.run(_time(app_url(data_dir), runs))
    f50, f95 = _p(figures)
    b50, b95 = _p(baseline)
    return (
        f"{users:,}",
        f"{subscriptions:,}",
        f"{lines:,}",
        f"{f50:,.1f} / {f95:,.1f}",
        f"{b50:,.1f} / {b95:,.1f}",
        f"{f50 / b50:,.1f} x",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", default="10000,100000", help="demo users per run, e.g. 10000,100000")
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    rows: list[tuple[str, ...]] = [
        (
            "users",
            "subscriptions",
            "invoice lines",
            "revenue figures p50 / p95 ms",
            "MRR series p50 / p95 ms",
            "ratio (p50)",
        )
    ]
    with tempfile.TemporaryDirectory() as directory:
        for users in (int(u) for u in args.users.split(",")):
            rows.append(measure(users, args.days, args.runs, Path(directory)))
    report(rows)


if __name__ == "__main__":
    main()
