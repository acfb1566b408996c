"""The real app on a fresh database (committed data) sending to a test SMTP server, for tests of
features that mail people (billing notices, invitations): requests through the ASGI app commit
as in production, and ``tests.mail.conftest.drain`` runs the real job worker on the same database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from saaskit.app import create_app
from saaskit.config import Settings
from saaskit.kit.bootstrap import build_runtime
from saaskit.kit.db import Database, create_engine
from saaskit.kit.state import Runtime
from tests.conftest import TEST_SECRET, DbUnderTest
from tests.mail.conftest import PRODUCT
from tests.mail.smtp import SmtpServer


@dataclass
class LiveApp:
    runtime: Runtime
    http: httpx.AsyncClient


@asynccontextmanager
async def live_app(
    database: DbUnderTest, settings: Settings, smtp: SmtpServer, **overrides: Any
) -> AsyncIterator[LiveApp]:
    """``settings`` with mail to ``smtp``, the test product (Acme Boards) and ``overrides``."""
    app_url = database.app_url(settings)
    values: dict[str, Any] = {"mail": smtp.settings(), "product": PRODUCT, **overrides}
    engine = create_engine(app_url, pool_size=4, max_overflow=4)
    runtime = build_runtime(settings.model_copy(update=values), Database(engine), TEST_SECRET)
    runtime.extras["app_url"] = app_url
    transport = httpx.ASGITransport(
        app=create_app(runtime, dispose_on_shutdown=False), client=("203.0.113.9", 41000)
    )
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield LiveApp(runtime, http)
    finally:
        await runtime.db.dispose()
