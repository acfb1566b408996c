"""Fixtures for the devices tests. Accounts and dashboards come from ``tests.factories``; the
names the devices tests used to import from here stay importable."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from saaskit.app import create_app
from saaskit.kit.state import Runtime
from tests.factories import heartbeat, make_admin, one, sql
from tests.factories import make_dashboard as register

__all__ = ["heartbeat", "live_client", "make_admin", "one", "register", "sql", "uid"]


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
