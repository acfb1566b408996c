"""An admin broadcast to everyone: the request, then the job writing a copy per user.

    uv run python -m benchmarks.broadcast                    # 100,000 users
    uv run python -m benchmarks.broadcast --users 1000000
    uv run python -m benchmarks.broadcast --explain          # also the plan of a one-statement fan-out

On a fresh embedded database (migrated, the application role created as ``saaskit migrate``
does), ``--users`` active accounts are inserted (1 % of them switched announcements off). Then,
as the application role with RLS on and the service context that admins and jobs have:

  baseline     CREATE TEMP TABLE ... AS SELECT of as many rows (a uuid, the user, the texts):
               producing and writing the rows with no index, constraint, trigger or RLS
  one stmt     the whole fan-out as ONE INSERT ... SELECT (rolled back): what the job avoids,
               since every copy's foreign key locks its user row until the statement's commit
  request      notifications.operator.broadcast + COMMIT, as the admin page and
               POST /api/admin/notifications/broadcasts run it (the row, the job, the audit row)
  job          broadcasts.fan_out: batches of BATCH_USERS accounts, one transaction each

and, during "one stmt" and "job", the longest wait of what a sign-in does first (SELECT ... FOR
UPDATE of a random user's row, every 50 ms). Three of each, in a row (medians). Then, once 30 %
of the recipients read their copies, what the pages read: one user's unread count and first
page (50), and the admin list's read counts.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import text

from benchmarks.common import report
from saaskit.audit.service import Actor
from saaskit.config import Settings
from saaskit.kit.bootstrap import build_runtime
from saaskit.kit.db import (
    SERVICE,
    Context,
    Database,
    app_role_password,
    app_url_for,
    create_engine,
    libpq_url,
    service_key,
    set_context,
    with_database,
)
from saaskit.kit.embedded import EmbeddedPostgres
from saaskit.kit.migrations import ensure_app_role, upgrade
from saaskit.kit.state import Runtime
from saaskit.notifications import audiences, broadcasts, operator, service
from saaskit.notifications.kinds import KINDS

SECRET = "benchmark-secret-" + "x" * 32

USERS_SQL = """
INSERT INTO users (email, name, status, created_at)
SELECT 'user' || g || '@bench.example', 'User ' || g, 'active', now() - interval '1 day'
FROM generate_series(1, :n) AS g
"""
OPT_OUT_SQL = """
INSERT INTO notification_preferences (user_id, kind, is_in_app_enabled, is_email_enabled)
SELECT id, 'broadcast', false, false FROM users WHERE name LIKE '%00'
"""
BASELINE_SQL = """
CREATE TEMP TABLE copies ON COMMIT DROP AS
SELECT gen_random_uuid() AS id, id AS user_id, 'broadcast'::text AS kind, 'info'::text AS severity,
       'Maintenance tonight'::text AS title, 'From 22:00 UTC.'::text AS body, '/status'::text AS link
