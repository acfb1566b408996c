"""Request and response models of the experiments API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from saaskit.experiments.conditions import eval_condition

KEY = r"^[a-z0-9][a-z0-9_.-]{0,99}$"
# Weights are stored and served as given; GrowthBook SDKs fall back to equal weights when they do
# not sum to 1 within 0.01, so saaskit accepts only sums GrowthBook would use unchanged.
WEIGHT_SUM_TOLERANCE = 0.001


class Variant(BaseModel):
    key: str = Field(
        pattern=KEY, description="Variant key, unique in the experiment (recorded as variant_name)."
    )
    name: str = Field(min_length=1, max_length=200, description="Display name.")
    weight: float = Field(
        ge=0, le=1, description="Share of the experiment's users, 0-1; all weights sum to 1."
    )


class Namespace(BaseModel):
    id: str = Field(
        min_length=1, max_length=100, description="Namespace id shared by mutually exclusive experiments."
    )
    start: float = Field(ge=0, le=1, description="Start of this experiment's range, 0-1.")
    end: float = Field(gt=0, le=1, description="End of this experiment's range, 0-1 (above start).")

    @model_validator(mode="after")
    def _ordered(self) -> Namespace:
        if self.start >= self.end:
            raise ValueError("start must be below end")
        return self


# Metrics that are a share of people (a conversion) rather than a mean per person.
PROPORTION_KINDS = ("event", "funnel", "retention")


class Metric(BaseModel):
    """What an experiment measures, per assigned person, from their events after the assignment
    (events of every distinct id linked to them: docs/experiments.md)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["event", "funnel", "mean", "revenue", "retention"] = Field(
        description="event: share who sent the event; funnel: share who completed the steps in "
        "order; mean: events per person, or the mean of a numeric property summed per person; "
        "revenue: paid invoices per person; retention: share active again in a later window."
    )
    event: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="event, mean: the event's name (required); retention: the returning event "
        "(default any event).",
    )
    steps: list[str] | None = Field(
        default=None, min_length=2, max_length=10, description="funnel: event names, in order."
    )
    window_hours: int | None = Field(
        default=None, ge=1, le=24 * 365, description="funnel: every step within this long of the first."
    )
    property: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="mean: a numeric event property summed per person (default: count the events).",
    )
    currency: str = Field(
        default="usd", pattern=r"^[a-z]{3}$", description="revenue: invoices in this currency only."
    )
    start_day: int = Field(
        default=7, ge=0, le=365, description="retention: window start, days after assignment."
    )
    end_day: int = Field(
        default=14, ge=1, le=366, description="retention: window end, days after assignment."
    )

    @model_validator(mode="after")
    def _complete(self) -> Metric:
        if self.kind in ("event", "mean") and self.event is None:
            raise ValueError(f"a {self.kind} metric needs event")
        if self.kind == "funnel" and self.steps is None:
            raise ValueError("a funnel metric needs steps")
        if self.steps is not None and any(not 1 <= len(s) <= 200 for s in self.steps):
            raise ValueError("each step is an event name of 1 to 200 characters")
        if self.kind == "retention" and self.end_day <= self.start_day:
            raise ValueError("end_day must be after start_day")
        return self


def _check_variants(variants: list[Variant] | None) -> list[Variant] | None:
    if variants is None:
        return None
    if len({v.key for v in variants}) != len(variants):
        raise ValueError("variant keys must be unique")
    if abs(sum(v.weight for v in variants) - 1) > WEIGHT_SUM_TOLERANCE:
        raise ValueError("variant weights must sum to 1")
    return variants


class ExperimentUpdate(BaseModel):
    """Fields that decide who gets what (variants, seed, traffic, targeting, namespace) change
    only while the experiment is a draft: once users are assigned, they would move."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    hypothesis: str | None = Field(default=None, max_length=5000)
    variants: list[Variant] | None = Field(default=None, min_length=2, max_length=20)
    seed: str | None = Field(default=None, min_length=1, max_length=200)
    traffic_percentage: float | None = Field(default=None, ge=0, le=100)
    targeting: dict[str, Any] | None = Field(
        default=None, description="GrowthBook condition on the user's attributes ({} = everyone)."
    )
    namespace: Namespace | None = None
    primary_metric: Metric | None = None
    secondary_metrics: list[Metric] | None = Field(default=None, max_length=20)

    _variants = field_validator("variants")(_check_variants)

    @field_validator("targeting")
    @classmethod
    def _condition(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        # A malformed condition ({"$or": "x"}) would fail every assignment later: refuse it now.
        if value is not None:
            try:
                eval_condition({}, value)
            except Exception as error:
                raise ValueError("not a GrowthBook condition") from error
        return value


class ExperimentIn(ExperimentUpdate):
    key: str = Field(
        pattern=KEY, description="Tracking key, unique in the organization (the GrowthBook feature key)."
    )
    name: str = Field(min_length=1, max_length=200)
    variants: list[Variant] = Field(min_length=2, max_length=20, description="The first is the control.")


class ExperimentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organization_id: uuid.UUID
    key: str
    name: str
    description: str | None
    hypothesis: str | None
    variants: list[Variant]
    status: Literal["draft", "running", "stopped"]
    start_date: datetime | None
    end_date: datetime | None
    seed: str
    traffic_percentage: float
    targeting: dict[str, Any]
    namespace: Namespace | None
    primary_metric: Metric | None
    secondary_metrics: list[Metric]
    created_at: datetime
    updated_at: datetime


class AssignIn(BaseModel):
    user_id: uuid.UUID | None = Field(
        default=None,
        description="The member to assign; default the caller (another needs experiments:write).",
    )
    attributes: dict[str, Any] = Field(
        default_factory=dict,
        description="The user's attributes for the targeting condition; id is always the user's uuid.",
    )


class AssignmentOut(BaseModel):
    experiment_id: uuid.UUID
    user_id: uuid.UUID | None = Field(description="The user; None for an anonymous visitor (distinct_id).")
    distinct_id: str | None = Field(
        default=None, description="The distinct id that was assigned through /flags, if any."
    )
    in_experiment: bool = Field(description="False when targeting, traffic or namespace left the user out.")
    variant: str | None = Field(
        description="The variant's key (variant_name), None when not in the experiment."
    )
    variant_index: int | None
    assigned_at: datetime | None = Field(
        description="When the user was first assigned (the variant never changes)."
    )
