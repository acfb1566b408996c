"""Ingestion throughput through a running ``saaskit serve``, next to raw PostgreSQL baselines
measured in the same run.

    uv run python -m benchmarks.ingest [--workers 1] [--duration 15] [--clients 32]
    uv run python -m benchmarks.ingest --soak 600 [--soak-interval 30]   # mixed traffic, 10 min
    uv run python -m benchmarks.ingest --no-pipeline   # group commits without pipeline mode

Starts ``saaskit serve`` (fresh embedded PostgreSQL, default settings: fsync on; the ingestion rate
limits checked on every request but raised out of reach, see RATE_LIMITS) in a separate
process, creates an organization with an ingestion key over HTTP, then measures, alternating
baselines and HTTP phases:

  baseline  raw COPY into ``events`` with psql's ``\\copy`` (rows/s), and single-row INSERTs
            with pgbench from 8 connections (rows/s); both C clients, no Python in the way
  batch     PostHog ``/batch`` and ``/api/events/batch``, 100 events per request (events/s); and
            ``/batch`` again with ``$set`` / ``$set_once`` on every event (persons updated)
  single    one event per request through ``/e`` and ``/api/events`` at 32 clients
            (requests/s, p50, p99)

The load generator is wrk; its Lua scripts give every event a unique uuid. Each HTTP phase then
checks that no acknowledged event is missing (stored >= acknowledged: requests still in flight
when wrk stops may be stored without having been acknowledged). Targets (DESIGN.md): batch
>= 0.5 x COPY; single >= 0.3 x single-row INSERT, p99 < 50 ms.

Beside every figure: the load average, the CPU steal seen during that phase (/proc/stat) and the
API processes' RSS (target < 200 MB each). Every run appends its figures to
``benchmarks/results/ingest.csv`` (``ingest-soak.csv`` for soak runs) with the commit.

``--soak N``: N seconds of mixed traffic instead (``/batch`` at 4 clients, ``/e`` and
``/api/events`` at 8 each, all at once), reported per ``--soak-interval``: throughput, p99, API
RSS, load and steal per interval, so drift in latency or memory shows; at the end every
acknowledged event must be stored.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg

from benchmarks.common import HttpResult, Machine, append_csv, report, run_pgbench, run_wrk, serve
from benchmarks.profiling import profiled
from benchmarks.soak import soak
from saaskit.kit.db import libpq_url
from saaskit.kit.embedded import _bin_dir
from saaskit.kit.ids import uuid7
from saaskit.tracking.ingest import EVENT_COLUMNS, INSERT_EVENTS

PROPERTIES = '{"$current_url":"https://tv.example.com/screen/7","$browser":"Chrome","$os":"Android","widget":"calendar"}'

# The same events carrying person properties, as posthog-js sends after identify: each one reads
# and locks its person (flags.persons.apply) besides being stored. Compared with the plain batch
# of the same run, it gives the persons' cost on the capture path.
PERSON_PROPERTIES = PROPERTIES[:-1] + ',"$set":{"plan":"pro","screen":7},"$set_once":{"first_screen":7}}'

LUA = (Path(__file__).parent / "ingest.lua").read_text()
# The rate limits of ingestion (docs/limits.md) stay on, so their cost is measured, but are raised
# out of reach: the load comes from one address and one key, far past any sensible limit.
RATE_LIMITS = {
    "SAASKIT_RATE_LIMIT_CAPTURE_PER_IP": "1000000000/minute",
    "SAASKIT_RATE_LIMIT_CAPTURE_PER_KEY": "1000000000/minute",
}


def _server_env(args: argparse.Namespace) -> dict[str, str]:
    if args.no_pipeline:
        return {**RATE_LIMITS, "SAASKIT_TRACKING_GROUP_COMMIT_PIPELINE": "false"}
    return RATE_LIMITS


def setup_project(base: str, tokens: dict[str, str] | None = None) -> tuple[str, str]:
    """An owner, an organization and its ingestion key; the owner's session token goes to
    ``tokens[base]`` when given."""
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
        if tokens is not None:
            tokens[base] = owner.json()["token"]
        org = http.post("/api/orgs", json={"name": "Benchmark"}, headers=headers).json()
        key = http.post(f"/api/orgs/{org['id']}/ingestion-keys", headers=headers).json()["key"]
    return org["id"], key


def new_id(ids: str) -> uuid.UUID:
    return uuid7() if ids == "ordered" else uuid.uuid4()


def copy_baseline(owner_url: str, org_id: str, rows: int, directory: Path, ids: str) -> float:
    """psql \\copy of ``rows`` events from a CSV file: the fastest way in, as the owner."""
    path = directory / "events.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        for i in range(rows):
            writer.writerow(
                [
                    new_id(ids),
                    "now",
                    org_id,
                    f"visitor-{i % 5000}",
                    f"s-{i % 900}",
                    "baseline_copy",
                    PROPERTIES,
                ]
            )
    command = [
        str(_bin_dir() / "psql"),
        "-X",
        "-q",
        "-d",
        libpq_url(owner_url),
        "-c",
        f"\\copy events (id, timestamp, organization_id, distinct_id, session_id, event_name, properties) "
        f"FROM '{path}' WITH (FORMAT csv)",
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    elapsed = time.perf_counter() - started
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
        conn.execute("DELETE FROM events WHERE event_name = 'baseline_copy'")
    path.unlink()
    return rows / elapsed


def insert_baseline(owner_url: str, org_id: str, seconds: int) -> float:
    script = (
        "\\set n random(1, 1000000000)\n"
        "INSERT INTO events (id, timestamp, organization_id, distinct_id, session_id, event_name, "
        "properties) "
        f"VALUES (gen_random_uuid(), now(), '{org_id}', 'visitor-' || (:n % 5000), 's-' || (:n % 900), "
        f"'baseline_insert', '{PROPERTIES}');\n"
    )
    tps, _ = run_pgbench(owner_url, script, 8, seconds)
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
        conn.execute("DELETE FROM events WHERE event_name = 'baseline_insert'")
    return tps


def statement_ceiling(owner_url: str, org_id: str, seconds: int, ids: str) -> float:
    """saaskit's own batch statement (tracking.ingest.INSERT_EVENTS, receipts included) with 100
    rows, issued by pgbench from 2 connections: what PostgreSQL alone allows for the deduplicated
    path, with no HTTP, JSON parsing or Python in the way."""
    rows = [
        {
            "timestamp": datetime.now(UTC).isoformat(),
            "organization_id": org_id,
            "distinct_id": f"visitor-{i}",
            "session_id": "s-1",
            "event_name": "baseline_statement",
            "properties": json.loads(PROPERTIES),
        }
        for i in range(100)
    ]
    document = json.dumps(rows).replace("'", "''")
    make_id = "uuidv7()" if ids == "ordered" else "gen_random_uuid()"
    columns = EVENT_COLUMNS.removeprefix("id uuid, ")
    statement = str(INSERT_EVENTS.text).replace(
        "SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(" + EVENT_COLUMNS + ")",
        f"SELECT {make_id} AS id, r.* FROM jsonb_to_recordset('{document}'::jsonb) AS r({columns})",
    )
    assert "uuidv7" in statement or "gen_random_uuid() AS id" in statement
    tps, _ = run_pgbench(owner_url, statement + ";\n", 2, seconds)
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
        conn.execute("DELETE FROM events WHERE event_name = 'baseline_statement'")
    return tps * 100


def stored(owner_url: str, name: str) -> int:
    with psycopg.connect(libpq_url(owner_url)) as conn:
        row = conn.execute("SELECT count(*) FROM events WHERE event_name = %s", (name,)).fetchone()
    return int(row[0]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1, help="saaskit serve --workers")
    parser.add_argument("--duration", type=int, default=15, help="seconds per phase")
    parser.add_argument("--clients", type=int, default=32, help="clients in the single-event phases")
    parser.add_argument("--batch-clients", type=int, default=8)
    parser.add_argument("--copy-rows", type=int, default=300_000)
    parser.add_argument(
        "--ids",
        choices=("random", "ordered"),
        default="random",
        help="event uuids everywhere: random (uuid4, posthog-python) or ordered (UUIDv7, posthog-js)",
    )
    parser.add_argument("--only", help="comma-separated HTTP phases, e.g. posthog-single,native-batch")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the API process in each HTTP phase (see profiling.py)"
    )
    parser.add_argument(
        "--no-pipeline",
        action="store_true",
        help="group commits without psycopg pipeline mode (SAASKIT_TRACKING_GROUP_COMMIT_PIPELINE=false)",
    )
    parser.add_argument("--soak", type=int, default=0, help="seconds of mixed traffic (soak mode)")
    parser.add_argument("--soak-interval", type=int, default=30, help="seconds per soak report line")
    args = parser.parse_args()

    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="saaskit-bench-")))
        base, owner_url = stack.enter_context(serve(args.workers, directory / "data", env=_server_env(args)))
        org_id, key = setup_project(base)
        print(
            f"saaskit serve --workers {args.workers}; {os.cpu_count()} CPUs; load generator wrk; "
            f"{args.ids} event ids; "
            f"{args.duration} s per phase (load {os.getloadavg()[0]:.1f})\n",
            flush=True,
        )
        if args.soak:
            soak(base, owner_url, key, args.soak, args.soak_interval, args.ids, LUA, PROPERTIES)
            return
        csv_rows: list[dict[str, object]] = []
        machine = Machine()
        copy_rate = copy_baseline(owner_url, org_id, args.copy_rows, directory, args.ids)
        copy_machine = machine.stop()
        machine = Machine()
        statement_rate = statement_ceiling(owner_url, org_id, args.duration, args.ids)
        statement_machine = machine.stop()
        machine = Machine()
        insert_rate = insert_baseline(owner_url, org_id, args.duration)
        insert_machine = machine.stop()
        phases: dict[str, tuple[HttpResult, int, Machine]] = {}
        profiles: dict[str, list[str]] = {}
        modes = (
            ("posthog-batch", "posthog-batch", args.batch_clients, 100, PROPERTIES),
            ("posthog-batch-persons", "posthog-batch", args.batch_clients, 100, PERSON_PROPERTIES),
            ("native-batch", "native-batch", args.batch_clients, 100, PROPERTIES),
            ("posthog-single", "posthog-single", args.clients, 1, PROPERTIES),
            ("native-single", "native-single", args.clients, 1, PROPERTIES),
        )
        for phase, (mode, lua_mode, clients, per_request, properties) in enumerate(modes, start=1):
            if args.only and mode not in args.only.split(","):
                continue
            name = f"bench_{mode.replace('-', '_')}"
            machine = Machine()
            with profiled(f"ingest-{mode}", args.duration - 1 if args.profile else 0) as profile:
                result = run_wrk(
                    base,
                    LUA,
                    clients=clients,
                    seconds=args.duration,
                    args=(lua_mode, key, name, phase, properties, args.ids),
                )
            machine.stop()
            profiles[mode] = profile
            phases[mode] = (result, per_request, machine)
            print(
                f"  {mode}: {result.requests_per_second:,.0f} req/s, API CPU "
                f"{machine.cpu_us_per(result.requests):,.0f} us/request ({machine.describe()})",
                flush=True,
            )
        rows: list[tuple[str, ...]] = [
            ("measure", "figure", "baseline", "ratio", "load / steal / API RSS"),
            (
                "raw COPY into events (psql \\copy)",
                f"{copy_rate:,.0f} rows/s",
                "",
                "",
                copy_machine.describe(),
            ),
            (
                "raw single-row INSERT (pgbench, 8 connections)",
                f"{insert_rate:,.0f} rows/s",
                "",
                "",
                insert_machine.describe(),
            ),
            (
                "saaskit's batch INSERT alone (pgbench, 100 rows)",
                f"{statement_rate:,.0f} rows/s",
                "COPY",
                f"{statement_rate / copy_rate:.2f} x",
                statement_machine.describe(),
            ),
        ]
        for label, rate, unit, m in (
            ("raw COPY", copy_rate, "rows/s", copy_machine),
            ("raw INSERT", insert_rate, "rows/s", insert_machine),
            ("batch statement alone", statement_rate, "rows/s", statement_machine),
        ):
            csv_rows.append(_csv_row(args, label, rate, unit, m, baseline="", baseline_figure=None))
        labels = {
            "posthog-batch": "POST /batch/ (PostHog, 100/request)",
            "posthog-batch-persons": "POST /batch/ with $set / $set_once on every event",
            "native-batch": "POST /api/events/batch (100/request)",
            "posthog-single": "POST /e/ (single event)",
            "native-single": "POST /api/events (single event)",
        }
        checks = []
        for mode, (result, per_request, machine) in phases.items():
            name = f"bench_{mode.replace('-', '_')}"
            acknowledged = result.successful * per_request
            in_db = stored(owner_url, name)
            checks.append(
                f"{labels[mode]}: acknowledged {acknowledged:,}, stored {in_db:,}"
                + ("" if in_db >= acknowledged else "  <-- LOST EVENTS")
            )
            if per_request > 1:
                rate = result.requests_per_second * per_request
                rows.append(
                    (
                        labels[mode],
                        f"{rate:,.0f} events/s  p99 {result.p99_ms:.0f} ms  "
                        f"API CPU {machine.cpu_us_per(result.requests):,.0f} us/req",
                        "COPY",
                        f"{rate / copy_rate:.2f} x",
                        machine.describe(),
                    )
                )
                csv_rows.append(
                    _csv_row(args, labels[mode], rate, "events/s", machine, "COPY", copy_rate, result)
                )
            else:
                rows.append(
                    (
                        labels[mode],
                        f"{result.requests_per_second:,.0f} req/s  p50 {result.p50_ms:.1f} ms  "
                        f"p99 {result.p99_ms:.1f} ms  "
                        f"API CPU {machine.cpu_us_per(result.requests):,.0f} us/req",
                        "INSERT",
                        f"{result.requests_per_second / insert_rate:.2f} x",
                        machine.describe(),
                    )
                )
                csv_rows.append(
                    _csv_row(
                        args,
                        labels[mode],
                        result.requests_per_second,
                        "req/s",
                        machine,
                        "INSERT",
                        insert_rate,
                        result,
                    )
                )
        if "posthog-batch" in phases and "posthog-batch-persons" in phases:
            plain, persons = (
                phases[m][0].requests_per_second for m in ("posthog-batch", "posthog-batch-persons")
            )
            rows.append(
                (
                    "persons' cost: batch with $set over plain batch",
                    "",
                    "/batch/",
                    f"{persons / plain:.2f} x",
                    "",
                )
            )
        print()
        report(rows)
        print(f"\nerrors: {sum(r.errors for r, _, _ in phases.values())}")
        for line in checks:
            print(line)
        for mode, lines in profiles.items():
            if lines:
                print(f"\n{labels[mode]}, {lines[0]}")
                print("\n".join(lines[1:]))
        print(f"\nappended to {append_csv('ingest', csv_rows)}")


def _csv_row(
    args: argparse.Namespace,
    measure: str,
    figure: float,
    unit: str,
    machine: Machine,
    baseline: str,
    baseline_figure: float | None,
    result: HttpResult | None = None,
) -> dict[str, object]:
    return {
        "run": f"workers={args.workers} ids={args.ids} duration={args.duration}"
        + (" pipeline=off" if args.no_pipeline else ""),
        "measure": measure,
        "figure": round(figure),
        "unit": unit,
        "baseline": baseline,
        "baseline_figure": round(baseline_figure) if baseline_figure else "",
        "ratio": f"{figure / baseline_figure:.3f}" if baseline_figure else "",
        "p50_ms": f"{result.p50_ms:.1f}" if result else "",
        "p99_ms": f"{result.p99_ms:.1f}" if result else "",
        "errors": result.errors if result else "",
        "load": f"{machine.load:.2f}",
        "steal_pct": f"{machine.steal_pct:.1f}",
        "busy_pct": f"{machine.busy_pct:.0f}",
        "api_rss_mb": f"{machine.rss_mb:.0f}",
        "api_cpu_us_per_request": f"{machine.cpu_us_per(result.requests):.0f}" if result else "",
    }


if __name__ == "__main__":
    main()
