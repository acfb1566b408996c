"""Who may do what in an organization: one resolution, used by every endpoint.

Effective organization permissions = the member's base role (organization_members.role)
+ the member's extra permissions + every unexpired ``user_roles`` assignment. Team and workspace
roles add scoped permissions (``team:manage`` for one team ...), which the check consults when
the request names that team or workspace. A platform admin (users.role = admin) who is not a
member may act anyway; the caller audits it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.access.permissions import ALL, SYSTEM_ROLES
from saaskit.kit.db import Context, current_context, set_context

RESOLVE_SQL = text(
    """
    SELECT o.id AS organization_id, o.name, o.archived_at IS NOT NULL AS is_archived,
           o.deleted_at IS NOT NULL AS is_deleted, o.require_two_factor,
           EXISTS (SELECT 1 FROM user_two_factor t
                   WHERE t.user_id = :user_id AND t.confirmed_at IS NOT NULL) AS has_two_factor,
           m.role, coalesce(m.permissions, '[]'::jsonb) AS member_permissions,
           coalesce((SELECT jsonb_agg(p) FROM user_roles ur JOIN roles r ON r.id = ur.role_id,
                            jsonb_array_elements_text(r.permissions) AS p
                     WHERE ur.organization_id = o.id AND ur.user_id = :user_id
                       AND (ur.expires_at IS NULL OR ur.expires_at > now())), '[]'::jsonb) AS granted
    FROM organizations o
    LEFT JOIN organization_members m
      ON m.organization_id = o.id AND m.user_id = :user_id AND m.is_active
    WHERE o.id = :organization_id
    """
)

SCOPED_SQL = text(
    """
    SELECT 'team' AS kind, tm.team_id AS id, tm.role, tm.permissions FROM team_members tm
    WHERE tm.organization_id = :organization_id AND tm.user_id = :user_id AND tm.left_at IS NULL
      AND (CAST(:team_id AS uuid) IS NULL OR tm.team_id = :team_id)
    UNION ALL
    SELECT 'workspace', wm.workspace_id, wm.role, wm.permissions FROM workspace_members wm
    WHERE wm.organization_id = :organization_id AND wm.user_id = :user_id
      AND (CAST(:workspace_id AS uuid) IS NULL OR wm.workspace_id = :workspace_id)
    """
)


@dataclass(frozen=True)
class Access:
    """What one user may do in one organization, for the current request."""

    organization_id: uuid.UUID
    organization_name: str
    user_id: uuid.UUID
    role: str | None
    permissions: frozenset[str]
    is_platform_admin: bool
    is_archived: bool
    is_deleted: bool
    require_two_factor: bool = False  # the organization's; members without it are refused
    has_two_factor: bool = False  # the user signs in with a second factor
    team_permissions: dict[uuid.UUID, frozenset[str]] = field(default_factory=dict)
    workspace_permissions: dict[uuid.UUID, frozenset[str]] = field(default_factory=dict)

    @property
    def is_member(self) -> bool:
        return self.role is not None

    @property
    def acting_as_platform_admin(self) -> bool:
        return self.is_platform_admin and not self.is_member

    @property
    def lacks_required_two_factor(self) -> bool:
        """A member of an organization that requires two-factor sign-in, without it."""
        return self.is_member and self.require_two_factor and not self.has_two_factor

    def can(
        self, permission: str, *, team_id: uuid.UUID | None = None, workspace_id: uuid.UUID | None = None
    ) -> bool:
        if ALL in self.permissions or permission in self.permissions:
            return True
        if team_id is not None and permission in self.team_permissions.get(team_id, frozenset()):
            return True
        return workspace_id is not None and permission in self.workspace_permissions.get(
            workspace_id, frozenset()
        )

    def team_role_permissions(self, team_id: uuid.UUID) -> frozenset[str]:
        return self.team_permissions.get(team_id, frozenset())


def _role_permissions(role: str | None) -> set[str]:
    if role is None or role not in SYSTEM_ROLES:
        return set()
    return set(SYSTEM_ROLES[role][2])


async def resolve(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    organization_id: uuid.UUID,
    is_platform_admin: bool,
    team_id: uuid.UUID | None = None,
    workspace_id: uuid.UUID | None = None,
) -> Access | None:
    """The user's access to the organization, or None when they have none (not a member,
    unknown organization). Leaves the transaction's RLS context on that organization."""
    previous = current_context(session)
    await set_context(
        session, Context(user_id=user_id, organization_id=organization_id, service=previous.service)
    )
    params = {"user_id": user_id, "organization_id": organization_id}
    row = (await session.execute(RESOLVE_SQL, params)).one_or_none()
    if row is None or (row.role is None and not is_platform_admin):
        await set_context(session, previous)
        return None
    permissions = _role_permissions(row.role) | set(row.member_permissions) | set(row.granted)
    if row.role is None:
        permissions = {ALL}
    teams: dict[uuid.UUID, frozenset[str]] = {}
    workspaces: dict[uuid.UUID, frozenset[str]] = {}
    if team_id is not None or workspace_id is not None:
        scoped = await session.execute(
            SCOPED_SQL, {**params, "team_id": team_id, "workspace_id": workspace_id}
        )
        for kind, scoped_id, role, extra in scoped.all():
            granted = frozenset(_role_permissions(role) | set(extra))
            (teams if kind == "team" else workspaces)[scoped_id] = granted
    return Access(
        organization_id=organization_id,
        organization_name=row.name,
        user_id=user_id,
        role=row.role,
        permissions=frozenset(permissions),
        is_platform_admin=is_platform_admin,
        is_archived=row.is_archived,
        is_deleted=row.is_deleted,
        require_two_factor=row.require_two_factor,
        has_two_factor=row.has_two_factor,
        team_permissions=teams,
        workspace_permissions=workspaces,
    )
