"""Bodies of the funnels API. Pydantic names the failing field (``steps.2.event``) in the 422."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from saaskit.insights.funnels.definition import (
    DEFAULT_WINDOW_DAYS,
    MAX_STEPS,
    FunnelDefinition,
    OrderMode,
    Step,
)
from saaskit.kit.schemas import Input, Output

Text = Annotated[str, Field(min_length=1, max_length=200)]


def _scalar(value: object) -> object:
    # Checked before the union so the 422 names the property, not one of the union's members.
    if isinstance(value, str | bool | int | float):
        return value
    raise ValueError("a property filter is a string, a number or a boolean")


# Strict types: JSON true stays a boolean, "3" stays a string; null, lists and objects are refused.
PropertyValue = Annotated[StrictStr | StrictBool | StrictInt | StrictFloat, BeforeValidator(_scalar)]
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


class FunnelOut(Output):
    id: uuid.UUID
    organization_id: uuid.UUID | None
    name: str
    description: str | None
    steps: list[dict[str, Any]]
    conversion_window_days: int
    order_mode: str
    is_active: bool
    created_by: uuid.UUID | None
    last_computed_at: datetime | None
    last_range_start: datetime | None
    last_range_end: datetime | None
    created_at: datetime
    updated_at: datetime
