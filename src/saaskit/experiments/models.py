"""Experiment tables: ``experiments`` (seed 004's columns: id, name, description, variants,
status, start_date, end_date; plus what GrowthBook's assignment needs) and
``experiment_assignments`` (seed 004's columns: id, experiment_id, user_id, variant_name,
assigned_at; one row per user and experiment, written once). Both are tenant tables: RLS on
``organization_id = app_organization_id()`` (or service)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.kit.models import Base, created_at_column, updated_at_column, uuid_pk

STATUSES = ("draft", "running", "stopped")
KEY_PATTERN = "^[a-z0-9][a-z0-9_.-]{0,99}$"


class Experiment(Base):
    __tablename__ = "experiments"
    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES}", name="status_known"),
        CheckConstraint(f"key ~ '{KEY_PATTERN}'", name="key_format"),
        CheckConstraint("jsonb_typeof(variants) = 'array'", name="variants_array"),
        CheckConstraint("jsonb_typeof(targeting) = 'object'", name="targeting_object"),
        CheckConstraint("jsonb_typeof(secondary_metrics) = 'array'", name="secondary_metrics_array"),
        CheckConstraint("traffic_percentage BETWEEN 0 AND 100", name="traffic_percentage_range"),
        CheckConstraint(
            "namespace IS NULL OR (namespace_start >= 0 AND namespace_start < namespace_end "
            "AND namespace_end <= 1)",
            name="namespace_range",
        ),
        CheckConstraint("status = 'draft' OR start_date IS NOT NULL", name="started_has_start_date"),
        CheckConstraint("status <> 'stopped' OR end_date IS NOT NULL", name="stopped_has_end_date"),
        UniqueConstraint("organization_id", "key"),
        Index("idx_experiments_created_by", "created_by"),
        {
            "comment": "A/B tests of an organization: variants with weights, targeting, traffic and "
            "namespace, assigned with GrowthBook's algorithm (docs/experiments.md). RLS: the "
            "organization's rows, or service."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk("Unique experiment identifier.")
    organization_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
        comment="Organization (tenant) that runs the experiment.",
    )
    key: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        comment="Tracking key, unique in the organization: the GrowthBook experiment key and feature "
        "key served on /api/features/{client_key}.",
    )
    name: Mapped[str] = mapped_column(Text, nullable=False, comment="Display name.")
    description: Mapped[str | None] = mapped_column(Text, comment="What the experiment changes.")
    hypothesis: Mapped[str | None] = mapped_column(Text, comment="What the team expects, and why.")
    variants: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB,
        nullable=False,
        comment='Variants in order, the first is the control: [{"key", "name", "weight"}]; weights '
        "sum to 1. Fixed once the experiment has started.",
    )
    status: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        server_default="draft",
        comment="draft (editable, assigns nobody), running (assigns), stopped (assigns nobody, keeps "
        "its assignments and results).",
    )
    start_date: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When the experiment was started (UTC)."
    )
    end_date: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True),
        comment="When the experiment was stopped (UTC); events after it do not count.",
    )
    seed: Mapped[str] = mapped_column(
        Text, nullable=False, comment="Hash seed (GrowthBook hash version 2): the key unless set."
    )
    traffic_percentage: Mapped[float] = mapped_column(
        Float,
        nullable=False,
        server_default=text("100"),
        comment="Share of eligible users in the experiment, 0-100 (GrowthBook's coverage × 100).",
    )
    targeting: Mapped[dict[str, Any]] = mapped_column(
        JSONB,
        nullable=False,
        server_default=text("'{}'::jsonb"),
        comment="GrowthBook condition on the user's attributes ({} = everyone).",
    )
    namespace: Mapped[str | None] = mapped_column(
        Text, comment="Namespace id: experiments in one namespace with disjoint ranges share no user."
    )
    namespace_start: Mapped[float | None] = mapped_column(Float, comment="Start of the namespace range, 0-1.")
    namespace_end: Mapped[float | None] = mapped_column(Float, comment="End of the namespace range, 0-1.")
    primary_metric: Mapped[dict[str, Any] | None] = mapped_column(
        JSONB, comment='The decision metric, e.g. {"kind": "event", "event": "signup_completed"}.'
    )
    secondary_metrics: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB,
        nullable=False,
        server_default=text("'[]'::jsonb"),
        comment="Other metrics watched, same shape.",
    )
    final_results: Mapped[dict[str, Any] | None] = mapped_column(
        JSONB, comment="The primary metric's results as computed when the experiment was stopped."
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"), comment="Creator."
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class ExperimentAssignment(Base):
    __tablename__ = "experiment_assignments"
    __table_args__ = (
        # One variant per user (and per distinct id) and experiment, whoever asks first
        # (INSERT ... ON CONFLICT DO NOTHING). NULLs are distinct: anonymous rows have no user.
        UniqueConstraint("experiment_id", "user_id"),
        UniqueConstraint("experiment_id", "distinct_id"),
        CheckConstraint("user_id IS NOT NULL OR distinct_id IS NOT NULL", name="someone"),
        Index("idx_experiment_assignments_user_id", "user_id"),
        Index("idx_experiment_assignments_organization_id", "organization_id"),
        {
            "comment": "Each user's variant in an experiment, recorded once when first assigned. RLS: "
            "the organization's rows, or service."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk("Unique assignment identifier.")
    organization_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
        comment="Organization (tenant) of the experiment (denormalized for RLS).",
    )
    experiment_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("experiments.id", ondelete="CASCADE"),
        nullable=False,
        comment="The experiment.",
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        comment="The user assigned (GrowthBook's hash attribute id is this uuid as text); null for an "
        "anonymous visitor until they are identified.",
    )
    distinct_id: Mapped[str | None] = mapped_column(
        Text,
        comment="The PostHog distinct id that asked (/flags); for an anonymous visitor the hash "
        "attribute id. Null when assigned through the saaskit API.",
    )
    variant_name: Mapped[str] = mapped_column(Text, nullable=False, comment="The variant's key.")
    variant_index: Mapped[int] = mapped_column(
        Integer, nullable=False, comment="The variant's position in variants (0 = control)."
    )
    bucket: Mapped[float] = mapped_column(
        Float,
        nullable=False,
        comment="GrowthBook hash of the subject (user uuid or distinct id) with the seed, 0-1.",
    )
    assigned_at: Mapped[datetime] = created_at_column("When the user was first assigned (UTC).")
