"""Feature flags per organization, in PostHog's definition format, and the persons PostHog's
capture protocol describes (``$identify``, ``$create_alias``, ``$set``, ``$set_once``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.kit.models import Base, created_at_column, updated_at_column, uuid_pk

KEY_MAX_CHARS = 400


class FeatureFlag(Base):
    __tablename__ = "feature_flags"
    __table_args__ = (
        UniqueConstraint("organization_id", "key"),
        CheckConstraint(f"char_length(key) BETWEEN 1 AND {KEY_MAX_CHARS}", name="key_length"),
        CheckConstraint("jsonb_typeof(filters) = 'object'", name="filters_object"),
        Index("idx_feature_flags_created_by", "created_by"),
        {"comment": "An organization's feature flags, in PostHog's format (release conditions, variants)."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    number: Mapped[int] = mapped_column(
        BigInteger,
        Identity(always=False),
        unique=True,
        nullable=False,
        comment="PostHog's numeric flag id (SDKs read metadata.id and definitions' id as integers).",
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
        comment="Organization whose SDKs evaluate the flag.",
    )
    version: Mapped[int] = mapped_column(
        Integer,
        nullable=False,
        server_default=text("1"),
        comment="1, plus one per change (PostHog's version).",
    )
    key: Mapped[str] = mapped_column(
        Text, nullable=False, comment="The key SDKs ask for, unique per organization."
    )
    name: Mapped[str] = mapped_column(
        Text, nullable=False, server_default="", comment="Description for people (PostHog's name)."
    )
    active: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("true"), comment="Off: evaluates to false for everyone."
    )
    filters: Mapped[dict[str, Any]] = mapped_column(
        JSONB,
        nullable=False,
        server_default=text("'{}'::jsonb"),
        comment="PostHog's filters: groups (properties, rollout_percentage, variant), multivariate, "
        "payloads, aggregation_group_type_index.",
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"), comment="Who created it."
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Person(Base):
    __tablename__ = "persons"
    __table_args__ = (
        Index("idx_persons_organization_id", "organization_id"),
        {"comment": "People seen by an organization's capture (their distinct ids: person_distinct_ids)."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
        comment="Organization whose capture saw the person.",
    )
    properties: Mapped[dict[str, Any]] = mapped_column(
        JSONB,
        nullable=False,
        server_default=text("'{}'::jsonb"),
        comment="Person properties from $set (last write wins) and $set_once (first write wins).",
    )
    is_identified: Mapped[bool] = mapped_column(
        Boolean,
        nullable=False,
        server_default=text("false"),
        comment="Took part in an $identify / $create_alias / $merge_dangerously: PostHog then refuses "
        "to merge it into another person except by $merge_dangerously.",
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class PersonDistinctId(Base):
    __tablename__ = "person_distinct_ids"
    __table_args__ = (
        UniqueConstraint("organization_id", "distinct_id"),
        Index("idx_person_distinct_ids_person_id", "person_id"),
        {"comment": "The person each distinct id of an organization belongs to ($identify, $create_alias)."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
        comment="Organization whose capture sent the distinct id.",
    )
    distinct_id: Mapped[str] = mapped_column(Text, nullable=False, comment="The sender's id.")
    person_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("persons.id", ondelete="CASCADE"),
        nullable=False,
        comment="The person it belongs to.",
    )
    created_at: Mapped[datetime] = created_at_column("When the distinct id was first linked (UTC).")


class PersonGroup(Base):
    __tablename__ = "person_groups"
    __table_args__ = (
        UniqueConstraint("organization_id", "group_type", "group_key"),
        {"comment": "Groups ($groupidentify: a company, a team) of an organization, with their properties."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
        comment="Organization whose capture described the group.",
    )
    group_type: Mapped[str] = mapped_column(Text, nullable=False, comment='The group type ("company").')
    group_key: Mapped[str] = mapped_column(Text, nullable=False, comment="The group's id within its type.")
    properties: Mapped[dict[str, Any]] = mapped_column(
        JSONB,
        nullable=False,
        server_default=text("'{}'::jsonb"),
        comment="From $group_set (last write wins).",
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
