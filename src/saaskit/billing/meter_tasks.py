"""The metered-usage job: usage records to Stripe every minute (billing/meters.py)."""

from __future__ import annotations

from procrastinate import JobContext

from saaskit.billing import meters
from saaskit.jobs import jobs, runtime_of


@jobs.periodic(cron="* * * * *", periodic_id="every_minute")
@jobs.task(name="billing.report_usage", queue="billing", pass_context=True)
async def report_usage(context: JobContext, timestamp: int) -> dict[str, int]:
    """Send due usage records as meter events (or legacy usage records) and reconcile them."""
    return await meters.report_pending(runtime_of(context))
