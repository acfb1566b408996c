"""Mail test harness.

- ``smtp`` / ``smtp_server``: real aiosmtpd servers on 127.0.0.1 (``tests/mail/smtp.py``);
- ``runtime_with``: runtimes on a fresh database (committed data) with the given mail settings,
  the same settings otherwise as the suite's;
- ``drain``: runs the real job worker (``jobs.run_worker``) until a condition holds;
- ``mail_app``: the real app with one extra route that queues a password-reset mail in its
  request transaction, and fails after queueing when asked, the way the next features will.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import text

from saaskit import mail
from saaskit.app import create_app
from saaskit.config import MailSettings, ProductSettings, Settings
from saaskit.jobs import run_worker
from saaskit.kit.bootstrap import build_runtime
from saaskit.kit.db import SERVICE, Context, Database, create_engine, set_context
from saaskit.kit.deps import DbSession, RuntimeDep
from saaskit.kit.errors import Conflict
from saaskit.kit.state import Runtime
from tests.conftest import TEST_SECRET, DbUnderTest
from tests.mail.smtp import Certificates, SmtpServer, make_certificates

PRODUCT = ProductSettings(
    name="Acme Boards", url="https://app.acme.example", support_email="help@acme.example"
)
RuntimeFactory = Callable[..., Runtime]


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A plain SMTP server (no TLS, no AUTH), like a relay on the same host."""
    server = SmtpServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(Path(tmp_path_factory.mktemp("smtp-certs")))


@pytest.fixture
async def runtime_with(fresh_database: DbUnderTest, settings: Settings) -> AsyncIterator[RuntimeFactory]:
    created: list[Runtime] = []
    app_url = fresh_database.app_url(settings)

    def build(mail_settings: MailSettings | None = None, **overrides: Any) -> Runtime:
        values: dict[str, Any] = {"mail": mail_settings or MailSettings(), "product": PRODUCT, **overrides}
        engine = create_engine(app_url, pool_size=4, max_overflow=4)
        runtime = build_runtime(settings.model_copy(update=values), Database(engine), TEST_SECRET)
        runtime.extras["app_url"] = app_url
        created.append(runtime)
        return runtime

    yield build
    for runtime in created:
        await runtime.db.dispose()


async def drain(
    runtime: Runtime, until: Callable[[], Awaitable[bool]] | None = None, within_seconds: float = 30
) -> None:
    """Run the real worker until the queue is empty, again and again until ``until`` holds
    (jobs scheduled for later, such as retries, are run once they are due)."""
    deadline = time.monotonic() + within_seconds
    while True:
        await asyncio.wait_for(
            run_worker(runtime, runtime.extras["app_url"], concurrency=1, wait=False), timeout=within_seconds
        )
        if until is None or await until():
            return
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        await asyncio.sleep(0.1)


async def sql(runtime: Runtime, statement: str, **params: object) -> list[Any]:
    async with runtime.db.session(SERVICE) as session:
        result = await session.execute(text(statement), params)
        return list(result.all()) if result.returns_rows else []


async def outbox(runtime: Runtime, message_id: uuid.UUID | str) -> Any:
    rows = await sql(runtime, "SELECT * FROM email_outbox WHERE id = :i", i=message_id)
    assert len(rows) == 1, rows
    return rows[0]


async def new_user(runtime: Runtime, email: str | None = None) -> uuid.UUID:
    email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
    rows = await sql(runtime, "INSERT INTO users (email, name) VALUES (:e, 'Ada') RETURNING id", e=email)
    return uuid.UUID(str(rows[0][0]))


class ResetIn(BaseModel):
    user_id: uuid.UUID
    email: str
    token: str
    fail: bool = False


def mail_app(runtime: Runtime) -> FastAPI:
    app = create_app(runtime, dispose_on_shutdown=False)

    async def request_reset(body: ResetIn, session: DbSession, runtime: RuntimeDep) -> dict[str, str]:
        # As the signed-in user: RLS lets a user's transaction write its own outbox rows.
        await set_context(session, Context(user_id=body.user_id))
        message_id = await mail.enqueue(
            session,
            runtime,
            to=body.email,
            template="password_reset",
            context={
                "reset_url": mail.secret_link(runtime, "/reset-password", token=body.token),
                "expires_minutes": 60,
                "name": "Ada",
            },
            user_id=body.user_id,
            expires_at=datetime.now(UTC) + timedelta(hours=1),
        )
        if body.fail:
            raise Conflict("something after the mail failed", code="later_failure")
        return {"id": str(message_id)}

    app.add_api_route("/test/password-reset", request_reset, methods=["POST"])
    return app


@pytest.fixture
async def http_for() -> AsyncIterator[Callable[[Runtime], httpx.AsyncClient]]:
    clients: list[httpx.AsyncClient] = []

    def build(runtime: Runtime) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=mail_app(runtime), client=("203.0.113.5", 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()
