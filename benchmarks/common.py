"""Shared pieces of the benchmarks: a ``saaskit serve`` to measure, wrk as the load generator,
the result of a load phase.

Every benchmark prints a baseline measured in the same run next to the figure and the ratio,
because the machines are shared and noisy: absolute numbers from different runs do not compare.
The load generator is wrk (C; ``apt-get install wrk``): on a 2-core machine a Python generator
would take much of the CPU the server needs.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from saaskit.kit.db import libpq_url
from saaskit.kit.embedded import EmbeddedPostgres, _bin_dir

ROOT = Path(__file__).resolve().parents[1]

# Appended to every wrk script: one machine-readable line with the figures.
WRK_DONE = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d, '
    .. '"p50_us": %d, "p99_us": %d, "mean_us": %.1f}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
"""


@dataclass
class HttpResult:
    requests_per_second: float
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    generator: str

    @property
    def successful(self) -> int:
        return self.requests - self.errors


RESULTS = ROOT / "benchmarks" / "results"
# The ``saaskit serve`` process started by ``serve`` (its API processes are it and its children).
_served: list[subprocess.Popen[bytes]] = []


def _cpu_times() -> list[int]:
    """The aggregate ``cpu`` line of /proc/stat: user nice system idle iowait irq softirq steal."""
    with Path("/proc/stat").open() as handle:
        return [int(v) for v in handle.readline().split()[1:9]]


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def last_served_pid() -> int:
    """The pid of the ``serve`` entered last (to measure one of several)."""
    return _served[-1].pid


def api_processes(root: int | None = None) -> list[int]:
    """The Python processes of the ``serve`` started here (uvicorn's supervisor when
    --workers > 1, and its workers); not the embedded PostgreSQL. ``root``: only that serve's."""
    pids: list[int] = []
    pending = [p.pid for p in _served if p.poll() is None and root in (None, p.pid)]
    while pending:
        pid = pending.pop()
        with contextlib.suppress(OSError):
            if "python" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode():
                pids.append(pid)
                pending += _children(pid)
    return pids


def rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError), Path(f"/proc/{pid}/status").open() as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def api_cpu_seconds(root: int | None = None) -> float:
    """CPU time (user + system) of the API processes so far: per request, the cost of the
    Python side, much less sensitive than throughput to what else runs on the machine."""
    total = 0
    for pid in api_processes(root):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def api_rss_mb(root: int | None = None) -> float:
    """The largest RSS of the API processes (the target is per process)."""
    return max((rss_mb(pid) for pid in api_processes(root)), default=0.0)


@dataclass
class Machine:
    """What the machine did during a phase: CPU steal (the hypervisor gave our vCPUs to someone
    else, from /proc/stat), busy share of all CPUs, the load average at the end, and the API
    processes' largest RSS at the end. Start one before the phase, ``stop()`` after it."""

    root: int | None = None  # one serve's pid, when several run
    start: list[int] = field(default_factory=_cpu_times)
    api_cpu_start: float = -1.0
    api_cpu: float = 0.0
    steal_pct: float = 0.0
    busy_pct: float = 0.0
    load: float = 0.0
    rss_mb: float = 0.0

    def __post_init__(self) -> None:
        self.api_cpu_start = api_cpu_seconds(self.root)

    def stop(self) -> Machine:
        end = _cpu_times()
        delta = [b - a for a, b in zip(self.start, end, strict=True)]
        total = sum(delta) or 1
        self.steal_pct = 100 * delta[7] / total
        self.busy_pct = 100 * (total - delta[3] - delta[4]) / total
        self.load = os.getloadavg()[0]
        self.rss_mb = api_rss_mb(self.root)
        self.api_cpu = api_cpu_seconds(self.root) - self.api_cpu_start
        return self

    def cpu_us_per(self, requests: int) -> float:
        """The API processes' CPU per request during the phase, in microseconds."""
        return 1e6 * self.api_cpu / requests if requests else 0.0

    def describe(self) -> str:
        return f"load {self.load:.1f}, steal {self.steal_pct:.1f}%, API RSS {self.rss_mb:.0f} MB"


def git_commit() -> str:
    completed = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False
    )
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=ROOT, check=False).returncode
    return (completed.stdout.strip() or "unknown") + ("+dirty" if dirty else "")


CSV_FIELDS = (
    "time",
    "commit",
    "run",
    "measure",
    "figure",
    "unit",
    "baseline",
    "baseline_figure",
    "ratio",
    "p50_ms",
    "p99_ms",
    "errors",
    "load",
    "steal_pct",
    "busy_pct",
    "api_rss_mb",
    "api_cpu_us_per_request",
    "notes",
)


