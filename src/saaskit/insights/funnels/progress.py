"""How far one person got through a funnel, and the per-step figures over everybody.

Pure functions over one person's events, already in order (timestamp, then event id: a total
order, so equal timestamps give the same answer on every run). Each event is ``(timestamp,
mask)``: bit ``i`` of the mask is set when the event matches step ``i`` (0-based); an event can
match several steps, and in strict mode events that match none are there too, because they
interrupt. Definitions: docs/statistics.md, "Funnels".
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from saaskit.insights.funnels.definition import OrderMode, Step
from saaskit.insights.kpis import percent

SECOND = timedelta(seconds=1)
PersonEvent = tuple[datetime, int]


@dataclass(frozen=True)
class Progress:
    """One person's way through the funnel: ``times[k]`` is when they reached their (k+1)-th
    step, ``steps[k]`` which step that was (0-based; always k except in ``any`` mode)."""

    person: str
    user_id: uuid.UUID | None
    times: tuple[datetime, ...]
    steps: tuple[int, ...]

    @property
    def reached(self) -> int:
        return len(self.times)

    def seconds_from_previous(self, k: int) -> int | None:
        """Whole seconds (rounded down) from the k-th reached step to the (k+1)-th (0-based k)."""
        if k == 0 or k >= len(self.times):
            return None
        return (self.times[k] - self.times[k - 1]) // SECOND


@dataclass(frozen=True)
class StepResult:
    order: int
    name: str
    event: str
    people: int
    conversion_from_first: float | None
    conversion_from_previous: float | None
    median_seconds_from_previous: float | None


def walk(
    events: Sequence[PersonEvent],
    *,
    steps: int,
    mode: OrderMode,
    start: datetime,
    end: datetime,
    window: timedelta,
) -> tuple[tuple[datetime, ...], tuple[int, ...]] | None:
    """The times and steps one person reached, or None when they did not enter in [start, end)."""
    entry_bits = 1 if mode != "any" else (1 << steps) - 1
    entry = next((i for i, (at, mask) in enumerate(events) if mask & entry_bits and start <= at < end), None)
    if entry is None:
        return None
    entered_at = events[entry][0]
    deadline = entered_at + window  # half-open: an event exactly one window later is too late
    if mode == "any":
        return _any_order(events, entry, deadline, steps)
    times, reached = [entered_at], [0]
    for at, mask in events[entry + 1 :]:
        if len(times) == steps or at >= deadline:
            break
        if mask >> len(times) & 1:
            times.append(at)
            reached.append(len(reached))
        elif mode == "strict":
            # The person's very next event was not the next step: the attempt ends here.
            break
    return tuple(times), tuple(reached)


def _any_order(
    events: Sequence[PersonEvent], entry: int, deadline: datetime, steps: int
) -> tuple[tuple[datetime, ...], tuple[int, ...]]:
    """Each step counts at its first matching event in [entry, deadline); one event may complete
    several steps at once (then in definition order). The reached order is the time order."""
    times: list[datetime] = []
    reached: list[int] = []
    missing = (1 << steps) - 1
    for at, mask in events[entry:]:
        if at >= deadline or not missing:
            break
        new = mask & missing
        for step in range(steps):
            if new >> step & 1:
                times.append(at)
                reached.append(step)
        missing &= ~new
    return tuple(times), tuple(reached)


def summarize(steps: Sequence[Step], progress: Iterable[Progress]) -> list[StepResult]:
    """People per step (the k-th row counts people who reached at least k steps), and the median
    whole seconds between consecutive steps over the people who reached both."""
    people = [0] * len(steps)
    gaps: list[list[int]] = [[] for _ in steps]
    for one in progress:
        for k in range(one.reached):
            people[k] += 1
            gap = one.seconds_from_previous(k)
            if gap is not None:
                gaps[k].append(gap)
    medians = [float(statistics.median(values)) if values else None for values in gaps]
    return step_results(steps, people, medians)


def step_results(
    steps: Sequence[Step], people: Sequence[int], medians: Sequence[float | None]
) -> list[StepResult]:
    results = []
    for k, step in enumerate(steps):
        results.append(
            StepResult(
                order=k + 1,
                name=step.name,
                event=step.event,
                people=people[k],
                conversion_from_first=percent(people[k], people[0]),
                conversion_from_previous=percent(people[k], people[k - 1]) if k else None,
                median_seconds_from_previous=medians[k] if k else None,
            )
        )
    return results
