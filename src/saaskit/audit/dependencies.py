"""The audit actor of a platform admin's JSON request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from saaskit.accounts.dependencies import Principal, require_admin
from saaskit.audit.service import Actor
from saaskit.kit.deps import ClientDep


async def admin_actor(
    request: Request, admin: Annotated[Principal, Depends(require_admin)], client: ClientDep
) -> Actor:
    return Actor(
        user_id=admin.user_id,
        ip_hash=client.ip_hash,
        as_platform_admin=True,
        request=f"{request.method} {request.url.path}",
    )


AdminActor = Annotated[Actor, Depends(admin_actor)]
