"""Session listing and revocation, suspended/banned/deleted users, password change."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import make_admin
from tests.helpers import DEFAULT_PASSWORD, error_of, login, signup


async def test_list_and_revoke_sessions(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    second = (await login(client, user.email)).json()
    sessions = (await client.get("/api/me/sessions", headers=user.headers)).json()
    assert {s["id"] for s in sessions} == {str(user.session_id), second["session_id"]}
    assert [s["is_current"] for s in sessions if s["id"] == str(user.session_id)] == [True]
    revoked = await client.delete(f"/api/me/sessions/{second['session_id']}", headers=user.headers)
    assert revoked.status_code == 204
    dead = await client.get("/api/me", headers={"Authorization": f"Bearer {second['token']}"})
    assert dead.status_code == 401
    assert (await client.get("/api/me", headers=user.headers)).status_code == 200
    again = await client.delete(f"/api/me/sessions/{second['session_id']}", headers=user.headers)
    assert again.status_code == 404


async def test_another_users_session_is_not_found(client: httpx.AsyncClient) -> None:
    alice = await signup(client)
    bob = await signup(client)
    response = await client.delete(f"/api/me/sessions/{bob.session_id}", headers=alice.headers)
    assert response.status_code == 404
    assert (await client.get("/api/me", headers=bob.headers)).status_code == 200


async def test_expired_sessions_do_not_authenticate(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await signup(client)
    await session.execute(
        text("UPDATE user_sessions SET expires_at = now() - interval '1 second' WHERE id = :id"),
        {"id": user.session_id},
    )
    await session.flush()
    assert (await client.get("/api/me", headers=user.headers)).status_code == 401


async def test_suspended_and_banned_users_lose_sessions_and_cannot_sign_in(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    for status in ("suspended", "banned"):
        user = await signup(client)
        # Changed behind the API's back: the token must stop working at once, not at expiry.
        await session.execute(
            text("UPDATE users SET status = :s WHERE id = :id"), {"s": status, "id": user.id}
        )
        await session.flush()
        assert (await client.get("/api/me", headers=user.headers)).status_code == 401
        refused = await login(client, user.email)
        assert refused.status_code == 403
        assert error_of(refused)["code"] == "account_suspended"
        is_active = (
            await session.execute(text("SELECT is_active FROM users WHERE id = :id"), {"id": user.id})
        ).scalar_one()
        assert is_active is False


async def test_soft_deleted_users_cannot_sign_in(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await signup(client)
    await session.execute(text("UPDATE users SET deleted_at = now() WHERE id = :id"), {"id": user.id})
    await session.flush()
    assert (await client.get("/api/me", headers=user.headers)).status_code == 401
    assert (await login(client, user.email)).status_code == 401


async def test_admin_suspension_revokes_sessions(client: httpx.AsyncClient, session: AsyncSession) -> None:
    admin = await make_admin(client, session)
    target = await signup(client)
    response = await client.post(
        f"/api/admin/users/{target.id}/status", json={"status": "suspended"}, headers=admin.headers
    )
    assert response.status_code == 200
    assert response.json() == {"status": "suspended", "revoked_sessions": 1}
    assert (await client.get("/api/me", headers=target.headers)).status_code == 401
    back = await client.post(
        f"/api/admin/users/{target.id}/status", json={"status": "active"}, headers=admin.headers
    )
    assert back.status_code == 200
    assert (await login(client, target.email)).status_code == 200


async def test_change_password_revokes_other_sessions(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    other = (await login(client, user.email)).json()
    wrong = await client.post(
        "/api/me/password",
        headers=user.headers,
        json={"current_password": "nope nope nope", "new_password": "a brand new one"},
    )
    assert wrong.status_code == 403 and error_of(wrong)["field"] == "current_password"
    short = await client.post(
        "/api/me/password",
        headers=user.headers,
        json={"current_password": DEFAULT_PASSWORD, "new_password": "short"},
    )
    assert short.status_code == 422 and error_of(short)["field"] == "new_password"
    ok = await client.post(
        "/api/me/password",
        headers=user.headers,
        json={"current_password": DEFAULT_PASSWORD, "new_password": "a brand new one"},
    )
    assert ok.status_code == 200 and ok.json() == {"revoked_sessions": 1}
    assert (
        await client.get("/api/me", headers={"Authorization": f"Bearer {other['token']}"})
    ).status_code == 401
    assert (await client.get("/api/me", headers=user.headers)).status_code == 200
    assert (await login(client, user.email)).status_code == 401
    assert (await login(client, user.email, "a brand new one")).status_code == 200
