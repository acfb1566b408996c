"""What to roll up, and the watermarks that say what is done.

Two incremental rollups feed the statistics, each with a watermark in ``rollup_watermarks``:

- ``activity_15m``: every 15-minute bucket before it is in ``activity_rollups_15m``. The job
  (every 5 minutes) recomputes from an hour before the watermark up to the last closed quarter
  hour (a minute of grace for transactions still committing), so rows committed up to an hour
  late are still counted.
- ``activity_daily``: every UTC day before it has its ``activity_rollups_daily`` rows and its
  daily figures (``daily_metrics``, ``user_engagement_daily``, ``organization_metrics_daily``).

A watermark only moves over a contiguous range that starts at or before it (or, the first time,
at or before the oldest activity), so "before the watermark" always means "complete". Months are
rolled once closed; ``saaskit rollup`` recomputes any range (idempotent).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.insights.rollups import activity, daily, monthly
from saaskit.insights.windows import floor_quarter

QUARTERS = "activity_15m"
DAILY = "activity_daily"
MONTHLY = "monthly"
LATE_ROWS = timedelta(hours=1)
GRACE = timedelta(minutes=1)
MAX_CATCH_UP = timedelta(days=31)  # per job run: a long backlog is worked off over several runs


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def quarters_end(hi: datetime, now: datetime) -> datetime:
    """Where the buckets of a range ending at ``hi`` stop: at ``hi``, or at the last closed
    quarter hour (a minute of grace for transactions still committing) if that is earlier."""
    return min(hi, floor_quarter(now - GRACE))


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


async def watermark(session: AsyncSession, name: str) -> datetime | None:
    value: datetime | None = await session.scalar(
        text("SELECT rolled_through FROM rollup_watermarks WHERE name = :name"), {"name": name}
    )
    return value


async def oldest_activity(session: AsyncSession) -> datetime | None:
    value: datetime | None = await session.scalar(text("SELECT min(created_at) FROM activity_events"))
    return value


async def advance(session: AsyncSession, name: str, covered_from: datetime, covered_to: datetime) -> None:
    """Move the watermark to ``covered_to`` if [covered_from, covered_to) joins what is done."""
    current = await watermark(session, name)
    if current is None:
        oldest = await oldest_activity(session)
        if oldest is not None and covered_from > oldest:
            return  # older activity is not rolled up: the watermark would lie
    elif covered_from > current or covered_to <= current:
        return
    await session.execute(
        text(
            "INSERT INTO rollup_watermarks (name, rolled_through) VALUES (:name, :to) "
            "ON CONFLICT (name) DO UPDATE SET rolled_through = excluded.rolled_through, updated_at = now()"
        ),
        {"name": name, "to": covered_to},
    )


@dataclass
class Progress:
    quarters_from: datetime | None = None
    quarters_to: datetime | None = None
    days: int = 0
    months: int = 0


async def roll_recent(session: AsyncSession, now: datetime) -> Progress:
    """The 5-minute job: 15-minute buckets up to the last closed quarter hour."""
    done = Progress()
    target = floor_quarter(now - GRACE)
    current = await watermark(session, QUARTERS)
    if current is None:
        oldest = await oldest_activity(session)
        start = floor_quarter(oldest) if oldest is not None else target
    else:
        start = floor_quarter(current - LATE_ROWS)
    end = min(target, start + MAX_CATCH_UP)
    if start < end:
        await activity.roll_quarters(session, start, end)
        done.quarters_from, done.quarters_to = start, end
    await advance(session, QUARTERS, start, max(start, end))
    return done


async def roomy(session: AsyncSession) -> None:
    """A day's statements hash and sort a day of users (over a hundred thousand at scale): with
    PostgreSQL's default 4 MB they spill to disk."""
    await session.execute(text("SET LOCAL work_mem = '64MB'"))


async def roll_day_activity(session: AsyncSession, day: date, now: datetime) -> bool:
    """The part of a day that reads only that day: its buckets (up to now) and, once the day is
    over, its activity and engagement rows. Moves no watermark. Returns True when the day was
    complete."""
    lo, hi = midnight(day), midnight(day + timedelta(days=1))
    await roomy(session)
    quarters_to = quarters_end(hi, now)
    if lo < quarters_to:
        await activity.roll_quarters(session, lo, quarters_to)
    if hi > now - GRACE:
        return False
    await activity.roll_days(session, lo, hi)
    await daily.roll_engagement(session, day, lo, hi)
    return True


async def roll_day_figures(session: AsyncSession, day: date) -> None:
    """The rest of a closed day: its daily figures, which read the engagement rows of the day
    and the 29 before it (``roll_day_activity`` first)."""
    await roomy(session)
    await daily.roll_figures(session, day, midnight(day), midnight(day + timedelta(days=1)))


async def roll_day(session: AsyncSession, day: date, now: datetime) -> bool:
    """Everything of one UTC day, and the watermarks it extends. Returns True when the day was
    complete."""
    lo, hi = midnight(day), midnight(day + timedelta(days=1))
    complete = await roll_day_activity(session, day, now)
    quarters_to = quarters_end(hi, now)
    if lo < quarters_to:
        await advance(session, QUARTERS, lo, quarters_to)
    if complete:
        await roll_day_figures(session, day)
        await advance(session, DAILY, lo, hi)
    return complete


async def roll_month(session: AsyncSession, month: date, now: datetime) -> bool:
    """A closed month's monthly rows; False (nothing done) while the month runs."""
    lo, hi = midnight(month), midnight(next_month(month))
    if hi > now - GRACE:
        return False
    await monthly.roll_month(session, month, lo, hi)
    await advance(session, MONTHLY, lo, hi)
    return True


async def pending_days(session: AsyncSession, now: datetime) -> list[date]:
    """Closed days after the daily watermark (from the oldest activity the first time)."""
    current = await watermark(session, DAILY)
    if current is None:
        oldest = await oldest_activity(session)
        if oldest is None:
            return []
        first = oldest.astimezone(UTC).date()
    else:
        first = current.astimezone(UTC).date()
    last = (now - GRACE).astimezone(UTC).date()  # today is not closed
    return [first + timedelta(days=i) for i in range(max(0, (last - first).days))]


async def pending_months(session: AsyncSession, now: datetime) -> list[date]:
    current = await watermark(session, MONTHLY)
    if current is None:
        oldest = await oldest_activity(session)
        if oldest is None:
            return []
        month = month_start(oldest.astimezone(UTC).date())
    else:
        month = current.astimezone(UTC).date()
    months = []
    while midnight(next_month(month)) <= now - GRACE:
        months.append(month)
        month = next_month(month)
    return months


async def refresh_geographic_stats(session: AsyncSession) -> None:
    await session.execute(text("SELECT app_refresh_geographic_stats()"))
