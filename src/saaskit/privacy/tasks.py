"""Jobs of the privacy domain: erasures (when their grace period ends, and a sweep that resumes
any that stopped), exports, and the daily retention run."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from procrastinate import JobContext
from sqlalchemy import text

from saaskit.jobs import jobs, runtime_of
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from saaskit.privacy import erasure, retention
from saaskit.privacy import export as exporting

logger = logging.getLogger(__name__)

DUE = text(
    "SELECT id FROM privacy_requests WHERE kind = 'erasure' AND status IN ('pending', 'running') "
    "AND scheduled_for <= now() ORDER BY scheduled_for LIMIT :limit"
)


@jobs.task(name="privacy.erase", queue="privacy", pass_context=True, lock="privacy.erase")
async def erase(context: JobContext, request_id: str) -> str:
    """Erase one person whose grace period is over (a no-op if cancelled meanwhile)."""
    return await erase_now(runtime_of(context), uuid.UUID(request_id))


async def erase_now(runtime: Runtime, request_id: uuid.UUID) -> str:
    async with runtime.db.session(SERVICE) as session:
        due = await session.scalar(
            text("SELECT scheduled_for <= now() FROM privacy_requests WHERE id = :id"), {"id": request_id}
        )
    if not due:
        return "not_due"  # an admin moved the date, or the job ran early: the sweep will come back
    try:
        return await erasure.run(runtime, request_id)
    except Exception as exc:
        async with runtime.db.session(SERVICE) as session:
            await session.execute(
                text("UPDATE privacy_requests SET error = :e WHERE id = :id"),
                {"e": type(exc).__name__, "id": request_id},
            )
        raise


@jobs.periodic(cron="*/10 * * * *", periodic_id="every_10_minutes")
@jobs.task(name="privacy.erase_due", queue="privacy", pass_context=True, lock="privacy.erase")
async def erase_due(context: JobContext, timestamp: int) -> dict[str, int]:
    """Every erasure that is due and not finished: a crashed one resumes here."""
    return await erase_due_now(runtime_of(context))


async def erase_due_now(runtime: Runtime, limit: int = 20) -> dict[str, int]:
    async with runtime.db.session(SERVICE) as session:
        ids = list((await session.scalars(DUE, {"limit": limit})).all())
    done = 0
    for request_id in ids:
        try:
            if await erasure.run(runtime, request_id) == "completed":
                done += 1
        except Exception:
            logger.exception("an erasure failed; the next sweep resumes it")
    return {"due": len(ids), "completed": done}


@jobs.task(name="privacy.export", queue="privacy", pass_context=True)
async def export_job(context: JobContext, request_id: str) -> str:
    """Build one export archive."""
    return await exporting.build(runtime_of(context), uuid.UUID(request_id))


@jobs.periodic(cron="35 3 * * *", periodic_id="nightly")
@jobs.task(name="privacy.retention", queue="maintenance", pass_context=True)
async def apply_retention(context: JobContext, timestamp: int) -> dict[str, Any]:
    """The retention schedule and each user's own retention (docs/privacy.md)."""
    return await apply_retention_now(runtime_of(context))


async def apply_retention_now(runtime: Runtime) -> dict[str, Any]:
    async with runtime.db.session(SERVICE) as session:
        done = await retention.apply(session, runtime.settings)
    return {f"{item.table}:{item.removes}": item.rows for item in done}
