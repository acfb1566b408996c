"""What routing an analytics read to a replica costs: the lag check and the second session.

    uv run python -m benchmarks.replica_reads [--requests 300]

Builds a primary (embedded, migrated) and a streaming replica of it (``pg_basebackup -R``) in a
temporary directory, then sends ``GET /api/insights/kpis`` through the real ASGI app, one request
at a time, to three set-ups measured in the same run:

  baseline     ``SELECT 1`` on the application role's connection (a trivial round trip)
  primary      no replica configured: the request's own session reads
  replica      ``SAASKIT_DATABASE_REPLICA_URLS`` set: the lag query, then the read, on the replica

and prints p50/p95 of each and the ratio replica / primary.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

from saaskit.app import create_app
from saaskit.config import AuthSettings, DatabaseSettings, Settings
from saaskit.kit.bootstrap import build_runtime
from saaskit.kit.db import (
    Database,
    app_role_password,
    create_engine,
    libpq_url,
    service_key,
    with_credentials,
)
from saaskit.kit.embedded import EmbeddedPostgres
from saaskit.kit.migrations import ensure_app_role, upgrade
from saaskit.system.pitr import _chown_tree

SECRET = "benchmark-secret-" + "x" * 32
ROLE = "saaskit_bench_app"


def build_pair(root: Path) -> tuple[EmbeddedPostgres, EmbeddedPostgres, Settings]:
    settings = Settings(
        secret_key=SECRET,
        auth=AuthSettings(argon2_time_cost=1, argon2_memory_cost_kib=64, argon2_parallelism=1),
        database=DatabaseSettings(app_role=ROLE),
        log_level="WARNING",
    )
    primary = EmbeddedPostgres(root / "primary")
    replica = EmbeddedPostgres(root / "replica")
    primary.start()
    primary.ensure_database("saaskit")
    upgrade(primary.url("saaskit"))
    ensure_app_role(
        primary.url("saaskit"), ROLE, app_role_password(settings, SECRET), service_key=service_key(SECRET)
    )
    replica.data_dir.mkdir(parents=True)
    subprocess.run(
        [
            str(primary.tool("pg_basebackup")),
            "-d",
            libpq_url(primary.url("postgres")),
            "-D",
            str(replica.pgdata),
            "-R",
            "--wal-method=stream",
            "--checkpoint=fast",
        ],
        check=True,
        capture_output=True,
    )
    replica.pgdata.chmod(0o700)
    _chown_tree(replica.pgdata)
    replica.start()
    return primary, replica, settings


async def latencies(http: httpx.AsyncClient, token: str, requests: int) -> list[float]:
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(20):  # warm-up: pools, prepared statements
        assert (await http.get("/api/insights/kpis", headers=headers)).status_code == 200
    found = []
    for _ in range(requests):
        start = time.perf_counter()
        response = await http.get("/api/insights/kpis", headers=headers)
        found.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.text
    return found


async def measure(
    primary: EmbeddedPostgres, replica: EmbeddedPostgres, settings: Settings, requests: int
) -> None:
    app_url = with_credentials(primary.url("saaskit"), ROLE, app_role_password(settings, SECRET))
    results: dict[str, list[float]] = {}
    token = ""
    for name, replicas in (("primary", []), ("replica", [replica.url("saaskit")])):
        configured = settings.model_copy(
            update={
                "database": DatabaseSettings(app_role=ROLE, replica_urls=replicas, replica_max_lag_seconds=60)
            }
        )
        runtime = build_runtime(configured, Database(create_engine(app_url, pool_size=4)), SECRET)
        transport = httpx.ASGITransport(
            app=create_app(runtime, dispose_on_shutdown=False), client=("203.0.113.9", 1)
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            if not token:
                email = "bench-admin@example.com"
                answer = await http.post(
                    "/api/auth/signup", json={"email": email, "password": "a long bench passphrase"}
                )
                token = answer.json()["token"]
                with psycopg.connect(libpq_url(primary.url("saaskit")), autocommit=True) as conn:
                    conn.execute("UPDATE users SET role = 'admin' WHERE email = %s", (email,))
                await asyncio.sleep(0.5)  # the replica replays the new admin
            results[name] = await latencies(http, token, requests)
            if runtime.replicas is not None:
                assert runtime.replicas.primary_reads == 0, "a read fell back to the primary"
                await runtime.replicas.dispose()
        await runtime.db.dispose()
    with psycopg.connect(libpq_url(app_url), autocommit=True) as conn:
        baseline = []
        for _ in range(requests):
            start = time.perf_counter()
            conn.execute("SELECT 1")
            baseline.append((time.perf_counter() - start) * 1000)
    results = {"baseline": baseline, **results}
    for name, values in results.items():
        p50 = statistics.median(values)
        p95 = statistics.quantiles(values, n=20)[18]
        print(f"{name:9s} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms")
    ratio = statistics.median(results["replica"]) / statistics.median(results["primary"])
    print(f"replica / primary (p50): {ratio:.2f} x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="saaskit-bench-replica-", dir="/tmp"))
    root.chmod(0o755)  # the replica's server user reaches the primary's socket by its path
    primary = replica = None
    try:
        primary, replica, settings = build_pair(root)
        asyncio.run(measure(primary, replica, settings, args.requests))
    finally:
        for server in (replica, primary):
            if server is not None:
                server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
