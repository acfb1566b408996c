"""Roles (system vs custom, expiring assignments), platform admins, and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.access.permissions import SYSTEM_ROLES
from tests.factories import invite_and_join, make_admin, make_owned_org, make_team
from tests.helpers import error_of


async def test_system_roles_match_the_catalog(session: AsyncSession) -> None:
    rows = (
        await session.execute(text("SELECT name, scope, permissions FROM roles WHERE is_system_role"))
    ).all()
    assert {r.name: (r.scope, r.permissions) for r in rows} == {
        k: (v[0], v[2]) for k, v in SYSTEM_ROLES.items()
    }


async def test_system_roles_cannot_be_changed(client: httpx.AsyncClient) -> None:
    owner, org = await make_owned_org(client)
    roles = (await client.get(f"/api/orgs/{org['id']}/roles", headers=owner.headers)).json()
    viewer = next(r for r in roles if r["name"] == "viewer")
    assert viewer["is_system_role"] is True
    for response in (
        await client.patch(
            f"/api/orgs/{org['id']}/roles/{viewer['id']}", headers=owner.headers, json={"permissions": ["*"]}
        ),
        await client.delete(f"/api/orgs/{org['id']}/roles/{viewer['id']}", headers=owner.headers),
    ):
        assert response.status_code == 409 and error_of(response)["code"] == "system_role"
    clash = await client.post(
        f"/api/orgs/{org['id']}/roles", headers=owner.headers, json={"name": "admin", "permissions": []}
    )
    assert clash.status_code == 409


async def test_custom_role_grants_until_it_expires(client: httpx.AsyncClient, session: AsyncSession) -> None:
    owner, org = await make_owned_org(client)
    viewer = await invite_and_join(client, owner, org["id"], "viewer")
    base = f"/api/orgs/{org['id']}"
    assert (await client.get(f"{base}/activities", headers=viewer.headers)).status_code == 403
    role = await client.post(
        f"{base}/roles",
        headers=owner.headers,
        json={"name": "auditor", "description": "reads the log", "permissions": ["audit:read"]},
    )
    assert role.status_code == 201
    unknown = await client.post(
        f"{base}/roles", headers=owner.headers, json={"name": "x_y", "permissions": ["bogus"]}
    )
    assert unknown.status_code == 422 and error_of(unknown)["field"] == "permissions"
    past = await client.post(
        f"{base}/role-assignments",
        headers=owner.headers,
        json={
            "user_id": str(viewer.id),
            "role_id": role.json()["id"],
            "expires_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        },
    )
    assert past.status_code == 422 and error_of(past)["field"] == "expires_at"
    assignment = await client.post(
        f"{base}/role-assignments",
        headers=owner.headers,
        json={
            "user_id": str(viewer.id),
            "role_id": role.json()["id"],
            "expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        },
    )
    assert assignment.status_code == 201
    assert (await client.get(f"{base}/activities", headers=viewer.headers)).status_code == 200
    await session.execute(
        text("UPDATE user_roles SET expires_at = now() - interval '1 second' WHERE id = :i"),
        {"i": assignment.json()["id"]},
    )
    await session.flush()
    assert (await client.get(f"{base}/activities", headers=viewer.headers)).status_code == 403, (
        "expired: nothing"
    )
    live = (await client.get(f"{base}/role-assignments", headers=owner.headers)).json()["items"]
    assert live == []
    everything = (
        await client.get(f"{base}/role-assignments?include_expired=true", headers=owner.headers)
    ).json()
    assert len(everything["items"]) == 1
    changed = await client.patch(
        f"{base}/roles/{role.json()['id']}",
        headers=owner.headers,
        json={"permissions": ["audit:read", "members:invite"]},
    )
    assert changed.status_code == 200 and changed.json()["permissions"] == ["audit:read", "members:invite"]
    assert (
        await client.delete(f"{base}/roles/{role.json()['id']}", headers=owner.headers)
    ).status_code == 204


async def test_platform_admin_acts_anywhere_and_is_audited(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = (await make_owned_org(client)).org
    admin = await make_admin(client, session)
    assert (await client.get(f"/api/orgs/{org['id']}", headers=admin.headers)).status_code == 200
    renamed = await client.patch(
        f"/api/orgs/{org['id']}", headers=admin.headers, json={"name": "Fixed by support"}
    )
    assert renamed.status_code == 200
    rows = (
        await session.execute(
            text(
                "SELECT action, metadata FROM activities WHERE organization_id = :o AND actor_id = :a ORDER BY created_at"
            ),
            {"o": org["id"], "a": admin.id},
        )
    ).all()
    assert [r.action for r in rows] == ["platform_admin.viewed", "organization.updated"]
    assert rows[1].metadata["as_platform_admin"] is True
    assert rows[0].metadata["request"] == f"GET /api/orgs/{org['id']}"


async def test_every_change_is_audited_and_the_log_filters(client: httpx.AsyncClient) -> None:
    owner, org = await make_owned_org(client)
    base = f"/api/orgs/{org['id']}"
    member = await invite_and_join(client, owner, org["id"])
    team = await make_team(client, owner, org["id"], "Ops")
    await client.patch(f"{base}/teams/{team['id']}", headers=owner.headers, json={"privacy_level": "private"})
    await client.patch(f"{base}/members/{member.id}", headers=owner.headers, json={"role": "viewer"})
    log = (await client.get(f"{base}/activities", headers=owner.headers)).json()["items"]
    assert [a["action"] for a in log] == [
        "member.role_changed",
        "team.updated",
        "team.created",
        "invitation.accepted",
        "member.added",
        "invitation.created",
        "organization.created",
    ]
    role_change = log[0]
    assert role_change["metadata"]["changes"]["role"] == {"from": "member", "to": "viewer"}
    assert role_change["entity_name"] == member.email
    by_actor = (await client.get(f"{base}/activities?actor_id={member.id}", headers=owner.headers)).json()[
        "items"
    ]
    assert {a["action"] for a in by_actor} == {"invitation.accepted", "member.added"}
    by_entity = (
        await client.get(f"{base}/activities?entity_type=team&entity_id={team['id']}", headers=owner.headers)
    ).json()["items"]
    assert [a["action"] for a in by_entity] == ["team.updated", "team.created"]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert (await client.get(f"{base}/activities", params={"since": future}, headers=owner.headers)).json()[
        "items"
    ] == []
    page = (await client.get(f"{base}/activities?limit=3", headers=owner.headers)).json()
    rest = (
        await client.get(f"{base}/activities?limit=10&cursor={page['next_cursor']}", headers=owner.headers)
    ).json()
    assert [a["id"] for a in page["items"] + rest["items"]] == [a["id"] for a in log]
    assert (await client.get(f"{base}/activities", headers=member.headers)).status_code == 403
    for method in ("PUT", "PATCH", "DELETE"):
        assert (await client.request(method, f"{base}/activities", headers=owner.headers)).status_code == 405
