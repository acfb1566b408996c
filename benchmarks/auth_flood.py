"""Does a flood of failed sign-ins slow everyone else down? ``GET /api/me`` latency alone, then
during 30 concurrent failed sign-ins, through a running ``saaskit serve``.

    uv run python -m benchmarks.auth_flood [--workers 1] [--duration 20] [--flooders 30]

Starts ``saaskit serve`` (fresh embedded PostgreSQL, production argon2 parameters) in a separate
process and signs up one user, whose ``GET /api/me`` is the measured request, and ten victims.
Then, for each flood kind, alternating (the machine is shared: each flood phase has its own
baseline measured just before it):

  baseline  ``GET /api/me`` back to back from one keep-alive client for ``--duration`` seconds
  flood     the same, while another process keeps ``--flooders`` (30) sign-ins with a wrong
            password in flight: ``existing`` e-mails (the victims) or ``random`` ones (no account)

It prints p50 and p95 of ``/api/me`` for each phase, the ratio flood / baseline, the sign-in
attempts per second and their answers, and the most connections of the application role seen
at once during the flood (sampled every 0.2 s): busy, and idle in an open transaction for
over 0.5 s (a connection held while the request does something else: a password hash).
Target: ``/api/me`` p50 under 50 ms during the flood.

The rate limits of sign-in are raised for this run (``SERVE_ENV``): every
attempt of the flood must reach the password hash, which is what is measured here. With the
default limits, one address is refused (429) after a few dozen attempts, at no hashing cost.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import httpx
import psycopg

from benchmarks.common import report, serve
from saaskit.kit.db import libpq_url

VICTIMS = 10
PASSWORD = "benchmark password"  # noqa: S105 - the victims' password, on a throwaway server
# Every attempt must reach the hash: see the docstring.
SERVE_ENV = {
    "SAASKIT_RATE_LIMIT_SIGN_IN_PER_IP": "1000000/minute",
    "SAASKIT_RATE_LIMIT_SIGN_IN_PER_ACCOUNT": "1000000/minute",
    "SAASKIT_AUTH_LOCKOUT_THRESHOLD": "1000000",
}


def victim(n: int) -> str:
    return f"victim-{n}@example.com"


def setup(base: str) -> str:
    """Signs up the victims and the measured user; returns the measured user's token."""
    with httpx.Client(base_url=base, timeout=60) as http:
        for n in range(VICTIMS):
            http.post("/api/auth/signup", json={"email": victim(n), "password": PASSWORD}).raise_for_status()
        me = http.post("/api/auth/signup", json={"email": "measured@example.com", "password": PASSWORD})
        me.raise_for_status()
        return str(me.json()["token"])


async def _flood(base: str, kind: str, flooders: int, stop: Event) -> dict[str, Any]:
    statuses: Counter[str] = Counter()
    started = time.monotonic()

    async def one(worker: int) -> None:
        attempt = 0
        async with httpx.AsyncClient(base_url=base, timeout=120) as http:
            while not stop.is_set():
                attempt += 1
                email = (
                    victim((worker + attempt) % VICTIMS)
                    if kind == "existing"
                    else f"nobody-{uuid.uuid4().hex[:12]}@example.com"
                )
                try:
                    answer = await http.post(
                        "/api/auth/login", json={"email": email, "password": "not the password"}
                    )
                    statuses[str(answer.status_code)] += 1
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1

    await asyncio.gather(*(one(i) for i in range(flooders)))
    return {"statuses": dict(statuses), "seconds": time.monotonic() - started}


def flood_process(base: str, kind: str, flooders: int, stop: Event, results: Any) -> None:
    results.put(asyncio.run(_flood(base, kind, flooders, stop)))


def measure_me(base: str, token: str, seconds: float) -> list[float]:
    """Latencies (ms) of back-to-back ``GET /api/me`` for ``seconds``."""
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=60, headers=headers) as http:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            answer = http.get("/api/me")
            latencies.append((time.perf_counter() - started) * 1000)
            answer.raise_for_status()
    return latencies


