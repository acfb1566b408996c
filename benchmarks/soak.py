"""Soak mode of ``benchmarks.ingest`` (``--soak SECONDS``): mixed ingestion traffic for a long
time, reported per interval, so that drift in latency or memory shows, and a final check that no
acknowledged event is missing.

Three wrk processes at once, restarted every interval (each interval's figures are its own):
PostHog ``/batch/`` (100 events a request, 4 clients), ``/e/`` (one event, 8 clients) and
``/api/events`` (one event, 8 clients). Each line carries the load average, CPU steal during the
interval and the API processes' RSS; the whole run is appended to
``benchmarks/results/ingest-soak.csv``.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg

from benchmarks.common import HttpResult, Machine, append_csv, run_wrk
from saaskit.kit.db import libpq_url

# (mode in ingest.lua, clients, events per request, event name)
MIX = (
    ("posthog-batch", 4, 100, "soak_posthog_batch"),
    ("posthog-single", 8, 1, "soak_posthog_single"),
    ("native-single", 8, 1, "soak_native_single"),
)


def _stored(owner_url: str) -> dict[str, int]:
    with psycopg.connect(libpq_url(owner_url)) as conn:
        rows = conn.execute(
            "SELECT event_name, count(*) FROM events WHERE event_name = ANY(%s) GROUP BY 1",
            ([m[3] for m in MIX],),
        ).fetchall()
    return {name: int(count) for name, count in rows}


def soak(
    base: str, owner_url: str, key: str, seconds: int, interval: int, ids: str, lua: str, properties: str
) -> None:
    acknowledged = dict.fromkeys((m[3] for m in MIX), 0)
    lines: list[tuple[int, dict[str, HttpResult], Machine]] = []
    started = time.monotonic()
    number = 0
    print(
        f"soak: {seconds} s of mixed traffic, {interval} s per line "
        "(/batch/ 4 clients x 100 events, /e/ 8 clients, /api/events 8 clients)"
    )
    print(
        f"  {'t s':>5} {'batch ev/s':>10} {'p99':>6} {'/e req/s':>9} {'p99':>6} {'native req/s':>12} "
        f"{'p99':>6} {'errors':>6} {'API RSS MB':>10} {'load':>5} {'steal %':>7}"
    )
    with ThreadPoolExecutor(len(MIX)) as pool:
        while time.monotonic() - started < seconds:
            number += 1
            machine = Machine()
            futures = {
                name: pool.submit(
                    run_wrk,
                    base,
                    lua,
                    clients=clients,
                    seconds=interval,
                    # A phase number of its own per interval and mode: ordered uuids stay unique.
                    args=(mode, key, name, 100 + number * len(MIX) + index, properties, ids),
                )
                for index, (mode, clients, _, name) in enumerate(MIX)
            }
            results = {name: future.result() for name, future in futures.items()}
            machine.stop()
            for _, _, per_request, name in MIX:
                acknowledged[name] += results[name].successful * per_request
            lines.append((int(time.monotonic() - started), results, machine))
            batch, single, native = (results[m[3]] for m in MIX)
            print(
                f"  {lines[-1][0]:>5} {batch.requests_per_second * 100:>10,.0f} {batch.p99_ms:>6.1f} "
                f"{single.requests_per_second:>9,.0f} {single.p99_ms:>6.1f} "
                f"{native.requests_per_second:>12,.0f} {native.p99_ms:>6.1f} "
                f"{sum(r.errors for r in results.values()):>6} {machine.rss_mb:>10.0f} "
                f"{machine.load:>5.1f} {machine.steal_pct:>7.1f}",
                flush=True,
            )
    in_db = _stored(owner_url)
    lost = {name: acknowledged[name] - in_db.get(name, 0) for name in acknowledged}
    print()
    for name in acknowledged:
        verdict = "  <-- LOST EVENTS" if lost[name] > 0 else ""
        print(f"{name}: acknowledged {acknowledged[name]:,}, stored {in_db.get(name, 0):,}{verdict}")
    rss = [m.rss_mb for _, _, m in lines]
    half = max(1, len(lines) // 2)
    p99_first = statistics.median(r[MIX[1][3]].p99_ms for _, r, _ in lines[:half])
    p99_last = statistics.median(r[MIX[1][3]].p99_ms for _, r, _ in lines[-half:])
    print(
        f"API RSS first {rss[0]:.0f} MB, max {max(rss):.0f} MB, last {rss[-1]:.0f} MB; "
        f"/e/ p99 median first half {p99_first:.1f} ms, second half {p99_last:.1f} ms"
    )
    rows: list[dict[str, object]] = []
    for at, results, machine in lines:
        for mode, _, per_request, name in MIX:
            result = results[name]
            rows.append(
                {
                    "run": f"soak {seconds}s interval={interval} ids={ids}",
                    "measure": f"{mode} at t={at}s",
                    "figure": round(result.requests_per_second * per_request),
                    "unit": "events/s",
                    "p50_ms": f"{result.p50_ms:.1f}",
                    "p99_ms": f"{result.p99_ms:.1f}",
                    "errors": result.errors,
                    "load": f"{machine.load:.2f}",
                    "steal_pct": f"{machine.steal_pct:.1f}",
                    "busy_pct": f"{machine.busy_pct:.0f}",
                    "api_rss_mb": f"{machine.rss_mb:.0f}",
                }
            )
    for name in acknowledged:
        rows.append(
            {
                "run": f"soak {seconds}s interval={interval} ids={ids}",
                "measure": f"{name} acknowledged vs stored",
                "figure": in_db.get(name, 0),
                "unit": "events stored",
                "baseline": "acknowledged",
                "baseline_figure": acknowledged[name],
                "notes": "LOST EVENTS" if lost[name] > 0 else "none missing",
            }
        )
    print(f"appended to {append_csv('ingest-soak', rows)}")
