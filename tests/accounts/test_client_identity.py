"""The client's IP and country: believed from proxy headers only when the proxy is trusted."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.config import HttpSettings
from saaskit.kit.hashing import ip_hash
from saaskit.kit.state import Runtime
from tests.conftest import TEST_SECRET, make_settings
from tests.helpers import DEFAULT_PASSWORD, signup

FORWARDED = {"X-Forwarded-For": "198.51.100.23, 203.0.113.7", "CF-IPCountry": "fr"}


async def _session_row(session: AsyncSession, session_id: str) -> tuple[str, str | None]:
    row = (
        await session.execute(
            text("SELECT ip_address_hash, country_code FROM user_sessions WHERE id = :id"), {"id": session_id}
        )
    ).one()
    return row[0], row[1]


async def test_untrusted_peer_headers_are_ignored(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await signup(client)
    response = await client.post(
        "/api/auth/login", json={"email": user.email, "password": DEFAULT_PASSWORD}, headers=FORWARDED
    )
    ip, country = await _session_row(session, response.json()["session_id"])
    assert ip == ip_hash(TEST_SECRET, "203.0.113.7"), "the socket peer, not the forged header"
    assert country is None


async def test_trusted_proxy_gives_client_ip_and_country(
    client: httpx.AsyncClient, session: AsyncSession, runtime: Runtime
) -> None:
    runtime.settings = make_settings(http=HttpSettings(trusted_proxies=["203.0.113.0/24"]))
    user = await signup(client)
    response = await client.post(
        "/api/auth/login", json={"email": user.email, "password": DEFAULT_PASSWORD}, headers=FORWARDED
    )
    ip, country = await _session_row(session, response.json()["session_id"])
    assert ip == ip_hash(TEST_SECRET, "198.51.100.23")
    assert country == "FR"
    user_country = (
        await session.execute(text("SELECT country_code FROM users WHERE id = :id"), {"id": user.id})
    ).scalar_one()
    assert user_country == "FR"
    invalid = await client.post(
        "/api/auth/login",
        json={"email": user.email, "password": DEFAULT_PASSWORD},
        headers={"X-Forwarded-For": "not-an-ip", "CF-IPCountry": "XX"},
    )
    ip, country = await _session_row(session, invalid.json()["session_id"])
    assert ip == ip_hash(TEST_SECRET, "203.0.113.7") and country is None
