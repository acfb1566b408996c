"""End-to-end harness for the account flows that send mail: the real app on a fresh database
(committed data), the real job worker (``tests.mail.conftest.drain``) and a real SMTP server
(aiosmtpd, ``tests.mail.smtp``) whose inbox the tests read the links from."""

from __future__ import annotations

import re
import uuid
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
from tests.mail.conftest import PRODUCT, drain, sql
from tests.mail.smtp import Received, SmtpServer

LINK = re.compile(r"https://app\.acme\.example(/[a-z\-]+)\?token=([A-Za-z0-9_\-]+)")


@dataclass
class World:
    runtime: Runtime
    http: httpx.AsyncClient
    smtp: SmtpServer

    async def drain(self) -> None:
        """Run the worker until every job (and the mail they queue) is done."""
        await drain(self.runtime)

    async def sql(self, statement: str, **params: object) -> list[Any]:
        return await sql(self.runtime, statement, **params)

    def inbox(self, address: str, subject: str | None = None) -> list[Received]:
        return [
            r
            for r in self.smtp.received
            if r.rcpt_tos == [address] and (subject is None or r.message["Subject"] == subject)
        ]

    async def everything_stored(self) -> str:
        """Every row where a raw token must never appear: links, outbox, jobs, audit log."""
        parts = []
        for table in ("account_tokens", "email_outbox", "procrastinate_jobs", "activities", "notifications"):
            parts += [str(r[0]) for r in await self.sql(f"SELECT t::text FROM {table} t")]
        return "\n".join(parts)


def link_of(received: Received, path: str) -> str:
    """The token of the link to ``path`` in a mail (the same in its text and HTML parts)."""
    found = {m.group(2) for m in LINK.finditer(received.part("text/plain")) if m.group(1) == path}
    html = {m.group(2) for m in LINK.finditer(received.part("text/html")) if m.group(1) == path}
    assert len(found) == 1 and found == html, (found, html)
    return found.pop()


@asynccontextmanager
async def open_world(database: DbUnderTest, settings: Settings, **overrides: Any) -> AsyncIterator[World]:
    smtp = SmtpServer()
    app_url = database.app_url(settings)
    engine = create_engine(app_url, pool_size=4, max_overflow=4)
    values: dict[str, Any] = {"mail": smtp.settings(), "product": PRODUCT, **overrides}
    runtime = build_runtime(settings.model_copy(update=values), Database(engine), TEST_SECRET)
    runtime.extras["app_url"] = app_url
    transport = httpx.ASGITransport(
        app=create_app(runtime, dispose_on_shutdown=False),
        client=(f"203.0.113.{uuid.uuid4().int % 200}", 4000),
    )
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield World(runtime, http, smtp)
    finally:
        smtp.stop()
        await runtime.db.dispose()
