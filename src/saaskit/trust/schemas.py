"""Request and response bodies of the trust API (platform admins)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from saaskit.kit.schemas import Input, Output

ClusterType = Literal["ip_hash", "device_fingerprint", "payment_method"]
RiskLevel = Literal["low", "medium", "high"]
PatternType = Literal["trial_abuse", "payment_fraud", "api_abuse"]


class ClusterOut(Output):
    id: uuid.UUID
    cluster_type: ClusterType = Field(description="How the accounts were grouped.")
    identifier_hash: str = Field(description="The shared identifier's keyed hash (never the raw value).")
    user_ids: list[uuid.UUID] = Field(description="The accounts, in the order they joined.")
    member_count: int
    cleared_user_ids: list[uuid.UUID] = Field(description="Members a reviewer cleared (false positives).")
    first_detected_at: datetime | None = Field(description="When a second account joined (UTC).")
    last_joined_at: datetime
    is_shared_network: bool = Field(description="A shared office or NAT IP: never risky, never queued.")
    is_reviewed: bool
    reviewed_by: uuid.UUID | None
    reviewed_at: datetime | None
    admin_notes: str | None
    risk_level: RiskLevel | None = Field(description="null: not assessed yet (the minute job does it).")
    risk_reasons: list[str]
    assessed_at: datetime | None


class MemberOut(BaseModel):
    id: uuid.UUID
    email: str
    status: str
    created_at: datetime
    credits_cents: int
    sign_in_count: int
    last_seen_at: datetime | None
    trials: int = Field(description="Subscriptions of theirs that had a trial.")
    failed_payments: int
    paid_cents: int = Field(description="Payments that succeeded, cents.")
    open_patterns: int = Field(description="Abuse patterns not cleared as false positives.")
    is_cleared: bool = Field(description="A reviewer cleared this account in this cluster.")


class PatternOut(Output):
    id: uuid.UUID
    pattern_type: PatternType
    rule: str = Field(description="The rule that found it (docs/trust.md).")
    user_id: uuid.UUID
    organization_id: uuid.UUID | None
    cluster_id: uuid.UUID | None
    detected_at: datetime
    confidence_score: Decimal = Field(description="0 to 1.")
    evidence: dict[str, str | int | float | list[str] | None] = Field(
        description="What produced it: signals (hashes, counts) and related ids."
    )
    auto_flagged: bool
    human_reviewed: bool
    action_taken: str | None = Field(
        description="flagged, warned, trial_blocked, card_required, suspended, banned or false_positive."
    )
    action_automatic: bool
    reviewed_by: uuid.UUID | None
    reviewed_at: datetime | None
    admin_notes: str | None


class ClusterDetailOut(BaseModel):
    cluster: ClusterOut
    members: list[MemberOut]
    patterns: list[PatternOut]


class PatternActionIn(Input):
    action: Literal["warn", "suspend", "ban", "false_positive", "note"]
    note: str | None = Field(
        default=None, max_length=2000, description="Added to the notes; required by note."
    )


class ClusterActionIn(Input):
    action: Literal["review", "note", "shared_network", "clear"] = Field(
        description="review: mark reviewed; shared_network: an office or NAT IP (IP clusters only); "
        "clear: every member legitimate (their patterns from this cluster become false positives)."
    )
    note: str | None = Field(
        default=None, max_length=2000, description="Added to the notes; required by note."
    )


class ActionOut(BaseModel):
    message: str
    data: dict[str, str | int | bool | None] = Field(description="What changed (action_taken, counts).")


class RuleOut(BaseModel):
    rule: str
    figures: dict[str, bool | int | float | str] = Field(
        description="Thresholds, confidences and the automatic action."
    )
    fired_count: int = Field(description="Patterns the rule created, ever.")
    last_fired_at: datetime | None


class RulesOut(BaseModel):
    rules: list[RuleOut]
    clusters: dict[str, int] = Field(description="The risk levels' figures and the shared-network size.")


class RulesIn(Input):
    rules: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='Figures to change per rule, e.g. {"card_testing": {"min_failures": 8}}.',
    )
    clusters: dict[str, Any] = Field(default_factory=dict, description="Cluster figures to change.")


class SweepOut(BaseModel):
    grouped: int
    assessed: int
    findings: int
    fired: dict[str, int]
    actions: dict[str, int]
