"""Profile, preferences, beta gating, system settings and admin-only endpoints."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import make_admin
from tests.helpers import error_of, signup


async def test_profile_update(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    response = await client.patch(
        "/api/me",
        headers=user.headers,
        json={
            "name": "Ada",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "time_format": "24h",
            "tracking_level": "analytics_only",
            "analytics_consent": True,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "Ada" and body["tracking_level"] == "analytics_only"
    assert body["profile"]["last_name"] == "Lovelace" and body["profile"]["time_format"] == "24h"
    bad = await client.patch("/api/me", headers=user.headers, json={"tracking_level": "everything"})
    assert bad.status_code == 422 and error_of(bad)["field"] == "tracking_level"


async def test_preferences_roundtrip_and_are_private(client: httpx.AsyncClient) -> None:
    alice = await signup(client)
    bob = await signup(client)
    url = "/api/me/preferences/display/theme"
    assert (await client.get(url, headers=alice.headers)).status_code == 404
    put = await client.put(url, headers=alice.headers, json={"value": {"mode": "dark", "contrast": 2}})
    assert put.status_code == 200 and put.json()["value"] == {"mode": "dark", "contrast": 2}
    again = await client.put(url, headers=alice.headers, json={"value": "light"})
    assert again.status_code == 200
    assert (await client.get(url, headers=alice.headers)).json()["value"] == "light"
    listing = (await client.get("/api/me/preferences", headers=alice.headers)).json()
    assert [(p["category"], p["key"]) for p in listing] == [("display", "theme")]
    assert (await client.get(url, headers=bob.headers)).status_code == 404
    bad = await client.put("/api/me/preferences/bad%20category/x", headers=alice.headers, json={"value": 1})
    assert bad.status_code == 422 and error_of(bad)["field"] == "category"
    missing_value = await client.put(url, headers=alice.headers, json={})
    assert missing_value.status_code == 422 and error_of(missing_value)["field"] == "value"
    assert (await client.delete(url, headers=alice.headers)).status_code == 204
    assert (await client.get(url, headers=alice.headers)).status_code == 404


async def test_beta_mode_limits_signups_to_the_whitelist(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await make_admin(client, session)
    on = await client.put(
        "/api/system/settings/access.beta_mode", headers=admin.headers, json={"value": True}
    )
    assert on.status_code == 200
    refused = await client.post(
        "/api/auth/signup", json={"email": "stranger@example.com", "password": "quartz meadow lantern"}
    )
    assert refused.status_code == 403 and error_of(refused)["code"] == "beta_closed"
    added = await client.post(
        "/api/admin/beta-whitelist",
        headers=admin.headers,
        json={"email": "Friend@Example.com", "note": "early tester"},
    )
    assert added.status_code == 201
    await signup(client, "friend@example.com")
    listed = (await client.get("/api/admin/beta-whitelist", headers=admin.headers)).json()
    assert listed[0]["email"] == "friend@example.com" and listed[0]["signed_up_at"] is not None
    off = await client.put(
        "/api/system/settings/access.beta_mode", headers=admin.headers, json={"value": False}
    )
    assert off.status_code == 200
    await signup(client, "stranger@example.com")


async def test_settings_public_for_all_private_for_admins(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await make_admin(client, session)
    user = await signup(client)
    secret = await client.put(
        "/api/system/settings/billing.internal_note",
        headers=admin.headers,
        json={"value": "hidden", "is_public": False, "category": "billing"},
    )
    assert secret.status_code == 200
    public_keys = {s["key"] for s in (await client.get("/api/system/settings")).json()}
    assert "access.beta_mode" in public_keys and "billing.internal_note" not in public_keys
    as_user = {s["key"] for s in (await client.get("/api/system/settings", headers=user.headers)).json()}
    assert as_user == public_keys
    as_admin = {s["key"] for s in (await client.get("/api/system/settings", headers=admin.headers)).json()}
    assert "billing.internal_note" in as_admin
    assert (await client.get("/api/system/settings/billing.internal_note")).status_code == 404
    refused = await client.put(
        "/api/system/settings/access.beta_mode", headers=user.headers, json={"value": True}
    )
    assert refused.status_code == 403 and error_of(refused)["code"] == "admin_only"


async def test_admin_endpoints_refuse_non_admins(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await signup(client)
    assert (await client.get("/api/admin/users", headers=user.headers)).status_code == 403
    assert (await client.get("/api/admin/users")).status_code == 401
    admin = await make_admin(client, session)
    for _ in range(3):
        await signup(client)
    first = await client.get("/api/admin/users?limit=2", headers=admin.headers)
    assert first.status_code == 200
    page = first.json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    second = (
        await client.get(f"/api/admin/users?limit=2&cursor={page['next_cursor']}", headers=admin.headers)
    ).json()
    assert not {u["id"] for u in page["items"]} & {u["id"] for u in second["items"]}
    bad_cursor = await client.get("/api/admin/users?cursor=garbage", headers=admin.headers)
    assert bad_cursor.status_code == 400 and error_of(bad_cursor)["field"] == "cursor"
