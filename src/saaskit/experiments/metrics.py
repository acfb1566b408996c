"""An experiment metric's value per assigned person, in SQL, summed per variant.

Whose events: an assignment stands for a person, and their events are those attributed to the
assignment's user (``events.user_id``) plus those sent under any distinct id linked to them:
the assignment's own distinct id, the user's distinct ids (``tracking_identities``) and every
distinct id of the same PostHog person (``person_distinct_ids``: ``$identify``,
``$create_alias``). So an anonymous visitor's events before they signed up count once their ids
are linked, whenever the link arrives. An event matching both ways counts once (``UNION``).
Only events at or after the assignment and up to the experiment's end (or now) count.

Each metric gives one value per assignment; the variant's ``n``, ``sum`` and ``sum of squares``
feed gbstats (``results``):

- ``event``: 1 if the person sent the event, else 0 (a conversion rate).
- ``funnel``: 1 if they sent every step in order (each step at or after the previous one,
  all within ``window_hours`` of the first when set), else 0.
- ``retention``: 1 if they sent the event (any event by default) between ``start_day`` and
  ``end_day`` days after their assignment, else 0; only people whose window has ended count
  (someone assigned yesterday cannot have returned a week later yet).
- ``mean``: the number of the event per person, or the sum of its numeric ``property``
  (JSON numbers only); 0 for a person without one.
- ``revenue``: paid invoices in ``currency`` after the assignment, in major units (dollars),
  per person (``app_experiment_revenue``, experiments/sql/revenue.sql); 0 without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.experiments.models import Experiment
from saaskit.experiments.schemas import Metric

# The assignments and the distinct ids of the person each stands for.
SUBJECTS = """
assigned AS (
  SELECT id, user_id, distinct_id, variant_index, assigned_at
  FROM experiment_assignments WHERE experiment_id = :experiment_id
),
seed_ids AS (
  SELECT id AS assignment_id, distinct_id FROM assigned WHERE distinct_id IS NOT NULL
  UNION
  SELECT a.id, t.distinct_id FROM assigned a
  JOIN tracking_identities t ON t.organization_id = :org AND t.user_id = a.user_id
),
subject_ids AS (
  SELECT assignment_id, distinct_id FROM seed_ids
  UNION
  SELECT s.assignment_id, d2.distinct_id FROM seed_ids s
  JOIN person_distinct_ids d1 ON d1.organization_id = :org AND d1.distinct_id = s.distinct_id
  JOIN person_distinct_ids d2 ON d2.person_id = d1.person_id
)"""

# Their events after assignment (one row per event and assignment), restricted to the names
# the metric reads unless it reads any event; ``value`` is the numeric property, if any.
SUBJECT_EVENTS = """
subject_events AS (
  SELECT a.id AS assignment_id, e.id AS event_id, e.timestamp, e.event_name, {value} AS value
  FROM assigned a JOIN events e ON e.organization_id = :org AND e.user_id = a.user_id
  WHERE e.timestamp >= a.assigned_at AND e.timestamp <= :until {names}
  UNION
  SELECT s.assignment_id, e.id, e.timestamp, e.event_name, {value}
  FROM subject_ids s
  JOIN assigned a ON a.id = s.assignment_id
  JOIN events e ON e.organization_id = :org AND e.distinct_id = s.distinct_id
  WHERE e.timestamp >= a.assigned_at AND e.timestamp <= :until {names}
)"""

PER_VARIANT = """
SELECT variant_index, count(*) AS n, coalesce(sum(value), 0) AS total,
       coalesce(sum(value * value), 0) AS squares, count(*) FILTER (WHERE value > 0) AS converted
