"""The platform admins' JSON actions write the same audit rows as the admin pages: each change
and its ``activities`` row commit together, with the admin as actor."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.db import SERVICE, set_context
from tests.factories import make_admin
from tests.helpers import signup


async def audit_rows(session: AsyncSession, actor: Any) -> list[tuple[str, str | None]]:
    await set_context(session, SERVICE)
    rows = await session.execute(
        text(
            "SELECT action, entity_id::text FROM activities WHERE actor_id = :a "
            "AND (metadata->>'as_platform_admin')::boolean ORDER BY created_at"
        ),
        {"a": actor},
    )
    return [(r.action, r.entity_id) for r in rows]


async def test_each_admin_action_is_audited(client: httpx.AsyncClient, session: AsyncSession) -> None:
    boss = await make_admin(client, session)
    target = await signup(client)
    await client.post(
        "/api/system-events",
        headers=target.headers,
        json={"event_type": "crash", "severity": "critical", "message": "died"},
    )
    await client.post(
        "/api/errors", headers=target.headers, json={"error_type": "system_error", "error_message": "x"}
    )
    h = boss.headers
    calls = [
        ("post", f"/api/admin/users/{target.id}/status", {"status": "suspended"}),
        ("post", f"/api/admin/users/{target.id}/status", {"status": "active"}),
        ("put", f"/api/admin/users/{target.id}/max-dashboards", {"max_dashboards": 4}),
        ("post", "/api/admin/devices/force-reload", {"user_id": str(target.id)}),
        ("post", "/api/admin/devices/cancel-reload", {"all_users": True}),
        ("post", "/api/admin/devices/require-update", {"minimum_version": "2.0"}),
    ]
    for method, path, body in calls:
        response = await getattr(client, method)(path, json=body, headers=h)
        assert response.status_code == 200, (path, response.text)
    event = (await client.get("/api/admin/system-events", headers=h)).json()["items"][0]
    error = (await client.get("/api/admin/errors", headers=h)).json()["items"][0]
    assert (
        await client.post(f"/api/admin/system-events/{event['id']}/resolve", headers=h)
    ).status_code == 200
    assert (await client.post(f"/api/admin/errors/{error['id']}/resolve", headers=h)).status_code == 200
    user = str(target.id)
    assert await audit_rows(session, boss.id) == [
        ("user.suspended", user),
        ("user.reactivated", user),
        ("user.max_dashboards_changed", user),
        ("user.reload_forced", user),
        ("users.reload_cancelled", None),
        ("devices.update_required", None),
        ("system_event.resolved", event["id"]),
        ("error_log.resolved", error["id"]),
    ]
    # An admin cannot lock themselves out through the API either.
    refused = await client.post(f"/api/admin/users/{boss.id}/status", json={"status": "banned"}, headers=h)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "status"
