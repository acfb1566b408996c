"""Ingestion throughput through a running ``saaskit serve``, next to raw PostgreSQL baselines.

    uv run python benchmarks/ingest.py [--workers N] [--batch-events 200000] [--single 20000]

Starts ``saaskit serve`` (embedded PostgreSQL, fresh data directory) in a separate process,
creates an organization with an ingestion key over HTTP, then measures in one run:

  baseline  raw COPY into ``events`` (rows/s), and single-row INSERTs from 8 connections (rows/s)
  batch     PostHog ``/batch`` (100 events per request) and ``/api/events/batch`` (events/s)
  single    one event per request through ``/e`` and ``/api/events`` at 32 clients (req/s, p50, p99)

and prints each figure's ratio to its baseline. Every phase checks that the rows stored equal
the events acknowledged. Targets (DESIGN.md): batch >= 0.5 x COPY; single >= 0.3 x single-row
INSERT with p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime

import aiohttp
import httpx
import orjson
import psycopg

from benchmarks.common import LoadResult, Server, report, run_load

COLUMNS = "id, timestamp, organization_id, distinct_id, session_id, event_name, properties, utm_source"


def _properties(i: int) -> dict[str, object]:
    return {
        "$current_url": f"https://tv.example.com/screen/{i % 50}",
        "$browser": "Chrome",
        "$os": "Android",
        "widget": ["calendar", "weather", "photos"][i % 3],
        "i": i,
    }


def _posthog_event(phase: str, i: int, now: str) -> dict[str, object]:
    return {
        "event": phase,
        "distinct_id": f"visitor-{i % 5000}",
        "uuid": str(uuid.uuid4()),
        "timestamp": now,
        "properties": {**_properties(i), "$session_id": f"s-{i % 900}"},
    }


def _native_event(phase: str, i: int, now: str) -> dict[str, object]:
    return {
        "event_name": phase,
        "distinct_id": f"visitor-{i % 5000}",
        "uuid": str(uuid.uuid4()),
        "timestamp": now,
        "session_id": f"s-{i % 900}",
        "properties": _properties(i),
    }


def setup_project(base: str) -> tuple[str, str]:
    with httpx.Client(base_url=base, timeout=30) as http:
        owner = http.post(
            "/api/auth/signup",
            json={
                "email": f"bench-{uuid.uuid4().hex[:6]}@example.com",
                "password": "benchmark password",
                "analytics_consent": True,
            },
        )
        owner.raise_for_status()
        headers = {"Authorization": f"Bearer {owner.json()['token']}"}
        org = http.post("/api/orgs", json={"name": "Benchmark"}, headers=headers).json()
        key = http.post(f"/api/orgs/{org['id']}/ingestion-keys", headers=headers).json()["key"]
    return org["id"], key


def copy_baseline(owner_url: str, org_id: str, rows: int) -> float:
    now = datetime.now(UTC)
    data = [
        (
            uuid.uuid4(),
            now,
            org_id,
            f"visitor-{i % 5000}",
            f"s-{i % 900}",
            "baseline_copy",
            orjson.dumps(_properties(i)).decode(),
            None,
        )
        for i in range(rows)
    ]
    with psycopg.connect(owner_url) as conn:
        started = time.perf_counter()
        with conn.cursor().copy(f"COPY events ({COLUMNS}) FROM STDIN") as copy:
            for row in data:
                copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("DELETE FROM events WHERE event_name = 'baseline_copy'")
        conn.commit()
    return rows / elapsed


async def insert_baseline(owner_url: str, org_id: str, rows: int, connections: int = 8) -> float:
    now = datetime.now(UTC)
    sql = f"INSERT INTO events ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"

    async def worker(start: int) -> None:
        async with await psycopg.AsyncConnection.connect(owner_url, autocommit=True) as conn:
            for i in range(start, rows, connections):
                await conn.execute(
                    sql,
                    (
                        uuid.uuid4(),
                        now,
                        org_id,
                        f"visitor-{i % 5000}",
                        f"s-{i % 900}",
                        "baseline_insert",
                        orjson.dumps(_properties(i)).decode(),
                        None,
                    ),
                )

    started = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(connections)))
    elapsed = time.perf_counter() - started
    async with await psycopg.AsyncConnection.connect(owner_url, autocommit=True) as conn:
        await conn.execute("DELETE FROM events WHERE event_name = 'baseline_insert'")
    return rows / elapsed


async def post_bodies(
    base: str, path: str, bodies: list[bytes], headers: dict[str, str], concurrency: int, ok_status: int = 200
) -> LoadResult:
    async def request(session: aiohttp.ClientSession, n: int) -> bool:
        async with session.post(path, data=bodies[n], headers=headers) as response:
            await response.read()
            return response.status == ok_status

    return await run_load(base, request, total=len(bodies), concurrency=concurrency)


def stored(owner_url: str, phase: str) -> int:
    with psycopg.connect(owner_url) as conn:
        return int(conn.execute("SELECT count(*) FROM events WHERE event_name = %s", (phase,)).fetchone()[0])


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=1, help="saaskit serve --workers")
    parser.add_argument("--batch-events", type=int, default=200_000, help="events per batch phase")
    parser.add_argument("--single", type=int, default=20_000, help="requests per single-event phase")
    parser.add_argument("--batch-concurrency", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=32, help="clients in the single-event phases")
    args = parser.parse_args()

    server = Server(workers=args.workers)
    try:
        server.wait_ready()
        owner_url = server.owner_url()
        org_id, key = setup_project(server.base)
        print(
            f"saaskit serve --workers {args.workers}; {args.batch_events:,} events per batch phase, "
            f"{args.single:,} single requests at {args.concurrency} clients\n"
        )

        copy_rate = copy_baseline(owner_url, org_id, args.batch_events)
        insert_rate = await insert_baseline(owner_url, org_id, args.single)
        now = datetime.now(UTC).isoformat()
        json_headers = {"Content-Type": "application/json"}
        key_headers = {**json_headers, "Authorization": f"Bearer {key}"}
        per_request = 100
        batches = args.batch_events // per_request

        posthog_bodies = [
            orjson.dumps(
                {
                    "api_key": key,
                    "batch": [
                        _posthog_event("bench_posthog_batch", b * per_request + i, now)
                        for i in range(per_request)
                    ],
                }
            )
            for b in range(batches)
        ]
        posthog_batch = await post_bodies(
            server.base, "/batch/", posthog_bodies, json_headers, args.batch_concurrency
        )
        native_bodies = [
            orjson.dumps(
                {
                    "events": [
                        _native_event("bench_native_batch", b * per_request + i, now)
                        for i in range(per_request)
                    ]
                }
            )
            for b in range(batches)
        ]
        native_batch = await post_bodies(
            server.base, "/api/events/batch", native_bodies, key_headers, args.batch_concurrency
        )
        single_e = await post_bodies(
            server.base,
            "/e/",
            [orjson.dumps({**_posthog_event("bench_e", i, now), "api_key": key}) for i in range(args.single)],
            json_headers,
            args.concurrency,
        )
        single_native = await post_bodies(
            server.base,
            "/api/events",
            [orjson.dumps(_native_event("bench_api_events", i, now)) for i in range(args.single)],
            key_headers,
            args.concurrency,
        )

        checks = {
            "bench_posthog_batch": (posthog_batch.requests - posthog_batch.failures) * per_request,
            "bench_native_batch": (native_batch.requests - native_batch.failures) * per_request,
            "bench_e": single_e.requests - single_e.failures,
            "bench_api_events": single_native.requests - single_native.failures,
        }
        lost = {phase: (acked, stored(owner_url, phase)) for phase, acked in checks.items()}

        def ratio(value: float, base: float) -> str:
            return f"{value / base:.2f} x"

        rows = [
            ("measure", "figure", "baseline", "ratio"),
            ("raw COPY into events (baseline)", f"{copy_rate:,.0f} rows/s", "", ""),
            ("raw single-row INSERT, 8 connections (baseline)", f"{insert_rate:,.0f} rows/s", "", ""),
        ]
        for name, result in (
            ("POST /batch/ (PostHog, 100/request)", posthog_batch),
            ("POST /api/events/batch (100/request)", native_batch),
        ):
            events_per_second = (result.requests - result.failures) * per_request / result.seconds
            rows.append(
                (name, f"{events_per_second:,.0f} events/s", "COPY", ratio(events_per_second, copy_rate))
            )
        for name, result in (
            ("POST /e/ (single event)", single_e),
            ("POST /api/events (single event)", single_native),
        ):
            rows.append(
                (
                    name,
                    f"{result.rate:,.0f} req/s  p50 {result.percentile(0.5):.1f} ms  "
                    f"p99 {result.percentile(0.99):.1f} ms",
                    "INSERT",
                    ratio(result.rate, insert_rate),
                )
            )
        report(rows)
        print()
        failures = sum(r.failures for r in (posthog_batch, native_batch, single_e, single_native))
        print(f"failed requests: {failures}")
        for phase, (acked, in_db) in lost.items():
            print(
                f"{phase}: acknowledged {acked:,}, stored {in_db:,}"
                + ("" if acked == in_db else "  <-- MISMATCH")
            )
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
