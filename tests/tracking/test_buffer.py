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


async def _people(runtime: Runtime, org: uuid.UUID) -> dict[str, uuid.UUID]:
    """Users with each effective level, and distinct ids linked to them in ``org``."""
    async with runtime.db.session(SERVICE) as session:
        people = {
            "full": await insert_user(session, analytics_consent=True, tracking_level="full"),
            "analytics": await insert_user(session, analytics_consent=True, tracking_level="analytics_only"),
            "refused": await insert_user(session, analytics_consent=False, tracking_level="full"),
        }
        for name, user_id in people.items():
            await session.execute(
                text(
                    "INSERT INTO tracking_identities (organization_id, distinct_id, user_id) VALUES (:o, :d, :u)"
                ),
                {"o": org, "d": f"linked-{name}", "u": user_id},
            )
    return people


async def _submit_everyone(
    runtime: Runtime, *, pipelined: bool, org: uuid.UUID, people: dict[str, uuid.UUID], tag: str
) -> list[tuple[int, int, int]]:
    buffer = IngestBuffer(runtime, writers=1, pipelined=pipelined)
    buffer.start()
    replayed = str(uuid.uuid4())
    page = {"url": "https://x.example/p?secret=1", "title": "T", "referrer": "https://r.example/?q=1"}
    try:
        calls = [
            buffer.submit(
                Attribution(organization_id=org),
                [
                    {**_event(tag), "distinct_id": f"linked-{name}", "session_id": "s", "page": dict(page)}
                    for name in people
                ],
            ),
            buffer.submit(Attribution(organization_id=org), [_event(tag, replayed), _event(tag, replayed)]),
            buffer.submit(Attribution(organization_id=org), [_event(tag, replayed)]),
        ]
        calls += [buffer.submit(Attribution(user_id=user_id), [_event(tag)]) for user_id in people.values()]
        results = await asyncio.gather(*calls)
    finally:
        await buffer.stop()
    return [(r.stored, r.duplicates, r.dropped) for r in results]


async def test_the_pipelined_writer_applies_the_same_levels_and_links_as_the_session_path(
    fresh_runtime: Runtime,
) -> None:
    """Signed-in users' levels, users linked to distinct ids, page views and retried ids: the
    pipelined group commit (two round trips) and the session path store the same rows."""
    org = await _org(fresh_runtime)
    people = await _people(fresh_runtime, org)
    outcomes = {
        pipelined: await _submit_everyone(
            fresh_runtime, pipelined=pipelined, org=org, people=people, tag=f"levels-{pipelined}"
        )
        for pipelined in (True, False)
    }
    assert outcomes[True] == outcomes[False]
    assert outcomes[True][0] == (2, 0, 1)  # the linked user who refused consent: dropped
    assert sorted(outcomes[True][1:3]) == [(0, 1, 0), (1, 1, 0)]  # one id three times: stored once
    assert outcomes[True][3:] == [(1, 0, 0), (1, 0, 0), (0, 0, 1)]
    async with fresh_runtime.db.session(SERVICE) as session:
        stored = {
            pipelined: sorted(
                (
                    await session.execute(
                        text(
                            "SELECT e.user_id::text, e.properties::text, p.page_url, p.referrer "
                            "FROM events e LEFT JOIN page_views p ON p.id = e.id "
                            "WHERE e.event_name = :n ORDER BY 1, 2"
                        ),
                        {"n": f"levels-{pipelined}"},
                    )
                ).all(),
                key=str,
            )
            for pipelined in (True, False)
        }
    assert stored[True] == stored[False]
    assert len(stored[True]) == 5
    assert ("https://x.example/p", "https://r.example/") in [(r[2], r[3]) for r in stored[True]]


async def test_a_lost_writer_connection_is_replaced_and_the_write_retried(fresh_runtime: Runtime) -> None:
    org = await _org(fresh_runtime)
    buffer = IngestBuffer(fresh_runtime, writers=1)
    buffer.start()
    try:
        assert (await buffer.submit(Attribution(organization_id=org), [_event("before")])).stored == 1
        async with buffer.engine.connect() as connection:  # the writer's one pooled connection
            pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with fresh_runtime.db.session(SERVICE) as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        result = await buffer.submit(Attribution(organization_id=org), [_event("after")])
    finally:
        await buffer.stop()
    assert result.stored == 1
    assert await _count(fresh_runtime, "after") == 1
