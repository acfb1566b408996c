"""Usage sessions: start, end, duration, activity figures, and the rows they leave alone."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import heartbeat, make_dashboard, one, sql
from tests.helpers import error_of, login, signup


async def test_start_and_end_a_usage_session(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await signup(client)
    dashboard = await make_dashboard(client, user)
    started = await client.post("/api/sessions/start", json={}, headers=user.headers)
    assert started.status_code == 201, started.text
    body = started.json()
    assert (
        body["dashboard_id"] == dashboard["id"]
        and body["ended_at"] is None
        and body["duration_minutes"] is None
    )
    row = await one(
        session,
        "SELECT session_type, auth_method, session_token_hash, expires_at, user_agent FROM user_sessions WHERE id = :id",
        id=body["id"],
    )
    assert tuple(row) == ("usage", "password", None, None, "python-httpx/0.28.1")
    assert (await one(session, "SELECT total_sessions FROM dashboards WHERE id = :id", id=dashboard["id"]))[
        0
    ] == 1
    # The heartbeat continues the open session rather than starting another.
    assert (await heartbeat(client, user))["usage_session_id"] == body["id"]

    await sql(
        session,
        "UPDATE user_sessions SET started_at = now() - interval '31 minutes' WHERE id = :id",
        id=body["id"],
    )
    ended = await client.post(
        f"/api/sessions/{body['id']}/end",
        json={"widgets_interacted": ["clock"], "error_count": 1},
        headers=user.headers,
    )
    assert ended.status_code == 200
    result = ended.json()
    assert result["duration_minutes"] == 31 and result["ended_at"] is not None
    assert result["widgets_interacted"] == ["clock"] and result["error_count"] == 1
    again = await client.post(
        f"/api/sessions/{body['id']}/end", json={"error_count": 5}, headers=user.headers
    )
    assert again.status_code == 200 and again.json() == result, "ending twice changes nothing"


async def test_starting_again_ends_the_previous_session_at_its_last_heartbeat(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await signup(client)
    dashboard = await make_dashboard(client, user)
    first = (
        await client.post("/api/sessions/start", json={"dashboard_id": dashboard["id"]}, headers=user.headers)
    ).json()
    await sql(
        session,
        "UPDATE user_sessions SET started_at = now() - interval '50 minutes' WHERE id = :id",
        id=first["id"],
    )
    await sql(
        session,
        "UPDATE dashboards SET last_heartbeat_at = now() - interval '20 minutes' WHERE id = :id",
        id=dashboard["id"],
    )
    second = (await client.post("/api/sessions/start", json={}, headers=user.headers)).json()
    assert second["id"] != first["id"]
    previous = await one(
        session, "SELECT now() - ended_at, duration_minutes FROM user_sessions WHERE id = :id", id=first["id"]
    )
    assert previous[0].total_seconds() == 20 * 60 and previous[1] == 30
    total = await one(session, "SELECT total_sessions FROM dashboards WHERE id = :id", id=dashboard["id"])
    assert total[0] == 2


async def test_sessions_without_a_device_and_the_rows_they_leave_alone(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await signup(client)
    a = (await client.post("/api/sessions/start", json={}, headers=user.headers)).json()
    b = (await client.post("/api/sessions/start", json={}, headers=user.headers)).json()
    assert a["dashboard_id"] is None and b["dashboard_id"] is None and a["id"] != b["id"]
    # Usage rows are not sign-ins: not listed, not revocable, never authenticate.
    listed = (await client.get("/api/me/sessions", headers=user.headers)).json()
    assert [s["id"] for s in listed] == [str(user.session_id)]
    assert (await client.delete(f"/api/me/sessions/{a['id']}", headers=user.headers)).status_code == 404
    # Signing out everywhere (password change) does not end or touch usage rows.
    await login(client, user.email)
    changed = await client.post(
        "/api/me/password",
        json={"current_password": "correct horse battery", "new_password": "another long one"},
        headers=user.headers,
    )
    assert changed.json() == {"revoked_sessions": 1}
    untouched = await one(
        session, "SELECT revoked_at, ended_at FROM user_sessions WHERE id = :id", id=a["id"]
    )
    assert tuple(untouched) == (None, None)


async def test_session_ids_that_are_not_my_usage_sessions_are_404(client: httpx.AsyncClient) -> None:
    alice, bob = await signup(client), await signup(client)
    theirs = (await client.post("/api/sessions/start", json={}, headers=bob.headers)).json()
    for session_id in (theirs["id"], str(alice.session_id), str(uuid.uuid4())):
        response = await client.post(f"/api/sessions/{session_id}/end", json={}, headers=alice.headers)
        assert response.status_code == 404 and error_of(response)["code"] == "session_not_found"
    other_device = await make_dashboard(client, bob)
    response = await client.post(
        "/api/sessions/start", json={"dashboard_id": other_device["id"]}, headers=alice.headers
    )
    assert response.status_code == 404 and error_of(response)["field"] == "dashboard_id"
    bad = await client.post(
        f"/api/sessions/{theirs['id']}/end", json={"error_count": "many"}, headers=bob.headers
    )
    assert bad.status_code == 422 and error_of(bad)["field"] == "error_count"


async def test_each_usage_session_started_is_an_app_open(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """By the app (sessions/start) or by the first heartbeat of a device with no open session."""
    user = await signup(client)
    await make_dashboard(client, user)
    started = await client.post("/api/sessions/start", json={}, headers=user.headers)
    assert started.status_code == 201
    assert (await heartbeat(client, user))["usage_session_id"] == started.json()["id"], (
        "continues: no new open"
    )
    ended = await client.post(f"/api/sessions/{started.json()['id']}/end", json={}, headers=user.headers)
    assert ended.status_code == 200, ended.text
    again = await heartbeat(client, user)
    assert again["usage_session_id"] not in (None, started.json()["id"]), "the heartbeat started a new one"
    opens = await one(
        session,
        "SELECT count(*) FROM activity_events WHERE user_id = :u AND event_type = 'app_open'",
        u=user.id,
    )
    assert opens[0] == 2
