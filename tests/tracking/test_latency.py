"""saaskit's own request latency: buffered per route and minute, one row each."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.db import SERVICE, set_context
from saaskit.kit.state import Runtime
from saaskit.tracking.latency import LatencyRecorder


async def test_requests_are_summarised_per_route(
    client: httpx.AsyncClient, session: AsyncSession, runtime: Runtime, fresh_runtime: Runtime
) -> None:
    recorder: LatencyRecorder = client._transport.app.state.latency  # type: ignore[attr-defined]
    for _ in range(5):
        await client.get("/healthz")
    await client.get("/api/orgs/not-a-uuid")
    await client.get("/nowhere")
    keys = {(method, route) for _, method, route in recorder.buckets}
    assert {("GET", "/healthz"), ("GET", "/api/orgs/{org_id}"), ("GET", "(unmatched)")} <= keys
    before = await session.execute(text("SELECT count(*) FROM performance_metrics"))
    assert before.scalar() == 0, "nothing is written per request"
    written = await recorder.flush(fresh_runtime, include_current=True)
    assert written >= 3 and recorder.buckets == {}
    async with fresh_runtime.db.sessionmaker() as check:
        await set_context(check, SERVICE)
        row = (
            await check.execute(
                text(
                    "SELECT metric_type, unit, value, tags FROM performance_metrics "
                    "WHERE metric_name = 'http_request_duration_ms' AND tags->>'route' = '/healthz'"
                )
            )
        ).one()
    assert row.metric_type == "summary" and row.unit == "ms"
    assert row.tags["count"] == 5 and row.tags["method"] == "GET" and row.tags["errors"] == 0
    assert 0 < row.tags["p50"] <= row.value <= row.tags["p99"] <= row.tags["max"]
