"""A client whose requests really commit (a fresh database), for what the shared-transaction
``client`` cannot show: connections held or not, and counts that must survive a refused request
(there, an error rolls back the request's savepoint, and the rate-limit hits made inside it)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from saaskit.app import create_app
from saaskit.kit.state import Runtime


@pytest.fixture
async def committed_client(fresh_runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(fresh_runtime, dispose_on_shutdown=False)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
