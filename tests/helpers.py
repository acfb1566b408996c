"""Small helpers shared by tests: create accounts through the real API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from saaskit.kit.state import Runtime

DEFAULT_PASSWORD = "correct horse battery"


@dataclass
class SignedUp:
    id: uuid.UUID
    email: str
    token: str
    session_id: uuid.UUID

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def signup(
    client: httpx.AsyncClient, email: str | None = None, password: str = DEFAULT_PASSWORD, **extra: Any
) -> SignedUp:
    email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
    response = await client.post("/api/auth/signup", json={"email": email, "password": password, **extra})
    assert response.status_code == 201, response.text
    body = response.json()
    return SignedUp(
        id=uuid.UUID(body["user"]["id"]),
        email=email,
        token=body["token"],
        session_id=uuid.UUID(body["session_id"]),
    )


async def login(
    client: httpx.AsyncClient, email: str, password: str = DEFAULT_PASSWORD, **extra: Any
) -> httpx.Response:
    return await client.post("/api/auth/login", json={"email": email, "password": password, **extra})


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"code", "message", "field"} <= set(error), error
    return dict(error)


def with_limits(runtime: Runtime, **limits: object) -> None:
    """Give ``runtime``'s rate limits these values (names of ``RateLimitSettings``), from its
    next request on; the other limits keep theirs."""
    rate_limit = runtime.settings.rate_limit.model_copy(update=limits)
    runtime.settings = runtime.settings.model_copy(update={"rate_limit": rate_limit})
    runtime.extras.pop("rate_limiter", None)
