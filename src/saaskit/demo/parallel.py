"""Writing the time partitions, in worker processes when asked (``--jobs``).

Each partition is one unit of work: a process connects as the owner, produces the partition's
rows from ``Shared`` (pickled once per worker) and loads it (``copying.load_partition``). The
rows do not depend on the process or the order, so ``--jobs 1`` and ``--jobs 2`` write the same
tables. Workers report rows through a queue; the main process drives the progress bars.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from itertools import chain

import psycopg

from saaskit.demo.activity import activity_blocks
from saaskit.demo.copying import PartitionUnit, load_partition
from saaskit.demo.plan import Shared, unit_days
from saaskit.demo.product import event_blocks, page_view_blocks
from saaskit.demo.progress import Reporter
from saaskit.demo.telemetry import error_blocks, metric_blocks, system_blocks
from saaskit.demo.usage import widget_blocks
from saaskit.kit.db import libpq_url

Blocks = Iterator[tuple[bytes, int]]


def _widgets(shared: Shared, days: list[int]) -> Blocks:
    return chain.from_iterable(
        widget_blocks(shared.config, shared.devices, shared.people.ids, shared.usage, day) for day in days
    )


PRODUCERS: dict[str, Callable[[Shared, list[int]], Blocks]] = {
    "activity_events": activity_blocks,
    "events": event_blocks,
    "page_views": page_view_blocks,
    "widget_analytics": _widgets,
    "system_events": system_blocks,
    "error_logs": error_blocks,
    "performance_metrics": metric_blocks,
}

_worker: tuple[Shared, str, multiprocessing.Queue[tuple[str, int]]] | None = None


def write_unit(
    shared: Shared, owner_url: str, unit: PartitionUnit, on_rows: Callable[[int], None]
) -> tuple[str, int, float]:
    """Load one partition; returns (table, rows, seconds) for the per-process rates."""
    started = time.perf_counter()
    written = 0

    def count(rows: int) -> None:
        nonlocal written
        written += rows
        on_rows(rows)

    blocks = PRODUCERS[unit.table](shared, unit_days(shared, unit))
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as connection:
        load_partition(connection, unit, blocks, count)
    return unit.table, written, time.perf_counter() - started


def _start_worker(shared: Shared, owner_url: str, reports: multiprocessing.Queue[tuple[str, int]]) -> None:
    global _worker
    _worker = (shared, owner_url, reports)


def _run_unit(unit: PartitionUnit) -> tuple[str, int, float]:
    assert _worker is not None
    shared, owner_url, reports = _worker
    return write_unit(shared, owner_url, unit, lambda rows: reports.put((unit.table, rows)))


def _advance(reporter: Reporter, table: str) -> Callable[[int], None]:
    return lambda rows: reporter.advance(table, rows)


def write_partitions(
    shared: Shared, owner_url: str, units: list[PartitionUnit], reporter: Reporter, jobs: int
) -> dict[str, tuple[int, float]]:
    """Write every unit; returns per table (rows, seconds spent by the process(es) on it)."""
    timings: dict[str, tuple[int, float]] = {}
    remaining: dict[str, int] = {}
    for unit in units:
        remaining[unit.table] = remaining.get(unit.table, 0) + 1
    for table in sorted(remaining):
        reporter.begin(table, sum(u.estimate for u in units if u.table == table))

    def finished(result: tuple[str, int, float]) -> None:
        table, rows, seconds = result
        before = timings.get(table, (0, 0.0))
        timings[table] = (before[0] + rows, before[1] + seconds)
        remaining[table] -= 1
        if remaining[table] == 0:
            reporter.end(table)

    if jobs <= 1:
        for unit in units:
            finished(write_unit(shared, owner_url, unit, _advance(reporter, unit.table)))
        return timings
    # spawn, not fork: the caller may run an event loop and threads (serve --demo, rich).
    context = multiprocessing.get_context("spawn")
    reports: multiprocessing.Queue[tuple[str, int]] = context.Queue()

    def drain() -> None:
        while True:
            try:
                table, rows = reports.get_nowait()
            except queue.Empty:
                return
            reporter.advance(table, rows)

    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_start_worker, initargs=(shared, owner_url, reports)
    ) as pool:
        pending: set[Future[tuple[str, int, float]]] = {pool.submit(_run_unit, unit) for unit in units}
        while pending:
            done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            drain()
            for future in done:
                finished(future.result())  # re-raises a worker's error
    drain()
    return timings
