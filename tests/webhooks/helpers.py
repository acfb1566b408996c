"""Small helpers for the webhook tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text

from saaskit import webhooks
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from tests.helpers import SignedUp


async def add_endpoint(
    client: httpx.AsyncClient, owner: SignedUp, org_id: str, url: str, event_types: list[str] | None = None
) -> dict[str, Any]:
    answer = await client.post(
        f"/api/orgs/{org_id}/webhooks",
        headers=owner.headers,
        json={"url": url, "description": "tests", "event_types": event_types or ["*"]},
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def deliveries(client: httpx.AsyncClient, owner: SignedUp, org_id: str, endpoint_id: str) -> list[Any]:
    answer = await client.get(f"/api/orgs/{org_id}/webhooks/{endpoint_id}/deliveries", headers=owner.headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


async def emit(runtime: Runtime, org_id: str, event_type: str, data: dict[str, Any]) -> uuid.UUID:
    """An event emitted the way a domain does, in a unit of work of its own (committed)."""
    async with runtime.db.session(SERVICE) as session:
        message_id = await webhooks.emit(session, uuid.UUID(org_id), event_type, data)
    assert message_id is not None
    return message_id


async def sql(runtime: Runtime, statement: str, **params: object) -> list[Any]:
    async with runtime.db.session(SERVICE) as session:
        result = await session.execute(text(statement), params)
        return list(result.all()) if result.returns_rows else []
