"""``compute_funnel``: a funnel's per-step figures over a range of days, straight from ``events``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.insights.funnels import events
from saaskit.insights.funnels.definition import FunnelDefinition
from saaskit.insights.funnels.progress import Progress, StepResult, summarize
from saaskit.insights.funnels.schemas import FunnelResultOut, FunnelStepFigures
from saaskit.kit.errors import Unprocessable

MAX_DAYS = 400


@dataclass(frozen=True)
class FunnelResult:
    definition: FunnelDefinition
    start: date  # first day of the range, in tz
    end: date  # the day after the last one (exclusive), in tz
    tz: str
    range_start: datetime  # start's midnight in tz, as an instant
    range_end: datetime
    steps: list[StepResult]
    source: Literal["live", "stored"] = "live"
    computed_at: datetime | None = None  # when the stored progress was computed
    # Every entered person's way through the funnel (live results only; what compute stores).
    progress: list[Progress] = field(default_factory=list, repr=False)

    def answer_fields(self) -> dict[str, Any]:
        """The fields of ``FunnelResultOut`` (the API's answer), as typed values."""
        return {
            "start": self.start,
            "end": self.end,
            "tz": self.tz,
            "range_start": self.range_start,
            "range_end": self.range_end,
            "order_mode": self.definition.order_mode,
            "conversion_window_days": self.definition.conversion_window_days,
            "source": self.source,
            "computed_at": self.computed_at,
            "steps": [
                FunnelStepFigures(
                    order=s.order,
                    name=s.name,
                    event=s.event,
                    people=s.people,
                    conversion_from_first=s.conversion_from_first,
                    conversion_from_previous=s.conversion_from_previous,
                    median_seconds_from_previous=s.median_seconds_from_previous,
                )
                for s in self.steps
            ],
        }

    def to_schema(self) -> FunnelResultOut:
        return FunnelResultOut(**self.answer_fields())

    def as_json(self) -> dict[str, Any]:
        """The answer as plain JSON values, keys as sent (``from``, ``to``)."""
        return self.to_schema().model_dump(mode="json", by_alias=True)


def check_range(start: date, end: date) -> None:
    if end <= start:
        raise Unprocessable("'to' must be after 'from' (the range is [from, to))", field="to")
    if (end - start).days > MAX_DAYS:
        raise Unprocessable(f"at most {MAX_DAYS} days at a time", field="to")


async def compute_funnel(
    session: AsyncSession, definition: FunnelDefinition, start: date, end: date, tz: str = "UTC"
) -> FunnelResult:
    """People who entered in the days [start, end) of ``tz`` and how far they went. Reads only;
    ``storage.compute_and_store`` keeps the progress of a saved funnel."""
    check_range(start, end)
    range_start, range_end = await events.local_range(session, start, end, tz)
    progress = [one async for one in events.people(session, definition, range_start, range_end)]
    return FunnelResult(
        definition=definition,
        start=start,
        end=end,
        tz=tz,
        range_start=range_start,
        range_end=range_end,
        steps=summarize(definition.steps, progress),
        progress=progress,
    )
