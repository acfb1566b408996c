"""Sign-up, sign-in, lockout, rehash and the lifecycle columns, through real HTTP."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts.passwords import Passwords
from saaskit.config import AuthSettings
from saaskit.kit.hashing import ip_hash
from saaskit.kit.state import Runtime
from tests.conftest import TEST_SECRET
from tests.helpers import error_of, login, signup


async def test_signup_returns_a_working_token_and_stores_no_raw_ip(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await signup(client, "Alice@Example.com", name="Alice", timezone="Europe/Paris")
    me = await client.get("/api/me", headers=user.headers)
    assert me.status_code == 200
    assert me.json()["email"] == "alice@example.com"
    assert me.json()["timezone"] == "Europe/Paris"
    row = (
        await session.execute(
            text(
                "SELECT signup_ip_hash, last_known_ip_hash, sign_in_count, first_sign_in_at IS NOT NULL, password_hash "
                "FROM users WHERE id = :id"
            ),
            {"id": user.id},
        )
    ).one()
    assert row[0] == ip_hash(TEST_SECRET, "203.0.113.7") == row[1]
    assert "203.0.113.7" not in str(tuple(row))
    assert row[2] == 1 and row[3] is True
    assert row[4].startswith("$argon2id$")
    token_row = (
        await session.execute(
            text("SELECT session_token_hash FROM user_sessions WHERE user_id = :id"), {"id": user.id}
        )
    ).scalar_one()
    assert token_row != user.token and len(token_row) == 64


async def test_signup_refusals_name_the_field(client: httpx.AsyncClient) -> None:
    await signup(client, "taken@example.com")
    duplicate = await client.post(
        "/api/auth/signup", json={"email": "TAKEN@example.com", "password": "quartz meadow lantern"}
    )
    assert duplicate.status_code == 409
    assert error_of(duplicate)["field"] == "email"
    short = await client.post("/api/auth/signup", json={"email": "new@example.com", "password": "short"})
    assert short.status_code == 422
    assert error_of(short)["field"] == "password"
    bad_email = await client.post(
        "/api/auth/signup", json={"email": "not-an-email", "password": "quartz meadow lantern"}
    )
    assert bad_email.status_code == 422 and error_of(bad_email)["field"] == "email"
    bad_zone = await client.post(
        "/api/auth/signup",
        json={"email": "z@example.com", "password": "quartz meadow lantern", "timezone": "Mars/Base"},
    )
    assert bad_zone.status_code == 422 and error_of(bad_zone)["field"] == "timezone"
    unknown = await client.post(
        "/api/auth/signup",
        json={"email": "u@example.com", "password": "quartz meadow lantern", "is_admin": True},
    )
    assert unknown.status_code == 422 and error_of(unknown)["field"] == "is_admin"


async def test_login_updates_the_lifecycle_columns_and_session_row(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await signup(client)
    response = await login(
        client,
        user.email,
        device={"name": "Living room TV", "type": "fire_tv", "fingerprint": "abc123"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token"] != user.token
    counts = (
        await session.execute(
            text(
                "SELECT sign_in_count, last_sign_in_at >= first_sign_in_at, auth_provider FROM users WHERE id = :id"
            ),
            {"id": user.id},
        )
    ).one()
    assert tuple(counts) == (2, True, "password")
    row = (
        await session.execute(
            text(
                "SELECT device_info, device_fingerprint_hash, user_agent, auth_method, ip_address_hash, expires_at > now() "
                "FROM user_sessions WHERE id = :id"
            ),
            {"id": body["session_id"]},
        )
    ).one()
    assert row.device_info == {"name": "Living room TV", "type": "fire_tv"}
    assert row.device_fingerprint_hash and row.device_fingerprint_hash != "abc123"
    assert row.user_agent.startswith("python-httpx")
    assert row.auth_method == "password"
    assert row.ip_address_hash == ip_hash(TEST_SECRET, "203.0.113.7")
    assert row[5] is True


async def test_unknown_email_and_wrong_password_get_the_same_answer(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    wrong = await login(client, user.email, "wrong password!")
    unknown = await login(client, "nobody@example.com", "wrong password!")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert error_of(wrong)["code"] == "invalid_credentials"


async def test_password_is_rehashed_when_parameters_change(
    client: httpx.AsyncClient, runtime: Runtime, session: AsyncSession
) -> None:
    user = await signup(client)
    before = (
        await session.execute(text("SELECT password_hash FROM users WHERE id = :id"), {"id": user.id})
    ).scalar_one()
    assert "m=64,t=1,p=1" in before
    runtime.passwords = Passwords(
        AuthSettings(argon2_time_cost=2, argon2_memory_cost_kib=128, argon2_parallelism=1)
    )
    assert (await login(client, user.email)).status_code == 200
    after = (
        await session.execute(text("SELECT password_hash FROM users WHERE id = :id"), {"id": user.id})
    ).scalar_one()
    assert "m=128,t=2,p=1" in after
    assert (await login(client, user.email)).status_code == 200


async def test_logout_kills_the_token(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    assert (await client.post("/api/auth/logout", headers=user.headers)).status_code == 204
    after = await client.get("/api/me", headers=user.headers)
    assert after.status_code == 401 and error_of(after)["code"] == "invalid_token"


async def test_cookie_sign_in_is_httponly_and_needs_csrf_for_changes(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    response = await login(client, user.email, set_cookie=True)
    assert response.status_code == 200
    set_cookie = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    session_cookie = next(c for c in set_cookie if c.startswith("saaskit_session="))
    assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie
    assert (await client.get("/api/me")).status_code == 200  # the cookie jar carries it
    refused = await client.post("/api/auth/logout")
    assert refused.status_code == 403 and error_of(refused)["code"] == "csrf_failed"
    csrf = client.cookies["saaskit_csrf"]
    assert (await client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})).status_code == 204
