"""The permission catalog and the built-in (system) roles.

Permissions are ``area:verb`` strings. A role's set may contain ``*`` (every permission). The
system roles are seeded by migration 0003 with exactly these sets (docs/permissions.md lists
them); they cannot be changed or deleted through the API.
"""

from __future__ import annotations

from typing import Final

PERMISSIONS: Final[dict[str, str]] = {
    "org:read": "See the organization and its settings.",
    "org:update": "Change the organization's name, slug, logo, billing e-mail and settings.",
    "org:archive": "Archive and unarchive the organization.",
    "org:delete": "Soft-delete and restore the organization.",
    "members:read": "List members and their roles.",
    "members:invite": "Invite people; list, resend and revoke invitations.",
    "members:update": "Change members' roles, extra permissions and active state.",
    "members:remove": "Remove members.",
    "teams:read": "See teams (secret teams only with teams:write or as a team member).",
    "teams:write": "Create, change, archive and delete any team and manage its members.",
    "workspaces:read": "See workspaces visible to the organization, to one's teams, or shared with one.",
    "workspaces:create": "Create workspaces (the creator becomes their workspace_admin).",
    "workspaces:write": "See, change, archive and delete any workspace (private ones too); manage members.",
    "roles:read": "List roles and role assignments.",
    "roles:write": "Create, change and delete custom roles.",
    "roles:assign": "Give and take away roles (with optional expiry).",
    "billing:read": "See plans, subscriptions, invoices and usage.",
    "billing:manage": "Subscribe, change plan, cancel, manage payment methods and coupons.",
    "audit:read": "Read the audit log.",
    "analytics:read": "Read the organization's analytics.",
    "ingestion:manage": "Rotate the organization's public ingestion key.",
    "experiments:read": "See experiments, their assignments and results.",
    "experiments:write": "Create, change, start, stop and delete experiments; assign any member.",
    "flags:read": "See feature flags and read their definitions (server SDKs' local evaluation).",
    "flags:write": "Create, change and delete feature flags.",
    "api_keys:manage": "Create, list, rotate and revoke the organization's API keys.",
    "webhooks:read": "See webhook endpoints, the events sent and their delivery log.",
    "webhooks:write": "Add, change, delete and test webhook endpoints; rotate secrets; replay events.",
    "bookings:read": "See the laundry's bookings, customers' addresses, drivers and the day's reports.",
    "bookings:manage": "Move bookings through their states; manage drivers and their assignments.",
    "catalog:write": "Create, change and delete service categories, services and options.",
}

ALL = "*"

# name -> (scope, description, permissions)
SYSTEM_ROLES: Final[dict[str, tuple[str, str, list[str]]]] = {
    "owner": ("organization", "Full control, including deletion; an organization always keeps one.", [ALL]),
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
            "experiments:read",
            "experiments:write",
            "flags:read",
            "flags:write",
            "api_keys:manage",
            "webhooks:read",
            "webhooks:write",
            "bookings:read",
            "bookings:manage",
            "catalog:write",
        ],
    ),
    "member": (
        "organization",
        "Works in the organization: sees it, its members and teams; creates workspaces.",
        [
            "org:read",
            "members:read",
            "teams:read",
            "workspaces:read",
            "workspaces:create",
            "analytics:read",
            "experiments:read",
            "flags:read",
            "bookings:read",
            "bookings:manage",
        ],
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

# Scoped permissions held through a team or workspace role (not organization-wide).
TEAM_PERMISSIONS: Final = ("team:read", "team:manage")
WORKSPACE_PERMISSIONS: Final = ("workspace:read", "workspace:write", "workspace:manage")

ORG_ROLE_RANK: Final = {"viewer": 0, "member": 1, "admin": 2, "owner": 3}


def is_known(permission: str) -> bool:
    return permission in PERMISSIONS or permission == ALL
