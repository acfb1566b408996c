"""Periodic upkeep of tenancy."""

from __future__ import annotations

from procrastinate import JobContext

from saaskit.jobs import jobs, runtime_of
from saaskit.kit.db import SERVICE
from saaskit.tenancy import invitations


@jobs.periodic(cron="7 * * * *", periodic_id="hourly")
@jobs.task(name="tenancy.expire_invitations", queue="maintenance", pass_context=True)
async def expire_invitations(context: JobContext, timestamp: int) -> int:
    """Mark pending invitations past their expiry as ``expired``."""
    runtime = runtime_of(context)
    async with runtime.db.session(SERVICE) as session:
        return await invitations.expire_overdue(session)
