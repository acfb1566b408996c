"""Flag definitions in PostHog's format (what PostHog's API and its SDKs' local evaluation read),
validated, and the answers of the flag API."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from saaskit.flags.evaluation import OPERATORS
from saaskit.flags.models import KEY_MAX_CHARS
from saaskit.kit.schemas import Input, Output

Percentage = Annotated[float, Field(ge=0, le=100)]
Operator = Literal[OPERATORS]  # type: ignore[valid-type]


class Definition(BaseModel):
    """PostHog's filter objects carry keys saaskit does not read (``label``, ``negation`` ...):
    they are kept, so a definition copied from PostHog round-trips."""

    model_config = ConfigDict(extra="allow")


class PropertyFilter(Definition):
    key: str = Field(min_length=1, max_length=400, description="The person (or group) property.")
    operator: Operator = Field("exact", description="PostHog's operator.")
    value: Any = Field(None, description="What to compare with: a value, or a list for exact / is_not.")
    type: Literal["person", "group"] = Field(
        "person", description="Cohorts and flag dependencies are not supported."
    )
    group_type_index: int | None = Field(None, ge=0, le=4, description="PostHog's group type index (0-4).")


class ConditionGroup(Definition):
    properties: list[PropertyFilter] = Field(default_factory=list, description="All must match (AND).")
    rollout_percentage: Percentage | None = Field(
        None, description="Share of matching ids; null is everyone."
    )
    variant: str | None = Field(None, description="Everyone this group matches gets this variant.")


class Variant(Definition):
    key: str = Field(min_length=1, max_length=400)
    name: str | None = None
    rollout_percentage: Percentage


class Multivariate(Definition):
    variants: list[Variant] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _sum_to_100(self) -> Multivariate:
        if abs(sum(v.rollout_percentage for v in self.variants) - 100) > 1e-9:
            raise ValueError("the variants' rollout_percentage must add up to 100")
        if len({v.key for v in self.variants}) != len(self.variants):
            raise ValueError("variant keys must be unique")
        return self


class Filters(Definition):
    groups: list[ConditionGroup] = Field(
        default_factory=list, description="Release conditions, OR'd in order: the first match decides."
    )
    multivariate: Multivariate | None = None
    payloads: dict[str, Any] = Field(
        default_factory=dict,
        description='Payload per value: "true" for a boolean flag, else a variant key. Stored as JSON text, '
        "as PostHog does.",
    )
    aggregation_group_type_index: int | None = Field(
        None, ge=0, le=4, description="Set for a group flag: evaluated per group, on group properties."
    )
    group_type: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="saaskit's addition: the name of group type aggregation_group_type_index "
        '("company"), what SDKs pass in groups={...}. Required for a group flag.',
    )

    @field_validator("payloads")
    @classmethod
    def _payloads_as_json_text(cls, payloads: dict[str, Any]) -> dict[str, str]:
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in payloads.items()}

    @model_validator(mode="after")
    def _consistent(self) -> Filters:
        # PostHog features saaskit does not evaluate: refused, so SDKs evaluating locally and
        # saaskit never disagree about a flag that uses them.
        for unsupported in ("holdout", "feature_enrollment", "bucketing_identifier", "super_groups"):
            if (self.model_extra or {}).get(unsupported):
                raise ValueError(f"{unsupported} is not supported (docs/flags.md)")
        for group in self.groups:
            if (group.model_extra or {}).get("aggregation_group_type_index") is not None:
                raise ValueError("a condition's own aggregation_group_type_index is not supported")
        variants = {v.key for v in self.multivariate.variants} if self.multivariate else set()
        allowed = variants | ({"true"} if not variants else set())
        unknown = set(self.payloads) - allowed
        if unknown:
            raise ValueError(f"payloads for unknown values: {sorted(unknown)}; use {sorted(allowed)}")
        if (self.aggregation_group_type_index is None) != (self.group_type is None):
            raise ValueError("a group flag needs both aggregation_group_type_index and group_type")
        return self


FlagKey = Annotated[str, Field(min_length=1, max_length=KEY_MAX_CHARS, pattern=r"^[A-Za-z0-9_\-.$]+$")]


class FlagIn(Input):
    key: FlagKey = Field(description="What SDKs ask for; letters, digits, - _ . $; unique per organization.")
    name: str = Field("", max_length=1000, description="Description for people.")
    active: bool = True
    filters: Filters = Field(default_factory=Filters)


class FlagPatch(Input):
    name: str | None = Field(None, max_length=1000)
    active: bool | None = None
    filters: Filters | None = None


class FlagOut(Output):
    id: uuid.UUID
    number: int = Field(description="PostHog's numeric id, as SDKs see it.")
    key: str
    name: str
    active: bool
    filters: dict[str, Any]
    version: int
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class FlagEvaluation(BaseModel):
    """``POST /api/orgs/{org}/flags/evaluate``: what an id would get (the admin's "who sees what")."""

    key: str
    enabled: bool
    variant: str | None
    reason: str
    condition_index: int | None
    payload: Any


class EvaluateIn(Input):
    distinct_id: str = Field(min_length=1, max_length=400)
    person_properties: dict[str, Any] | None = Field(
        None, description="Merged over the person's stored properties (as PostHog's /flags does)."
    )
    groups: dict[str, str] = Field(default_factory=dict)
    group_properties: dict[str, dict[str, Any]] = Field(default_factory=dict)


class FlagReasonOut(BaseModel):
    code: str = Field(
        description="condition_match, no_condition_match, out_of_rollout_bound or no_group_type."
    )
    condition_index: int | None
    description: str


class FlagMetadataOut(BaseModel):
    id: int
    version: int
    description: str
    payload: str | None = Field(description="The payload for the value, as JSON text (PostHog's way).")


class FlagRecord(BaseModel):
    key: str
    enabled: bool
    variant: str | None
    reason: FlagReasonOut
    metadata: FlagMetadataOut


class FlagsAnswer(BaseModel):
    """``/flags?v=2`` and later: ``flags``; ``?v=1``: ``featureFlags`` and ``featureFlagPayloads``."""

    errorsWhileComputingFlags: bool
    flags: dict[str, FlagRecord] | None = None
    featureFlags: dict[str, bool | str] | None = None
    featureFlagPayloads: dict[str, str] | None = None


class ClientSettings(BaseModel):
    """What posthog-js reads at load, in ``/decide`` and in remote config alike (everything
    saaskit does not serve is off: session recording, surveys, heatmaps)."""

    supportedCompression: list[str]
    sessionRecording: bool
    autocapture_opt_out: bool
    autocaptureExceptions: bool
    capturePerformance: bool
    heatmaps: bool
    surveys: bool
    siteApps: list[str]
    toolbarParams: dict[str, str]
    editorParams: dict[str, str]
    isAuthenticated: bool
    elementsChainAsString: bool
    defaultIdentifiedOnly: bool


class DecideAnswer(FlagsAnswer, ClientSettings):
    """``/decide?v=3``: ``featureFlags``; ``v=4``: ``flags``; plus the client settings."""


class RemoteConfigAnswer(ClientSettings):
    """``/array/<token>/config``: the client settings plus ``token`` and ``hasFeatureFlags``."""

    token: str
    hasFeatureFlags: bool
    captureDeadClicks: bool


class DefinitionOut(BaseModel):
    id: int
    team_id: int
    name: str
    key: str
    filters: Filters
    deleted: bool
    active: bool
    ensure_experience_continuity: bool
    version: int


class DefinitionsAnswer(BaseModel):
    flags: list[DefinitionOut]
    group_type_mapping: dict[str, str] = Field(description='Group type index -> name: {"0": "company"}.')
    cohorts: dict[str, str] = Field(description="Always empty: cohorts are not supported.")
