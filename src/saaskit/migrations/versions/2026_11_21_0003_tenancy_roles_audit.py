"""Tenancy: organizations, members, teams, workspaces, roles, invitations, the audit log.

Every tenant table is isolated by RLS on ``organization_id = app_organization_id()``. The
organizations policy also shows a user the organizations they are an active member of, and
organization_members shows a user their own memberships (that is how a request finds out
where it may go). System roles are seeded here and are read-only for the application role.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 21:08:36.278201
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = (
    "teams",
    "team_members",
    "workspaces",
    "workspace_members",
    "user_roles",
    "invitations",
    "activities",
)
IN_TENANT = "app_is_service() OR organization_id = app_organization_id()"

RLS_UP = [
    *[
        f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY"
        for t in (*TENANT_TABLES, "organizations", "organization_members", "roles")
    ],
    *[f"CREATE POLICY {t}_tenant ON {t} USING ({IN_TENANT}) WITH CHECK ({IN_TENANT})" for t in TENANT_TABLES],
    # A user sees the organizations they actively belong to (to list them); only the current
    # organization's row (or a new one, whose id the transaction set) can be written.
    "CREATE POLICY organizations_tenant ON organizations USING (app_is_service() OR id = app_organization_id() "
    "OR EXISTS (SELECT 1 FROM organization_members m WHERE m.organization_id = organizations.id "
    "AND m.user_id = app_user_id() AND m.is_active)) "
    "WITH CHECK (app_is_service() OR id = app_organization_id())",
    # A user sees their own memberships everywhere; writes stay within the current organization.
    "CREATE POLICY organization_members_tenant ON organization_members "
    f"USING ({IN_TENANT} OR user_id = app_user_id()) WITH CHECK ({IN_TENANT})",
    # System roles (organization_id NULL) are readable by all and writable by nobody but service.
    f"CREATE POLICY roles_read ON roles FOR SELECT USING (organization_id IS NULL OR {IN_TENANT})",
    f"CREATE POLICY roles_insert ON roles FOR INSERT WITH CHECK ({IN_TENANT})",
    f"CREATE POLICY roles_update ON roles FOR UPDATE USING ({IN_TENANT}) WITH CHECK ({IN_TENANT})",
    f"CREATE POLICY roles_delete ON roles FOR DELETE USING ({IN_TENANT})",
]

# An invitee is not a member yet: this is how the accept/decline endpoints find the invitation.
INVITATION_LOOKUP = """
CREATE FUNCTION app_invitation_for_token(p_token_hash text)
RETURNS TABLE (id uuid, organization_id uuid, invitee_email text, status text, expires_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT i.id, i.organization_id, i.invitee_email, i.status, i.expires_at
  FROM invitations i WHERE i.token_hash = p_token_hash
$$;
COMMENT ON FUNCTION app_invitation_for_token(text) IS
  'The invitation matching a token hash, for invitees who are not members yet.';
"""

# Frozen copy of saaskit.access.permissions.SYSTEM_ROLES as of this revision.
SYSTEM_ROLES = {
    "owner": ("organization", "Full control, including deletion; an organization always keeps one.", ["*"]),
    "admin": (
        "organization",
        "Runs the organization: members, teams, workspaces, roles, billing and audit; cannot delete it.",
        [
            "org:read",
            "org:update",
            "org:archive",
            "members:read",
            "members:invite",
            "members:update",
            "members:remove",
            "teams:read",
            "teams:write",
            "workspaces:read",
            "workspaces:create",
            "workspaces:write",
            "roles:read",
            "roles:write",
            "roles:assign",
            "billing:read",
            "billing:manage",
            "audit:read",
            "analytics:read",
            "ingestion:manage",
        ],
    ),
    "member": (
        "organization",
        "Works in the organization: sees it, its members and teams; creates workspaces.",
        ["org:read", "members:read", "teams:read", "workspaces:read", "workspaces:create", "analytics:read"],
    ),
    "viewer": (
        "organization",
        "Read-only access to the organization, its members, teams and workspaces.",
        ["org:read", "members:read", "teams:read", "workspaces:read"],
    ),
    "team_lead": ("team", "Manages the team: its settings and members.", ["team:manage", "team:read"]),
    "team_member": ("team", "Belongs to the team: sees it and its members.", ["team:read"]),
    "workspace_admin": (
        "workspace",
        "Manages the workspace and who can use it.",
        ["workspace:manage", "workspace:write", "workspace:read"],
    ),
    "workspace_editor": ("workspace", "Works in the workspace.", ["workspace:write", "workspace:read"]),
    "workspace_viewer": ("workspace", "Reads the workspace.", ["workspace:read"]),
}


def _seed_system_roles() -> None:
    roles = sa.table(
        "roles",
        sa.column("name", sa.Text),
        sa.column("scope", sa.Text),
        sa.column("description", sa.Text),
        sa.column("permissions", postgresql.JSONB),
        sa.column("is_system_role", sa.Boolean),
    )
    op.bulk_insert(
        roles,
        [
            {
                "name": name,
                "scope": scope,
                "description": description,
                "permissions": permissions,
                "is_system_role": True,
            }
            for name, (scope, description, permissions) in SYSTEM_ROLES.items()
        ],
    )


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique organization identifier, the tenant key of every tenant row.",
        ),
        sa.Column("name", sa.Text(), nullable=False, comment="Display name."),
        sa.Column(
            "slug",
            sa.Text(),
            nullable=False,
            comment="Unique URL name: lower-case letters, digits and hyphens.",
        ),
        sa.Column("logo_url", sa.Text(), nullable=True, comment="URL of the organization's logo."),
        sa.Column(
            "subscription_id",
            sa.UUID(),
            nullable=True,
            comment="The organization's current subscription (billing), if any.",
        ),
        sa.Column(
            "billing_email", sa.Text(), nullable=True, comment="Where invoices and billing notices go."
        ),
        sa.Column(
            "settings",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment="Free-form organization settings.",
        ),
        sa.Column("created_by", sa.UUID(), nullable=True, comment="User who created the organization."),
        sa.Column(
            "archived_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Archived (read-only) since this time (UTC).",
        ),
        sa.Column(
            "deleted_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Soft deletion time (UTC); deleted organizations can be restored.",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was created (UTC).",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was last changed (UTC).",
        ),
        sa.CheckConstraint(
            "slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'", name=op.f("ck_organizations_slug_format")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_organizations_created_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("slug", name=op.f("uq_organizations_slug")),
        comment="Tenants: a customer company or group; owns members, teams, workspaces and billing.",
    )
    op.create_index("idx_organizations_created_at", "organizations", ["created_at"], unique=False)
    op.create_table(
        "activities",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column(
            "organization_id",
            sa.UUID(),
            nullable=True,
            comment="Organization the change happened in; null for platform-level changes.",
        ),
        sa.Column(
            "actor_id", sa.UUID(), nullable=True, comment="User who made the change; null for the system."
        ),
        sa.Column(
            "action",
            sa.Text(),
            nullable=False,
            comment="What happened, as entity.verb, e.g. member.role_changed.",
        ),
        sa.Column("entity_type", sa.Text(), nullable=False, comment="Kind of thing changed, e.g. team."),
        sa.Column("entity_id", sa.UUID(), nullable=True, comment="Id of the thing changed."),
        sa.Column(
            "entity_name",
            sa.Text(),
            nullable=True,
            comment="Readable name of the thing at the time (kept even if it is renamed or deleted).",
        ),
        sa.Column("description", sa.Text(), nullable=True, comment="One readable sentence about the change."),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment="Details: before/after values, whether a platform admin acted, the request path.",
        ),
        sa.Column(
            "ip_address_hash", sa.Text(), nullable=True, comment="Salted HMAC-SHA-256 of the actor's IP."
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
            comment="When the change happened (UTC).",
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_activities_actor_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_activities_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activities")),
        comment="Audit trail: who changed what, when; one row per state change, never updated.",
    )
    op.create_index("idx_activities_action", "activities", ["action"], unique=False)
    op.create_index("idx_activities_actor_id", "activities", ["actor_id"], unique=False)
    op.create_index("idx_activities_created_at", "activities", ["created_at"], unique=False)
    op.create_index(
        "idx_activities_entity_type_entity_id", "activities", ["entity_type", "entity_id"], unique=False
    )
    op.create_index(
        "idx_activities_organization_id_created_at",
        "activities",
        ["organization_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "organization_members",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column(
            "organization_id", sa.UUID(), nullable=False, comment="Organization (tenant) the row belongs to."
        ),
        sa.Column("user_id", sa.UUID(), nullable=False, comment="The member."),
        sa.Column("role", sa.Text(), nullable=False, comment="Base role: owner, admin, member or viewer."),
        sa.Column(
            "permissions",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
            comment="Extra permissions granted to this member on top of the role (JSON array of strings).",
        ),
        sa.Column(
            "is_active",
            sa.Boolean(),
            server_default=sa.text("true"),
            nullable=False,
            comment="An inactive membership grants nothing until reactivated.",
        ),
        sa.Column("invited_by", sa.UUID(), nullable=True, comment="Who invited the member."),
        sa.Column("invited_at", sa.DateTime(timezone=True), nullable=True, comment="Invitation time (UTC)."),
        sa.Column(
            "joined_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the user joined (UTC).",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was created (UTC).",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was last changed (UTC).",
        ),
        sa.CheckConstraint(
            "role IN ('owner', 'admin', 'member', 'viewer')", name=op.f("ck_organization_members_role_known")
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"],
            ["users.id"],
            name=op.f("fk_organization_members_invited_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_organization_members_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_organization_members_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organization_members")),
        sa.UniqueConstraint(
            "organization_id", "user_id", name=op.f("uq_organization_members_organization_id_user_id")
        ),
        comment="Membership of a user in an organization, with its base role.",
    )
    op.create_index("idx_organization_members_is_active", "organization_members", ["is_active"], unique=False)
    op.create_index("idx_organization_members_user_id", "organization_members", ["user_id"], unique=False)
    op.create_table(
        "roles",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column(
            "organization_id",
            sa.UUID(),
            nullable=True,
            comment="Organization owning a custom role; null for system roles.",
        ),
        sa.Column("name", sa.Text(), nullable=False, comment="Role name, e.g. admin or billing_clerk."),
        sa.Column("description", sa.Text(), nullable=True, comment="What the role is for."),
        sa.Column(
            "scope",
            sa.Text(),
            server_default="organization",
            nullable=False,
            comment="Where the role applies: organization, team or workspace.",
        ),
        sa.Column(
            "permissions",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
            comment="Permission strings granted, e.g. members:invite; '*' means every permission.",
        ),
        sa.Column(
            "is_system_role",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="Built in by saaskit: cannot be changed or deleted.",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was created (UTC).",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was last changed (UTC).",
        ),
        sa.CheckConstraint(
            "scope IN ('organization', 'team', 'workspace')", name=op.f("ck_roles_scope_known")
        ),
        sa.CheckConstraint(
            "is_system_role = (organization_id IS NULL)",
            name=op.f("ck_roles_system_roles_have_no_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_roles_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roles")),
        comment="Named permission sets: built-in system roles and each organization's custom roles.",
    )
    op.create_index(
        "uq_roles_organization_name",
        "roles",
        ["organization_id", "name"],
        unique=True,
        postgresql_where=sa.text("organization_id IS NOT NULL"),
    )
    op.create_index(
        "uq_roles_system_name",
        "roles",
        ["name"],
        unique=True,
        postgresql_where=sa.text("organization_id IS NULL"),
    )
    op.create_table(
        "teams",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column(
            "organization_id", sa.UUID(), nullable=False, comment="Organization (tenant) the row belongs to."
        ),
        sa.Column("name", sa.Text(), nullable=False, comment="Display name."),
        sa.Column("description", sa.Text(), nullable=True, comment="What the team is for."),
        sa.Column(
            "privacy_level",
            sa.Text(),
            server_default="public",
            nullable=False,
            comment="public (all members see it and its members), private (listed; members visible to the team), secret (visible to the team and admins only).",
        ),
        sa.Column(
            "settings",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment="Free-form team settings.",
        ),
        sa.Column("created_by", sa.UUID(), nullable=True, comment="Creator."),
        sa.Column(
            "archived_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Archived since this time (UTC); archived teams keep their data.",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was created (UTC).",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was last changed (UTC).",
        ),
        sa.CheckConstraint(
            "privacy_level IN ('public', 'private', 'secret')", name=op.f("ck_teams_privacy_level_known")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_teams_created_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_teams_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        comment="Sub-groups of an organization's members.",
    )
    op.create_index("idx_teams_organization_id", "teams", ["organization_id"], unique=False)
    op.create_table(
        "team_members",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column(
            "organization_id", sa.UUID(), nullable=False, comment="Organization (tenant) the row belongs to."
        ),
        sa.Column("team_id", sa.UUID(), nullable=False, comment="The team."),
        sa.Column("user_id", sa.UUID(), nullable=False, comment="The member."),
        sa.Column(
            "role",
            sa.Text(),
            server_default="team_member",
            nullable=False,
            comment="team_lead or team_member.",
        ),
        sa.Column(
            "permissions",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
            comment="Extra permissions within the team.",
        ),
        sa.Column("added_by", sa.UUID(), nullable=True, comment="Who added the member."),
        sa.Column(
            "joined_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When added (UTC).",
        ),
        sa.Column(
            "left_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the member left or was removed (UTC).",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was created (UTC).",
        ),
        sa.CheckConstraint("role IN ('team_lead', 'team_member')", name=op.f("ck_team_members_role_known")),
        sa.ForeignKeyConstraint(
            ["added_by"], ["users.id"], name=op.f("fk_team_members_added_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_team_members_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_team_members_team_id_teams"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_team_members_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_members")),
        comment="Membership of a user in a team; leaving keeps the row with left_at.",
    )
    op.create_index("idx_team_members_team_id", "team_members", ["team_id"], unique=False)
    op.create_index("idx_team_members_user_id", "team_members", ["user_id"], unique=False)
    op.create_index(
        "uq_team_members_active",
        "team_members",
        ["team_id", "user_id"],
        unique=True,
        postgresql_where=sa.text("left_at IS NULL"),
    )
    op.create_table(
        "user_roles",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column(
            "organization_id", sa.UUID(), nullable=False, comment="Organization in which the role applies."
        ),
        sa.Column("user_id", sa.UUID(), nullable=False, comment="Who holds it."),
        sa.Column("role_id", sa.UUID(), nullable=False, comment="The role."),
        sa.Column("assigned_by", sa.UUID(), nullable=True, comment="Who gave it."),
        sa.Column(
            "assigned_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When given (UTC).",
        ),
        sa.Column(
            "expires_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="After this time (UTC) the assignment grants nothing; null: never.",
        ),
        sa.ForeignKeyConstraint(
            ["assigned_by"], ["users.id"], name=op.f("fk_user_roles_assigned_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_user_roles_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["role_id"], ["roles.id"], name=op.f("fk_user_roles_role_id_roles"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_roles_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_roles")),
        comment="A role given to a user within an organization, possibly until expires_at.",
    )
    op.create_index("idx_user_roles_organization_id", "user_roles", ["organization_id"], unique=False)
    op.create_index("idx_user_roles_role_id", "user_roles", ["role_id"], unique=False)
    op.create_index("idx_user_roles_user_id", "user_roles", ["user_id"], unique=False)
    op.create_table(
        "workspaces",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column(
            "organization_id", sa.UUID(), nullable=False, comment="Organization (tenant) the row belongs to."
        ),
        sa.Column("team_id", sa.UUID(), nullable=True, comment="Owning team, if any."),
        sa.Column("name", sa.Text(), nullable=False, comment="Display name."),
        sa.Column("slug", sa.Text(), nullable=False, comment="URL name, unique within the organization."),
        sa.Column(
            "visibility",
            sa.Text(),
            server_default="organization",
            nullable=False,
            comment="organization (every member), team (the owning team) or private (its members only).",
        ),
        sa.Column(
            "settings",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment="Free-form workspace settings.",
        ),
        sa.Column("created_by", sa.UUID(), nullable=True, comment="Creator."),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True, comment="Archived since (UTC)."),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was created (UTC).",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was last changed (UTC).",
        ),
        sa.CheckConstraint(
            "slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'", name=op.f("ck_workspaces_slug_format")
        ),
        sa.CheckConstraint(
            "visibility IN ('organization', 'team', 'private')", name=op.f("ck_workspaces_visibility_known")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_workspaces_created_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_workspaces_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_workspaces_team_id_teams"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspaces")),
        sa.UniqueConstraint("organization_id", "slug", name=op.f("uq_workspaces_organization_id_slug")),
        comment="Isolated work environments of an organization, optionally owned by a team.",
    )
    op.create_index("idx_workspaces_team_id", "workspaces", ["team_id"], unique=False)
    op.create_table(
        "invitations",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column(
            "organization_id", sa.UUID(), nullable=False, comment="Organization (tenant) the row belongs to."
        ),
        sa.Column("team_id", sa.UUID(), nullable=True, comment="Team to join, if any."),
        sa.Column("workspace_id", sa.UUID(), nullable=True, comment="Workspace to join, if any."),
        sa.Column("invitee_email", sa.Text(), nullable=False, comment="Who is invited (lower case)."),
        sa.Column(
            "role",
            sa.Text(),
            nullable=False,
            comment="Role given on acceptance (organization, team or workspace role).",
        ),
        sa.Column(
            "status",
            sa.Text(),
            server_default="pending",
            nullable=False,
            comment="pending, accepted, declined, revoked or expired.",
        ),
        sa.Column("token_hash", sa.Text(), nullable=False, comment="SHA-256 of the invitation link's token."),
        sa.Column(
            "expires_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="The token stops working at this time (UTC).",
        ),
        sa.Column("invited_by", sa.UUID(), nullable=True, comment="Who invited."),
        sa.Column("accepted_by", sa.UUID(), nullable=True, comment="Account that accepted."),
        sa.Column(
            "responded_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When accepted, declined, revoked or marked expired (UTC).",
        ),
        sa.Column(
            "sent_count",
            sa.Integer(),
            server_default=sa.text("1"),
            nullable=False,
            comment="Times the invitation was sent (resends included).",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was created (UTC).",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was last changed (UTC).",
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'declined', 'revoked', 'expired')",
            name=op.f("ck_invitations_status_known"),
        ),
        sa.CheckConstraint(
            "invitee_email = lower(invitee_email)", name=op.f("ck_invitations_email_lowercase")
        ),
        sa.ForeignKeyConstraint(
            ["accepted_by"], ["users.id"], name=op.f("fk_invitations_accepted_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"], ["users.id"], name=op.f("fk_invitations_invited_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_invitations_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_invitations_team_id_teams"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_invitations_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
        comment="Invitations to an organization, a team or a workspace; the token is stored hashed.",
    )
    op.create_index("idx_invitations_invitee_email", "invitations", ["invitee_email"], unique=False)
    op.create_index("idx_invitations_organization_id", "invitations", ["organization_id"], unique=False)
    op.create_index(
        "uq_invitations_pending",
        "invitations",
        [
            "organization_id",
            "invitee_email",
            sa.literal_column("coalesce(team_id, '00000000-0000-0000-0000-000000000000'::uuid)"),
            sa.literal_column("coalesce(workspace_id, '00000000-0000-0000-0000-000000000000'::uuid)"),
        ],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "workspace_members",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column(
            "organization_id", sa.UUID(), nullable=False, comment="Organization (tenant) the row belongs to."
        ),
        sa.Column("workspace_id", sa.UUID(), nullable=False, comment="The workspace."),
        sa.Column("user_id", sa.UUID(), nullable=False, comment="The member."),
        sa.Column(
            "role",
            sa.Text(),
            server_default="workspace_viewer",
            nullable=False,
            comment="workspace_admin, workspace_editor or workspace_viewer.",
        ),
        sa.Column(
            "permissions",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
            comment="Extra permissions in the workspace.",
        ),
        sa.Column("added_by", sa.UUID(), nullable=True, comment="Who gave access."),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was created (UTC).",
        ),
        sa.CheckConstraint(
            "role IN ('workspace_admin', 'workspace_editor', 'workspace_viewer')",
            name=op.f("ck_workspace_members_role_known"),
        ),
        sa.ForeignKeyConstraint(
            ["added_by"], ["users.id"], name=op.f("fk_workspace_members_added_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_workspace_members_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_workspace_members_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_workspace_members_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspace_members")),
        sa.UniqueConstraint(
            "workspace_id", "user_id", name=op.f("uq_workspace_members_workspace_id_user_id")
        ),
        comment="Access of a user to a workspace, with a workspace role.",
    )
    op.create_index("idx_workspace_members_user_id", "workspace_members", ["user_id"], unique=False)
    for statement in RLS_UP:
        op.execute(statement)
    op.execute(INVITATION_LOOKUP)
    _seed_system_roles()


def downgrade() -> None:
    op.execute("DROP FUNCTION app_invitation_for_token(text)")
    # This policy reads organization_members, so it must go before that table.
    op.execute("DROP POLICY organizations_tenant ON organizations")
    op.drop_index("idx_workspace_members_user_id", table_name="workspace_members")
    op.drop_table("workspace_members")
    op.drop_index(
        "uq_invitations_pending", table_name="invitations", postgresql_where=sa.text("status = 'pending'")
    )
    op.drop_index("idx_invitations_organization_id", table_name="invitations")
    op.drop_index("idx_invitations_invitee_email", table_name="invitations")
    op.drop_table("invitations")
    op.drop_index("idx_workspaces_team_id", table_name="workspaces")
    op.drop_table("workspaces")
    op.drop_index("idx_user_roles_user_id", table_name="user_roles")
    op.drop_index("idx_user_roles_role_id", table_name="user_roles")
    op.drop_index("idx_user_roles_organization_id", table_name="user_roles")
    op.drop_table("user_roles")
    op.drop_index(
        "uq_team_members_active", table_name="team_members", postgresql_where=sa.text("left_at IS NULL")
    )
    op.drop_index("idx_team_members_user_id", table_name="team_members")
    op.drop_index("idx_team_members_team_id", table_name="team_members")
    op.drop_table("team_members")
    op.drop_index("idx_teams_organization_id", table_name="teams")
    op.drop_table("teams")
    op.drop_index(
        "uq_roles_system_name", table_name="roles", postgresql_where=sa.text("organization_id IS NULL")
    )
    op.drop_index(
        "uq_roles_organization_name",
        table_name="roles",
        postgresql_where=sa.text("organization_id IS NOT NULL"),
    )
    op.drop_table("roles")
    op.drop_index("idx_organization_members_user_id", table_name="organization_members")
    op.drop_index("idx_organization_members_is_active", table_name="organization_members")
    op.drop_table("organization_members")
    op.drop_index("idx_activities_organization_id_created_at", table_name="activities")
    op.drop_index("idx_activities_entity_type_entity_id", table_name="activities")
    op.drop_index("idx_activities_created_at", table_name="activities")
    op.drop_index("idx_activities_actor_id", table_name="activities")
    op.drop_index("idx_activities_action", table_name="activities")
    op.drop_table("activities")
    op.drop_index("idx_organizations_created_at", table_name="organizations")
    op.drop_table("organizations")
