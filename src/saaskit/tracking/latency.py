"""saaskit's own request latency, per route and minute, into ``performance_metrics``.

The edge middleware (``kit.middleware.Edge``) hands each request's duration to ``record``, which
appends it to an in-memory bucket keyed by (minute, method, route template); a background task
writes finished minutes once a minute, so the hot path never waits on the database. One row per
route and minute: ``value`` is the p95 in milliseconds, ``tags`` holds route, method, count, 5xx
errors, p50, p99, max and mean. Buckets
keep at most ``MAX_SAMPLES`` durations (a uniform reservoir) to bound memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from saaskit.tracking import records
from saaskit.tracking.ingest import Attribution

logger = logging.getLogger(__name__)

MAX_SAMPLES = 5000
METRIC_NAME = "http_request_duration_ms"


@dataclass
class Bucket:
    samples: list[float] = field(default_factory=list)
    count: int = 0
    errors: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0

    def add(self, duration_ms: float, is_error: bool) -> None:
        self.count += 1
        self.errors += int(is_error)
        self.total_ms += duration_ms
        self.max_ms = max(self.max_ms, duration_ms)
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append(duration_ms)
        else:
            slot = random.randrange(self.count)  # reservoir sampling keeps a uniform sample
            if slot < MAX_SAMPLES:
                self.samples[slot] = duration_ms


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


class LatencyRecorder:
    def __init__(self) -> None:
        self.buckets: dict[tuple[int, str, str], Bucket] = defaultdict(Bucket)

    def record(self, method: str, route: str, duration_ms: float, status: int) -> None:
        minute = int(time.time() // 60)
        self.buckets[(minute, method, route)].add(duration_ms, status >= 500)

    def take(self, *, include_current: bool) -> dict[tuple[int, str, str], Bucket]:
        current = int(time.time() // 60)
        done = {k: v for k, v in self.buckets.items() if include_current or k[0] < current}
        for key in done:
            del self.buckets[key]
        return done

    async def flush(self, runtime: Runtime, *, include_current: bool = False) -> int:
        done = self.take(include_current=include_current)
        if not done:
            return 0
        items = []
        for (minute, method, route), bucket in done.items():
            ordered = sorted(bucket.samples)
            items.append(
                {
                    "timestamp": datetime.fromtimestamp(minute * 60, UTC),
                    "metric_name": METRIC_NAME,
                    "metric_type": "summary",
                    "value": round(_percentile(ordered, 0.95), 3),
                    "unit": "ms",
                    "tags": {
                        "route": route,
                        "method": method,
                        "count": bucket.count,
                        "errors": bucket.errors,
                        "p50": round(_percentile(ordered, 0.50), 3),
                        "p99": round(_percentile(ordered, 0.99), 3),
                        "max": round(bucket.max_ms, 3),
                        "mean": round(statistics.fmean(ordered), 3),
                    },
                }
            )
        async with runtime.db.session(SERVICE) as session:
            await records.store_metrics(session, Attribution(), items)
        return len(items)

    async def run(self, runtime: Runtime, interval_seconds: float) -> None:
        """Flush finished minutes forever; on cancellation, flush what is left."""
        try:
            while True:
                await asyncio.sleep(interval_seconds)
                try:
                    await self.flush(runtime)
                except Exception:
                    logger.exception("could not write request latency metrics; will retry")
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.flush(runtime, include_current=True))
