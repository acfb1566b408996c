"""Helpers for the devices tests: accounts and dashboards through the real API, SQL as the service."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.app import create_app
from saaskit.kit.db import SERVICE, set_context
from saaskit.kit.state import Runtime
from tests.helpers import SignedUp, signup


async def sql(session: AsyncSession, query: str, **params: Any) -> list[Any]:
    """Run SQL as the service. Requests made through ``client`` share the test's transaction and
    leave their own RLS context in it, so the service context is set again before each query."""
    await set_context(session, SERVICE)
    result = await session.execute(text(query), params)
    rows = list(result.all()) if result.returns_rows else []
    await session.flush()
    return rows


async def one(session: AsyncSession, query: str, **params: Any) -> Any:
    rows = await sql(session, query, **params)
    assert len(rows) == 1, rows
    return rows[0]


async def register(
    client: httpx.AsyncClient, user: SignedUp, expect: int = 201, **fields: Any
) -> dict[str, Any]:
    body = {"device_name": "Kitchen TV", "device_type": "fire_tv", **fields}
    response = await client.post("/api/dashboards", json=body, headers=user.headers)
    assert response.status_code == expect, response.text
    return dict(response.json())


async def heartbeat(
    client: httpx.AsyncClient, user: SignedUp, expect: int = 200, **fields: Any
) -> dict[str, Any]:
    response = await client.post("/api/heartbeat", json=fields, headers=user.headers)
    assert response.status_code == expect, response.text
    return dict(response.json())


async def make_admin(client: httpx.AsyncClient, session: AsyncSession) -> SignedUp:
    admin = await signup(client)
    await sql(session, "UPDATE users SET role = 'admin' WHERE id = :id", id=admin.id)
    return admin


def uid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


@pytest.fixture
async def live_client(fresh_runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP through the real ASGI app on a fresh database: every request really commits, on its
    own pooled connection, so requests sent together run concurrently in PostgreSQL."""
    app = create_app(fresh_runtime, dispose_on_shutdown=False)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as http:
        yield http
