"""Funnels and retention computed the plain way, in Python over the raw rows the test inserted:
the tests' independent reference. It shares no code with ``saaskit.insights``: its own time
zone handling (zoneinfo instead of PostgreSQL), its own property matching (Python's text of
the value), its own search for each step (a fresh scan per step instead of one pass), exact
fractions for percentages. Definitions as docs/statistics.md states them."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from math import floor
from typing import Any
from zoneinfo import ZoneInfo

from tests.insights.funnel_data import Row


@dataclass(frozen=True)
class RefStep:
    name: str
    event: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class RefPerson:
    times: tuple[datetime, ...]
    steps: tuple[int, ...]
    user_id: uuid.UUID | None


def person_of(row: Row) -> str | None:
    return str(row.user_id) if row.user_id is not None else row.distinct_id


def as_text(value: Any) -> str:
    """What PostgreSQL's ->> gives for a JSON scalar."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def matches(row: Row, step: RefStep) -> bool:
    return row.event_name == step.event and all(
        key in row.properties and as_text(row.properties[key]) == as_text(value)
        for key, value in step.properties.items()
    )


def midnight(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(), ZoneInfo(tz)).astimezone(UTC)


def by_person(rows: Iterable[Row], organization_id: uuid.UUID | None) -> dict[str, list[Row]]:
    people: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        key = person_of(row)
        if key is not None and (organization_id is None or row.organization_id == organization_id):
            people[key].append(row)
    for events in people.values():
        events.sort(key=lambda r: (r.timestamp, r.id))
    return people


def funnel_people(
    rows: Sequence[Row],
    steps: Sequence[RefStep],
    *,
    window_days: int,
    mode: str,
    start: date,
    end: date,
    tz: str,
    organization_id: uuid.UUID | None = None,
) -> dict[str, RefPerson]:
    lo, hi = midnight(start, tz), midnight(end, tz)
    window = timedelta(days=window_days)
    found: dict[str, RefPerson] = {}
    for person, events in by_person(rows, organization_id).items():
        firsts = [
            i
            for i, e in enumerate(events)
            if lo <= e.timestamp < hi
            and (matches(e, steps[0]) if mode != "any" else any(matches(e, s) for s in steps))
        ]
        if not firsts:
            continue
        entry = firsts[0]
        deadline = events[entry].timestamp + window
        inside = [i for i in range(entry, len(events)) if events[i].timestamp < deadline]
        if mode == "any":
            first_of: dict[int, int] = {}
            for k, step in enumerate(steps):
                hits = [i for i in inside if matches(events[i], step)]
                if hits:
                    first_of[k] = hits[0]
            order = sorted(first_of, key=lambda k: (first_of[k], k))
            times = tuple(events[first_of[k]].timestamp for k in order)
            found[person] = RefPerson(times, tuple(order), events[entry].user_id)
            continue
        chosen = [entry]
        for k in range(1, len(steps)):
            if mode == "ordered":
                later = [i for i in inside if i > chosen[-1] and matches(events[i], steps[k])]
                if not later:
                    break
                chosen.append(later[0])
            else:  # strict: the very next event of the person must be this step
                following = chosen[-1] + 1
                if following in inside and matches(events[following], steps[k]):
                    chosen.append(following)
                else:
                    break
        found[person] = RefPerson(
            tuple(events[i].timestamp for i in chosen), tuple(range(len(chosen))), events[entry].user_id
        )
    return found


def whole_seconds(a: datetime, b: datetime) -> int:
    delta = b - a
    return delta.days * 86400 + delta.seconds  # microseconds dropped: rounded down


def pct(part: int, whole: int) -> float | None:
    if whole == 0:
        return None
    return floor(Fraction(part * 1000, whole) + Fraction(1, 2)) / 10


def median(values: list[int]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2


def funnel_steps(steps: Sequence[RefStep], people: dict[str, RefPerson]) -> list[dict[str, Any]]:
    counts = [sum(1 for p in people.values() if len(p.times) > k) for k in range(len(steps))]
    out = []
    for k, step in enumerate(steps):
        gaps = [whole_seconds(p.times[k - 1], p.times[k]) for p in people.values() if k and len(p.times) > k]
        out.append(
            {
                "order": k + 1,
                "name": step.name,
                "event": step.event,
                "people": counts[k],
                "conversion_from_first": pct(counts[k], counts[0]),
                "conversion_from_previous": pct(counts[k], counts[k - 1]) if k else None,
                "median_seconds_from_previous": median(gaps) if k else None,
            }
        )
    return out


def progress_rows(steps: Sequence[RefStep], people: dict[str, RefPerson]) -> set[tuple[Any, ...]]:
    """What conversion_funnel_events should hold: (distinct_id, user_id, step_order, step_name,
    completed, completed_at, completion_time_seconds)."""
    rows = set()
    for person, p in people.items():
        for k, at in enumerate(p.times):
            seconds = whole_seconds(p.times[k - 1], at) if k else None
            rows.add((person, p.user_id, k + 1, steps[p.steps[k]].name, True, at, seconds))
        if len(p.times) < len(steps):
            missing = [k for k in range(len(steps)) if k not in p.steps]
            rows.add((person, p.user_id, len(p.times) + 1, steps[missing[0]].name, False, None, None))
    return rows


# Retention


def local_period(moment: datetime, period: str, tz: str) -> date:
    day = moment.astimezone(ZoneInfo(tz)).date()
    if period == "week":
        return day - timedelta(days=day.isoweekday() - 1)
    if period == "month":
        return date(day.year, day.month, 1)
    return day


def next_period(first: date, period: str) -> date:
    if period == "day":
        return first + timedelta(days=1)
    if period == "week":
        return first + timedelta(days=7)
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def retention(
    rows: Sequence[Row],
    *,
    start_event: str,
    return_event: str,
    period: str,
    start: date,
    end: date,
    periods: int,
    mode: str,
    tz: str,
    now: datetime,
    organization_id: uuid.UUID | None = None,
) -> list[dict[str, Any]]:
    first_cohort = local_period(midnight(start, tz), period, tz)
    last_cohort = local_period(midnight(end - timedelta(days=1), tz), period, tz)
    cohorts = [first_cohort]
    while cohorts[-1] < last_cohort:
        cohorts.append(next_period(cohorts[-1], period))
    today = now.astimezone(ZoneInfo(tz)).date()
    members: dict[date, set[str]] = defaultdict(set)
    returns: set[tuple[str, date]] = set()
    for person, events in by_person(rows, organization_id).items():
        starts = [e for e in events if e.event_name == start_event]
        if mode == "first_time" and starts:
            starts = starts[:1]
        for e in starts:
            cohort = local_period(e.timestamp, period, tz)
            if cohort in cohorts:
                members[cohort].add(person)
        returns |= {
            (person, local_period(e.timestamp, period, tz)) for e in events if e.event_name == return_event
        }
    out = []
    for cohort in cohorts:
        people = members[cohort]
        values: list[int | None] = []
        moment = cohort
        for _ in range(periods + 1):
            values.append(sum(1 for p in people if (p, moment) in returns) if moment <= today else None)
            moment = next_period(moment, period)
        out.append(
            {
                "cohort": cohort.isoformat(),
                "size": len(people),
                "values": values,
                "percentages": [pct(v, len(people)) if v is not None else None for v in values],
            }
        )
    return out
