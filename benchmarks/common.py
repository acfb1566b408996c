"""Shared pieces of the benchmarks: a saaskit server to measure, a load loop, percentiles.

Every benchmark prints a baseline measured in the same run next to the figure and the ratio,
because the machines are shared and noisy: absolute numbers from different runs do not compare.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``saaskit serve`` in a separate process, on a throw-away embedded database unless
    ``database_url`` names one."""

    def __init__(
        self, *, workers: int = 1, database_url: str | None = None, extra_env: dict[str, str] | None = None
    ):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = Path(tempfile.mkdtemp(prefix="saaskit-bench-"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("SAASKIT_")}
        env.update(
            {
                "SAASKIT_DATA_DIR": str(self.data_dir),
                "SAASKIT_LOG_LEVEL": "WARNING",
                "SAASKIT_AUTH_ARGON2_TIME_COST": "1",
                "SAASKIT_AUTH_ARGON2_MEMORY_COST_KIB": "1024",
                "SAASKIT_DATABASE_POOL_SIZE": "20",
                **(extra_env or {}),
            }
        )
        if database_url:
            env["SAASKIT_DATABASE_URL"] = database_url
        self.log = (self.data_dir / "serve.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "saaskit", "serve", "--port", str(self.port), "--workers", str(workers)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"saaskit serve exited: see {self.log.name}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise SystemExit("saaskit serve did not become ready")

    def owner_url(self) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "saaskit", "db", "url"],
            capture_output=True,
            text=True,
            env={**os.environ, "SAASKIT_DATA_DIR": str(self.data_dir)},
            check=True,
        )
        return out.stdout.strip()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


@dataclass
class LoadResult:
    requests: int = 0
    failures: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run_load(
    base: str,
    make_request: Callable[[aiohttp.ClientSession, int], Awaitable[bool]],
    *,
    total: int,
    concurrency: int,
) -> LoadResult:
    """``total`` calls of ``make_request(session, n)`` from ``concurrency`` keep-alive clients."""
    result = LoadResult()
    counter = iter(range(total))
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(base_url=base, connector=connector) as session:

        async def client() -> None:
            for n in counter:
                started = time.perf_counter()
                ok = await make_request(session, n)
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
                result.requests += 1
                result.failures += 0 if ok else 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        result.seconds = time.perf_counter() - started
    return result


def report(rows: list[tuple[str, str, str, str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))
