"""Analytics reads on a real streaming replica (``SAASKIT_DATABASE_REPLICA_URLS``): read there
while its replay lag is under the threshold (the answers are the replica's, visibly stale while
replay is paused), from the primary once it falls behind, and from the primary at once, with no
error, when the replica is stopped; writes and sign-in stay on the primary. Then failover: with
synchronous replication, the primary crashes, the replica is promoted and saaskit pointed at it
loses nothing acknowledged; the old primary, back up, is fenced and refused."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from saaskit.app import create_app
from saaskit.cli import app as cli_app
from saaskit.config import DatabaseSettings, Settings, get_settings
from saaskit.kit.bootstrap import build_runtime
from saaskit.kit.db import Database, create_engine, libpq_url
from saaskit.kit.replicas import LAG_SQL, Replicas
from saaskit.kit.state import Runtime
from saaskit.system import failover
from tests.admin.conftest import form_sign_in
from tests.conftest import APP_ROLE, TEST_SECRET
from tests.helpers import SignedUp, signup
from tests.operations.conftest import REPLICA_NAME, Pair, one, wait_for

runner = CliRunner()


@asynccontextmanager
async def routed(
    pair: Pair, settings: Settings, primary_url: str | None = None
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime, Replicas]]:
    """The real ASGI app on the pair's primary, with the replica configured."""
    database = DatabaseSettings(
        app_role=APP_ROLE,
        replica_urls=[pair.replica_url],
        replica_max_lag_seconds=60,
        replica_retry_seconds=0.2,
    )
    configured = settings.model_copy(update={"database": database})
    engine = create_engine(pair.app_url(primary_url or pair.primary_url, configured), pool_size=2)
    runtime = build_runtime(configured, Database(engine), TEST_SECRET)
    assert runtime.replicas is not None
    transport = httpx.ASGITransport(
        app=create_app(runtime, dispose_on_shutdown=False), client=("203.0.113.7", 1)
    )
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http, runtime, runtime.replicas
    finally:
        await runtime.db.dispose()
        await runtime.replicas.dispose()


def execute(url: str, query: str, *params: object) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(query, params)  # type: ignore[arg-type]


async def admin_of(http: httpx.AsyncClient, pair: Pair) -> SignedUp:
    admin = await signup(http)  # a write: the primary
    execute(pair.primary_url, "UPDATE users SET role = 'admin' WHERE id = %s", admin.id)
    return admin


async def total_users(http: httpx.AsyncClient, admin: SignedUp) -> int:
    response = await http.get("/api/admin/stats", headers=admin.headers)
    assert response.status_code == 200, response.text
    return int(response.json()["totalUsers"])


def add_users(pair: Pair, count: int) -> None:
    for _ in range(count):
        execute(
            pair.primary_url,
            "INSERT INTO users (email) VALUES (%s)",
            f"r-{uuid.uuid4().hex[:10]}@example.com",
        )


def replica_lag(pair: Pair) -> float:
    value = one(pair.replica_url, str(LAG_SQL))
    assert isinstance(value, float)
    return value


