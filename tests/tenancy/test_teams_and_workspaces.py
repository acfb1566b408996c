"""Teams (privacy levels, leads) and workspaces (slugs, visibility, workspace roles)."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import invite_and_join, make_org, make_owned_org, make_team
from tests.helpers import error_of, signup


async def test_team_lifecycle_and_left_at(client: httpx.AsyncClient, session: AsyncSession) -> None:
    owner, org = await make_owned_org(client)
    base = f"/api/orgs/{org['id']}/teams"
    member = await invite_and_join(client, owner, org["id"])
    outsider = await signup(client)
    team = await make_team(client, owner, org["id"], "Support", privacy_level="private")
    add = await client.post(
        f"{base}/{team['id']}/members",
        headers=owner.headers,
        json={"user_id": str(member.id), "role": "team_lead"},
    )
    assert add.status_code == 201 and add.json()["role"] == "team_lead"
    again = await client.post(
        f"{base}/{team['id']}/members", headers=owner.headers, json={"user_id": str(member.id)}
    )
    assert again.status_code == 409
    stranger = await client.post(
        f"{base}/{team['id']}/members", headers=owner.headers, json={"user_id": str(outsider.id)}
    )
    assert stranger.status_code == 404 and error_of(stranger)["field"] == "user_id"
    # A team lead manages their team without the organization-wide teams:write.
    renamed = await client.patch(f"{base}/{team['id']}", headers=member.headers, json={"name": "Support EU"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Support EU"
    other = await make_team(client, owner, org["id"], "Sales")
    assert (
        await client.patch(f"{base}/{other['id']}", headers=member.headers, json={"name": "x"})
    ).status_code == 403
    assert (await client.post(base, headers=member.headers, json={"name": "mine"})).status_code == 403
    removed = await client.delete(f"{base}/{team['id']}/members/{member.id}", headers=owner.headers)
    assert removed.status_code == 204
    left_at = (
        await session.execute(
            text("SELECT left_at FROM team_members WHERE team_id = :t AND user_id = :u"),
            {"t": team["id"], "u": member.id},
        )
    ).scalar_one()
    assert left_at is not None, "leaving keeps the row with left_at"
    assert (await client.get(f"{base}/{team['id']}/members", headers=owner.headers)).json() == []
    archived = await client.post(f"{base}/{team['id']}/archive", headers=owner.headers)
    assert archived.status_code == 200 and archived.json()["archived_at"]
    listed = {t["name"] for t in (await client.get(base, headers=owner.headers)).json()["items"]}
    assert listed == {"Sales"}
    assert (await client.delete(f"{base}/{other['id']}", headers=owner.headers)).status_code == 204


async def test_secret_and_private_teams(client: httpx.AsyncClient) -> None:
    owner, org = await make_owned_org(client)
    base = f"/api/orgs/{org['id']}/teams"
    insider = await invite_and_join(client, owner, org["id"])
    viewer = await invite_and_join(client, owner, org["id"], "viewer")
    secret = await make_team(client, owner, org["id"], "M&A", privacy_level="secret")
    private = await make_team(client, owner, org["id"], "HR", privacy_level="private")
    await client.post(
        f"{base}/{secret['id']}/members", headers=owner.headers, json={"user_id": str(insider.id)}
    )
    seen_by_viewer = {t["name"] for t in (await client.get(base, headers=viewer.headers)).json()["items"]}
    assert seen_by_viewer == {"HR"}
    assert (await client.get(f"{base}/{secret['id']}", headers=viewer.headers)).status_code == 404
    assert (await client.get(f"{base}/{private['id']}/members", headers=viewer.headers)).status_code == 404
    seen_by_insider = {t["name"] for t in (await client.get(base, headers=insider.headers)).json()["items"]}
    assert seen_by_insider == {"HR", "M&A"}
    members = (await client.get(f"{base}/{secret['id']}/members", headers=insider.headers)).json()
    assert [m["email"] for m in members] == [insider.email]


async def test_workspaces_slugs_and_visibility(client: httpx.AsyncClient) -> None:
    owner, org = await make_owned_org(client)
    other_org = await make_org(client, owner, "Other")
    base = f"/api/orgs/{org['id']}/workspaces"
    member = await invite_and_join(client, owner, org["id"])
    viewer = await invite_and_join(client, owner, org["id"], "viewer")
    team = await make_team(client, owner, org["id"], "Ops")
    created = await client.post(
        base, headers=member.headers, json={"name": "Road map", "visibility": "private"}
    )
    assert created.status_code == 201 and created.json()["slug"] == "road-map"
    duplicate = await client.post(base, headers=owner.headers, json={"name": "Other", "slug": "road-map"})
    assert duplicate.status_code == 409 and error_of(duplicate)["field"] == "slug"
    same_slug_elsewhere = await client.post(
        f"/api/orgs/{other_org['id']}/workspaces", headers=owner.headers, json={"name": "Road map"}
    )
    assert same_slug_elsewhere.status_code == 201 and same_slug_elsewhere.json()["slug"] == "road-map"
    assert (await client.post(base, headers=viewer.headers, json={"name": "nope"})).status_code == 403
    team_ws = await client.post(
        base, headers=owner.headers, json={"name": "Ops room", "visibility": "team", "team_id": team["id"]}
    )
    assert team_ws.status_code == 201
    needs_team = await client.post(base, headers=owner.headers, json={"name": "x", "visibility": "team"})
    assert needs_team.status_code == 422 and error_of(needs_team)["field"] == "team_id"
    public = await client.post(base, headers=owner.headers, json={"name": "Lobby"})
    assert public.status_code == 201

    def names(response: httpx.Response) -> set[str]:
        return {w["name"] for w in response.json()["items"]}

    assert names(await client.get(base, headers=viewer.headers)) == {"Lobby"}
    assert names(await client.get(base, headers=member.headers)) == {"Lobby", "Road map"}
    assert names(await client.get(base, headers=owner.headers)) == {"Lobby", "Road map", "Ops room"}
    private_id = created.json()["id"]
    assert (await client.get(f"{base}/{private_id}", headers=viewer.headers)).status_code == 404
    # The creator administers the workspace: gives access, and the viewer now sees it.
    give = await client.post(
        f"{base}/{private_id}/members",
        headers=member.headers,
        json={"user_id": str(viewer.id), "role": "workspace_editor"},
    )
    assert give.status_code == 201
    assert names(await client.get(base, headers=viewer.headers)) == {"Lobby", "Road map"}
    # An editor works in it but does not manage it.
    refused = await client.patch(f"{base}/{private_id}", headers=viewer.headers, json={"name": "mine now"})
    assert refused.status_code == 403
    changed = await client.patch(
        f"{base}/{private_id}", headers=member.headers, json={"name": "Roadmap 2027"}
    )
    assert changed.status_code == 200 and changed.json()["name"] == "Roadmap 2027"
    role = await client.patch(
        f"{base}/{private_id}/members/{viewer.id}", headers=member.headers, json={"role": "workspace_viewer"}
    )
    assert role.status_code == 200 and role.json()["role"] == "workspace_viewer"
    assert (
        await client.delete(f"{base}/{private_id}/members/{viewer.id}", headers=member.headers)
    ).status_code == 204
    assert (await client.get(f"{base}/{private_id}", headers=viewer.headers)).status_code == 404
    assert (await client.post(f"{base}/{private_id}/archive", headers=owner.headers)).json()["archived_at"]
    assert (await client.delete(f"{base}/{private_id}", headers=owner.headers)).status_code == 204
