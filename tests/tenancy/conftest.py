"""Fixtures for tenancy tests: organizations populated through the real API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers import SignedUp, signup


async def make_org(client: httpx.AsyncClient, owner: SignedUp, name: str = "Acme", **extra: object) -> dict:  # type: ignore[type-arg]
    response = await client.post("/api/orgs", json={"name": name, **extra}, headers=owner.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def invite_and_join(
    client: httpx.AsyncClient, inviter: SignedUp, org_id: str, role: str = "member", **extra: object
) -> SignedUp:
    email = f"invitee-{uuid.uuid4().hex[:8]}@example.com"
    invited = await client.post(
        f"/api/orgs/{org_id}/invitations",
        headers=inviter.headers,
        json={"email": email, "role": role, **extra},
    )
    assert invited.status_code == 201, invited.text
    user = await signup(client, email)
    accepted = await client.post(
        "/api/invitations/accept", headers=user.headers, json={"token": invited.json()["token"]}
    )
    assert accepted.status_code == 200, accepted.text
    return user


async def make_platform_admin(client: httpx.AsyncClient, session: AsyncSession) -> SignedUp:
    admin = await signup(client)
    await session.execute(text("UPDATE users SET role = 'admin' WHERE id = :id"), {"id": admin.id})
    await session.flush()
    return admin


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
    owner = await signup(client)
    org = await make_org(client, owner, name)
    org_id = org["id"]
    member = await invite_and_join(client, owner, org_id)
    team = (
        await client.post(f"/api/orgs/{org_id}/teams", headers=owner.headers, json={"name": f"{name} team"})
    ).json()
    added = await client.post(
        f"/api/orgs/{org_id}/teams/{team['id']}/members",
        headers=owner.headers,
        json={"user_id": str(member.id), "role": "team_member"},
    )
    assert added.status_code == 201, added.text
    workspace = (
        await client.post(
            f"/api/orgs/{org_id}/workspaces", headers=owner.headers, json={"name": f"{name} space"}
        )
    ).json()
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
