"""Who calls the customers' endpoints: a signed-in user acting for themselves (RLS context:
their user id only, no organization, so they see their own rows and the public catalog)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from saaskit.accounts.dependencies import CurrentUser
from saaskit.audit.service import Actor
from saaskit.kit.deps import ClientDep


@dataclass(frozen=True)
class CustomerRequest:
    user_id: uuid.UUID
    actor: Actor


async def customer(request: Request, principal: CurrentUser, client: ClientDep) -> CustomerRequest:
    actor = Actor(
        user_id=principal.user_id, ip_hash=client.ip_hash, request=f"{request.method} {request.url.path}"
    )
    return CustomerRequest(user_id=principal.user_id, actor=actor)


Customer = Annotated[CustomerRequest, Depends(customer)]
