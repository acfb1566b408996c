"""The group-commit buffer on committed data: many concurrent requests, one transaction per
tenant, each request answered with its own counts, and one bad request failing alone."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from sqlalchemy import text

from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from saaskit.tracking.buffer import IngestBuffer
from saaskit.tracking.ingest import Attribution
from tests.factories import insert_org, insert_user


async def _org(runtime: Runtime) -> uuid.UUID:
    async with runtime.db.session(SERVICE) as session:
        return await insert_org(session, "B", created_by=await insert_user(session))


def _event(name: str, event_id: str | None = None) -> dict[str, object]:
    return {
        "id": event_id,
        "timestamp": datetime.now(UTC),
        "event_name": name,
        "distinct_id": "d",
        "properties": {"k": 1},
    }


async def _count(runtime: Runtime, name: str) -> int:
    async with runtime.db.session(SERVICE) as session:
        return int(
            (
                await session.execute(text("SELECT count(*) FROM events WHERE event_name = :n"), {"n": name})
            ).scalar_one()
        )


async def test_concurrent_requests_are_committed_together_and_answered_separately(
    fresh_runtime: Runtime,
) -> None:
    org_a, org_b = await _org(fresh_runtime), await _org(fresh_runtime)
    buffer = IngestBuffer(fresh_runtime, writers=1)
    buffer.start()
    shared = str(uuid.uuid4())
    try:
        calls = [
            buffer.submit(
                Attribution(organization_id=org_a if n % 2 else org_b),
                [_event("burst") for _ in range(n % 5 + 1)],
            )
            for n in range(60)
        ]
        # Two requests carrying the same event at the same moment: stored once.
        calls += [
            buffer.submit(Attribution(organization_id=org_a), [_event("shared", shared)]) for _ in range(2)
        ]
        results = await asyncio.gather(*calls)
    finally:
        await buffer.stop()
    assert [r.stored for r in results[:60]] == [n % 5 + 1 for n in range(60)]
    assert sorted((r.stored, r.duplicates) for r in results[60:]) == [(0, 1), (1, 0)]
    assert await _count(fresh_runtime, "burst") == sum(n % 5 + 1 for n in range(60))
    async with fresh_runtime.db.session(SERVICE) as session:
        per_org = dict(
            (
                await session.execute(
                    text("SELECT organization_id, count(*) FROM events WHERE event_name = 'burst' GROUP BY 1")
                )
            ).all()
        )
    assert per_org == {
        org_a: sum(n % 5 + 1 for n in range(60) if n % 2),
        org_b: sum(n % 5 + 1 for n in range(60) if not n % 2),
    }


async def test_one_bad_request_fails_alone(fresh_runtime: Runtime) -> None:
    org = await _org(fresh_runtime)
    buffer = IngestBuffer(fresh_runtime, writers=1)
    buffer.start()
    try:
        good = [buffer.submit(Attribution(organization_id=org), [_event("neighbour")]) for _ in range(5)]
        # An event without a name: NOT NULL fails the transaction it is in.
        bad = buffer.submit(Attribution(organization_id=org), [_event("orphan"), _event(None)])  # type: ignore[arg-type]
        outcomes = await asyncio.gather(*good, bad, return_exceptions=True)
    finally:
        await buffer.stop()
    assert [getattr(o, "stored", None) for o in outcomes[:5]] == [1] * 5
    assert isinstance(outcomes[5], Exception)
    assert await _count(fresh_runtime, "neighbour") == 5
    assert await _count(fresh_runtime, "orphan") == 0


async def test_stop_writes_what_is_queued(fresh_runtime: Runtime) -> None:
    org = await _org(fresh_runtime)
    buffer = IngestBuffer(fresh_runtime, writers=2)
    buffer.start()
    pending = [
        asyncio.create_task(buffer.submit(Attribution(organization_id=org), [_event("late")]))
        for _ in range(20)
    ]
    await asyncio.sleep(0)
    await buffer.stop()
    assert all(task.done() for task in pending)
    assert await _count(fresh_runtime, "late") == 20


async def test_rows_json_cannot_store_are_repaired_in_a_combined_transaction(fresh_runtime: Runtime) -> None:
    """An event with a NUL, an integer beyond 64 bits and properties nested past the encoder's
    limit, committed together with its neighbours: every request is answered stored, none
    failed (the rows are repaired before the statement, not retried after it failed)."""
    org = await _org(fresh_runtime)
    deep: object = 0
    for _ in range(300):
        deep = [deep]
    hostile = {**_event("hostile\0"), "properties": {"big": 2**70, "deep": deep, "s": "\ud800"}}
    buffer = IngestBuffer(fresh_runtime, writers=1)
    buffer.start()
    try:
        calls = [buffer.submit(Attribution(organization_id=org), [_event("beside")]) for _ in range(5)]
        calls.append(buffer.submit(Attribution(organization_id=org), [hostile]))
        results = await asyncio.gather(*calls)
    finally:
        await buffer.stop()
    assert [r.stored for r in results] == [1] * 6
    assert await _count(fresh_runtime, "beside") == 5
    assert await _count(fresh_runtime, "hostile\ufffd") == 1
