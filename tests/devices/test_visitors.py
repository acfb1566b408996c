"""POST /api/track-visit: anonymous visitor sessions, hashed identifiers, bots, trusted proxies."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.config import HttpSettings
from saaskit.kit.hashing import daily_visitor_hash, ip_hash
from saaskit.kit.state import Runtime
from tests.conftest import TEST_SECRET, make_settings
from tests.factories import one, sql
from tests.helpers import error_of

BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15"


async def _visit(
    client: httpx.AsyncClient, session_id: str, user_agent: str | None = BROWSER, **headers: str
) -> httpx.Response:
    sent = dict(headers)
    if user_agent is not None:
        sent["User-Agent"] = user_agent
    return await client.post("/api/track-visit", json={"session_id": session_id}, headers=sent)


async def _row(session: AsyncSession, session_id: str) -> tuple[object, ...] | None:
    rows = await sql(
        session,
        "SELECT ip_hash, ua_hash, first_seen_at, last_seen_at, now() FROM visitor_sessions WHERE session_id = :s",
        s=session_id,
    )
    return tuple(rows[0]) if rows else None


async def test_a_visit_creates_then_refreshes_the_session(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    response = await _visit(client, "3f1c9a2e-7b4d-4e21-9c55-0d6e8f1a2b3c")
    assert response.status_code == 202 and response.json() == {"accepted": True}
    stored = await _row(session, "3f1c9a2e-7b4d-4e21-9c55-0d6e8f1a2b3c")
    assert stored is not None
    ip, ua, first, last, now = stored
    today = datetime.now(UTC).date()
    assert ip == daily_visitor_hash(TEST_SECRET, "ip:203.0.113.7", today), "daily-salted, never the raw IP"
    assert ip != ip_hash(TEST_SECRET, "203.0.113.7"), "not linkable to the stable hashes of signed-in users"
    assert ua == daily_visitor_hash(TEST_SECRET, f"ua:{BROWSER}", today)
    assert first == last == now
    await sql(
        session,
        "UPDATE visitor_sessions SET first_seen_at = now() - interval '2 hours', "
        "last_seen_at = now() - interval '1 hour' WHERE session_id = :s",
        s="3f1c9a2e-7b4d-4e21-9c55-0d6e8f1a2b3c",
    )
    await _visit(client, "3f1c9a2e-7b4d-4e21-9c55-0d6e8f1a2b3c")
    refreshed = await _row(session, "3f1c9a2e-7b4d-4e21-9c55-0d6e8f1a2b3c")
    assert refreshed is not None
    assert refreshed[3] == refreshed[4], "last_seen_at moved to now"
    assert (refreshed[4] - refreshed[2]).total_seconds() == 7200, "first_seen_at kept"  # type: ignore[operator]
    assert (await one(session, "SELECT count(*) FROM visitor_sessions"))[0] == 1


@pytest.mark.parametrize(
    "user_agent",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
        "facebookexternalhit/1.1",
        "curl/8.5.0",
        "python-requests/2.32.3",
        "",
        None,
    ],
)
async def test_bots_are_answered_but_not_counted(
    client: httpx.AsyncClient, session: AsyncSession, user_agent: str | None
) -> None:
    if user_agent is None:
        client.headers.pop("User-Agent", None)
    response = await _visit(client, "bot-session-0001", user_agent)
    assert response.status_code == 202 and response.json() == {"accepted": True}
    assert await _row(session, "bot-session-0001") is None


async def test_a_fire_tv_browser_is_not_a_bot(client: httpx.AsyncClient, session: AsyncSession) -> None:
    fire_tv = (
        "Mozilla/5.0 (Linux; Android 9; AFTMM Build/PS7233; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Version/4.0 Chrome/120.0 Mobile Safari/537.36"
    )
    assert (await _visit(client, "tv_session_0001", fire_tv)).status_code == 202
    assert await _row(session, "tv_session_0001") is not None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"session_id": "short"}, 422),
        ({"session_id": "x" * 129}, 422),
        ({"session_id": "has spaces in it"}, 422),
        ({"session_id": "semi;colon--x"}, 422),
        ({"session_id": "ünïcode-session"}, 422),
        ({"session_id": 12345678}, 422),
        ({}, 422),
    ],
)
async def test_bad_session_ids_are_refused(
    client: httpx.AsyncClient, session: AsyncSession, body: dict[str, object], code: int
) -> None:
    response = await client.post("/api/track-visit", json=body, headers={"User-Agent": BROWSER})
    assert response.status_code == code
    assert error_of(response)["field"] == "session_id"
    assert (await one(session, "SELECT count(*) FROM visitor_sessions"))[0] == 0


async def test_forwarded_ip_is_believed_only_from_a_trusted_proxy(
    client: httpx.AsyncClient, session: AsyncSession, runtime: Runtime
) -> None:
    forwarded = {"X-Forwarded-For": "198.51.100.23, 203.0.113.7"}
    today = datetime.now(UTC).date()
    await _visit(client, "untrusted-proxy-1", **forwarded)
    untrusted = await _row(session, "untrusted-proxy-1")
    assert untrusted is not None and untrusted[0] == daily_visitor_hash(TEST_SECRET, "ip:203.0.113.7", today)

    runtime.settings = make_settings(http=HttpSettings(trusted_proxies=["203.0.113.0/24"]))
    await _visit(client, "trusted-proxy-01", **forwarded)
    trusted = await _row(session, "trusted-proxy-01")
    assert trusted is not None and trusted[0] == daily_visitor_hash(TEST_SECRET, "ip:198.51.100.23", today)
