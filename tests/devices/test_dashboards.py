"""Dashboards (devices): registration under the tier limit, configuration, soft deletion, crashes."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.hashing import keyed_hash
from saaskit.kit.state import Runtime
from tests.conftest import TEST_SECRET
from tests.factories import heartbeat, make_admin, make_dashboard, one, sql
from tests.helpers import error_of, login, signup


async def test_register_list_get_and_the_fingerprint_is_stored_hashed(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await signup(client)
    created = await make_dashboard(
        client,
        user,
        device_name="Living room",
        device_type="android_tv",
        fingerprint="serial-123",
        theme="light",
        active_widgets=["weather", "calendar", "weather"],
    )
    assert created["device_name"] == "Living room" and created["device_type"] == "android_tv"
    assert created["theme"] == "light" and created["active_widgets"] == ["weather", "calendar"]
    assert created["is_online"] is False and created["total_sessions"] == 0 and created["crash_count"] == 0
    stored = await one(
        session, "SELECT device_fingerprint_hash FROM dashboards WHERE id = :id", id=created["id"]
    )
    assert stored[0] == keyed_hash(TEST_SECRET, "device", "serial-123")
    listed = (await client.get("/api/dashboards", headers=user.headers)).json()
    assert [d["id"] for d in listed["items"]] == [created["id"]] and listed["next_cursor"] is None
    got = await client.get(f"/api/dashboards/{created['id']}", headers=user.headers)
    assert got.status_code == 200 and got.json()["device_name"] == "Living room"


async def test_the_same_fingerprint_finds_the_same_dashboard(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    first = await make_dashboard(client, user, fingerprint="tv-serial")
    again = await make_dashboard(client, user, expect=200, fingerprint="tv-serial", device_name="renamed?")
    assert again["id"] == first["id"] and again["device_name"] == "Kitchen TV"
    other = await signup(client)
    theirs = await make_dashboard(client, other, fingerprint="tv-serial")
    assert theirs["id"] != first["id"], "fingerprints are matched within one account only"


async def test_tier_limit_refuses_with_a_clear_403_and_deleting_frees_a_slot(
    client: httpx.AsyncClient,
) -> None:
    user = await signup(client)  # tier free: 1 dashboard (setting devices.max_dashboards_by_tier)
    first = await make_dashboard(client, user)
    refused = await client.post(
        "/api/dashboards", json={"device_name": "Bedroom", "device_type": "browser"}, headers=user.headers
    )
    assert refused.status_code == 403
    error = error_of(refused)
    assert error["code"] == "dashboard_limit_reached"
    assert error["limit"] == 1 and error["dashboards"] == 1 and "at most 1 dashboard" in error["message"]
    assert (await client.delete(f"/api/dashboards/{first['id']}", headers=user.headers)).status_code == 204
    await make_dashboard(client, user, device_name="Bedroom", device_type="browser")


async def test_admin_override_and_tier_mapping(
    client: httpx.AsyncClient, session: AsyncSession, runtime: Runtime
) -> None:
    admin = await make_admin(client, session)
    user = await signup(client)
    await make_dashboard(client, user)
    set_three = await client.put(
        f"/api/admin/users/{user.id}/max-dashboards", json={"max_dashboards": 3}, headers=admin.headers
    )
    assert set_three.status_code == 200
    assert set_three.json() == {
        "user_id": str(user.id),
        "tier": "free",
        "max_dashboards": 3,
        "max_dashboards_override": 3,
    }
    await make_dashboard(client, user, device_name="Two")
    await make_dashboard(client, user, device_name="Three")
    assert (await make_dashboard(client, user, expect=403, device_name="Four"))["error"]["limit"] == 3

    # The tier's number applies again once the override is removed, and follows the setting.
    await sql(
        session,
        "UPDATE system_settings SET value = '{\"free\": 1, \"pro\": 5}' WHERE key = 'devices.max_dashboards_by_tier'",
    )
    await sql(session, "UPDATE users SET tier = 'pro' WHERE id = :id", id=user.id)
    back = await client.put(
        f"/api/admin/users/{user.id}/max-dashboards", json={"max_dashboards": None}, headers=admin.headers
    )
    assert back.json()["max_dashboards"] == 5 and back.json()["max_dashboards_override"] is None
    await make_dashboard(client, user, device_name="Four")

    # The billing issue calls apply_tier_limit when a tier changes; an override still wins.
    from saaskit.devices import service

    await sql(session, "UPDATE users SET tier = 'enterprise' WHERE id = :id", id=user.id)
    assert await service.apply_tier_limit(session, user.id) == 1, "unlisted tiers get 1"
    await sql(session, "UPDATE users SET max_dashboards_override = 7 WHERE id = :id", id=user.id)
    assert await service.apply_tier_limit(session, user.id) == 7

    not_admin = await client.put(
        f"/api/admin/users/{user.id}/max-dashboards", json={"max_dashboards": 9}, headers=user.headers
    )
    assert not_admin.status_code == 403 and error_of(not_admin)["code"] == "admin_only"
    negative = await client.put(
        f"/api/admin/users/{user.id}/max-dashboards", json={"max_dashboards": -1}, headers=admin.headers
    )
    assert negative.status_code == 422 and error_of(negative)["field"] == "max_dashboards"


async def test_concurrent_registrations_never_exceed_the_limit(
    live_client: httpx.AsyncClient, fresh_runtime: Runtime
) -> None:
    user = await signup(live_client)
    async with fresh_runtime.db.session() as session:
        await sql(session, "UPDATE users SET max_dashboards = 3 WHERE id = :id", id=user.id)
    responses = await asyncio.gather(
        *(
            live_client.post("/api/dashboards", json={"device_name": f"TV {i}"}, headers=user.headers)
            for i in range(10)
        )
    )
    assert sorted(r.status_code for r in responses) == [201] * 3 + [403] * 7
    async with fresh_runtime.db.session() as session:
        count = await one(session, "SELECT count(*) FROM dashboards WHERE user_id = :id", id=user.id)
    assert count[0] == 3


async def test_rename_theme_widgets_mark_the_open_session_as_settings_changed(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await signup(client)
    dashboard = await make_dashboard(client, user)
    beat = await heartbeat(client, user)
    changed = await client.patch(
        f"/api/dashboards/{dashboard['id']}",
        json={"device_name": "Hall", "theme": "light", "active_widgets": ["clock", "photos"]},
        headers=user.headers,
    )
    assert changed.status_code == 200
    body = changed.json()
    assert (body["device_name"], body["theme"], body["active_widgets"]) == (
        "Hall",
        "light",
        ["clock", "photos"],
    )
    flag = await one(
        session, "SELECT settings_changed FROM user_sessions WHERE id = :id", id=beat["usage_session_id"]
    )
    assert flag[0] is True
    for bad, field in (
        ({}, None),
        ({"theme": None}, None),
        ({"theme": "dark mode!"}, "theme"),
        ({"active_widgets": ["Bad Name"]}, "active_widgets"),
        ({"device_name": ""}, "device_name"),
        ({"nope": 1}, "nope"),
    ):
        response = await client.patch(f"/api/dashboards/{dashboard['id']}", json=bad, headers=user.headers)
        assert response.status_code == 422, (bad, response.text)
        assert error_of(response)["field"] == field, (bad, response.text)


async def test_bad_registrations_are_4xx_naming_the_field(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    for body, field in (
        ({"device_name": "x", "device_type": "toaster"}, "device_type"),
        ({"device_type": "browser"}, "device_name"),
        ({"device_name": "x" * 101}, "device_name"),
        ({"device_name": "x", "fingerprint": ""}, "fingerprint"),
        ({"device_name": "x", "active_widgets": ["ok"] * 101}, "active_widgets"),
    ):
        response = await client.post("/api/dashboards", json=body, headers=user.headers)
        assert response.status_code == 422, (body, response.text)
        assert error_of(response)["field"] == field
    anonymous = await client.post("/api/dashboards", json={"device_name": "x"})
    assert anonymous.status_code == 401 and error_of(anonymous)["code"] == "not_authenticated"
    bad_id = await client.get("/api/dashboards/not-a-uuid", headers=user.headers)
    assert bad_id.status_code == 422 and error_of(bad_id)["field"] == "dashboard_id"


async def test_another_users_dashboard_does_not_exist_for_me(client: httpx.AsyncClient) -> None:
    alice = await signup(client)
    bob = await signup(client)
    theirs = await make_dashboard(client, bob)
    for method, suffix, body in (
        ("GET", "", None),
        ("PATCH", "", {"theme": "light"}),
        ("DELETE", "", None),
        ("POST", "/crash", {}),
    ):
        response = await client.request(
            method, f"/api/dashboards/{theirs['id']}{suffix}", json=body, headers=alice.headers
        )
        assert response.status_code == 404, (method, suffix)
        assert error_of(response)["code"] == "dashboard_not_found"
    assert (await client.get("/api/dashboards", headers=alice.headers)).json()["items"] == []
    still = await client.get(f"/api/dashboards/{theirs['id']}", headers=bob.headers)
    assert still.json()["theme"] == "dark" and still.json()["crash_count"] == 0


async def test_soft_delete_keeps_history_unbinds_the_token_and_ends_the_session(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await signup(client)
    dashboard = await make_dashboard(client, user)
    beat = await heartbeat(client, user)
    assert beat["dashboard_id"] == dashboard["id"], "registering bound the token to the dashboard"
    assert (
        await client.delete(f"/api/dashboards/{dashboard['id']}", headers=user.headers)
    ).status_code == 204
    row = await one(
        session, "SELECT deleted_at IS NOT NULL, is_online FROM dashboards WHERE id = :id", id=dashboard["id"]
    )
    assert tuple(row) == (True, False)
    ended = await one(
        session,
        "SELECT ended_at IS NOT NULL, duration_minutes FROM user_sessions WHERE id = :id",
        id=beat["usage_session_id"],
    )
    assert tuple(ended) == (True, 0)
    assert (await client.get(f"/api/dashboards/{dashboard['id']}", headers=user.headers)).status_code == 404
    assert (await client.get("/api/dashboards", headers=user.headers)).json()["items"] == []
    # The token's heartbeats no longer count for the deleted device; naming it explicitly is a 404.
    after = await heartbeat(client, user)
    assert after["dashboard_id"] is None and after["usage_session_id"] is None
    explicit = await client.post(
        "/api/heartbeat", json={"dashboard_id": dashboard["id"]}, headers=user.headers
    )
    assert explicit.status_code == 404 and error_of(explicit)["code"] == "dashboard_not_found"
    assert (
        await client.delete(f"/api/dashboards/{dashboard['id']}", headers=user.headers)
    ).status_code == 404


async def test_registration_can_leave_the_token_unbound(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    await make_dashboard(client, user, bind_session=False)
    assert (await heartbeat(client, user))["dashboard_id"] is None
    other_token = (await login(client, user.email)).json()["token"]
    assert (await client.get("/api/dashboards", headers={"Authorization": f"Bearer {other_token}"})).json()[
        "items"
    ]


async def test_crash_reports_count_on_the_device_and_the_open_session(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await signup(client)
    dashboard = await make_dashboard(client, user)
    beat = await heartbeat(client, user)
    for expected in (1, 2):
        response = await client.post(
            f"/api/dashboards/{dashboard['id']}/crash",
            json={
                "message": "TypeError: x is undefined\n at widget.js:1",
                "error_details": {"stack": "..."},
                "app_version": "1.2.0",
            },
            headers=user.headers,
        )
        assert response.status_code == 200, response.text
        assert response.json()["crash_count"] == expected and response.json()["last_crash_at"]
    errors = await one(
        session, "SELECT error_count FROM user_sessions WHERE id = :id", id=beat["usage_session_id"]
    )
    assert errors[0] == 2
    device = (await client.get(f"/api/dashboards/{dashboard['id']}", headers=user.headers)).json()
    assert device["crash_count"] == 2 and device["last_crash_at"] is not None
    crashes = (
        await session.execute(
            text(
                "SELECT severity, message, app_version, user_id, user_agent, error_details FROM system_events "
                "WHERE event_type = 'crash' AND dashboard_id = :d"
            ),
            {"d": dashboard["id"]},
        )
    ).all()
    assert len(crashes) == 2, "each crash is also a system event (issue 5)"
    assert crashes[0].severity == "critical" and crashes[0].app_version == "1.2.0"
    assert crashes[0].message.startswith("TypeError") and crashes[0].user_id == user.id
    assert crashes[0].user_agent.startswith("python-httpx") and crashes[0].error_details == {"stack": "..."}
    bad = await client.post(
        f"/api/dashboards/{dashboard['id']}/crash", json={"app_version": "latest"}, headers=user.headers
    )
    assert bad.status_code == 422 and error_of(bad)["field"] == "app_version"


async def test_admin_lists_dashboards_of_everyone_with_filters(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await make_admin(client, session)
    alice, bob = await signup(client), await signup(client)
    a = await make_dashboard(client, alice, device_type="browser")
    b = await make_dashboard(client, bob, device_type="fire_tv")
    await heartbeat(client, bob)
    everyone = (await client.get("/api/admin/dashboards", headers=admin.headers)).json()["items"]
    assert {a["id"], b["id"]} <= {d["id"] for d in everyone}
    online = (
        await client.get(
            "/api/admin/dashboards",
            params={"is_online": "true", "user_id": str(bob.id)},
            headers=admin.headers,
        )
    ).json()["items"]
    assert [d["id"] for d in online] == [b["id"]] and online[0]["user_id"] == str(bob.id)
    browsers = (
        await client.get(
            "/api/admin/dashboards",
            params={"device_type": "browser", "user_id": str(alice.id)},
            headers=admin.headers,
        )
    ).json()["items"]
    assert [d["id"] for d in browsers] == [a["id"]]
    await client.delete(f"/api/dashboards/{a['id']}", headers=alice.headers)
    kept = (
        await client.get(
            "/api/admin/dashboards",
            params={"user_id": str(alice.id), "include_deleted": "true"},
            headers=admin.headers,
        )
    ).json()["items"]
    assert [d["deleted_at"] is not None for d in kept] == [True]
    assert (await client.get("/api/admin/dashboards", headers=alice.headers)).status_code == 403
