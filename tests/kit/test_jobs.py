"""The job queue on the real database: transactional defer and a real worker run."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from saaskit.accounts.tasks import purge_sessions
from saaskit.jobs import defer, run_worker
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from tests.factories import insert_user


async def _job_count(runtime: Runtime) -> int:
    async with runtime.db.session(SERVICE) as session:
        return int((await session.execute(text("SELECT count(*) FROM procrastinate_jobs"))).scalar_one())


async def test_deferred_job_exists_only_if_the_transaction_commits(fresh_runtime: Runtime) -> None:
    async with fresh_runtime.db.sessionmaker() as session:
        await defer(session, purge_sessions, timestamp=0)
        assert await _job_count(fresh_runtime) == 0, "invisible to others before commit"
        await session.rollback()
    assert await _job_count(fresh_runtime) == 0
    async with fresh_runtime.db.session(SERVICE) as session:
        await defer(session, purge_sessions, timestamp=0)
    assert await _job_count(fresh_runtime) == 1


async def test_worker_purges_dead_sessions(fresh_runtime: Runtime) -> None:
    async with fresh_runtime.db.session(SERVICE) as session:
        user_id = await insert_user(session, "p@example.com")
        await session.execute(
            text(
                """
            INSERT INTO user_sessions (user_id, session_token_hash, expires_at, revoked_at, started_at) VALUES
              (:u, 'live', now() + interval '1 day', NULL, now()),
              (:u, 'expired', now() - interval '1 day', NULL, now() - interval '2 days'),
              (:u, 'revoked-old', now() + interval '1 day', now() - interval '100 days', now() - interval '120 days'),
              (:u, 'live-old', now() + interval '1 day', NULL, now() - interval '120 days')
            """
            ),
            {"u": user_id},
        )
        await defer(session, purge_sessions, timestamp=0)
    await asyncio.wait_for(
        run_worker(fresh_runtime, fresh_runtime.extras["app_url"], concurrency=1, wait=False), timeout=30
    )
    async with fresh_runtime.db.session(SERVICE) as session:
        rows = (
            await session.execute(
                text(
                    "SELECT coalesce(session_token_hash, '-'), started_at < now() - interval '100 days' "
                    "FROM user_sessions ORDER BY started_at"
                )
            )
        ).all()
        jobs = (await session.execute(text("SELECT status::text FROM procrastinate_jobs"))).all()
    # The old revoked session is deleted; the expired one keeps its row but loses its token;
    # live sessions, even old ones, are untouched.
    assert [tuple(r) for r in rows] == [("live-old", True), ("-", False), ("live", False)]
    assert jobs == [], "successful jobs are deleted"
