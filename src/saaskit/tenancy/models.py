"""Tenancy tables. Every row carries ``organization_id`` and is isolated by RLS on it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
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

ORG_ROLES = ("owner", "admin", "member", "viewer")
TEAM_ROLES = ("team_lead", "team_member")
WORKSPACE_ROLES = ("workspace_admin", "workspace_editor", "workspace_viewer")
PRIVACY_LEVELS = ("public", "private", "secret")
VISIBILITIES = ("organization", "team", "private")
INVITATION_STATUSES = ("pending", "accepted", "declined", "revoked", "expired")


def _org_fk(comment: str = "Organization (tenant) the row belongs to.") -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
        comment=comment,
    )


def _user_fk(comment: str, *, nullable: bool = False, ondelete: str = "CASCADE") -> Mapped[Any]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete=ondelete), nullable=nullable, comment=comment
    )


class Organization(Base):
    __tablename__ = "organizations"
    __table_args__ = (
        Index("idx_organizations_subscription_id", "subscription_id"),
        Index("idx_organizations_created_by", "created_by"),
        # info: how a violation is answered (kit/errors.py), as the services' own checks answer.
        UniqueConstraint("slug", info={"code": "slug_taken"}),
        CheckConstraint("slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'", name="slug_format"),
        CheckConstraint("credits_cents >= 0", name="credits_not_negative"),
        Index("idx_organizations_created_at", "created_at"),
        {"comment": "Tenants: a customer company or group; owns members, teams, workspaces and billing."},
    )

    id: Mapped[uuid.UUID] = uuid_pk("Unique organization identifier, the tenant key of every tenant row.")
    name: Mapped[str] = mapped_column(Text, nullable=False, comment="Display name.")
    slug: Mapped[str] = mapped_column(
        Text, nullable=False, comment="Unique URL name: lower-case letters, digits and hyphens."
    )
    logo_url: Mapped[str | None] = mapped_column(Text, comment="URL of the organization's logo.")
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("subscriptions.id", ondelete="SET NULL", use_alter=True),
        comment="The organization's current subscription (billing), if any.",
    )
    stripe_customer_id: Mapped[str | None] = mapped_column(
        Text, unique=True, comment="Stripe customer id (cus_...) billed for the organization."
    )
    billing_email: Mapped[str | None] = mapped_column(Text, comment="Where invoices and billing notices go.")
    credits_cents: Mapped[int] = mapped_column(
        Integer,
        nullable=False,
        server_default=text("0"),
        comment="Prepaid credit balance in cents: the sum of the organization's credit_ledger rows.",
    )
    settings: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb"), comment="Free-form organization settings."
    )
    require_two_factor: Mapped[bool] = mapped_column(
        Boolean,
        nullable=False,
        server_default=text("false"),
        comment="Members must use two-factor sign-in: those without it are refused (403 "
        "two_factor_required) on the organization's endpoints until they enrol.",
    )
    created_by: Mapped[uuid.UUID | None] = _user_fk(
        "User who created the organization.", nullable=True, ondelete="SET NULL"
    )
    archived_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Archived (read-only) since this time (UTC)."
    )
    deleted_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Soft deletion time (UTC); deleted organizations can be restored."
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class OrganizationMember(Base):
    __tablename__ = "organization_members"
    __table_args__ = (
        Index("idx_organization_members_invited_by", "invited_by"),
        UniqueConstraint("organization_id", "user_id", info={"code": "already_member"}),
        CheckConstraint(f"role IN {ORG_ROLES}", name="role_known"),
        Index("idx_organization_members_user_id", "user_id"),
        Index("idx_organization_members_is_active", "is_active"),
        {"comment": "Membership of a user in an organization, with its base role."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org_fk()
    user_id: Mapped[uuid.UUID] = _user_fk("The member.")
    role: Mapped[str] = mapped_column(
        Text, nullable=False, comment="Base role: owner, admin, member or viewer."
    )
    permissions: Mapped[list[str]] = mapped_column(
        JSONB,
        nullable=False,
        server_default=text("'[]'::jsonb"),
        comment="Extra permissions granted to this member on top of the role (JSON array of strings).",
    )
    is_active: Mapped[bool] = mapped_column(
        Boolean,
        nullable=False,
        server_default=text("true"),
        comment="An inactive membership grants nothing until reactivated.",
    )
    invited_by: Mapped[uuid.UUID | None] = _user_fk(
        "Who invited the member.", nullable=True, ondelete="SET NULL"
    )
    invited_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Invitation time (UTC)."
    )
    joined_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        server_default=text("now()"),
        comment="When the user joined (UTC).",
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (
        Index("idx_teams_created_by", "created_by"),
        CheckConstraint(f"privacy_level IN {PRIVACY_LEVELS}", name="privacy_level_known"),
        Index("idx_teams_organization_id", "organization_id"),
        {"comment": "Sub-groups of an organization's members."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org_fk()
    name: Mapped[str] = mapped_column(Text, nullable=False, comment="Display name.")
    description: Mapped[str | None] = mapped_column(Text, comment="What the team is for.")
    privacy_level: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        server_default="public",
        comment="public (all members see it and its members), private (listed; members visible to the team), "
        "secret (visible to the team and admins only).",
    )
    settings: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb"), comment="Free-form team settings."
    )
    created_by: Mapped[uuid.UUID | None] = _user_fk("Creator.", nullable=True, ondelete="SET NULL")
    archived_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Archived since this time (UTC); archived teams keep their data."
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class TeamMember(Base):
    __tablename__ = "team_members"
    __table_args__ = (
        Index("idx_team_members_organization_id", "organization_id"),
        Index("idx_team_members_added_by", "added_by"),
        CheckConstraint(f"role IN {TEAM_ROLES}", name="role_known"),
        Index("idx_team_members_team_id", "team_id"),
        Index("idx_team_members_user_id", "user_id"),
        Index(
            "uq_team_members_active",
            "team_id",
            "user_id",
            unique=True,
            postgresql_where=text("left_at IS NULL"),
            info={"code": "already_member"},
        ),
        {"comment": "Membership of a user in a team; leaving keeps the row with left_at."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org_fk()
    team_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("teams.id", ondelete="CASCADE"), nullable=False, comment="The team."
    )
    user_id: Mapped[uuid.UUID] = _user_fk("The member.")
    role: Mapped[str] = mapped_column(
        Text, nullable=False, server_default="team_member", comment="team_lead or team_member."
    )
    permissions: Mapped[list[str]] = mapped_column(
        JSONB,
        nullable=False,
        server_default=text("'[]'::jsonb"),
        comment="Extra permissions within the team.",
    )
    added_by: Mapped[uuid.UUID | None] = _user_fk("Who added the member.", nullable=True, ondelete="SET NULL")
    joined_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("now()"), comment="When added (UTC)."
    )
    left_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When the member left or was removed (UTC)."
    )
    created_at: Mapped[datetime] = created_at_column()


class Workspace(Base):
    __tablename__ = "workspaces"
    __table_args__ = (
        Index("idx_workspaces_created_by", "created_by"),
        UniqueConstraint("organization_id", "slug", info={"code": "slug_taken"}),
        CheckConstraint(f"visibility IN {VISIBILITIES}", name="visibility_known"),
        CheckConstraint("slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'", name="slug_format"),
        Index("idx_workspaces_team_id", "team_id"),
        {"comment": "Isolated work environments of an organization, optionally owned by a team."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org_fk()
    team_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("teams.id", ondelete="SET NULL"), comment="Owning team, if any."
    )
    name: Mapped[str] = mapped_column(Text, nullable=False, comment="Display name.")
    slug: Mapped[str] = mapped_column(
        Text, nullable=False, comment="URL name, unique within the organization."
    )
    visibility: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        server_default="organization",
        comment="organization (every member), team (the owning team) or private (its members only).",
    )
    settings: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb"), comment="Free-form workspace settings."
    )
    created_by: Mapped[uuid.UUID | None] = _user_fk("Creator.", nullable=True, ondelete="SET NULL")
    archived_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Archived since (UTC)."
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class WorkspaceMember(Base):
    __tablename__ = "workspace_members"
    __table_args__ = (
        Index("idx_workspace_members_organization_id", "organization_id"),
        Index("idx_workspace_members_added_by", "added_by"),
        UniqueConstraint("workspace_id", "user_id", info={"code": "already_member"}),
        CheckConstraint(f"role IN {WORKSPACE_ROLES}", name="role_known"),
        Index("idx_workspace_members_user_id", "user_id"),
        {"comment": "Access of a user to a workspace, with a workspace role."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org_fk()
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
        comment="The workspace.",
    )
    user_id: Mapped[uuid.UUID] = _user_fk("The member.")
    role: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        server_default="workspace_viewer",
        comment="workspace_admin, workspace_editor or workspace_viewer.",
    )
    permissions: Mapped[list[str]] = mapped_column(
        JSONB,
        nullable=False,
        server_default=text("'[]'::jsonb"),
        comment="Extra permissions in the workspace.",
    )
    added_by: Mapped[uuid.UUID | None] = _user_fk("Who gave access.", nullable=True, ondelete="SET NULL")
    created_at: Mapped[datetime] = created_at_column()


class Invitation(Base):
    __tablename__ = "invitations"
    __table_args__ = (
        Index("idx_invitations_workspace_id", "workspace_id"),
        Index("idx_invitations_team_id", "team_id"),
        Index("idx_invitations_invited_by", "invited_by"),
        Index("idx_invitations_accepted_by", "accepted_by"),
        CheckConstraint(f"status IN {INVITATION_STATUSES}", name="status_known"),
        CheckConstraint(
            "invitee_email = lower(invitee_email)", name="email_lowercase", info={"field": "email"}
        ),
        Index("idx_invitations_organization_id", "organization_id"),
        Index("idx_invitations_invitee_email", "invitee_email"),
        Index(
            "uq_invitations_pending",
            "organization_id",
            "invitee_email",
            text("coalesce(team_id, '00000000-0000-0000-0000-000000000000'::uuid)"),
            text("coalesce(workspace_id, '00000000-0000-0000-0000-000000000000'::uuid)"),
            unique=True,
            postgresql_where=text("status = 'pending'"),
            info={"field": "email", "code": "already_invited"},
        ),
        {"comment": "Invitations to an organization, a team or a workspace; the token is stored hashed."},
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org_fk()
    team_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("teams.id", ondelete="CASCADE"), comment="Team to join, if any."
    )
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("workspaces.id", ondelete="CASCADE"),
        comment="Workspace to join, if any.",
    )
    invitee_email: Mapped[str] = mapped_column(Text, nullable=False, comment="Who is invited (lower case).")
    role: Mapped[str] = mapped_column(
        Text, nullable=False, comment="Role given on acceptance (organization, team or workspace role)."
    )
    status: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        server_default="pending",
        comment="pending, accepted, declined, revoked or expired.",
    )
    token_hash: Mapped[str] = mapped_column(
        Text, unique=True, nullable=False, comment="SHA-256 of the invitation link's token."
    )
    expires_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, comment="The token stops working at this time (UTC)."
    )
    invited_by: Mapped[uuid.UUID | None] = _user_fk("Who invited.", nullable=True, ondelete="SET NULL")
    accepted_by: Mapped[uuid.UUID | None] = _user_fk(
        "Account that accepted.", nullable=True, ondelete="SET NULL"
    )
    responded_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When accepted, declined, revoked or marked expired (UTC)."
    )
    sent_count: Mapped[int] = mapped_column(
        nullable=False, server_default=text("1"), comment="Times the invitation was sent (resends included)."
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
