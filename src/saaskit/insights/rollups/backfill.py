"""Recomputing a range of days (``saaskit rollup``, the demo, the hourly job's backlog)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from saaskit.insights.rollups import runner
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime

OnDay = Callable[[date], None]


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def closed_months(first: date, last: date, now: datetime) -> list[date]:
    month, months = runner.month_start(first), []
    while month <= last and runner.midnight(runner.next_month(month)) <= now - runner.GRACE:
        months.append(month)
        month = runner.next_month(month)
    return months


async def roll_range(
    runtime: Runtime, first: date, last: date, *, on_day: OnDay | None = None, now: datetime | None = None
) -> tuple[int, int]:
    """Every day in [first, last] (one transaction each), then the closed months they touch and
    the geographic view. Returns (days rolled, months rolled)."""
    moment = now or datetime.now(UTC)
    days = 0
    for day in days_between(first, last):
        async with runtime.db.session(SERVICE) as session:
            await runner.roll_day(session, day, moment)
        days += 1
        if on_day is not None:
            on_day(day)
    months = closed_months(first, last, moment)
    for month in months:
        async with runtime.db.session(SERVICE) as session:
            await runner.roll_month(session, month, moment)
    async with runtime.db.session(SERVICE) as session:
        await runner.refresh_geographic_stats(session)
    return days, len(months)


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