def append_csv(benchmark: str, rows: list[dict[str, object]]) -> Path:
    """Append the run's figures to ``benchmarks/results/<benchmark>.csv`` (header written once):
    one row per measure, with the commit, so runs compare across commits."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{benchmark}.csv"
    if path.exists():
        with path.open(newline="") as handle:
            existing = list(csv.DictReader(handle))
            header = list(existing[0].keys()) if existing else []
        if header and header != list(CSV_FIELDS):  # columns added since: rewrite under the new header
            with path.open("w", newline="") as handle:
                writer = csv.DictWriter(handle, CSV_FIELDS, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(existing)
    new = not path.exists()
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    commit = git_commit()
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, CSV_FIELDS, extrasaction="ignore")
        if new:
            writer.writeheader()
        for row in rows:
            writer.writerow({"time": stamp, "commit": commit, **row})
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve(workers: int, data_dir: Path, env: dict[str, str] | None = None) -> Iterator[tuple[str, str]]:
    """``saaskit serve`` in a subprocess on a fresh embedded database; yields (base URL, owner URL)."""
    # A SIGTERM (``timeout``, a closed terminal) must still run the cleanup below, or the server
    # and its embedded PostgreSQL outlive the benchmark and skew the next run.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SAASKIT_")}
    environment.update({"SAASKIT_DATA_DIR": str(data_dir), "SAASKIT_LOG_LEVEL": "WARNING", **(env or {})})
    log = (data_dir.parent / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "saaskit", "serve", "--port", str(port), "--workers", str(workers)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=environment,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    _served.append(process)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise SystemExit(f"serve exited early; see {log.name}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"serve not ready after 120 s; see {log.name}")
            time.sleep(0.3)
        yield base, EmbeddedPostgres(data_dir).url("saaskit")
    finally:
        _served.remove(process)
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def run_wrk(
    base: str, script: str, *, clients: int, seconds: int, args: tuple[object, ...] = ()
) -> HttpResult:
    """Run wrk with ``script`` (which must not define ``done``) and parse its RESULT line."""
    threads = 2 if clients >= 2 else 1
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script + WRK_DONE)
    try:
        completed = subprocess.run(
            [
                "wrk",
                "-t",
                str(threads),
                "-c",
                str(clients),
                "-d",
                f"{seconds}s",
                "--timeout",
                "10s",
                "-s",
                handle.name,
                base,
                "--",
                str(threads),
                *map(str, args),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        Path(handle.name).unlink()
    if completed.returncode != 0:
        raise SystemExit(f"wrk failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
    match = re.search(r"RESULT (\{.*\})", completed.stdout)
    assert match, completed.stdout
    data = json.loads(match.group(1))
    errors = data["status_errors"] + data["socket_errors"]
    return HttpResult(
        requests_per_second=(data["requests"] - errors) / (data["duration_us"] / 1e6),
        requests=data["requests"],
        errors=errors,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        generator=f"wrk ({threads} threads)",
    )


def run_pgbench(owner_url: str, script: str, connections: int, seconds: int) -> tuple[float, float]:
    """Transactions per second and mean latency (ms)."""
    binary = shutil.which("pgbench") or str(_bin_dir() / "pgbench")
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(script)
    try:
        output = subprocess.run(
            [
                binary,
                "-n",
                "-M",
                "prepared",
                "-c",
                str(connections),
                "-j",
                str(min(connections, 2)),
                "-T",
                str(seconds),
                "-f",
                handle.name,
                libpq_url(owner_url),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        Path(handle.name).unlink()
    if output.returncode != 0:
        raise SystemExit(f"pgbench failed:\n{output.stdout}\n{output.stderr}")
    tps = re.search(r"tps = ([0-9.]+)", output.stdout)
    latency = re.search(r"latency average = ([0-9.]+) ms", output.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", output.stdout)
    assert tps and latency, output.stdout
    if failed and int(failed.group(1)):
        raise SystemExit(f"pgbench had failed transactions:\n{output.stdout}")
    return float(tps.group(1)), float(latency.group(1))


def report(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))


def run_on_fresh_server(
    description: str,
    measure: Callable[[str, int], Awaitable[list[tuple[str, ...]]]],
    calls: int,
) -> None:
    """The ``main`` of a benchmark that needs only a migrated database: ``saaskit serve`` on a
    fresh embedded one (``--calls N`` overrides ``calls``), ``measure(owner_url, calls)``, then its
    rows printed."""
    import argparse
    import asyncio

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--calls", type=int, default=calls)
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="saaskit-bench-")))
        _, owner_url = stack.enter_context(serve(1, directory / "data"))
        print(f"{os.cpu_count()} CPUs (load {os.getloadavg()[0]:.1f})\n", flush=True)
        rows = asyncio.run(measure(owner_url, args.calls))
    report(rows)
