"""Fixtures for tenancy tests: organizations populated through the real API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import httpx
import pytest

from tests.factories import invite_and_join, make_owned_org, make_team, make_workspace
from tests.helpers import SignedUp


@dataclass
class Tenant:
    """An organization with at least one row in every tenant table."""

    owner: SignedUp
    member: SignedUp
    org_id: str
    team_id: str
    workspace_id: str
    role_id: str
    assignment_id: str
    invitation_id: str
    extra: dict[str, str] = field(default_factory=dict)


async def populated_tenant(client: httpx.AsyncClient, name: str) -> Tenant:
    owner, org = await make_owned_org(client, name)
    org_id = org["id"]
    member = await invite_and_join(client, owner, org_id)
    team = await make_team(client, owner, org_id, f"{name} team")
    added = await client.post(
        f"/api/orgs/{org_id}/teams/{team['id']}/members",
        headers=owner.headers,
        json={"user_id": str(member.id), "role": "team_member"},
    )
    assert added.status_code == 201, added.text
    workspace = await make_workspace(client, owner, org_id, f"{name} space")
    role = (
        await client.post(
            f"/api/orgs/{org_id}/roles",
            headers=owner.headers,
            json={"name": "auditor", "permissions": ["audit:read"]},
        )
    ).json()
    assignment = (
        await client.post(
            f"/api/orgs/{org_id}/role-assignments",
            headers=owner.headers,
            json={"user_id": str(member.id), "role_id": role["id"]},
        )
    ).json()
    invitation = (
        await client.post(
            f"/api/orgs/{org_id}/invitations",
            headers=owner.headers,
            json={"email": f"pending-{uuid.uuid4().hex[:6]}@example.com"},
        )
    ).json()
    return Tenant(
        owner=owner,
        member=member,
        org_id=org_id,
        team_id=team["id"],
        workspace_id=workspace["id"],
        role_id=role["id"],
        assignment_id=assignment["id"],
        invitation_id=invitation["id"],
    )


@pytest.fixture
async def tenant_a(client: httpx.AsyncClient) -> Tenant:
    return await populated_tenant(client, "Alpha")


@pytest.fixture
async def tenant_b(client: httpx.AsyncClient) -> Tenant:
    return await populated_tenant(client, "Bravo")
