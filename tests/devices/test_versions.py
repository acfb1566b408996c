"""App versions: version-check, forced update per device, forced reload per user, and clearing."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import heartbeat, make_admin, make_dashboard, one, sql
from tests.helpers import error_of, signup


@pytest.mark.parametrize(
    ("version", "required", "below"),
    [
        ("1.9", "1.10", True),
        ("1.10", "1.9", False),
        ("1.2", "1.2.0", False),
        ("1.2.0", "1.2", False),
        ("1.2.0-beta", "1.2.0", False),
        ("1.2.9", "1.3", True),
        ("2", "10", True),
        ("0.0.1", "0.0.0", False),
        (None, "1.0", False),
        ("1.0", None, False),
        ("garbage", "1.0", False),
    ],
)
async def test_versions_compare_as_numbers(
    session: AsyncSession, version: str | None, required: str | None, below: bool
) -> None:
    row = await one(
        session, "SELECT app_version_below(CAST(:v AS text), CAST(:r AS text))", v=version, r=required
    )
    assert row[0] is below


async def test_version_check_anonymous_and_per_platform(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    general = await client.get("/api/version-check", params={"current": "0.9.1"})
    assert general.status_code == 200
    assert general.json() == {
        "current": "0.9.1",
        "device_type": None,
        "latest_version": "1.0.0",
        "minimum_version": "0.0.0",
        "update_available": True,
        "update_required": False,
        "needs_reload": False,
    }
    await sql(
        session,
        "INSERT INTO system_settings (key, value) VALUES "
        "('app.latest_version.fire_tv', '\"1.4.0\"'), ('app.minimum_version.fire_tv', '\"1.1\"')",
    )
    tv = (
        await client.get("/api/version-check", params={"current": "1.0.0", "device_type": "fire_tv"})
    ).json()
    assert (tv["latest_version"], tv["minimum_version"]) == ("1.4.0", "1.1")
    assert tv["update_available"] is True and tv["update_required"] is True
    browser = (
        await client.get("/api/version-check", params={"current": "1.0.0", "device_type": "browser"})
    ).json()
    assert browser["latest_version"] == "1.0.0" and browser["update_available"] is False
    for params, field in (
        ({"current": "one"}, "current"),
        ({}, "current"),
        ({"current": "1", "device_type": "x"}, "device_type"),
    ):
        bad = await client.get("/api/version-check", params=params)
        assert bad.status_code == 422 and error_of(bad)["field"] == field


async def test_signed_in_version_check_records_the_version(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await signup(client)
    dashboard = await make_dashboard(client, user)
    response = await client.get("/api/version-check", params={"current": "0.8"}, headers=user.headers)
    assert response.status_code == 200 and response.json()["device_type"] == "fire_tv", (
        "the token's dashboard"
    )
    account = await one(
        session,
        "SELECT current_app_version, last_version_check = now() FROM users WHERE id = :id",
        id=user.id,
    )
    assert tuple(account) == ("0.8", True)
    device = await one(session, "SELECT current_version FROM dashboards WHERE id = :id", id=dashboard["id"])
    assert device[0] == "0.8"


async def test_forced_update_flags_devices_below_the_minimum_until_they_report_it(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await make_admin(client, session)
    old_user, new_user, browser_user = await signup(client), await signup(client), await signup(client)
    old_tv = await make_dashboard(client, old_user)
    new_tv = await make_dashboard(client, new_user)
    browser = await make_dashboard(client, browser_user, device_type="browser")
    await heartbeat(client, old_user, app_version="1.1.9")
    await heartbeat(client, new_user, app_version="1.2.0")
    await heartbeat(client, browser_user, app_version="1.0.0")

    response = await client.post(
        "/api/admin/devices/require-update",
        json={"minimum_version": "1.2", "device_type": "fire_tv"},
        headers=admin.headers,
    )
    assert response.status_code == 200
    assert response.json() == {
        "minimum_version": "1.2",
        "device_type": "fire_tv",
        "setting_key": "app.minimum_version.fire_tv",
        "dashboards_flagged": 1,
        "dashboards_cleared": 0,
    }
    flags = {
        str(r[0]): r[1]
        for r in await sql(
            session,
            "SELECT id, needs_update FROM dashboards WHERE id IN (:a, :b, :c)",
            a=old_tv["id"],
            b=new_tv["id"],
            c=browser["id"],
        )
    }
    assert flags == {old_tv["id"]: True, new_tv["id"]: False, browser["id"]: False}

    # The device is told on its next heartbeat, until it reports a version at or above the minimum.
    assert (await heartbeat(client, old_user, app_version="1.1.9"))["needs_update"] is True
    assert (await heartbeat(client, old_user))["needs_update"] is True
    assert (await heartbeat(client, old_user, app_version="1.2.0-rc.1"))["needs_update"] is False
    assert (await one(session, "SELECT needs_update FROM dashboards WHERE id = :id", id=old_tv["id"]))[
        0
    ] is False
    # A device that goes back below it is flagged again by its own heartbeat.
    assert (await heartbeat(client, new_user, app_version="1.1"))["needs_update"] is True
    # Lowering the minimum clears flags at once.
    lowered = await client.post(
        "/api/admin/devices/require-update",
        json={"minimum_version": "1.0", "device_type": "fire_tv"},
        headers=admin.headers,
    )
    assert lowered.json()["dashboards_cleared"] == 1 and lowered.json()["dashboards_flagged"] == 0
    setting = await client.get("/api/system/settings/app.minimum_version.fire_tv")
    assert setting.status_code == 200 and setting.json()["value"] == "1.0", "public, for clients"
    refused = await client.post(
        "/api/admin/devices/require-update", json={"minimum_version": "soon"}, headers=admin.headers
    )
    assert refused.status_code == 422 and error_of(refused)["field"] == "minimum_version"
    assert (
        await client.post(
            "/api/admin/devices/require-update", json={"minimum_version": "9"}, headers=old_user.headers
        )
    ).status_code == 403


async def test_forced_reload_for_one_user_round_trip(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await make_admin(client, session)
    target, bystander = await signup(client), await signup(client)
    await make_dashboard(client, target)
    forced = await client.post(
        "/api/admin/devices/force-reload",
        json={"user_id": str(target.id), "latest_version": "1.3.0"},
        headers=admin.headers,
    )
    assert forced.status_code == 200 and forced.json() == {"users_changed": 1}
    latest = await one(session, "SELECT value #>> '{}' FROM system_settings WHERE key = 'app.latest_version'")
    assert latest[0] == "1.3.0"
    assert (await heartbeat(client, bystander, app_version="1.0.0"))["needs_reload"] is False
    assert (await heartbeat(client, target))["needs_reload"] is True, "no version reported: still pending"
    assert (await heartbeat(client, target, app_version="1.2.9"))["needs_reload"] is True
    check = await client.get("/api/version-check", params={"current": "1.2.9"}, headers=target.headers)
    assert check.json()["needs_reload"] is True and check.json()["update_available"] is True
    # The reloaded app reports the new version: the flag clears in that same heartbeat.
    assert (await heartbeat(client, target, app_version="1.3.0"))["needs_reload"] is False
    assert (await one(session, "SELECT needs_reload FROM users WHERE id = :id", id=target.id))[0] is False
    assert (await heartbeat(client, target, app_version="1.2.9"))["needs_reload"] is False, "not forced again"


async def test_forced_reload_for_everyone_and_cancel(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await make_admin(client, session)
    users = [await signup(client) for _ in range(3)]
    forced = await client.post(
        "/api/admin/devices/force-reload", json={"all_users": True}, headers=admin.headers
    )
    assert forced.status_code == 200 and forced.json()["users_changed"] >= 4  # incl. the admin
    for user in users:
        assert (await heartbeat(client, user, app_version="0.9"))["needs_reload"] is True
    # A version check reporting the latest version clears it too.
    check = await client.get("/api/version-check", params={"current": "1.0.0"}, headers=users[0].headers)
    assert check.json()["needs_reload"] is False
    assert (await heartbeat(client, users[0], app_version="0.9"))["needs_reload"] is False
    cancelled = await client.post(
        "/api/admin/devices/cancel-reload", json={"all_users": True}, headers=admin.headers
    )
    assert cancelled.json()["users_changed"] >= 3
    assert (await heartbeat(client, users[1], app_version="0.9"))["needs_reload"] is False
    for body in ({}, {"all_users": True, "user_id": str(users[0].id)}):
        bad = await client.post("/api/admin/devices/force-reload", json=body, headers=admin.headers)
        assert bad.status_code == 422, body
    missing = await client.post(
        "/api/admin/devices/force-reload",
        json={"user_id": "00000000-0000-0000-0000-000000000000"},
        headers=admin.headers,
    )
    assert missing.status_code == 404 and error_of(missing)["field"] == "user_id"


async def test_reload_clears_against_the_latest_version_of_the_devices_platform(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """A Fire TV whose latest is 1.4 must not be told to reload forever because browsers are on 2.0."""
    admin = await make_admin(client, session)
    user = await signup(client)
    await make_dashboard(client, user)  # fire_tv
    await sql(
        session,
        "INSERT INTO system_settings (key, value) VALUES ('app.latest_version.fire_tv', '\"1.4\"')",
    )
    await client.post(
        "/api/admin/devices/force-reload",
        json={"user_id": str(user.id), "latest_version": "2.0"},
        headers=admin.headers,
    )
    assert (await heartbeat(client, user, app_version="1.3"))["needs_reload"] is True
    assert (await heartbeat(client, user, app_version="1.4"))["needs_reload"] is False
