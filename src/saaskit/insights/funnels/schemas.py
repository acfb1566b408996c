"""Bodies and answers of the funnels API. Pydantic names the failing field (``steps.2.event``)
in the 422. Definitions of the figures: docs/statistics.md, "Funnels"."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
)

from saaskit.insights.funnels.definition import (
    DEFAULT_WINDOW_DAYS,
    MAX_STEPS,
    FunnelDefinition,
    OrderMode,
    Step,
)
from saaskit.kit.schemas import Answer, Input, IsoDateTime, Output

Text = Annotated[str, Field(min_length=1, max_length=200)]


def _scalar(value: object) -> object:
    # Checked before the union so the 422 names the property, not one of the union's members.
    if isinstance(value, str | bool | int | float):
        return value
    raise ValueError("a property filter is a string, a number or a boolean")


# Strict types: JSON true stays a boolean, "3" stays a string; null, lists and objects are refused.
# Integers within 64 bits: the value is compared as JSON text, which orjson writes only for those.
PropertyInt = Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]
PropertyValue = Annotated[StrictStr | StrictBool | PropertyInt | StrictFloat, BeforeValidator(_scalar)]
WindowDays = Annotated[
    int, Field(ge=1, le=365, description="Days after entering within which later steps count.")
]


class StepIn(Input):
    name: Text
    event: Text = Field(description="The event's name (events.event_name).")
    properties: dict[Text, PropertyValue] | None = Field(
        default=None,
        max_length=20,
        description="Each key must be in the event's properties with the same text (->>).",
    )

    def as_step(self) -> Step:
        return Step(name=self.name, event=self.event, properties=dict(self.properties or {}))


Steps = Annotated[list[StepIn], Field(min_length=1, max_length=MAX_STEPS)]


class FunnelQuery(Input):
    """A funnel's definition without storage (``POST /api/insights/funnels/query``)."""

    steps: Steps
    conversion_window_days: WindowDays = DEFAULT_WINDOW_DAYS
    order_mode: OrderMode = "ordered"

    def definition(self, organization_id: uuid.UUID | None) -> FunnelDefinition:
        return FunnelDefinition(
            steps=tuple(s.as_step() for s in self.steps),
            conversion_window_days=self.conversion_window_days,
            order_mode=self.order_mode,
            organization_id=organization_id,
        )


class FunnelIn(FunnelQuery):
    name: Text
    description: str | None = Field(default=None, max_length=2000)
    is_active: bool = True


class FunnelUpdate(Input):
    """Only the fields sent change; changing steps, window or mode drops the stored progress."""

    name: Text | None = None
    description: str | None = Field(default=None, max_length=2000)
    steps: Steps | None = None
    conversion_window_days: WindowDays | None = None
    order_mode: OrderMode | None = None
    is_active: bool | None = None


def _no_properties(value: object) -> object:
    return {} if value is None else value


class FunnelStepOut(BaseModel):
    """A stored step (``conversion_funnels.steps``). The API always stores the three keys; a step
    written by hand without properties (or with null) reads as no filter, as the computation
    reads it."""

    # properties has a default for hand-written rows, but every answer has it.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    name: str = Field(description="The step's name.")
    event: str = Field(description="The event's name (events.event_name).")
    properties: Annotated[dict[str, PropertyValue], BeforeValidator(_no_properties)] = Field(
        default_factory=dict,
        description="Property filters: each key must be in the event's properties with the same "
        "text (->>); empty: any event of that name.",
    )


class FunnelOut(Output):
    id: uuid.UUID
    organization_id: uuid.UUID | None = Field(description="The organization; null: a platform funnel.")
    name: str
    description: str | None
    steps: list[FunnelStepOut] = Field(description="The steps, in order.")
    conversion_window_days: int = Field(description="Days after entering within which later steps count.")
    order_mode: OrderMode = Field(
        description="ordered: steps in order, other events between allowed; strict: no other event "
        "between steps; any: the steps in any order."
    )
    is_active: bool = Field(description="Computed and stored nightly over the last 30 UTC days.")
    created_by: uuid.UUID | None = Field(description="The user who defined it.")
    last_computed_at: datetime | None = Field(
        description="When the stored progress was computed; null: none stored."
    )
    last_range_start: datetime | None = Field(description="Start of the stored progress's range.")
    last_range_end: datetime | None = Field(description="End (exclusive) of the stored progress's range.")
    created_at: datetime
    updated_at: datetime


# -- results -------------------------------------------------------------------------------------
class FunnelStepFigures(Answer):
    """One row of a funnel's results: the k-th row counts people who reached at least k steps."""

    order: StrictInt = Field(description="1-based position of the step.")
    name: str = Field(description="The step's name (mode any: the definition's k-th step).")
    event: str = Field(description="The step's event name.")
    people: StrictInt = Field(
        description="People who reached at least this many steps (row 1: everyone who entered)."
    )
    conversion_from_first: StrictFloat | None = Field(
        description="people over row 1's people, in percent, one decimal (rounded half up); null "
        "when nobody entered."
    )
    conversion_from_previous: StrictFloat | None = Field(
        description="people over the previous row's people, in percent, one decimal (rounded half "
        "up); null for row 1 and when the previous row has nobody."
    )
    median_seconds_from_previous: StrictFloat | None = Field(
        description="Median over the people of this row of the time from their previous step, in "
        "whole seconds (rounded down; the median of an even count may end in .5); null for row 1 "
        "and when nobody reached this row."
    )


class FunnelResultOut(Answer):
    """A funnel's per-step figures over [from, to) (``POST /api/insights/funnels/query``)."""

    start: date = Field(serialization_alias="from", description="First day of the range (in tz).")
    end: date = Field(serialization_alias="to", description="The day after the last one (in tz).")
    tz: str = Field(description="The IANA time zone of the days.")
    range_start: IsoDateTime = Field(
        description="from's midnight in tz, as an instant (ISO 8601 with the UTC offset)."
    )
    range_end: IsoDateTime = Field(description="to's midnight in tz, as an instant (exclusive).")
    order_mode: OrderMode = Field(description="ordered, strict or any.")
    conversion_window_days: int = Field(description="Days after entering within which later steps count.")
    source: Literal["live", "stored"] = Field(
        description="live: computed from events for this answer; stored: read from the saved "
        "funnel's stored progress."
    )
    computed_at: IsoDateTime | None = Field(
        description="When the stored progress was computed; null for live figures."
    )
    steps: list[FunnelStepFigures] = Field(description="One row per step, in order.")


class _SavedFunnel(Answer):
    id: uuid.UUID = Field(description="The funnel.")


class _Computed(_SavedFunnel):
    people: StrictInt = Field(description="People who entered the funnel (and whose progress is stored).")


# The saved-funnel answers start with these keys: pydantic orders the fields of the base listed
# last first, so the mixins go after FunnelResultOut.
class FunnelResultsOut(FunnelResultOut, _SavedFunnel):
    """``GET /api/insights/funnels/{id}/results``: the saved funnel's figures over [from, to)."""


class FunnelComputeOut(FunnelResultOut, _Computed):
    """``POST /api/insights/funnels/{id}/compute``: the figures just computed and stored."""
