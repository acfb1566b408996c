"""Group commit for ingestion: many requests, one transaction.

Each request validates its events and hands them to this per-process buffer, then waits.
Writers take *everything* queued at that moment (nothing is held back to wait for company, so
an idle server adds no latency), write it in one transaction with one INSERT per table and
tenant, commit, and only then answer every request in it: an event is still acknowledged only
once committed. Under load, 32 concurrent single-event requests cost one transaction instead of
32, which is what makes single events cheap (docs/ingestion.md has the measurements).

Row-level security is kept: the rows of each tenant (organization, or signed-in user) are
written under that tenant's context. If a combined transaction fails, each request in it is
retried in a transaction of its own, so one bad request cannot fail its neighbours.

The statements of a group commit go down the connection in psycopg's pipeline mode: two waits
on the server per transaction instead of five or more (``pipelined``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import psycopg
from sqlalchemy.ext.asyncio import async_sessionmaker

from saaskit.kit.db import Context, create_engine, is_unavailable, set_context
from saaskit.kit.state import Runtime
from saaskit.tracking import pipelined
from saaskit.tracking.ingest import DUPLICATE, STORED, Attribution, IngestResult, store_events_outcomes

logger = logging.getLogger(__name__)

MAX_EVENTS_PER_TRANSACTION = 5000


@dataclass
class Submission:
    attribution: Attribution
    events: list[dict[str, Any]]
    done: asyncio.Future[IngestResult] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class IngestBuffer:
    def __init__(self, runtime: Runtime, *, writers: int = 2, pipelined: bool = True) -> None:
        self.runtime = runtime
        # psycopg pipeline mode: two round trips per group commit (tracking/pipelined.py).
        self.pipelined = pipelined
        self.queue: asyncio.Queue[Submission] = asyncio.Queue()
        self.writer_count = writers
        self._writers: list[asyncio.Task[None]] = []
        # Writers have connections of their own: requests waiting on them must never be able to
        # take every connection of the shared pool (that deadlocks until the pool times out).
        url = runtime.db.engine.url.render_as_string(hide_password=False)
        database = runtime.settings.database
        self.engine = create_engine(  # hide_parameters, as every engine
            url,
            pool_size=writers,
            max_overflow=0,
            connect_timeout=database.connect_timeout_seconds,
            pool_timeout=database.pool_timeout_seconds,
        )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    def start(self) -> None:
        if not self._writers:
            self._writers = [
                asyncio.create_task(self._write_forever(), name=f"ingest-writer-{n}")
                for n in range(self.writer_count)
            ]

    async def stop(self) -> None:
        """Write what is queued, then stop the writers."""
        if self._writers:
            await self.queue.join()
        for task in self._writers:
            task.cancel()
        for task in self._writers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._writers = []
        await self.engine.dispose()

    async def submit(self, attribution: Attribution, events: list[dict[str, Any]]) -> IngestResult:
        """Store the events; returns once they are committed (or raises if they could not be)."""
        self.runtime.db.check_available()
        if not self._writers:
            self.start()
        submission = Submission(attribution, events)
        self.queue.put_nowait(submission)
        return await submission.done

    async def _write_forever(self) -> None:
        while True:
            batch = [await self.queue.get()]
            size = len(batch[0].events)
            while size < MAX_EVENTS_PER_TRANSACTION and not self.queue.empty():
                submission = self.queue.get_nowait()
                batch.append(submission)
                size += len(submission.events)
            try:
                await self._write_isolating_failures(batch, size)
            finally:
                for _ in batch:
                    self.queue.task_done()

    async def _write_isolating_failures(self, batch: list[Submission], size: int) -> None:
        try:
            await self._write_retrying_lost_connection(batch)
        except asyncio.CancelledError:
            for submission in batch:
                if not submission.done.done():
                    submission.done.cancel()
            raise
        except Exception as exc:
            if is_unavailable(exc):
                # Not the requests' fault: every one of them is answered 503.
                logger.warning("could not store %d events: the database is unavailable", size)
                for submission in batch:
                    _fail(submission, exc)
                return
            if len(batch) == 1:
                logger.exception("could not store %d events", size)
                _fail(batch[0], RuntimeError("the events could not be stored"))
                return
            # Isolate the culprit: every request on its own.
            for submission in batch:
                try:
                    await self._write([submission])
                except Exception as exc:
                    logger.exception("could not store %d events", len(submission.events))
                    _fail(submission, exc)

    async def _write_retrying_lost_connection(self, batch: list[Submission]) -> None:
        """One more try on a new connection when the first fails for the connection's sake (the
        server was restarted since it was opened: the pool drops its connections on that error)."""
        try:
            await self._write(batch)
        except Exception as exc:
            # Only a connection that was lost (not a timeout: that would double the wait).
            lost = is_unavailable(exc) and getattr(exc, "connection_invalidated", False)
            if not lost or self.runtime.db.outage is not None:
                raise
            await self._write(batch)

    async def _write(self, batch: list[Submission]) -> None:
        groups: dict[tuple[uuid.UUID | None, uuid.UUID | None], list[Submission]] = defaultdict(list)
        for submission in batch:
            a = submission.attribution
            groups[(a.organization_id, a.user_id)].append(submission)
        if self.pipelined and not any(pipelined.needs_session(s.events) for s in batch):
            results = await self._write_pipelined(groups)
        else:
            results = await self._write_session(groups)
        for submission in batch:
            if not submission.done.done():
                submission.done.set_result(results[id(submission)])

    async def _write_session(self, groups: Groups) -> dict[int, IngestResult]:
        results: dict[int, IngestResult] = {}
        async with self.sessionmaker() as session:
            for (organization_id, user_id), submissions in groups.items():
                await set_context(session, Context(user_id=user_id, organization_id=organization_id))
                combined, owner_of = _combine(submissions)
                per_event = await store_events_outcomes(
                    session, submissions[0].attribution, combined, exact=len(submissions) > 1
                )
                _count(results, submissions, owner_of, per_event)
            await session.commit()
        return results

    async def _write_pipelined(self, groups: Groups) -> dict[int, IngestResult]:
        tenants: list[tuple[list[Submission], list[int], pipelined.TenantWrite]] = []
        for submissions in groups.values():
            combined, owner_of = _combine(submissions)
            write = pipelined.TenantWrite(submissions[0].attribution, combined, exact=len(submissions) > 1)
            tenants.append((submissions, owner_of, write))
        async with self.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver: psycopg.AsyncConnection[Any] = raw.driver_connection  # type: ignore[assignment]
            try:
                await pipelined.write(driver, [write for _, _, write in tenants])
            except psycopg.Error as exc:
                if driver.broken:  # lost: the pool must not hand it out again; one retry
                    await connection.invalidate()
                    exc.connection_invalidated = True  # type: ignore[attr-defined]
                raise
        results: dict[int, IngestResult] = {}
        for submissions, owner_of, write in tenants:
            assert write.plan is not None
            _count(results, submissions, owner_of, write.plan.outcomes)
        return results


Groups = dict[tuple[uuid.UUID | None, uuid.UUID | None], list[Submission]]


def _combine(submissions: list[Submission]) -> tuple[list[dict[str, Any]], list[int]]:
    combined: list[dict[str, Any]] = []
    owner_of: list[int] = []
    for submission in submissions:
        for event in submission.events:
            event.setdefault("country_code", submission.attribution.country_code)
            combined.append(event)
            owner_of.append(id(submission))
    return combined, owner_of


def _count(
    results: dict[int, IngestResult], submissions: list[Submission], owner_of: list[int], per_event: list[str]
) -> None:
    for submission in submissions:
        results[id(submission)] = IngestResult(received=len(submission.events))
    for owner, outcome in zip(owner_of, per_event, strict=True):
        result = results[owner]
        if outcome == STORED:
            result.stored += 1
        elif outcome == DUPLICATE:
            result.duplicates += 1
        else:
            result.dropped += 1


def _fail(submission: Submission, exc: BaseException) -> None:
    if not submission.done.done():
        submission.done.set_exception(exc)
