"""Reading a funnel's events from ``events``: one ordered stream per person, walked in Python.

Why Python and not one SQL statement: the three order modes, steps that share an event name,
events matching several steps and strict mode's "next event" are each a few lines here and
would be a recursive query in SQL. PostgreSQL still does the heavy part: it filters by event
name and time (``idx_events_event_name_timestamp``; ``idx_events_organization_id_timestamp`` for
an organization's funnel), evaluates the step filters into a bit mask, and gathers each
person's events into arrays (one row per person who entered); we read them once, through a
server-side cursor, holding one person's events at a time.

Strict mode must see every event of a person, since any event interrupts. It reads all events
of the range, but sends only the step events and, of each run of other events, the first one:
that is all the walk needs to know the next event after a step was not the next step.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.insights.funnels.definition import FunnelDefinition
from saaskit.insights.funnels.progress import PersonEvent, Progress, walk
from saaskit.insights.people import PERSON, PERSON_JOIN

BATCH = 5000

LOCAL_RANGE = text(
    "SELECT CAST(:first AS timestamp) AT TIME ZONE :tz AS lo, CAST(:last AS timestamp) AT TIME ZONE :tz AS hi"
)


async def local_range(session: AsyncSession, start: date, end: date, tz: str) -> tuple[datetime, datetime]:
    """[start, end) as instants: both days' midnights in ``tz`` (PostgreSQL's zone rules, like
    every other statistic; a midnight that does not exist moves forward with the clock)."""
    row = (await session.execute(LOCAL_RANGE, {"first": start, "last": end, "tz": tz})).one()
    return row.lo, row.hi


def _mask(definition: FunnelDefinition) -> tuple[str, dict[str, Any]]:
    """A SQL expression whose bit i is set when the event matches step i.

    Property filters compare text (``->>``) on both sides: the filter value goes in as JSON and
    comes out through ``#>> '{}'``, so PostgreSQL renders both the same way (3 matches 3 and "3";
    true matches true and "true")."""
    cases, params = [], {}
    for i, step in enumerate(definition.steps):
        conditions = [f"e.event_name = :event_{i}"]
        params[f"event_{i}"] = step.event
        for j, (key, value) in enumerate(sorted(step.properties.items())):
            conditions.append(f"e.properties ->> :key_{i}_{j} = CAST(:value_{i}_{j} AS jsonb) #>> '{{}}'")
            params[f"key_{i}_{j}"] = key
            params[f"value_{i}_{j}"] = orjson.dumps(value).decode()
        cases.append(f"CASE WHEN {' AND '.join(conditions)} THEN {1 << i} ELSE 0 END")
    return " + ".join(cases), params


def _statement(definition: FunnelDefinition) -> tuple[str, dict[str, Any]]:
    mask, params = _mask(definition)
    where = [
        "e.timestamp >= :lo",
        "e.timestamp < :hi",
        "(e.user_id IS NOT NULL OR e.distinct_id IS NOT NULL)",
    ]
    if definition.organization_id is not None:
        where.append("e.organization_id = :org")
        params["org"] = definition.organization_id
    columns = f"{PERSON} AS person, e.user_id, e.timestamp, e.id, {mask} AS mask"
    if definition.order_mode != "strict":
        where.append("e.event_name = ANY(CAST(:names AS text[]))")
        params["names"] = definition.event_names
        rows = f"""
    SELECT * FROM (SELECT {columns} FROM events e {PERSON_JOIN} WHERE {" AND ".join(where)}) AS s
    WHERE mask <> 0"""
    else:
        rows = f"""
    SELECT * FROM (
        SELECT *, lag(mask) OVER (PARTITION BY person ORDER BY timestamp, id) AS previous
        FROM (SELECT {columns} FROM events e {PERSON_JOIN} WHERE {" AND ".join(where)}) AS e
    ) AS s WHERE mask <> 0 OR previous <> 0"""
    # One row per person who entered (an event that can be the entry, inside the range): the
    # walk needs nothing else, and arrays cross the wire far cheaper than a row per event.
    entry_bits = 1 if definition.order_mode != "any" else (1 << len(definition.steps)) - 1
    sql = f"""
SELECT person, (array_agg(user_id))[1] AS user_id,
       array_agg(timestamp ORDER BY timestamp, id) AS times,
       array_agg(mask ORDER BY timestamp, id) AS masks
FROM ({rows}
) AS r
GROUP BY person
HAVING bool_or(mask & {entry_bits} <> 0 AND timestamp >= :start AND timestamp < :end)"""
    return sql, params


async def people(
    session: AsyncSession, definition: FunnelDefinition, start: datetime, end: datetime
) -> AsyncIterator[Progress]:
    """The progress of every person who entered the funnel in [start, end), one at a time.

    Events are read up to one window after ``end``: a person who entered just before ``end``
    has the whole window to go on."""
    sql, params = _statement(definition)
    params.update(lo=start, hi=end + definition.window, start=start, end=end)
    result = await session.stream(text(sql), params, execution_options={"yield_per": BATCH})
    async for person, user_id, times, masks in result:
        found = _progress(definition, person, user_id, list(zip(times, masks, strict=True)), start, end)
        if found is not None:
            yield found


def _progress(
    definition: FunnelDefinition,
    person: str,
    user_id: uuid.UUID | None,
    events: list[PersonEvent],
    start: datetime,
    end: datetime,
) -> Progress | None:
    walked = walk(
        events,
        steps=len(definition.steps),
        mode=definition.order_mode,
        start=start,
        end=end,
        window=definition.window,
    )
    if walked is None:
        return None
    times, steps = walked
    return Progress(person=person, user_id=user_id, times=times, steps=steps)