def watch_connections(owner_url: str, stop: threading.Event, seen: dict[str, int]) -> None:
    """The most connections of the application role seen at once: in use (not idle), and idle in
    an open transaction (held while doing something else: the password hash, before)."""
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as connection:
        while not stop.is_set():
            row = connection.execute(
                "SELECT count(*) FILTER (WHERE state <> 'idle'), "
                "count(*) FILTER (WHERE state LIKE 'idle in transaction%' "
                "AND state_change < now() - interval '0.5 s') "
                "FROM pg_stat_activity WHERE usename = 'saaskit_app'"
            ).fetchone()
            if row:
                seen["busy"] = max(seen.get("busy", 0), int(row[0]))
                seen["idle_in_transaction"] = max(seen.get("idle_in_transaction", 0), int(row[1]))
            stop.wait(0.2)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1, help="saaskit serve --workers")
    parser.add_argument("--duration", type=float, default=20, help="seconds per phase")
    parser.add_argument("--flooders", type=int, default=30, help="failed sign-ins kept in flight")
    args = parser.parse_args()
    spawn = multiprocessing.get_context("spawn")

    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="saaskit-bench-")))
        base, owner_url = stack.enter_context(serve(args.workers, directory / "data", env=SERVE_ENV))
        token = setup(base)
        print(
            f"saaskit serve --workers {args.workers}; {os.cpu_count()} CPUs; {args.flooders} concurrent "
            f"failed sign-ins; {args.duration:.0f} s per phase (load {os.getloadavg()[0]:.1f})\n",
            flush=True,
        )
        measure_me(base, token, 2)  # warm-up
        rows: list[tuple[str, ...]] = [
            (
                "phase",
                "/api/me p50",
                "p95",
                "requests",
                "sign-ins/s",
                "sign-in answers",
                "connections",
                "load",
            )
        ]
        summary: list[tuple[str, ...]] = [("flood", "p50 flood / alone", "p95 flood / alone", "target")]
        for kind in ("existing", "random"):
            alone = measure_me(base, token, args.duration)
            rows.append(
                (
                    f"alone (before the {kind} flood)",
                    f"{statistics.median(alone):.1f} ms",
                    f"{percentile(alone, 0.95):.1f} ms",
                    str(len(alone)),
                    "",
                    "",
                    "",
                    f"{os.getloadavg()[0]:.1f}",
                )
            )
            stop = spawn.Event()
            results = spawn.Queue()
            flooder = spawn.Process(target=flood_process, args=(base, kind, args.flooders, stop, results))
            flooder.start()
            time.sleep(3)  # let the flood fill up
            seen: dict[str, int] = {}
            watching = threading.Event()
            watcher = threading.Thread(target=watch_connections, args=(owner_url, watching, seen))
            watcher.start()
            during = measure_me(base, token, args.duration)
            load = os.getloadavg()[0]
            watching.set()
            watcher.join()
            stop.set()
            flood = results.get(timeout=300)
            flooder.join(60)
            attempts = sum(flood["statuses"].values())
            rows.append(
                (
                    f"during the {kind} e-mails flood",
                    f"{statistics.median(during):.1f} ms",
                    f"{percentile(during, 0.95):.1f} ms",
                    str(len(during)),
                    f"{attempts / flood['seconds']:.1f}",
                    " ".join(f"{k}:{v}" for k, v in sorted(flood["statuses"].items())),
                    f"{seen.get('busy', 0)} busy, {seen.get('idle_in_transaction', 0)} held",
                    f"{load:.1f}",
                )
            )
            p50 = statistics.median(during)
            summary.append(
                (
                    kind,
                    f"{p50 / statistics.median(alone):.1f} x",
                    f"{percentile(during, 0.95) / percentile(alone, 0.95):.1f} x",
                    "ok (p50 < 50 ms)" if p50 < 50 else "MISSED (p50 >= 50 ms)",
                )
            )
            print(f"  {kind}: done (load {os.getloadavg()[0]:.1f})", flush=True)
        print()
        report(rows)
        print()
        report(summary)


if __name__ == "__main__":
    main()
