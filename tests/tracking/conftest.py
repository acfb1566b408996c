"""Fixtures for ingestion tests: a consenting user, an organization with an ingestion key."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.tracking import identity
from tests.factories import make_org
from tests.helpers import SignedUp, signup


@dataclass
class Project:
    owner: SignedUp
    org_id: str
    key: str

    @property
    def key_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def consenting_user(client: httpx.AsyncClient, level: str = "full") -> SignedUp:
    user = await signup(client, analytics_consent=True)
    if level != "full":
        response = await client.patch("/api/me", headers=user.headers, json={"tracking_level": level})
        assert response.status_code == 200
    return user


async def make_project(client: httpx.AsyncClient) -> Project:
    identity.forget_cached_keys()
    owner = await consenting_user(client)
    org = await make_org(client, owner, "Analytics Co")
    key = await client.post(f"/api/orgs/{org['id']}/ingestion-keys", headers=owner.headers)
    assert key.status_code == 201, key.text
    return Project(owner=owner, org_id=org["id"], key=key.json()["key"])


@pytest.fixture
async def project(client: httpx.AsyncClient) -> Project:
    return await make_project(client)


async def count(session: AsyncSession, sql: str, **params: object) -> int:
    return int((await session.execute(text(sql), params)).scalar_one())


__all__ = ["Project", "consenting_user", "count", "make_project"]
