"""A saved funnel's progress in ``conversion_funnel_events``, and its results read back.

Each person who entered gets one row per step reached (``completed``, when, whole seconds since
the previous step) and, unless they finished, one row ``completed = false`` for the step where
they stopped. A new computation replaces the funnel's rows in the caller's transaction, so
readers see the old progress or the new one, never a mix.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.insights.funnels import events
from saaskit.insights.funnels.compute import FunnelResult, check_range, compute_funnel
from saaskit.insights.funnels.definition import FunnelDefinition
from saaskit.insights.funnels.progress import Progress, step_results
from saaskit.insights.models import ConversionFunnel, ConversionFunnelEvent
from saaskit.kit.columns import column_list, copy_columns

CHUNK = 10_000

# Each array parameter and the column it fills, in the order of ``progress_rows``' tuples.
ARRAYS = (
    ("users", "user_id"),
    ("people", "distinct_id"),
    ("names", "step_name"),
    ("orders", "step_order"),
    ("completed", "completed"),
    ("at", "completed_at"),
    ("seconds", "completion_time_seconds"),
)
_FILLED = copy_columns(ConversionFunnelEvent, [column for _, column in ARRAYS])
_INSERTED = column_list(
    ConversionFunnelEvent, ["funnel_id", "organization_id", *(name for name, _ in _FILLED)]
)
_ARRAYS_SQL = ", ".join(
    f"CAST(:{param} AS {kind}[])" for (param, _), (_, kind) in zip(ARRAYS, _FILLED, strict=True)
)
INSERT = text(
    f"""
INSERT INTO conversion_funnel_events ({_INSERTED})
SELECT :funnel, :org, r.* FROM unnest({_ARRAYS_SQL}) AS r
"""
)
STORED = text(
    """
SELECT step_order,
       count(*) FILTER (WHERE completed) AS people,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY completion_time_seconds)
           FILTER (WHERE completed AND completion_time_seconds IS NOT NULL) AS median
FROM conversion_funnel_events WHERE funnel_id = :funnel GROUP BY step_order
"""
)


def definition_of(funnel: ConversionFunnel) -> FunnelDefinition:
    return FunnelDefinition.from_stored(
        funnel.steps,
        conversion_window_days=funnel.conversion_window_days,
        order_mode=funnel.order_mode,
        organization_id=funnel.organization_id,
    )


def progress_rows(definition: FunnelDefinition, one: Progress) -> Iterator[tuple[Any, ...]]:
    """(user_id, person, step_name, step_order, completed, completed_at, seconds) rows."""
    steps = definition.steps
    for k, at in enumerate(one.times):
        yield (
            one.user_id,
            one.person,
            steps[one.steps[k]].name,
            k + 1,
            True,
            at,
            one.seconds_from_previous(k),
        )
    if one.reached < len(steps):
        # In any mode the next step is not known in advance: name the first one still missing.
        stopped = min(set(range(len(steps))) - set(one.steps))
        yield (one.user_id, one.person, steps[stopped].name, one.reached + 1, False, None, None)


async def compute_and_store(
    session: AsyncSession, funnel: ConversionFunnel, start: date, end: date, tz: str
) -> FunnelResult:
    """Compute a saved funnel over [start, end) and replace its stored progress. Flushes only."""
    # Lock the funnel row (and reload it: the definition read is the one now locked): two
    # computations of one funnel would otherwise interleave their deletes and inserts and leave
    # both sets of rows.
    await session.refresh(funnel, with_for_update=True)
    definition = definition_of(funnel)
    result = await compute_funnel(session, definition, start, end, tz)
    await delete_progress(session, funnel.id)
    rows = [row for one in result.progress for row in progress_rows(definition, one)]
    for offset in range(0, len(rows), CHUNK):
        # Lists, not tuples: psycopg sends a list as an array, a tuple as a record.
        columns = [list(column) for column in zip(*rows[offset : offset + CHUNK], strict=True)]
        await session.execute(
            INSERT,
            {
                "funnel": funnel.id,
                "org": funnel.organization_id,
                **dict(zip((param for param, _ in ARRAYS), columns, strict=True)),
            },
        )
    now: datetime = (await session.execute(text("SELECT now()"))).scalar_one()
    funnel.last_computed_at = now
    funnel.last_range_start = result.range_start
    funnel.last_range_end = result.range_end
    await session.flush()
    return replace(result, source="stored", computed_at=now)


async def stored_result(
    session: AsyncSession, funnel: ConversionFunnel, start: date, end: date, tz: str
) -> FunnelResult | None:
    """The results of the stored progress when it covers exactly [start, end) in tz, else None."""
    check_range(start, end)
    range_start, range_end = await events.local_range(session, start, end, tz)
    if funnel.last_computed_at is None or (funnel.last_range_start, funnel.last_range_end) != (
        range_start,
        range_end,
    ):
        return None
    definition = definition_of(funnel)
    people = [0] * len(definition.steps)
    medians: list[float | None] = [None] * len(definition.steps)
    for row in await session.execute(STORED, {"funnel": funnel.id}):
        k = row.step_order - 1
        if 0 <= k < len(people):
            people[k] = int(row.people)
            medians[k] = float(row.median) if row.median is not None else None
    return FunnelResult(
        definition=definition,
        start=start,
        end=end,
        tz=tz,
        range_start=range_start,
        range_end=range_end,
        steps=step_results(definition.steps, people, medians),
        source="stored",
        computed_at=funnel.last_computed_at,
    )


async def results(
    session: AsyncSession, funnel: ConversionFunnel, start: date, end: date, tz: str
) -> FunnelResult:
    """From the stored progress when it is for this range, else computed now (not stored)."""
    stored = await stored_result(session, funnel, start, end, tz)
    if stored is not None:
        return stored
    return await compute_funnel(session, definition_of(funnel), start, end, tz)


def forget_progress(funnel: ConversionFunnel) -> None:
    """After a change of definition the stored progress no longer describes the funnel."""
    funnel.last_computed_at = None
    funnel.last_range_start = None
    funnel.last_range_end = None


async def delete_progress(session: AsyncSession, funnel_id: uuid.UUID) -> None:
    await session.execute(
        text("DELETE FROM conversion_funnel_events WHERE funnel_id = :funnel"), {"funnel": funnel_id}
    )
