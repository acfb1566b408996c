"""``/api/orgs/{org_id}/billing``: an organization's billing (``billing:read`` / ``billing:manage``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from saaskit.access.dependencies import OrgRequest, org_access
from saaskit.billing.endpoints.owned import Payer, owned_router
from saaskit.billing.owners import Owner


async def org_reader(
    org: Annotated[OrgRequest, Depends(org_access("billing:read", "billing:manage"))],
) -> Payer:
    return Payer(owner=Owner(organization_id=org.organization_id), actor=org.actor)


async def org_manager(org: Annotated[OrgRequest, Depends(org_access("billing:manage"))]) -> Payer:
    return Payer(owner=Owner(organization_id=org.organization_id), actor=org.actor)


router = owned_router(
    "/api/orgs/{org_id}/billing", ["organization billing"], read=org_reader, manage=org_manager
)