async def test_analytics_read_the_replica_within_the_lag_threshold_else_the_primary(
    pair: Pair, settings: Settings
) -> None:
    async with routed(pair, settings) as (http, _, replicas):
        admin = await admin_of(http, pair)
        pair.caught_up()
        replica = replicas.members[0]
        total = await total_users(http, admin)
        assert (replica.reads, replicas.primary_reads) == (1, 0)
        execute(pair.replica_url, "SELECT pg_wal_replay_pause()")
        try:
            add_users(pair, 3)
            target = one(pair.primary_url, "SELECT pg_current_wal_lsn()::text")
            wait_for(
                lambda: bool(
                    one(pair.replica_url, f"SELECT pg_last_wal_receive_lsn() >= '{target}'::pg_lsn")
                ),
                10,
                "the replica to receive the new users",
            )
            # Within the threshold: the replica answers, without the users it has not replayed.
            assert await total_users(http, admin) == total
            assert (replica.reads, replicas.primary_reads) == (2, 0)
            # Past it: the primary answers, with them.
            replicas.max_lag_seconds = 0.3
            wait_for(lambda: replica_lag(pair) > 0.3, 10, "the replica's lag to pass 0.3 s")
            assert await total_users(http, admin) == total + 3
            assert (replica.reads, replicas.primary_reads) == (2, 1)
            assert replica.last_lag is not None and replica.last_lag > 0.3
        finally:
            execute(pair.replica_url, "SELECT pg_wal_replay_resume()")
            # Back to a threshold no write racing its replay can cross (a replica that has just
            # received a write counts as behind by the age of its last replayed transaction).
            replicas.max_lag_seconds = 60
        pair.caught_up()
        assert await total_users(http, admin) == total + 3
        assert (replica.reads, replicas.primary_reads) == (3, 1)
        # The other analytics endpoints and the admin's analytics page read there too.
        kpis = await http.get("/api/insights/kpis", headers=admin.headers)
        assert kpis.status_code == 200, kpis.text
        assert (await form_sign_in(http, admin.email)).status_code == 303
        page = await http.get("/admin/analytics")
        assert page.status_code == 200, page.text
        assert replica.reads == 5
        # A write meanwhile (a sign-up, then its own session reading the account) is the primary's.
        newcomer = await signup(http)
        me = await http.get("/api/me", headers=newcomer.headers)
        assert me.status_code == 200 and me.json()["email"] == newcomer.email


def test_the_replica_enforces_the_same_row_level_security(pair: Pair, settings: Settings) -> None:
    pair.caught_up()
    app_url = pair.app_url(pair.replica_url, settings)
    owner_count = int(str(one(pair.replica_url, "SELECT count(*) FROM user_sessions")))
    assert owner_count > 1  # the owner sees every session
    assert one(app_url, "SELECT count(*) FROM user_sessions") == 0  # the application role, no context: none
    user_id = one(pair.replica_url, "SELECT user_id::text FROM user_sessions LIMIT 1")
    own = one(pair.replica_url, f"SELECT count(*) FROM user_sessions WHERE user_id = '{user_id}'")
    with psycopg.connect(libpq_url(app_url)) as conn:
        conn.execute("SELECT set_config('app.user_id', %s, true)", (user_id,))
        row = conn.execute("SELECT count(*) FROM user_sessions").fetchone()
    assert row is not None and row[0] == own < owner_count  # a user's context: that user's own
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        execute(app_url, "UPDATE user_preferences SET user_id = user_id")


async def test_a_stopped_replica_sends_reads_to_the_primary_without_errors(
    pair: Pair, settings: Settings
) -> None:
    async with routed(pair, settings) as (http, _, replicas):
        admin = await admin_of(http, pair)
        pair.caught_up()
        replica = replicas.members[0]
        total = await total_users(http, admin)
        assert replica.reads == 1
        pair.replica.stop()
        try:
            add_users(pair, 2)
            for _ in range(3):
                assert await total_users(http, admin) == total + 2
            assert replicas.primary_reads == 3
            assert replica.down_until > time.monotonic() - 1
        finally:
            pair.replica.start()
        pair.caught_up()
        await asyncio.sleep(0.25)  # replica_retry_seconds: it is tried again
        assert await total_users(http, admin) == total + 2
        assert (replica.reads, replicas.primary_reads) == (2, 3)


def cli(env: dict[str, str], *args: str) -> tuple[int, str, BaseException | None]:
    get_settings.cache_clear()
    result = runner.invoke(cli_app, list(args), env=env)
    get_settings.cache_clear()
    return result.exit_code, result.output, result.exception


