"""Asking for and cancelling an erasure through the API: the grace period, DELETE, signing in,
an admin's request (which signing in does not cancel), and the answers to bad requests."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import make_admin
from tests.helpers import error_of, login, signup


async def _state(session: AsyncSession, user_id: uuid.UUID) -> tuple[object, ...]:
    row = (
        await session.execute(
            text(
                "SELECT u.data_deletion_requested_at IS NOT NULL, r.status, r.cancelled_by, "
                "round(extract(epoch FROM r.scheduled_for - r.created_at) / 86400) "
                "FROM users u LEFT JOIN privacy_requests r ON r.user_id = u.id AND r.kind = 'erasure' "
                "WHERE u.id = :id ORDER BY r.created_at DESC LIMIT 1"
            ),
            {"id": user_id},
        )
    ).one()
    return tuple(row)


async def test_request_then_cancel_with_delete(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await signup(client)
    asked = await client.post("/api/me/deletion", headers=user.headers)
    assert asked.status_code == 202, asked.text
    assert await _state(session, user.id) == (True, "pending", None, 14), "the default grace period"
    shown = await client.get("/api/me/deletion", headers=user.headers)
    assert shown.json()["id"] == asked.json()["id"]
    jobs = await session.scalar(
        text(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'privacy.erase' AND scheduled_at > now()"
        )
    )
    assert jobs == 1, "the erasure job waits for the end of the grace period"

    mails = (
        await session.execute(
            text(
                "SELECT template, recipient, context->>'ends_on' FROM email_outbox WHERE user_id = :u AND template <> 'email_verification'"
            ),
            {"u": user.id},
        )
    ).all()
    assert [(m[0], m[1]) for m in mails] == [("account_deletion_scheduled", user.email)]
    assert mails[0][2] == asked.json()["scheduled_for"][:10], "the mail says the day"
    cancelled = await client.delete("/api/me/deletion", headers=user.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert await _state(session, user.id) == (False, "cancelled", "request", 14)
    again = await client.delete("/api/me/deletion", headers=user.headers)
    assert again.status_code == 404 and error_of(again)["code"] == "no_deletion_request"
    assert (await client.get("/api/me/deletion", headers=user.headers)).status_code == 404


async def test_signing_in_during_the_grace_period_cancels(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await signup(client)
    assert (await client.post("/api/me/deletion", headers=user.headers)).status_code == 202
    # Other requests with the existing session do not cancel; a new sign-in does.
    assert (await client.get("/api/me", headers=user.headers)).status_code == 200
    assert (await _state(session, user.id))[1] == "pending"
    signed_in = await login(client, user.email)
    assert signed_in.status_code == 200, signed_in.text
    assert await _state(session, user.id) == (False, "cancelled", "sign_in", 14)
    audit = await session.scalar(
        text(
            "SELECT count(*) FROM activities WHERE action = 'privacy.erasure_cancelled' AND entity_id = :id"
        ),
        {"id": user.id},
    )
    assert audit == 1


async def test_an_admins_request_survives_sign_in_and_the_users_cancel(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await make_admin(client, session)
    user = await signup(client)
    asked = await client.post(
        f"/api/admin/users/{user.id}/deletion",
        json={"grace_days": 3, "reason": "abuse"},
        headers=admin.headers,
    )
    assert asked.status_code == 202, asked.text
    body = asked.json()
    assert body["by_admin"] and body["requested_by"] == str(admin.id) and body["reason"] == "abuse"
    told = await session.scalar(
        text("SELECT count(*) FROM email_outbox WHERE user_id = :u AND template <> 'email_verification'"),
        {"u": user.id},
    )
    assert told == 0, "an admin's erasure (a banned abuser) sends no mail"
    assert (await login(client, user.email)).status_code == 200
    assert (await _state(session, user.id))[1] == "pending", "signing in does not cancel an admin's request"
    refused = await client.delete("/api/me/deletion", headers=user.headers)
    assert refused.status_code == 409 and error_of(refused)["code"] == "erasure_by_admin"
    listed = await client.get(
        "/api/admin/privacy/requests?kind=erasure&status=pending", headers=admin.headers
    )
    assert str(user.id) in [item["user_id"] for item in listed.json()["items"]]
    cancelled = await client.delete(f"/api/admin/users/{user.id}/deletion", headers=admin.headers)
    assert cancelled.status_code == 200 and cancelled.json()["cancelled_by"] == "admin"


async def test_an_admin_request_on_top_of_the_users_brings_the_date_forward(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await make_admin(client, session)
    user = await signup(client)
    first = (await client.post("/api/me/deletion", headers=user.headers)).json()
    second = await client.post(
        f"/api/admin/users/{user.id}/deletion", json={"grace_days": 0}, headers=admin.headers
    )
    assert second.json()["id"] == first["id"] and second.json()["by_admin"] is True
    assert second.json()["scheduled_for"] < first["scheduled_for"]


async def test_bad_requests_are_4xx(client: httpx.AsyncClient, session: AsyncSession) -> None:
    assert (await client.post("/api/me/deletion")).status_code == 401
    user = await signup(client)
    admin = await make_admin(client, session)
    assert (
        await client.post(f"/api/admin/users/{user.id}/deletion", json={}, headers=user.headers)
    ).status_code == 403
    unknown = await client.post(f"/api/admin/users/{uuid.uuid4()}/deletion", json={}, headers=admin.headers)
    assert unknown.status_code == 404 and error_of(unknown)["field"] == "user_id"
    too_long = await client.post(
        f"/api/admin/users/{user.id}/deletion", json={"grace_days": 91}, headers=admin.headers
    )
    assert too_long.status_code == 422 and "grace_days" in error_of(too_long)["field"]
    bad_kind = await client.get("/api/admin/privacy/requests?kind=everything", headers=admin.headers)
    assert bad_kind.status_code == 422
    assert (await client.get("/api/privacy/exports/download/" + "x" * 40)).status_code == 410
