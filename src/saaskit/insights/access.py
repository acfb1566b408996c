"""Who may read which analytics: the whole platform (platform admins), or one organization
(``?organization_id=``: its members with ``analytics:read``, owners and admins by default, and
platform admins, audited like every non-member admin read)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.access.dependencies import record_admin_read, refuse_without_required_two_factor, request_actor
from saaskit.access.service import resolve
from saaskit.accounts.dependencies import CurrentUser
from saaskit.insights.models import PLATFORM
from saaskit.kit import timezones
from saaskit.kit.db import SERVICE, Context, set_context
from saaskit.kit.deps import ClientDep, DbSession, RuntimeDep, runtime_of
from saaskit.kit.errors import Forbidden, NotFound
from saaskit.kit.replicas import read_session_for


@dataclass(frozen=True)
class Scope:
    organization_id: uuid.UUID | None

    @property
    def scope_id(self) -> uuid.UUID:
        return self.organization_id or PLATFORM


async def analytics_scope(
    request: Request,
    principal: CurrentUser,
    session: DbSession,
    client: ClientDep,
    organization_id: Annotated[
        uuid.UUID | None,
        Query(description="Narrow every figure to this organization (its members need analytics:read)."),
    ] = None,
) -> Scope:
    if organization_id is None:
        if not principal.is_admin:
            raise Forbidden(
                "platform-wide analytics are for platform admins; members ask with ?organization_id=",
                code="admin_only",
            )
    else:
        access = await resolve(
            session,
            user_id=principal.user_id,
            organization_id=organization_id,
            is_platform_admin=principal.is_admin,
        )
        if access is None or access.is_deleted:
            raise NotFound("no such organization", field="organization_id")
        refuse_without_required_two_factor(access)
        if not access.can("analytics:read"):
            raise Forbidden("this needs the permission analytics:read", code="permission_denied")
        if access.acting_as_platform_admin:
            actor = request_actor(request, principal.user_id, client, access)
            await record_admin_read(session, actor, access, "analytics")
    # Analytics read across users (a scope's members, the platform): the queries filter by scope
    # explicitly, under the service's context, once access is settled above.
    await set_context(session, Context(user_id=principal.user_id, service=SERVICE.service))
    return Scope(organization_id)


ScopeDep = Annotated[Scope, Depends(analytics_scope)]


async def analytics_session(
    request: Request, scope: ScopeDep, session: DbSession
) -> AsyncIterator[AsyncSession]:
    """The analytics queries' session: on a read replica within the lag threshold, else the
    primary's (kit/replicas.py). Access is settled (and audited) on the primary first: ``scope``."""
    async with read_session_for(runtime_of(request).replicas, session) as read:
        yield read


AnalyticsSession = Annotated[AsyncSession, Depends(analytics_session, scope="function")]


async def time_zone(
    runtime: RuntimeDep,
    tz: Annotated[
        str,
        Query(max_length=64, description="IANA time zone for day and month boundaries, e.g. Europe/Paris."),
    ] = "UTC",
) -> str:
    """A zone PostgreSQL knows (kit/timezones.py: Python's list holds names it refuses)."""
    return await timezones.check(runtime.db, tz)


TimeZone = Annotated[str, Depends(time_zone)]
