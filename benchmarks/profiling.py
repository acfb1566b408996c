"""``--profile`` of the benchmarks: py-spy samples the API processes during an HTTP phase, and
the summary says where their CPU goes (inclusive share per function, and per layer).

py-spy is not a dependency of saaskit: ``uv tool install py-spy`` (it needs ptrace, so root or
``kernel.yama.ptrace_scope = 0``). The raw stacks are kept under
``benchmarks/results/profiles/`` (``flamegraph.pl`` or speedscope read them).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from benchmarks.common import RESULTS, api_processes

# Layers, by the file a frame comes from: first match wins, the innermost frame's layer counts.
LAYERS = (
    ("uvicorn (HTTP parsing, protocol)", ("uvicorn/",)),
    ("starlette / fastapi", ("starlette/", "fastapi/")),
    ("pydantic", ("pydantic",)),
    ("sqlalchemy", ("sqlalchemy/",)),
    ("asyncpg / psycopg (driver)", ("asyncpg/", "psycopg/")),
    ("saaskit capture: decode + PostHog normalisation", ("tracking/capture.py", "tracking/sanitize.py")),
    ("saaskit ingest: rows, JSON for PostgreSQL", ("tracking/ingest.py", "kit/columns.py")),
    ("saaskit group commit", ("tracking/buffer.py",)),
    ("saaskit heartbeat", ("devices/",)),
    ("saaskit other", ("saaskit/",)),
    # Innermost Python frame is the runner: time inside uvloop's C loop (socket I/O, system calls).
    ("event loop (uvloop in C: socket I/O, system calls)", ("asyncio/", "uvloop")),
)


def py_spy() -> str | None:
    return shutil.which("py-spy") or next(
        (str(p) for p in (Path.home() / ".local/bin/py-spy",) if p.exists()), None
    )


@contextlib.contextmanager
def profiled(name: str, seconds: int) -> Iterator[list[str]]:
    """Sample the API processes for ``seconds`` while the block runs; the summary lines are
    appended to the yielded list when the block ends (empty without py-spy)."""
    summary: list[str] = []
    binary = py_spy()
    pids = api_processes()
    if binary is None or not pids or seconds <= 0:
        yield summary
        return
    directory = RESULTS / "profiles"
    directory.mkdir(parents=True, exist_ok=True)
    outputs = [directory / f"{name}-{pid}.txt" for pid in pids]
    processes = [
        subprocess.Popen(
            [
                *(binary, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "200"),
                *("--format", "raw", "--output", str(output), "--nonblocking"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid, output in zip(pids, outputs, strict=True)
    ]
    try:
        yield summary
    finally:
        for process in processes:
            process.wait()
        summary.extend(summarize([o for o in outputs if o.exists()]))


def summarize(paths: list[Path], top: int = 16) -> list[str]:
    inclusive: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    total = 0
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not count_text.isdigit():
                continue
            count = int(count_text)
            frames = stack.split(";")
            total += count
            for frame in set(frames):
                inclusive[frame] += count
            layers[_layer(frames)] += count
    if not total:
        return []
    lines = [f"profile: {total} samples; innermost frame by layer:"]
    lines += [f"  {100 * n / total:5.1f}%  {layer}" for layer, n in layers.most_common()]
    lines.append("inclusive (a function and what it calls):")
    # The frames every sample shares (the CLI, the server, the event loop's own loop) say nothing.
    roots = ("typer/", "runpy", "saaskit/cli.py", "saaskit/server.py", "asyncio/runners.py", "base_events.py")
    shown = [
        (f, n) for f, n in inclusive.most_common(300) if not any(r in f for r in roots) and n < 0.7 * total
    ]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in shown[:top]]
    return lines


def _layer(frames: list[str]) -> str:
    for frame in reversed(frames):
        for layer, needles in LAYERS:
            if any(n in frame for n in needles):
                return layer
    return "other (C, interpreter, GC)"


if __name__ == "__main__":  # summarize kept stacks again: python -m benchmarks.profiling FILE...
    import sys

    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        raise SystemExit("usage: python -m benchmarks.profiling benchmarks/results/profiles/<file>.txt ...")
    print("\n".join(summarize([Path(a) for a in sys.argv[1:]])))
