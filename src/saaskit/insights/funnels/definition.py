"""What a funnel is, independent of where it is stored: ordered steps, a window, an order mode.

The API validates bodies with pydantic (``funnels.schemas``); the computation takes this plain,
frozen form, so a page handler can build one without going through HTTP or the database.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, cast

OrderMode = Literal["ordered", "strict", "any"]
Scalar = str | int | float | bool

MAX_STEPS = 20
DEFAULT_WINDOW_DAYS = 14


@dataclass(frozen=True)
class Step:
    name: str
    event: str
    # Each key must be present in the event's properties with the same text (``->>``).
    properties: Mapping[str, Scalar] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "event": self.event, "properties": dict(self.properties)}


@dataclass(frozen=True)
class FunnelDefinition:
    steps: Sequence[Step]
    conversion_window_days: int = DEFAULT_WINDOW_DAYS
    order_mode: OrderMode = "ordered"
    # None: every event of the platform; else only the events attributed to this organization.
    organization_id: uuid.UUID | None = None

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.conversion_window_days)

    @property
    def event_names(self) -> list[str]:
        return sorted({step.event for step in self.steps})

    @classmethod
    def from_stored(
        cls,
        steps: Sequence[Mapping[str, Any]],
        *,
        conversion_window_days: int,
        order_mode: str,
        organization_id: uuid.UUID | None,
    ) -> FunnelDefinition:
        """From ``conversion_funnels`` columns (the API validated them when they were written)."""
        return cls(
            steps=tuple(
                Step(name=s["name"], event=s["event"], properties=dict(s.get("properties") or {}))
                for s in steps
            ),
            conversion_window_days=conversion_window_days,
            order_mode=cast(OrderMode, order_mode),
            organization_id=organization_id,
        )
