"""GET /api/admin/stats at growing data sizes, next to two baselines measured in the same run.

    uv run python -m benchmarks.stats                       # 1M and 10M activity events
    uv run python -m benchmarks.stats --sizes 1M,10M,100M   # the 100M run takes a while
    uv run python -m benchmarks.stats --sizes 1M --explain  # also print the statements' plans
    uv run python -m benchmarks.stats --sizes 100M --keep DIR  # keep the database, measure it again later

For each size: ``saaskit demo`` fills a fresh embedded database (users = events / 100, a year of
days, rollups included, as ``serve`` would have them), an admin is created with ``saaskit users
create``, and ``saaskit serve`` starts in a separate process. Then, one request at a time (a
person opening the dashboard, not a load test):

  readyz    GET /readyz: a trivial database round trip through the whole HTTP stack
  stats     GET /api/admin/stats?tz=Europe/Paris
  naive     seed 002's aggregations as written (count(*) over users, subscriptions, visitors;
            GROUP BY date(created_at) over activity_events), straight to PostgreSQL with psycopg

and prints p50/p95 of each and the ratios. Targets (DESIGN.md): stats p95 <= 10 x readyz p95 at
every size (flat as data grows), and >= 100 x faster than the naive SQL at 100M.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import orjson
import psycopg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from benchmarks.common import ROOT, report, serve
from saaskit.config import Settings
from saaskit.insights import stats
from saaskit.insights.models import PLATFORM
from saaskit.kit.db import SERVICE, libpq_url, service_key, set_context, sqlalchemy_url, use_service_key
from saaskit.kit.secrets import instance_secret

NAIVE_SQL = """
SELECT count(*) FROM users;
SELECT count(DISTINCT user_id) FROM user_heartbeats WHERE last_seen_at > now() - interval '5 minutes';
SELECT count(*) FROM users u WHERE EXISTS (
    SELECT 1 FROM subscriptions s WHERE s.user_id = u.id AND (s.status = 'expired' OR s.ends_at < now()));
SELECT count(*) FROM users u
 WHERE NOT EXISTS (SELECT 1 FROM user_heartbeats h
                   WHERE h.user_id = u.id AND h.last_seen_at > now() - interval '30 days')
   AND NOT EXISTS (SELECT 1 FROM subscriptions s
                   WHERE s.user_id = u.id AND (s.status = 'expired' OR s.ends_at < now()));
SELECT count(*) FROM subscriptions WHERE status = 'active' AND ends_at > now();
SELECT count(*) FROM subscriptions WHERE status = 'expired' OR ends_at <= now();
SELECT count(*) FROM subscriptions WHERE status = 'cancelled';
SELECT count(*) FROM visitor_sessions;
SELECT count(*) FROM visitor_sessions WHERE last_seen_at > now() - interval '5 minutes';
SELECT count(*) FROM visitor_sessions
 WHERE last_seen_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
SELECT date(created_at), count(*) FILTER (WHERE event_type = 'login'),
       count(*) FILTER (WHERE event_type = 'signup')
  FROM activity_events WHERE created_at >= current_date - 6 AND event_type IN ('login', 'signup') GROUP BY 1;
SELECT to_char(created_at, 'YYYY-MM'), count(*) FROM activity_events
 WHERE event_type = 'login' AND created_at >= date_trunc('month', now()) - interval '5 months' GROUP BY 1;
SELECT date(created_at), count(*) FILTER (WHERE event_type = 'login'),
       count(*) FILTER (WHERE event_type = 'app_open'), count(*) FILTER (WHERE event_type = 'action')
  FROM activity_events WHERE created_at >= current_date - 6 GROUP BY 1;
