"""Roles and time-limited role assignments."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.kit.models import Base, created_at_column, updated_at_column, uuid_pk

ROLE_SCOPES = ("organization", "team", "workspace")


class Role(Base):
    __tablename__ = "roles"
    __table_args__ = (
        CheckConstraint(f"scope IN {ROLE_SCOPES}", name="scope_known"),
        CheckConstraint(
            "is_system_role = (organization_id IS NULL)", name="system_roles_have_no_organization"
        ),
        # info: how a violation is answered (kit/errors.py), as the service's own check answers.
        Index(
            "uq_roles_system_name",
            "name",
            unique=True,
            postgresql_where=text("organization_id IS NULL"),
            info={"code": "role_name_taken"},
        ),
        Index(
            "uq_roles_organization_name",
            "organization_id",
            "name",
            unique=True,
            postgresql_where=text("organization_id IS NOT NULL"),
            info={"code": "role_name_taken"},
        ),
        {"comment": "Named permission sets: built-in system roles and each organization's custom roles."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        comment="Organization owning a custom role; null for system roles.",
    )
    name: Mapped[str] = mapped_column(Text, nullable=False, comment="Role name, e.g. admin or billing_clerk.")
    description: Mapped[str | None] = mapped_column(Text, comment="What the role is for.")
    scope: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        server_default="organization",
        comment="Where the role applies: organization, team or workspace.",
    )
    permissions: Mapped[list[str]] = mapped_column(
        JSONB,
        nullable=False,
        server_default=text("'[]'::jsonb"),
        comment="Permission strings granted, e.g. members:invite; '*' means every permission.",
    )
    is_system_role: Mapped[bool] = mapped_column(
        Boolean,
        nullable=False,
        server_default=text("false"),
        comment="Built in by saaskit: cannot be changed or deleted.",
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class UserRole(Base):
    __tablename__ = "user_roles"
    __table_args__ = (
        Index("idx_user_roles_assigned_by", "assigned_by"),
        Index("idx_user_roles_user_id", "user_id"),
        Index("idx_user_roles_organization_id", "organization_id"),
        Index("idx_user_roles_role_id", "role_id"),
        {"comment": "A role given to a user within an organization, possibly until expires_at."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
        comment="Organization in which the role applies.",
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        comment="Who holds it.",
    )
    role_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("roles.id", ondelete="CASCADE"), nullable=False, comment="The role."
    )
    assigned_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"), comment="Who gave it."
    )
    assigned_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("now()"), comment="When given (UTC)."
    )
    expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="After this time (UTC) the assignment grants nothing; null: never."
    )
