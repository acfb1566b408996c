"""Webhook test harness: a real receiver on loopback, runtimes on a fresh database whose webhook
settings let deliveries reach loopback (the default refuses it), and an ASGI client of the real
app on that runtime (its requests commit)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from saaskit.app import create_app
from saaskit.config import Settings, WebhookSettings
from saaskit.kit.bootstrap import build_runtime
from saaskit.kit.db import Database, create_engine
from saaskit.kit.state import Runtime
from tests.conftest import TEST_SECRET, DbUnderTest
from tests.webhooks.receiver import Receiver

LOOPBACK = ["127.0.0.0/8", "::1/128"]
RuntimeFactory = Callable[..., Runtime]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = await Receiver().start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def runtime_with(fresh_database: DbUnderTest, settings: Settings) -> AsyncIterator[RuntimeFactory]:
    created: list[Runtime] = []
    app_url = fresh_database.app_url(settings)

    def build(**webhook_settings: Any) -> Runtime:
        values = {"allow_private_networks": LOOPBACK, **webhook_settings}
        engine = create_engine(app_url, pool_size=4, max_overflow=4)
        updated = settings.model_copy(update={"webhooks": WebhookSettings(**values)})
        runtime = build_runtime(updated, Database(engine), TEST_SECRET)
        runtime.extras["app_url"] = app_url
        created.append(runtime)
        return runtime

    yield build
    for runtime in created:
        await runtime.db.dispose()


@pytest.fixture
async def http_for() -> AsyncIterator[Callable[[Runtime], httpx.AsyncClient]]:
    clients: list[httpx.AsyncClient] = []

    def build(runtime: Runtime) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(
            app=create_app(runtime, dispose_on_shutdown=False), client=("203.0.113.9", 40000)
        )
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()