SELECT plan_name, count(*) FROM subscriptions WHERE status = 'active' GROUP BY plan_name;
"""

ADMIN_EMAIL = "bench-admin@example.com"
ADMIN_PASSWORD = "throwaway quartz lantern"  # noqa: S105 - a throwaway database


def parse_size(text: str) -> int:
    text = text.strip().upper()
    factor = {"K": 1_000, "M": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("KM")) * factor)


def saaskit(data_dir: Path, *args: str) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SAASKIT_")}
    environment.update({"SAASKIT_DATA_DIR": str(data_dir), "SAASKIT_LOG_LEVEL": "WARNING"})
    subprocess.run([sys.executable, "-m", "saaskit", *args], check=True, env=environment, cwd=ROOT)


def app_url(data_dir: Path) -> str:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SAASKIT_")}
    environment.update({"SAASKIT_DATA_DIR": str(data_dir), "SAASKIT_LOG_LEVEL": "WARNING"})
    found = subprocess.run(
        [sys.executable, "-m", "saaskit", "db", "url", "--app"],
        check=True,
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return found.stdout.strip().splitlines()[-1]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, round(0.95 * len(ordered)) - 1)]


def time_http(http: httpx.Client, path: str, headers: dict[str, str], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = http.get(path, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return samples


def time_naive(owner_url: str, n: int) -> list[float]:
    samples = []
    with psycopg.connect(libpq_url(owner_url)) as conn:
        for _ in range(n):
            started = time.perf_counter()
            for statement in filter(None, (s.strip() for s in NAIVE_SQL.split(";"))):
                conn.execute(statement).fetchall()
            samples.append((time.perf_counter() - started) * 1000)
            conn.rollback()
    return samples


def measure(size: int, args: argparse.Namespace, directory: Path) -> tuple[str, ...]:
    data_dir = directory / f"data-{size}"
    users = max(1_000, size // 100)
    filled = data_dir / "benchmark-data-ready"  # written once the demo and the admin exist
    if filled.exists():
        print(f"\n{size:,} activity events: reusing the demo data in {data_dir}", flush=True)
    else:
        demo = ("demo", "--users", str(users), "--days", str(args.days), "--activity-events", str(size))
        print(f"\n{size:,} activity events: saaskit {' '.join(demo)} ...", flush=True)
        started = time.perf_counter()
        saaskit(data_dir, *demo)
        print(f"  demo data in {time.perf_counter() - started:,.0f} s", flush=True)
        saaskit(data_dir, "users", "create", ADMIN_EMAIL, "--password", ADMIN_PASSWORD, "--admin")
        filled.touch()
    with serve(1, data_dir) as (base, owner_url), httpx.Client(base_url=base, timeout=600) as http:
        login = http.post("/api/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        if args.explain:
            explain(app_url(data_dir), data_dir)
        time_http(http, "/readyz", {}, 20)  # warm-up: connections, caches
        time_http(http, "/api/admin/stats?tz=Europe/Paris", headers, 20)
        readyz = time_http(http, "/readyz", {}, args.requests)
        stats = time_http(http, "/api/admin/stats?tz=Europe/Paris", headers, args.requests)
        naive = time_naive(owner_url, args.naive_runs)
    r50, r95 = percentiles(readyz)
    s50, s95 = percentiles(stats)
    n50, _ = percentiles(naive)
    return (
        f"{size:,}",
        f"{r50:.2f} / {r95:.2f}",
        f"{s50:.2f} / {s95:.2f}",
        f"{s95 / r95:.1f} x",
        f"{n50:,.0f}",
        f"{n50 / s50:,.0f} x",
    )


def explain(app_url: str, data_dir: Path) -> None:
    """The plans of the endpoint's statements, as the application role runs them (row-level
    security included), with the parameters a request would use."""
    # The service context needs the instance's service key (kit/db.py), derived from its secret.
    use_service_key(service_key(instance_secret(Settings(data_dir=data_dir))))
    for title, plan in asyncio.run(explain_stats(app_url, "Europe/Paris")):
        print(f"\n--- {title}\n{plan}", flush=True)


async def explain_stats(app_url: str, tz: str) -> list[tuple[str, str]]:
    engine = create_async_engine(sqlalchemy_url(app_url))
    plans = []
    try:
        async with AsyncSession(engine) as session:
            await set_context(session, SERVICE)
            spans = await stats.windows(session, tz)
            pieces = orjson.dumps([p.as_row() for p in spans.pieces()]).decode()
            statements = [
                ("window boundaries and watermarks", stats.WINDOWS_SQL, {"tz": tz, "now": None}),
                (
                    "activity per window (rollups, raw tail)",
                    stats.ACTIVITY_SQL,
                    {"pieces": pieces, "scope": PLATFORM, "organization_id": None},
                ),
                (
                    "totals, now and today",
                    stats.PLATFORM_SQL,
                    {"today_start": spans.day_bounds[stats.DAYS - 1], "now": spans.now},
                ),
            ]
            for title, statement, params in statements:
                rows = await session.execute(
                    text("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement.text), params
                )
                plans.append((title, "\n".join(r[0] for r in rows)))
    finally:
        await engine.dispose()
    return plans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1M,10M", help="activity events per run, e.g. 1M,10M,100M")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--requests", type=int, default=300, help="measured requests per endpoint")
    parser.add_argument("--naive-runs", type=int, default=5)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the statements")
    parser.add_argument(
        "--keep",
        type=Path,
        help="keep each size's database under this folder (default: a temporary one, removed); "
        "a later run with the same folder measures it again without regenerating",
    )
    args = parser.parse_args()
    rows: list[tuple[str, ...]] = [
        (
            "activity events",
            "readyz p50 / p95 ms",
            "stats p50 / p95 ms",
            "stats p95 / readyz p95",
            "naive SQL p50 ms",
            "naive / stats (p50)",
        )
    ]
    with ExitStack() as stack:
        if args.keep is not None:
            directory = args.keep.resolve()
            directory.mkdir(parents=True, exist_ok=True)
        else:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="saaskit-bench-")))
        for size in (parse_size(s) for s in args.sizes.split(",")):
            rows.append(measure(size, args, directory))
    print(
        f"\n{os.cpu_count()} CPUs, one request at a time; targets: stats p95 <= 10 x readyz p95, "
        ">= 100 x faster than the naive SQL at 100M\n"
    )
    report(rows)


if __name__ == "__main__":
    main()