FROM per_person GROUP BY variant_index"""


@dataclass(frozen=True)
class Sums:
    """One variant's people (n), their values' sum and sum of squares, and how many had a value."""

    n: int
    total: float
    squares: float
    converted: int


def _funnel(steps: int, window: bool) -> str:
    """Each step's first time at or after the previous step's, as a chain of lateral joins."""
    joins, previous = [], "a.assigned_at"
    for i in range(steps):
        limit = " AND se.timestamp <= t0.t + make_interval(hours => :window_hours)" if window and i else ""
        joins.append(
            f"LEFT JOIN LATERAL (SELECT min(se.timestamp) AS t FROM subject_events se "
            f"WHERE se.assignment_id = a.id AND se.event_name = :step_{i} AND se.timestamp >= {previous}"
            f"{limit}) t{i} ON true"
        )
        previous = f"t{i}.t"
    return (
        "per_person AS (SELECT a.variant_index, "
        f"(t{steps - 1}.t IS NOT NULL)::int::float8 AS value FROM assigned a {' '.join(joins)})"
    )


def _statement(metric: Metric) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {}
    value = "NULL::float8"
    names = "AND e.event_name = ANY(:names)"
    if metric.kind == "funnel":
        assert metric.steps is not None
        params["names"] = list(metric.steps)
        params.update({f"step_{i}": step for i, step in enumerate(metric.steps)})
        if metric.window_hours is not None:
            params["window_hours"] = metric.window_hours
        per_person = _funnel(len(metric.steps), metric.window_hours is not None)
    elif metric.kind == "revenue":
        return (
            f"WITH {SUBJECTS}, per_person AS ("
            "SELECT a.variant_index, coalesce(r.revenue_cents, 0)::float8 / 100 AS value FROM assigned a "
            "LEFT JOIN app_experiment_revenue(:experiment_id, :currency, :until) r ON r.assignment_id = a.id)"
            f"{PER_VARIANT}",
            {"currency": metric.currency},
        )
    elif metric.kind == "retention":
        if metric.event is None:
            names = ""
        else:
            params["names"] = [metric.event]
        params.update(start_day=metric.start_day, end_day=metric.end_day)
        per_person = (
            "per_person AS (SELECT a.variant_index, EXISTS (SELECT 1 FROM subject_events se "
            "WHERE se.assignment_id = a.id "
            "AND se.timestamp >= a.assigned_at + make_interval(days => :start_day) "
            "AND se.timestamp < a.assigned_at + make_interval(days => :end_day))::int::float8 AS value "
            "FROM assigned a WHERE a.assigned_at + make_interval(days => :end_day) <= :until)"
        )
    elif metric.kind == "mean":
        params["names"] = [metric.event]
        if metric.property is not None:
            params["property"] = metric.property
            value = (
                "CASE WHEN jsonb_typeof(e.properties -> :property) = 'number' "
                "THEN (e.properties ->> :property)::float8 END"
            )
            per_event = "coalesce(sum(se.value), 0)"
        else:
            per_event = "count(se.event_id)::float8"
        per_person = (
            f"per_person AS (SELECT a.variant_index, {per_event} AS value FROM assigned a "
            "LEFT JOIN subject_events se ON se.assignment_id = a.id GROUP BY a.id, a.variant_index)"
        )
    else:  # event
        params["names"] = [metric.event]
        per_person = (
            "per_person AS (SELECT a.variant_index, EXISTS (SELECT 1 FROM subject_events se "
            "WHERE se.assignment_id = a.id)::int::float8 AS value FROM assigned a)"
        )
    events = SUBJECT_EVENTS.format(value=value, names=names)
    return f"WITH {SUBJECTS}, {events}, {per_person}{PER_VARIANT}", params


async def sums(
    session: AsyncSession, experiment: Experiment, metric: Metric, *, until: datetime
) -> dict[int, Sums]:
    """Per variant index, the metric's sums over the people assigned to it."""
    statement, params = _statement(metric)
    rows = await session.execute(
        text(statement),
        {"experiment_id": experiment.id, "org": experiment.organization_id, "until": until, **params},
    )
    return {
        int(r.variant_index): Sums(int(r.n), float(r.total), float(r.squares), int(r.converted))
        for r in rows.all()
    }


ASSIGNED = text(
    "SELECT variant_index, count(*) AS n FROM experiment_assignments "
    "WHERE experiment_id = :experiment_id GROUP BY variant_index"
)


async def assigned_counts(session: AsyncSession, experiment: Experiment) -> dict[int, int]:
    """People assigned per variant (what the sample-ratio check compares with the weights)."""
    rows = await session.execute(ASSIGNED, {"experiment_id": experiment.id})
    return {int(r.variant_index): int(r.n) for r in rows.all()}
