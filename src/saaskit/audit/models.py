"""``activities``: the audit log. Append-only for the application role."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.kit.models import Base, uuid_pk


class Activity(Base):
    __tablename__ = "activities"
    __table_args__ = (
        Index("idx_activities_actor_id", "actor_id"),
        Index("idx_activities_organization_id_created_at", "organization_id", "created_at"),
        Index("idx_activities_created_at", "created_at"),
        Index("idx_activities_entity_type_entity_id", "entity_type", "entity_id"),
        Index("idx_activities_action", "action"),
        {
            "comment": "Audit trail: who changed what, when; one row per state change, never updated. "
            "Partitioned by month (seed 004's rotation: months past retention are dropped).",
            "postgresql_partition_by": "RANGE (created_at)",
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        comment="Organization the change happened in; null for platform-level changes.",
    )
    actor_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="SET NULL"),
        comment="User who made the change; null for the system.",
    )
    action: Mapped[str] = mapped_column(
        Text, nullable=False, comment="What happened, as entity.verb, e.g. member.role_changed."
    )
    entity_type: Mapped[str] = mapped_column(
        Text, nullable=False, comment="Kind of thing changed, e.g. team."
    )
    entity_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), comment="Id of the thing changed."
    )
    entity_name: Mapped[str | None] = mapped_column(
        Text, comment="Readable name of the thing at the time (kept even if it is renamed or deleted)."
    )
    description: Mapped[str | None] = mapped_column(Text, comment="One readable sentence about the change.")
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata",
        JSONB,
        nullable=False,
        server_default=text("'{}'::jsonb"),
        comment="Details: before/after values, whether a platform admin acted, the request path.",
    )
    ip_address_hash: Mapped[str | None] = mapped_column(
        Text, comment="Salted HMAC-SHA-256 of the actor's IP."
    )
    # clock_timestamp(), not now(): several changes in one transaction keep their real order.
    # Part of the primary key: a partitioned table's keys include its partition key.
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        primary_key=True,
        server_default=func.clock_timestamp(),
        comment="When the change happened (UTC).",
    )
