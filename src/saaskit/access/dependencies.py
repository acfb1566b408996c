"""``org_access(...)``: the permission check every organization endpoint declares.

It resolves the caller's access to ``{org_id}`` (and to ``{team_id}`` / ``{workspace_id}`` when
the path names them), sets the transaction's RLS context to that organization, and refuses:
404 when the caller has no access at all (so ids of other tenants do not leak), 403 when a
member lacks the permission, 409 for changes to an archived organization. Platform admins who
are not members are let through; each such request is audited.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.access.service import Access, resolve
from saaskit.accounts import api_keys
from saaskit.accounts.dependencies import CurrentUser, Principal
from saaskit.audit import service as audit
from saaskit.audit.service import Actor
from saaskit.kit.deps import Client, ClientDep, DbSession
from saaskit.kit.errors import Conflict, Forbidden, NotFound

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class OrgRequest:
    """An authorized request in one organization: the access and the audit actor."""

    access: Access
    actor: Actor

    @property
    def organization_id(self) -> uuid.UUID:
        return self.access.organization_id

    @property
    def user_id(self) -> uuid.UUID:
        return self.access.user_id


def _path_uuid(request: Request, name: str) -> uuid.UUID | None:
    value = request.path_params.get(name)
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"no such {name.removesuffix('_id')}", field=name) from None


def request_actor(request: Request, user_id: uuid.UUID, client: Client, access: Access) -> Actor:
    """Who acts, for the audit rows of a request in an organization."""
    return Actor(
        user_id=user_id,
        ip_hash=client.ip_hash,
        as_platform_admin=access.acting_as_platform_admin,
        request=f"{request.method} {request.url.path}",
    )


async def record_admin_read(session: AsyncSession, actor: Actor, access: Access, what: str) -> None:
    """Audit a read by a platform admin who is not a member (writes are audited by the change
    itself, whoever makes it; a non-member's reads are audited only here)."""
    await audit.record(
        session,
        actor,
        organization_id=access.organization_id,
        action="platform_admin.viewed",
        entity_type="organization",
        entity_id=access.organization_id,
        entity_name=access.organization_name,
        description=f"A platform admin read this organization's {what}.",
    )


def refuse_without_required_two_factor(access: Access) -> None:
    """403 ``two_factor_required`` for a member without two-factor sign-in of an organization
    that requires it (every organization-scoped check calls this)."""
    if access.lacks_required_two_factor:
        raise Forbidden(
            f"{access.organization_name} requires two-factor sign-in of its members: turn it on "
            "(POST /api/me/two-factor/enrol, then /confirm)",
            code="two_factor_required",
        )


async def principal_access(
    session: AsyncSession,
    principal: Principal,
    organization_id: uuid.UUID,
    *,
    team_id: uuid.UUID | None = None,
    workspace_id: uuid.UUID | None = None,
) -> Access | None:
    """The caller's access to the organization (None: none at all): the person's, narrowed to
    the key's scopes and organization when the request came with an API key. Every check of a
    caller's access goes through here, so no path forgets the key's limits."""
    access = await resolve(
        session,
        user_id=principal.user_id,
        organization_id=organization_id,
        is_platform_admin=principal.is_admin,
        team_id=team_id,
        workspace_id=workspace_id,
    )
    if access is not None and principal.api_key is not None:
        access = api_keys.limit_access(access, principal.api_key)
    return access


def org_access(
    *any_of: str, allow_archived: bool = False, allow_deleted: bool = False, two_factor_exempt: bool = False
) -> Callable[..., Awaitable[OrgRequest]]:
    """Require one of ``any_of`` (organization-wide, or scoped to the path's team/workspace).
    A member without two-factor sign-in in an organization that requires it is refused (403
    ``two_factor_required``) unless ``two_factor_exempt`` (leaving the organization)."""

    async def dependency(
        request: Request, org_id: uuid.UUID, principal: CurrentUser, session: DbSession, client: ClientDep
    ) -> OrgRequest:
        team_id = _path_uuid(request, "team_id")
        workspace_id = _path_uuid(request, "workspace_id")
        access = await principal_access(
            session, principal, org_id, team_id=team_id, workspace_id=workspace_id
        )
        if access is None or (access.is_deleted and not allow_deleted):
            raise NotFound("no such organization", field="org_id")
        if not two_factor_exempt:
            refuse_without_required_two_factor(access)
        if any_of and not any(access.can(p, team_id=team_id, workspace_id=workspace_id) for p in any_of):
            raise Forbidden(f"this needs the permission {' or '.join(any_of)}", code="permission_denied")
        if access.is_archived and not allow_archived and request.method not in SAFE_METHODS:
            raise Conflict("the organization is archived: unarchive it first", code="organization_archived")
        actor = request_actor(request, principal.user_id, client, access)
        if access.acting_as_platform_admin and request.method in SAFE_METHODS:
            await record_admin_read(session, actor, access, "data")
        return OrgRequest(access=access, actor=actor)

    return dependency


def OrgAccess(*any_of: str, allow_archived: bool = False, allow_deleted: bool = False) -> OrgRequest:
    """``org: OrgRequest = OrgAccess("members:invite")`` in an endpoint's signature."""
    dependency = org_access(*any_of, allow_archived=allow_archived, allow_deleted=allow_deleted)
    result: OrgRequest = Depends(dependency)
    return result
