"""Recomputing a range of days (``saaskit rollup``, the demo, the hourly job's backlog)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.insights.rollups import runner
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime

# roll_range works in two passes over the days; each step reports (pass, day) when committed.
ACTIVITY_STEP = "activity and engagement"
FIGURES_STEP = "daily figures"
OnStep = Callable[[str, date], None]
# Days rolled side by side by default: PostgreSQL does the work, one core per connection.
DEFAULT_JOBS = min(2, os.cpu_count() or 1)
DayWork = Callable[[AsyncSession, date], Awaitable[None]]


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def closed_months(first: date, last: date, now: datetime) -> list[date]:
    month, months = runner.month_start(first), []
    while month <= last and runner.midnight(runner.next_month(month)) <= now - runner.GRACE:
        months.append(month)
        month = runner.next_month(month)
    return months


async def each_day(
    runtime: Runtime, days: Iterable[date], work: DayWork, jobs: int, done: Callable[[date], None]
) -> None:
    """``work`` on every day, one transaction per day, ``jobs`` days at a time (each on its own
    connection, so PostgreSQL uses as many cores); the first failure cancels the rest."""
    queue = iter(days)  # shared: each worker takes the next day (no await between, so no race)

    async def worker() -> None:
        for day in queue:
            async with runtime.db.session(SERVICE) as session:
                await work(session, day)
            done(day)

    async with asyncio.TaskGroup() as group:
        for _ in range(max(1, jobs)):
            group.create_task(worker())


async def roll_range(
    runtime: Runtime,
    first: date,
    last: date,
    *,
    on_step: OnStep | None = None,
    now: datetime | None = None,
    jobs: int = 1,
) -> tuple[int, int]:
    """Every day in [first, last], then the closed months they touch and the geographic view.
    Returns (days rolled, months rolled).

    Two passes, each day one transaction per pass: first what reads only the day itself (buckets,
    activity, engagement), then the daily figures, whose weekly and monthly actives read the
    engagement of the days before. Within a pass days are independent, so ``jobs`` of them run
    side by side. The watermarks move once at the end, over the whole range: an interrupted run
    leaves them where they were, and a re-run redoes the range."""
    moment = now or datetime.now(UTC)
    closed: list[date] = []

    async def activity_pass(session: AsyncSession, day: date) -> None:
        if await runner.roll_day_activity(session, day, moment):
            closed.append(day)

    def report(phase: str) -> Callable[[date], None]:
        return lambda day: on_step(phase, day) if on_step is not None else None

    days = days_between(first, last)
    await each_day(runtime, days, activity_pass, jobs, report(ACTIVITY_STEP))
    closed.sort()
    await each_day(runtime, closed, runner.roll_day_figures, jobs, report(FIGURES_STEP))
    async with runtime.db.session(SERVICE) as session:
        lo = runner.midnight(first)
        quarters_to = runner.quarters_end(runner.midnight(last + timedelta(days=1)), moment)
        if lo < quarters_to:
            await runner.advance(session, runner.QUARTERS, lo, quarters_to)
        if closed:
            await runner.advance(session, runner.DAILY, lo, runner.midnight(closed[-1] + timedelta(days=1)))
    months = closed_months(first, last, moment)
    for month in months:
        async with runtime.db.session(SERVICE) as session:
            await runner.roll_month(session, month, moment)
    async with runtime.db.session(SERVICE) as session:
        await runner.refresh_geographic_stats(session)
    return len(closed), len(months)


async def roll_pending(runtime: Runtime, now: datetime | None = None) -> dict[str, int]:
    """The hourly job: closed days and months not rolled yet (at most a month of days per run),
    then the geographic view if anything moved."""
    moment = now or datetime.now(UTC)
    async with runtime.db.session(SERVICE) as session:
        days = (await runner.pending_days(session, moment))[:31]
        for day in days:
            await runner.roll_day(session, day, moment)
        months = await runner.pending_months(session, moment)
        for month in months:
            await runner.roll_month(session, month, moment)
        if days or months:
            await runner.refresh_geographic_stats(session)
    return {"days": len(days), "months": len(months)}
