"""Request and response bodies of the tenancy API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import EmailStr, Field

from saaskit.kit.schemas import Input, Output

Slug = Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description="a-z, 0-9, hyphens")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
OrgRole = Literal["owner", "admin", "member", "viewer"]
TeamRole = Literal["team_lead", "team_member"]
WorkspaceRole = Literal["workspace_admin", "workspace_editor", "workspace_viewer"]
PermissionList = Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=100)]


class OrganizationIn(Input):
    name: Name
    slug: Slug | None = None
    billing_email: EmailStr | None = None
    logo_url: str | None = Field(default=None, max_length=2048)
    settings: dict[str, Any] = Field(default_factory=dict)


class OrganizationUpdate(Input):
    name: Name | None = None
    slug: Slug | None = None
    billing_email: EmailStr | None = None
    logo_url: str | None = Field(default=None, max_length=2048)
    settings: dict[str, Any] | None = None


class OrganizationOut(Output):
    id: uuid.UUID
    name: str
    slug: str
    logo_url: str | None
    billing_email: str | None
    settings: dict[str, Any]
    require_two_factor: bool = False
    subscription_id: uuid.UUID | None
    archived_at: datetime | None
    deleted_at: datetime | None
    created_at: datetime
    my_role: str | None = None


class MemberOut(Output):
    user_id: uuid.UUID
    email: str
    name: str | None
    role: str
    permissions: list[str]
    is_active: bool
    invited_at: datetime | None
    joined_at: datetime


class MemberUpdate(Input):
    role: OrgRole | None = None
    permissions: PermissionList | None = None
    is_active: bool | None = None


class TeamIn(Input):
    name: Name
    description: str | None = Field(default=None, max_length=2000)
    privacy_level: Literal["public", "private", "secret"] = "public"
    settings: dict[str, Any] = Field(default_factory=dict)


class TeamUpdate(Input):
    name: Name | None = None
    description: str | None = Field(default=None, max_length=2000)
    privacy_level: Literal["public", "private", "secret"] | None = None
    settings: dict[str, Any] | None = None


class TeamOut(Output):
    id: uuid.UUID
    name: str
    description: str | None
    privacy_level: str
    settings: dict[str, Any]
    archived_at: datetime | None
    created_at: datetime


class TeamMemberIn(Input):
    user_id: uuid.UUID
    role: TeamRole = "team_member"


class TeamMemberUpdate(Input):
    role: TeamRole


class TeamMemberOut(Output):
    user_id: uuid.UUID
    email: str
    name: str | None
    role: str
    added_by: uuid.UUID | None
    joined_at: datetime


class WorkspaceIn(Input):
    name: Name
    slug: Slug | None = None
    team_id: uuid.UUID | None = None
    visibility: Literal["organization", "team", "private"] = "organization"
    settings: dict[str, Any] = Field(default_factory=dict)


class WorkspaceUpdate(Input):
    name: Name | None = None
    slug: Slug | None = None
    team_id: uuid.UUID | None = None
    visibility: Literal["organization", "team", "private"] | None = None
    settings: dict[str, Any] | None = None


class WorkspaceOut(Output):
    id: uuid.UUID
    name: str
    slug: str
    team_id: uuid.UUID | None
    visibility: str
    settings: dict[str, Any]
    archived_at: datetime | None
    created_at: datetime


class WorkspaceMemberIn(Input):
    user_id: uuid.UUID
    role: WorkspaceRole = "workspace_viewer"


class WorkspaceMemberUpdate(Input):
    role: WorkspaceRole


class WorkspaceMemberOut(Output):
    user_id: uuid.UUID
    email: str
    name: str | None
    role: str
    created_at: datetime


class InvitationIn(Input):
    email: EmailStr
    role: str = Field(default="member", max_length=40, description="Organization, team or workspace role.")
    team_id: uuid.UUID | None = None
    workspace_id: uuid.UUID | None = None
    expires_in_hours: int | None = Field(
        default=None,
        ge=1,
        le=24 * 30,
        description="How long the link works; default SAASKIT_INVITATIONS_EXPIRY_HOURS (7 days).",
    )


class InvitationOut(Output):
    id: uuid.UUID
    invitee_email: str
    role: str
    status: str
    team_id: uuid.UUID | None
    workspace_id: uuid.UUID | None
    expires_at: datetime
    invited_by: uuid.UUID | None
    sent_count: int
    created_at: datetime


class InvitationSentOut(InvitationOut):
    mail_id: uuid.UUID = Field(
        description="The invitation mail in the outbox: the link (and its token) is only in the mail."
    )


class InvitationTokenIn(Input):
    token: str = Field(min_length=10, max_length=200)


class AcceptedOut(Output):
    organization_id: uuid.UUID
    role: str
    team_id: uuid.UUID | None = None
    workspace_id: uuid.UUID | None = None
