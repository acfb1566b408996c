"""Organizations: create, list, update, archive, soft delete, restore; members and the last owner."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.state import Runtime
from tests.factories import invite_and_join, make_org, make_owned_org
from tests.helpers import error_of, signup


async def _actions(session: AsyncSession, org_id: str) -> list[str]:
    rows = await session.execute(
        text("SELECT action FROM activities WHERE organization_id = :o ORDER BY created_at, id"),
        {"o": org_id},
    )
    return [r[0] for r in rows.all()]


async def test_create_makes_the_creator_owner_and_audits(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner, org = await make_owned_org(client, "Dashie TV", billing_email="Billing@Dashie.tv")
    assert org["slug"] == "dashie-tv" and org["my_role"] == "owner"
    assert org["billing_email"] == "Billing@dashie.tv"
    members = (await client.get(f"/api/orgs/{org['id']}/members", headers=owner.headers)).json()["items"]
    assert [(m["email"], m["role"]) for m in members] == [(owner.email, "owner")]
    assert await _actions(session, org["id"]) == ["organization.created"]
    second = await make_org(client, owner, "Dashie TV")
    assert second["slug"].startswith("dashie-tv-") and second["slug"] != org["slug"]
    taken = await client.post("/api/orgs", headers=owner.headers, json={"name": "X", "slug": "dashie-tv"})
    assert taken.status_code == 409 and error_of(taken)["field"] == "slug"
    bad = await client.post("/api/orgs", headers=owner.headers, json={"name": "X", "slug": "Not A Slug"})
    assert bad.status_code == 422 and error_of(bad)["field"] == "slug"
    assert (await client.post("/api/orgs", json={"name": "anon"})).status_code == 401


async def test_list_mine_is_paginated_and_only_mine(client: httpx.AsyncClient) -> None:
    alice = await signup(client)
    bob = await signup(client)
    for i in range(3):
        await make_org(client, alice, f"Alice {i}")
    await make_org(client, bob, "Bob's")
    first = (await client.get("/api/orgs?limit=2", headers=alice.headers)).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = (
        await client.get(f"/api/orgs?limit=2&cursor={first['next_cursor']}", headers=alice.headers)
    ).json()
    names = {o["name"] for o in first["items"] + rest["items"]}
    assert names == {"Alice 0", "Alice 1", "Alice 2"} and rest["next_cursor"] is None


async def test_update_records_before_and_after(client: httpx.AsyncClient, session: AsyncSession) -> None:
    owner, org = await make_owned_org(client, "Before")
    response = await client.patch(
        f"/api/orgs/{org['id']}", headers=owner.headers, json={"name": "After", "settings": {"theme": "dark"}}
    )
    assert response.status_code == 200 and response.json()["name"] == "After"
    metadata = (
        await session.execute(
            text(
                "SELECT metadata FROM activities WHERE organization_id = :o AND action = 'organization.updated'"
            ),
            {"o": org["id"]},
        )
    ).scalar_one()
    assert metadata["changes"]["name"] == {"from": "Before", "to": "After"}
    assert metadata["changes"]["settings"] == {"from": {}, "to": {"theme": "dark"}}


async def test_archived_organizations_are_read_only(client: httpx.AsyncClient) -> None:
    owner, org = await make_owned_org(client)
    url = f"/api/orgs/{org['id']}"
    archived = await client.post(f"{url}/archive", headers=owner.headers)
    assert archived.status_code == 200 and archived.json()["archived_at"]
    assert (await client.get(url, headers=owner.headers)).status_code == 200
    refused = await client.post(f"{url}/teams", headers=owner.headers, json={"name": "t"})
    assert refused.status_code == 409 and error_of(refused)["code"] == "organization_archived"
    hidden = (await client.get("/api/orgs", headers=owner.headers)).json()["items"]
    assert hidden == []
    shown = (await client.get("/api/orgs?include_archived=true", headers=owner.headers)).json()["items"]
    assert [o["id"] for o in shown] == [org["id"]]
    assert (await client.post(f"{url}/unarchive", headers=owner.headers)).status_code == 200
    assert (await client.post(f"{url}/teams", headers=owner.headers, json={"name": "t"})).status_code == 201


async def test_soft_delete_and_restore(client: httpx.AsyncClient, session: AsyncSession) -> None:
    owner, org = await make_owned_org(client)
    url = f"/api/orgs/{org['id']}"
    admin = await invite_and_join(client, owner, org["id"], "admin")
    assert (await client.delete(url, headers=admin.headers)).status_code == 403, "admins cannot delete"
    deleted = await client.delete(url, headers=owner.headers)
    assert deleted.status_code == 200 and deleted.json()["deleted_at"]
    assert (await client.get(url, headers=owner.headers)).status_code == 404
    assert (await client.get("/api/orgs", headers=owner.headers)).json()["items"] == []
    restored = await client.post(f"{url}/restore", headers=owner.headers)
    assert restored.status_code == 200 and restored.json()["deleted_at"] is None
    assert (await client.get(url, headers=owner.headers)).status_code == 200
    actions = await _actions(session, org["id"])
    assert actions[-2:] == ["organization.deleted", "organization.restored"]


async def test_member_roles_and_who_may_grant_them(client: httpx.AsyncClient) -> None:
    owner, org = await make_owned_org(client)
    admin = await invite_and_join(client, owner, org["id"], "admin")
    member = await invite_and_join(client, owner, org["id"], "member")
    url = f"/api/orgs/{org['id']}/members"
    by_role = (await client.get(f"{url}?role=member", headers=owner.headers)).json()["items"]
    assert [m["email"] for m in by_role] == [member.email]
    assert (
        await client.patch(f"{url}/{member.id}", headers=member.headers, json={"role": "admin"})
    ).status_code == 403
    to_owner = await client.patch(f"{url}/{member.id}", headers=admin.headers, json={"role": "owner"})
    assert to_owner.status_code == 403 and error_of(to_owner)["code"] == "role_too_high"
    to_viewer = await client.patch(f"{url}/{member.id}", headers=admin.headers, json={"role": "viewer"})
    assert to_viewer.status_code == 200 and to_viewer.json()["role"] == "viewer"
    demote_owner = await client.patch(f"{url}/{owner.id}", headers=admin.headers, json={"role": "member"})
    assert demote_owner.status_code == 403, "only owners demote owners"
    unknown = await client.patch(
        f"{url}/{member.id}", headers=owner.headers, json={"permissions": ["nope:nope"]}
    )
    assert unknown.status_code == 422 and error_of(unknown)["field"] == "permissions"
    extra = await client.patch(
        f"{url}/{member.id}", headers=owner.headers, json={"permissions": ["audit:read"]}
    )
    assert extra.status_code == 200
    assert (await client.get(f"/api/orgs/{org['id']}/activities", headers=member.headers)).status_code == 200


async def test_the_last_owner_cannot_go(client: httpx.AsyncClient) -> None:
    owner, org = await make_owned_org(client)
    url = f"/api/orgs/{org['id']}"
    for response in (
        await client.patch(f"{url}/members/{owner.id}", headers=owner.headers, json={"role": "admin"}),
        await client.delete(f"{url}/members/{owner.id}", headers=owner.headers),
        await client.post(f"{url}/leave", headers=owner.headers),
        await client.patch(f"{url}/members/{owner.id}", headers=owner.headers, json={"is_active": False}),
    ):
        assert response.status_code == 409, response.text
        assert error_of(response)["code"] == "last_owner"
    second = await invite_and_join(client, owner, org["id"], "owner")
    assert (await client.post(f"{url}/leave", headers=owner.headers)).status_code == 204
    assert (await client.get(url, headers=owner.headers)).status_code == 404, "gone means gone"
    last = await client.post(f"{url}/leave", headers=second.headers)
    assert last.status_code == 409


async def test_two_owners_demoting_each_other_at_once_keep_one(fresh_runtime: Runtime) -> None:
    """Committed, concurrent requests: the organization row lock serialises the owner count."""
    from saaskit.app import create_app

    app = create_app(fresh_runtime, dispose_on_shutdown=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as live:
        first, org = await make_owned_org(live)
        second = await invite_and_join(live, first, org["id"], "owner")
        url = f"/api/orgs/{org['id']}/members"
        results = await asyncio.gather(
            live.patch(f"{url}/{second.id}", headers=first.headers, json={"role": "admin"}),
            live.patch(f"{url}/{first.id}", headers=second.headers, json={"role": "admin"}),
        )
        codes = sorted(r.status_code for r in results)
        members = (await live.get(url, headers=first.headers)).json()["items"] or (
            await live.get(url, headers=second.headers)
        ).json()["items"]
    assert codes in ([200, 403], [200, 409]), codes
    assert [m["role"] for m in members].count("owner") == 1


async def test_removed_and_inactive_members_lose_access(client: httpx.AsyncClient) -> None:
    owner, org = await make_owned_org(client)
    member = await invite_and_join(client, owner, org["id"])
    url = f"/api/orgs/{org['id']}"
    assert (await client.get(url, headers=member.headers)).status_code == 200
    await client.patch(f"{url}/members/{member.id}", headers=owner.headers, json={"is_active": False})
    assert (await client.get(url, headers=member.headers)).status_code == 404
    await client.patch(f"{url}/members/{member.id}", headers=owner.headers, json={"is_active": True})
    assert (await client.get(url, headers=member.headers)).status_code == 200
    assert (await client.delete(f"{url}/members/{member.id}", headers=owner.headers)).status_code == 204
    assert (await client.get(url, headers=member.headers)).status_code == 404
