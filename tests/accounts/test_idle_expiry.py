"""Idle expiry of sessions (setting auth.session_idle_minutes), on top of the absolute lifetime.

The clock is moved by moving the session's last use back (the database's now() is the test
transaction's start, constant for the whole test), never by sleeping."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts.tasks import purge_sessions_now
from saaskit.kit.state import Runtime
from tests.helpers import login, signup


def idle_minutes(runtime: Runtime, minutes: int) -> None:
    auth = runtime.settings.auth.model_copy(update={"session_idle_minutes": minutes})
    runtime.settings = runtime.settings.model_copy(update={"auth": auth})


async def last_used(session: AsyncSession, session_id: uuid.UUID, *, minutes_ago: float | None = None) -> str:
    """Move the session's last use back ``minutes_ago`` minutes (if given); how long ago it is."""
    if minutes_ago is not None:
        await session.execute(
            text("UPDATE user_sessions SET last_used_at = now() - make_interval(secs => :s) WHERE id = :id"),
            {"s": minutes_ago * 60, "id": session_id},
        )
        await session.flush()
    age = await session.scalar(
        text("SELECT (now() - last_used_at)::text FROM user_sessions WHERE id = :id"), {"id": session_id}
    )
    return str(age)


async def test_an_idle_session_dies_a_used_one_lives_and_use_is_written_once_a_minute(
    client: httpx.AsyncClient, session: AsyncSession, runtime: Runtime
) -> None:
    idle_minutes(runtime, 30)
    user = await signup(client)
    other = (await login(client, user.email)).json()
    other_headers = {"Authorization": f"Bearer {other['token']}"}
    stored = await session.scalar(
        text("SELECT idle_timeout_minutes FROM user_sessions WHERE id = :id"), {"id": user.session_id}
    )
    assert stored == 30

    # Used 30 seconds ago: live, and not written again (at most one write a minute).
    await last_used(session, user.session_id, minutes_ago=0.5)
    assert (await client.get("/api/me", headers=user.headers)).status_code == 200
    assert await last_used(session, user.session_id) == "00:00:30"
    # Used 29 minutes ago: live, and this use is written (the idle clock starts again).
    await last_used(session, user.session_id, minutes_ago=29)
    assert (await client.get("/api/me", headers=user.headers)).status_code == 200
    assert await last_used(session, user.session_id) == "00:00:00"

    # The other session, unused for 31 minutes: dead, for the API and in the sessions list.
    await last_used(session, uuid.UUID(other["session_id"]), minutes_ago=31)
    dead = await client.get("/api/me", headers=other_headers)
    assert dead.status_code == 401
    assert dead.json()["error"]["code"] == "invalid_token"
    listed = (await client.get("/api/me/sessions", headers=user.headers)).json()
    assert [s["id"] for s in listed] == [str(user.session_id)]
    # Its absolute lifetime has not passed: it was the idle rule.
    assert await session.scalar(
        text("SELECT expires_at > now() AND revoked_at IS NULL FROM user_sessions WHERE id = :id"),
        {"id": other["session_id"]},
    )

    # The hourly job forgets its token and ends it; the live one is untouched.
    await purge_sessions_now(runtime, 90)
    rows = (
        await session.execute(
            text(
                "SELECT id::text, session_token_hash IS NULL, ended_at IS NOT NULL "
                "FROM user_sessions WHERE user_id = :u"
            ),
            {"u": user.id},
        )
    ).all()
    assert {row[0]: tuple(row[1:]) for row in rows} == {
        str(user.session_id): (False, False),
        other["session_id"]: (True, True),
    }
    assert (await client.get("/api/me", headers=user.headers)).status_code == 200


async def test_idle_expiry_off_and_sessions_kept_the_value_they_were_opened_with(
    client: httpx.AsyncClient, session: AsyncSession, runtime: Runtime
) -> None:
    idle_minutes(runtime, 0)
    unlimited = await signup(client)
    idle_minutes(runtime, 10)
    limited = (await login(client, unlimited.email)).json()
    for session_id in (unlimited.session_id, uuid.UUID(limited["session_id"])):
        await last_used(session, session_id, minutes_ago=60 * 24 * 20)
    # No idle expiry when it was opened: only the absolute lifetime ends it.
    assert (await client.get("/api/me", headers=unlimited.headers)).status_code == 200
    limited_headers = {"Authorization": f"Bearer {limited['token']}"}
    assert (await client.get("/api/me", headers=limited_headers)).status_code == 401
    # The heartbeat authenticates through the same rule.
    beat = await client.post("/api/heartbeat", json={}, headers=limited_headers)
    assert beat.status_code == 401
