"""Trust jobs: every minute, the risk level of clusters that grew and the rules over what changed;
every hour, the bulk grouping and every rule over everything (docs/trust.md)."""

from __future__ import annotations

from typing import Any

from procrastinate import JobContext
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.jobs import jobs, runtime_of
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from saaskit.trust import api_abuse, clusters, detect


async def sweep(runtime: Runtime, *, full: bool = False) -> dict[str, Any]:
    """One unit of work: (full: group everything first,) assess the clusters that grew, run the
    rules over what changed (full: over everything). Returns the figures for the job's log."""
    async with runtime.db.session(SERVICE) as session:
        return await sweep_in(session, full=full)


async def sweep_in(session: AsyncSession, *, full: bool = False) -> dict[str, Any]:
    """``sweep`` in the caller's unit of work (an admin's "run now"); flushes, never commits."""
    grouped = await clusters.group_all(session) if full else 0
    purged = await api_abuse.purge(session) if full else 0
    assessed = await clusters.assess(session)
    result = await detect.run(session, full=full, changed=assessed)
    return {
        "grouped": grouped,
        "tallies_purged": purged,
        "assessed": len(assessed),
        "findings": result.findings,
        "fired": result.fired,
        "actions": result.actions,
    }


@jobs.periodic(cron="* * * * *", periodic_id="every_minute")
@jobs.task(name="trust.sweep", queue="maintenance", pass_context=True)
async def sweep_recent(context: JobContext, timestamp: int) -> dict[str, Any]:
    return await sweep(runtime_of(context))


@jobs.periodic(cron="41 * * * *", periodic_id="hourly")
@jobs.task(name="trust.sweep_all", queue="maintenance", pass_context=True)
async def sweep_all(context: JobContext, timestamp: int) -> dict[str, Any]:
    return await sweep(runtime_of(context), full=True)