FROM users WHERE status = 'active' AND deleted_at IS NULL
"""
NOTICE: dict[str, Any] = {
    "kind": KINDS["broadcast"],
    "severity": "info",
    "title": "Maintenance tonight",
    "body": "From 22:00 UTC.",
    "link": "/status",
    "data": {},
    "audience": "everyone",
    "organization_id": None,
    "actor_id": None,
    "broadcast_id": None,
}


async def timed(action: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await action()
    return (time.perf_counter() - started) * 1000


def vacuum(owner_url: str, table: str = "") -> None:
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
        conn.execute(f"VACUUM ANALYZE {table}")  # type: ignore[arg-type]


async def one_statement(db: Database, explain: bool) -> None:
    """The whole fan-out in one INSERT ... SELECT, rolled back (with its plan if asked)."""
    async with db.sessionmaker() as session:
        await set_context(session, SERVICE)
        if explain:
            statement = audiences.fan_out_statement(audiences.everyone(), **NOTICE)
            connection = await session.connection()
            compiled = statement.compile(connection.sync_connection)
            params = {k: Jsonb(v) if isinstance(v, dict) else v for k, v in compiled.params.items()}
            plan = await connection.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}", params)
            print("\n".join(row[0] for row in plan))
        else:
            await audiences.fan_out(session, audiences.everyone(), **NOTICE)
        await session.rollback()


class SignInProbe:
    """While a fan-out runs: every 50 ms, what a sign-in does first (``SELECT ... FOR UPDATE``
    of a user's row, ``accounts.service.sign_in``) for a random user; the longest wait."""

    def __init__(self, db: Database, user_ids: list[uuid.UUID]) -> None:
        self.db = db
        self.user_ids = user_ids
        self.longest_ms = 0.0

    async def _loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            user_id = random.choice(self.user_ids)
            started = time.perf_counter()
            async with self.db.session(SERVICE) as session:
                await session.execute(text("SELECT id FROM users WHERE id = :u FOR UPDATE"), {"u": user_id})
            self.longest_ms = max(self.longest_ms, (time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.05)

    async def during(self, action: Callable[[], Awaitable[object]]) -> float:
        """Run ``action`` with the probe; returns the action's time (ms). The probe's last wait
        (blocked until the action's transaction ended) is counted too."""
        stop = asyncio.Event()
        probe = asyncio.create_task(self._loop(stop))
        try:
            return await timed(action)
        finally:
            stop.set()
            await probe


class Batches:
    """``broadcasts.fan_out``, timing each batch's transaction."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.longest_ms = 0.0
        self.count = 0

    async def run(self, broadcast_id: uuid.UUID) -> None:
        done = False
        while not done:
            started = time.perf_counter()
            async with self.runtime.db.session(SERVICE) as session:
                done = await broadcasts.fan_out_batch(session, broadcast_id)
            self.longest_ms = max(self.longest_ms, (time.perf_counter() - started) * 1000)
            self.count += 1


async def measure(server_url: str, users: int, explain: bool) -> None:
    settings = Settings(secret_key=SECRET)
    owner_url = with_database(server_url, "bench")
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute("CREATE DATABASE bench")
    upgrade(owner_url)
    password = app_role_password(settings, SECRET)
    ensure_app_role(owner_url, settings.database.app_role, password, service_key=service_key(SECRET))
    db = Database(create_engine(app_url_for(settings, owner_url, SECRET)))
    runtime = build_runtime(settings, db, SECRET)

    async with db.session(SERVICE) as session:
        started = time.perf_counter()
        await session.execute(text(USERS_SQL), {"n": users})
        await session.execute(text(OPT_OUT_SQL))
        admin_id = (
            await session.execute(
                text("INSERT INTO users (email, role) VALUES ('admin@bench.example', 'admin') RETURNING id")
            )
        ).scalar_one()
        print(f"inserted {users:,} users in {time.perf_counter() - started:.1f} s")
    vacuum(owner_url)
    actor = Actor(user_id=admin_id, as_platform_admin=True, request="benchmark")

    async def baseline() -> None:
        async with db.session(SERVICE) as session:
            await session.execute(text(BASELINE_SQL))

    sent: list[uuid.UUID] = []

    async def request() -> None:
        async with db.session(SERVICE) as session:
            outcome = await operator.broadcast(
                session, actor, audience="everyone", organization=None, title="Maintenance tonight"
            )
            sent.append(uuid.UUID(outcome.data["broadcast_id"]))

    async with db.session(SERVICE) as session:
        sample = list((await session.execute(text("SELECT id FROM users LIMIT 1000"))).scalars())
    batches = Batches(runtime)
    if explain:
        await one_statement(db, explain=True)
    baselines = [await timed(baseline) for _ in range(3)]
    single_probe, job_probe = SignInProbe(db, sample), SignInProbe(db, sample)
    singles = [await single_probe.during(lambda: one_statement(db, explain=False)) for _ in range(3)]
    requests, jobs = [], []
    for _ in range(3):
        requests.append(await timed(request))
        jobs.append(await job_probe.during(lambda: batches.run(sent[-1])))
    async with db.session(SERVICE) as session:
        recipients = (await broadcasts.get(session, sent[-1])).recipient_count

    # 30 % of the recipients read their copies.
    async with db.session(SERVICE) as session:
        await session.execute(
            text(
                "UPDATE notifications SET read_at = now() "
                "WHERE user_id IN (SELECT id FROM users WHERE name ~ '[012]$')"
            )
        )
    vacuum(owner_url, "notifications")
    async with db.session(SERVICE) as session:
        one_user = (await session.execute(text("SELECT id FROM users WHERE name = 'User 7'"))).scalar_one()

    def as_user(action: Callable[..., Awaitable[object]]) -> Callable[[], Awaitable[object]]:
        async def call() -> None:
            async with db.session(Context(user_id=one_user)) as session:
                await action(session)

        return call

    async def read_counts() -> None:
        async with db.session(SERVICE) as session:
            await broadcasts.read_counts(session, sent)

    counts = [await timed(as_user(lambda s: service.unread_count(s, one_user))) for _ in range(5)]
    pages = [await timed(as_user(lambda s: service.list_for_user(s, one_user, limit=50))) for _ in range(5)]
    reads = [await timed(read_counts) for _ in range(5)]
    await db.dispose()

    def runs(values: list[float], digits: int = 0) -> tuple[str, str]:
        return f"{statistics.median(values):,.{digits}f}", ", ".join(f"{v:,.{digits}f}" for v in values)

    base, job = statistics.median(baselines), statistics.median(jobs)
    per_run = batches.count // 3
    report(
        [
            ("what", "median ms", "runs (ms)"),
            (f"baseline: {recipients:,} rows, bare", *runs(baselines)),
            ("fan-out as one statement", *runs(singles)),
            ("request: broadcast + commit", *runs(requests, 1)),
            (f"job: {recipients:,} copies, {per_run} batches of {broadcasts.BATCH_USERS:,}", *runs(jobs)),
            ("job / baseline", f"{job / base:.1f} x", ""),
            ("copies per second (job)", f"{recipients / job * 1000:,.0f}", ""),
            ("longest batch", f"{batches.longest_ms:,.0f}", ""),
            ("longest sign-in lock wait, one statement", f"{single_probe.longest_ms:,.0f}", ""),
            ("longest sign-in lock wait, job", f"{job_probe.longest_ms:,.0f}", ""),
            ("a user's unread count", *runs(counts, 1)),
            ("a user's first page (50)", *runs(pages, 1)),
            ("admin list: read counts of 3 broadcasts", *runs(reads, 1)),
        ]
    )


async def run(users: int, explain: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="saaskit-bench-broadcast-") as directory:
        server = EmbeddedPostgres(Path(directory))
        server.start()
        try:
            await measure(server.url("postgres"), users, explain)
        finally:
            server.stop()


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--explain", action="store_true", help="print the one-statement fan-out's plan")
    args = parser.parse_args()
    asyncio.run(run(args.users, args.explain))


if __name__ == "__main__":
    main()
