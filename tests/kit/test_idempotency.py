"""Idempotency keys (kit.idempotency) on committed data: replay, reuse with another body,
concurrent duplicates, answers saved or not, expiry and the purge job."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import psycopg
import pytest
from fastapi import FastAPI, Response
from pydantic import BaseModel
from sqlalchemy import text

from saaskit.kit import idempotency
from saaskit.kit.db import Context, libpq_url, set_context
from saaskit.kit.deps import DbSession
from saaskit.kit.errors import Conflict, install_error_handlers
from saaskit.kit.idempotency import Idempotency
from saaskit.kit.state import Runtime
from tests.conftest import DbUnderTest

pytestmark = pytest.mark.live


class ThingIn(BaseModel):
    name: str
    fail: str | None = None  # "conflict": a 409 from saaskit's rules; "crash": an exception


class ThingOut(BaseModel):
    id: uuid.UUID
    name: str
    run: int


@dataclass
class Harness:
    http: httpx.AsyncClient
    runtime: Runtime
    user_id: uuid.UUID
    owner_url: str
    runs: int = 0
    hold: asyncio.Event | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def post(self, key: str | None, **body: object) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key else {}
        return await self.http.post("/things", json=body, headers=headers)

    def sql(self, statement: str, *params: object) -> list[tuple[object, ...]]:
        with psycopg.connect(libpq_url(self.owner_url), autocommit=True) as conn:
            cursor = conn.execute(statement, params or None)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []


@pytest.fixture
async def harness(fresh_database: DbUnderTest, fresh_runtime: Runtime) -> AsyncIterator[Harness]:
    user_id = uuid.uuid4()
    with psycopg.connect(libpq_url(fresh_database.owner_url), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (id, email, password_hash) VALUES (%s, %s, 'x')",
            (user_id, f"idem-{user_id.hex[:8]}@example.com"),
        )
    app = FastAPI()
    install_error_handlers(app)
    app.state.runtime = fresh_runtime
    h: Harness

    @app.post("/things", status_code=201, response_model=ThingOut)
    async def make(body: ThingIn, session: DbSession, idem: Idempotency) -> Response:
        await set_context(session, Context(user_id=user_id))  # as a signed-in request does

        async def work() -> ThingOut:
            h.runs += 1
            h.started.set()
            if h.hold is not None:
                await h.hold.wait()
            await session.execute(
                text(
                    "INSERT INTO user_preferences (user_id, category, key, value) "
                    "VALUES (:u, 'things', :k, '1'::jsonb)"
                ),
                {"u": user_id, "k": f"{body.name}-{h.runs}"},
            )
            if body.fail == "conflict":
                raise Conflict("that thing exists", code="thing_exists", field="name")
            if body.fail == "crash":
                raise RuntimeError("the disk is on fire")
            return ThingOut(id=uuid.uuid4(), name=body.name, run=h.runs)

        return await idem.respond(session, work, status_code=201)

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        h = Harness(http, fresh_runtime, user_id, fresh_database.owner_url)
        yield h


def _things(h: Harness) -> int:
    rows = h.sql("SELECT count(*) FROM user_preferences WHERE category = 'things'")
    return int(rows[0][0])  # type: ignore[call-overload]


async def test_a_retry_gets_the_first_answer(harness: Harness) -> None:
    h = harness
    first = await h.post("k-1", name="lamp", fail=None)
    again = await h.post("k-1", name="lamp", fail=None)
    assert first.status_code == again.status_code == 201
    assert again.content == first.content and first.json()["run"] == 1
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert h.runs == 1 and _things(h) == 1
    # The same key, another request: 422, nothing runs. The same body with keys reordered is the same.
    other = await h.post("k-1", name="chair")
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert other.json()["error"]["field"] == "Idempotency-Key"
    reordered = await h.http.post(
        "/things",
        content=b'{"fail": null,  "name": "lamp"}',
        headers={"Idempotency-Key": "k-1", "Content-Type": "application/json"},
    )
    assert reordered.status_code == 201 and reordered.content == first.content
    # Without a key, or with another one, the work runs.
    assert (await h.post(None, name="lamp")).json()["run"] == 2
    assert (await h.post("k-2", name="lamp")).json()["run"] == 3
    stored = h.sql(
        "SELECT method, path, response_status_code, user_id FROM idempotency_keys ORDER BY created_at"
    )
    assert stored == [("POST", "/things", 201, h.user_id)] * 2


async def test_a_rule_4xx_is_replayed_a_crash_is_not(harness: Harness) -> None:
    h = harness
    refused = await h.post("k-4xx", name="lamp", fail="conflict")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "thing_exists"
    replayed = await h.post("k-4xx", name="lamp", fail="conflict")
    assert replayed.content == refused.content and replayed.headers["Idempotent-Replayed"] == "true"
    assert h.runs == 1 and _things(h) == 0  # the work's write was rolled back, the answer kept

    crashed = await h.post("k-5xx", name="lamp", fail="crash")
    assert crashed.status_code == 500
    assert h.sql("SELECT count(*) FROM idempotency_keys WHERE response_status_code = 500") == [(0,)]
    retried = await h.post("k-5xx", name="lamp", fail="crash")  # runs again: nothing was saved
    assert retried.status_code == 500 and h.runs == 3


async def test_a_concurrent_duplicate_waits_then_replays_or_gets_409(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness
    h.hold = asyncio.Event()
    first = asyncio.create_task(h.post("k-busy", name="lamp"))
    await asyncio.wait_for(h.started.wait(), 10)

    # A duplicate that can wait long enough gets the first one's answer once it is committed.
    waiting = asyncio.create_task(h.post("k-busy", name="lamp"))
    await asyncio.sleep(0.5)
    assert not waiting.done()
    # One that cannot wait that long: 409 idempotency_in_progress, with Retry-After.
    monkeypatch.setattr(idempotency, "WAIT", "200ms")
    busy = await h.post("k-busy", name="lamp")
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "idempotency_in_progress"
    assert busy.headers["Retry-After"] == "1"

    h.hold.set()
    answered, replayed = await asyncio.wait_for(asyncio.gather(first, waiting), 20)
    assert answered.status_code == 201 and replayed.content == answered.content
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert h.runs == 1 and _things(h) == 1


async def test_keys_expire_after_24_hours(harness: Harness) -> None:
    h = harness
    first = await h.post("k-old", name="lamp")
    assert first.status_code == 201
    expires = h.sql("SELECT expires_at - created_at FROM idempotency_keys")[0][0]
    assert str(expires) == "1 day, 0:00:00"
    h.sql(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours', expires_at = now() - interval '1 hour'"
    )
    # An expired key is a new key: another body is fine, and the work runs.
    reused = await h.post("k-old", name="chair")
    assert reused.status_code == 201 and reused.json()["run"] == 2
    assert "Idempotent-Replayed" not in reused.headers

    await h.post("k-fresh", name="lamp")
    h.sql(
        "UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE path = '/things' AND response_body LIKE '%chair%'"
    )
    assert await idempotency.purge_expired(h.runtime) == 1
    assert h.sql("SELECT count(*) FROM idempotency_keys") == [(1,)]
