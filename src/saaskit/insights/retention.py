"""Retention cohorts over ``events``: who came back, period after period.

A person is as in funnels (``insights.people``: the user, else the linked person of the distinct
id, else the distinct id). Periods are days, ISO
weeks (Monday) or calendar months in ``tz``. The range [start, end) is widened to whole periods;
each period it touches is a cohort.

- ``first_time``: a person's cohort is the period of their first ``start_event`` ever; people
  whose first one is outside the (widened) range are in no cohort.
- ``recurring``: a person is in the cohort of every period of the range in which they did the
  ``start_event``.

``values[k]`` counts the cohort's people who did the ``return_event`` at any time in period
cohort + k (k = 0 is the cohort's own period); null while that period has not begun.
PostgreSQL does the whole computation (``idx_events_event_name_timestamp`` for both events) and
returns one row per cohort and offset. Definitions: docs/statistics.md, "Retention".
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.insights.kpis import percent
from saaskit.insights.people import PERSON, PERSON_JOIN
from saaskit.insights.schemas import Period, Retention, RetentionCohort, RetentionMode
from saaskit.kit.errors import Unprocessable

MAX_COHORTS = 400
MAX_PERIODS = 400
# The first day of the event's period in tz (date_trunc's weeks start on Monday).
LOCAL_PERIOD = "CAST(date_trunc(:unit, e.timestamp AT TIME ZONE :tz) AS date)"
OFFSET = {
    "day": "(r.period - s.cohort)",
    "week": "(r.period - s.cohort) / 7",
    "month": "(((extract(year FROM r.period) - extract(year FROM s.cohort)) * 12"
    " + extract(month FROM r.period) - extract(month FROM s.cohort))::int)",
}
BOUNDS = text(
    """
SELECT CAST(:lo AS timestamp) AT TIME ZONE :tz AS lo,
       CAST(:hi AS timestamp) AT TIME ZONE :tz AS hi,
       CAST(:return_hi AS timestamp) AT TIME ZONE :tz AS return_hi,
       CAST(coalesce(CAST(:now AS timestamptz), now()) AT TIME ZONE :tz AS date) AS today
"""
)


def period_start(day: date, period: Period) -> date:
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def shift(first: date, period: Period, k: int) -> date:
    """The first day of the k-th period after the one starting on ``first``."""
    if period == "day":
        return first + timedelta(days=k)
    if period == "week":
        return first + timedelta(weeks=k)
    months = first.year * 12 + first.month - 1 + k
    return date(months // 12, months % 12 + 1, 1)


def _statement(period: Period, mode: RetentionMode, organization_id: uuid.UUID | None) -> str:
    scope = "AND e.organization_id = :org" if organization_id is not None else ""
    known = "AND (e.user_id IS NOT NULL OR e.distinct_id IS NOT NULL)"
    if mode == "first_time":
        # The first start event ever: events after the range cannot be a first one inside it.
        starts = f"""
    SELECT person, CAST(date_trunc(:unit, first AT TIME ZONE :tz) AS date) AS day, true AS is_start FROM (
        SELECT {PERSON} AS person, min(e.timestamp) AS first FROM events e {PERSON_JOIN}
        WHERE e.event_name = :start_event AND e.timestamp < :hi {known} {scope}
        GROUP BY 1
    ) AS f WHERE first >= :lo"""
    else:
        starts = f"""
    SELECT DISTINCT {PERSON} AS person, {LOCAL_PERIOD} AS day, true AS is_start FROM events e {PERSON_JOIN}
    WHERE e.event_name = :start_event AND e.timestamp >= :lo AND e.timestamp < :hi {known} {scope}"""
    # No join of start and return rows on the person: with a misestimated row count the planner
    # may pick a nested loop, quadratic in people. Grouping by person (hash or sort) cannot go
    # quadratic; each person's cohorts x return periods are then paired within the group.
    return f"""
WITH marks AS ({starts}
    UNION ALL
    SELECT DISTINCT {PERSON}, {LOCAL_PERIOD}, false FROM events e {PERSON_JOIN}
    WHERE e.event_name = :return_event AND e.timestamp >= :lo AND e.timestamp < :return_hi {known} {scope}
), people AS (
    SELECT array_agg(day) FILTER (WHERE is_start) AS cohorts,
           array_agg(day) FILTER (WHERE NOT is_start) AS periods
    FROM marks GROUP BY person HAVING bool_or(is_start)
)
SELECT s.cohort, -1 AS k, count(*) AS people FROM people p, unnest(p.cohorts) AS s(cohort) GROUP BY 1
UNION ALL
SELECT s.cohort, {OFFSET[period]} AS k, count(*)
FROM people p, unnest(p.cohorts) AS s(cohort), unnest(p.periods) AS r(period)
WHERE r.period >= s.cohort AND {OFFSET[period]} <= :periods
GROUP BY 1, 2"""


async def compute_retention(
    session: AsyncSession,
    *,
    start_event: str,
    return_event: str,
    period: Period,
    start: date,
    end: date,
    periods: int,
    mode: RetentionMode = "first_time",
    tz: str = "UTC",
    organization_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> Retention:
    """Cohorts of the periods touching the days [start, end) in ``tz``. Reads only."""
    if end <= start:
        raise Unprocessable("'to' must be after 'from' (the range is [from, to))", field="to")
    if not 0 <= periods <= MAX_PERIODS:
        raise Unprocessable(f"periods: between 0 and {MAX_PERIODS}", field="periods")
    first = period_start(start, period)
    last = period_start(end - timedelta(days=1), period)
    cohorts = [first]
    while cohorts[-1] < last:
        cohorts.append(shift(cohorts[-1], period, 1))
        if len(cohorts) > MAX_COHORTS:
            raise Unprocessable(f"at most {MAX_COHORTS} cohorts at a time", field="to")
    bounds = (
        await session.execute(
            BOUNDS,
            {
                "lo": first,
                "hi": shift(last, period, 1),
                "return_hi": shift(last, period, periods + 1),
                "tz": tz,
                "now": now,
            },
        )
    ).one()
    params = {
        "lo": bounds.lo,
        "hi": bounds.hi,
        "return_hi": bounds.return_hi,
        "tz": tz,
        "unit": period,
        "start_event": start_event,
        "return_event": return_event,
        "periods": periods,
        "org": organization_id,
    }
    sizes: dict[date, int] = {}
    back: dict[tuple[date, int], int] = {}
    for cohort, k, people in await session.execute(text(_statement(period, mode, organization_id)), params):
        if k < 0:
            sizes[cohort] = int(people)
        else:
            back[cohort, k] = int(people)
    today: date = bounds.today
    result = []
    for cohort in cohorts:
        size = sizes.get(cohort, 0)
        values: list[int | None] = [
            back.get((cohort, k), 0) if shift(cohort, period, k) <= today else None
            for k in range(periods + 1)
        ]
        result.append(
            RetentionCohort(
                cohort=cohort,
                size=size,
                values=values,
                percentages=[percent(v, size) if v is not None else None for v in values],
            )
        )
    return Retention(
        start_event=start_event,
        return_event=return_event,
        period=period,
        mode=mode,
        periods=periods,
        tz=tz,
        start=start,
        end=end,
        cohorts=result,
    )