async def test_failover_loses_nothing_acknowledged_and_fences_the_old_primary(
    pair: Pair, settings: Settings
) -> None:
    env = {
        "SAASKIT_DATABASE_URL": pair.primary_url,
        "SAASKIT_SECRET_KEY": TEST_SECRET,
        "SAASKIT_DATABASE_APP_ROLE": APP_ROLE,
        "SAASKIT_LOG_LEVEL": "WARNING",
    }
    # Synchronous replication to the replica (docs/operations.md): a commit is acknowledged
    # once the replica has flushed it.
    execute(pair.primary_url, f"ALTER SYSTEM SET synchronous_standby_names = '{REPLICA_NAME}'")
    execute(pair.primary_url, "SELECT pg_reload_conf()")
    wait_for(
        lambda: (
            one(pair.primary_url, "SELECT string_agg(sync_state, ',') FROM pg_stat_replication") == "sync"
        ),
        10,
        "the replica to become synchronous",
    )
    assert cli(env, "failover", "check")[0] == 0
    code, output, _ = cli(env, "failover", "check", "--url", pair.replica_url)
    assert code == 1 and "standby" in output

    # Acknowledged writes through saaskit, then the primary crashes at once (no shutdown).
    async with routed(pair, settings) as (http, _, _replicas):
        acknowledged = [await signup(http) for _ in range(5)]
    execute(pair.primary_url, "CREATE TABLE failover_probe (n int PRIMARY KEY)")
    for n in range(50):
        execute(pair.primary_url, "INSERT INTO failover_probe VALUES (%s)", n)
    process = pair.primary.running_process()
    assert process is not None
    os.kill(process.pid, signal.SIGQUIT)  # immediate shutdown: what is not sent is lost
    wait_for(lambda: pair.primary.running_process() is None, 10, "the primary to stop")

    code, output, _ = cli(env, "failover", "promote", "--replica", pair.replica_url)
    assert code == 0 and "promoted" in output, output
    new_env = {**env, "SAASKIT_DATABASE_URL": pair.replica_url}
    assert cli(new_env, "failover", "check")[0] == 0
    assert one(pair.replica_url, "SELECT count(*) FROM failover_probe") == 50
    emails = {a.email for a in acknowledged}
    with psycopg.connect(libpq_url(pair.replica_url)) as conn:
        found = {r[0] for r in conn.execute("SELECT email FROM users WHERE email = ANY(%s)", (list(emails),))}
    assert found == emails
    # saaskit on the new primary: signs in the accounts it acknowledged, writes new ones.
    async with routed(pair, settings, primary_url=pair.replica_url) as (http, _, _replicas):
        me = await http.get("/api/me", headers=acknowledged[-1].headers)
        assert me.status_code == 200, me.text
        await signup(http)

    # The old primary comes back: fenced, saaskit refuses it, nothing can write there.
    pair.primary.start()
    assert cli(env, "failover", "check")[0] == 0  # not fenced yet: the danger the fence removes
    code, output, _ = cli(env, "failover", "fence", "--url", pair.primary_url)
    assert code == 0 and "fenced" in output, output
    code, output, _ = cli(env, "failover", "check")
    assert code == 1 and "fenced" in output
    code, _, error = cli(env, "migrate")
    assert code != 0 and isinstance(error, failover.NotPrimary)
    with pytest.raises(failover.NotPrimary, match="fenced"):
        failover.check_primary(pair.primary_url)
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        execute(pair.app_url(pair.primary_url, settings), "INSERT INTO failover_probe VALUES (1000)")
    # A saaskit still pointed at it: writes are refused with 503s, never 500s, and nothing lands.
    async with routed(pair, settings) as (http, _, _replicas):
        refused = await http.post(
            "/api/auth/signup", json={"email": "late@example.com", "password": "a long passphrase 42"}
        )
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "database_unavailable"
    assert one(pair.primary_url, "SELECT count(*) FROM users WHERE email = 'late@example.com'") == 0
    assert re.search(r"fenced \(replaced by a promoted replica at \d{4}-", output)
