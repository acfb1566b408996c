"""Teams and workspaces share one audited lifecycle: change fields, archive, unarchive, delete.
Each real change writes exactly one ``activities`` row (these tests pin its every column); a
request that changes nothing writes none, and a refused one neither changes nor writes."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.db import SERVICE, set_context
from tests.factories import invite_and_join, make_org
from tests.helpers import SignedUp, error_of, signup


async def audit_rows(session: AsyncSession, entity_id: str) -> list[dict[str, Any]]:
    await set_context(session, SERVICE)
    rows = await session.execute(
        text(
            "SELECT organization_id::text, actor_id::text, action, entity_type, entity_id::text, "
            "entity_name, description, metadata FROM activities WHERE entity_id = :e "
            "ORDER BY created_at, id"
        ),
        {"e": entity_id},
    )
    return [dict(r._mapping) for r in rows]


def row(
    owner: SignedUp,
    org_id: str,
    action: str,
    entity_type: str,
    entity_id: str,
    entity_name: str,
    description: str,
    request: str,
    metadata: dict[str, Any],
) -> dict[str, Any]:
    return {
        "organization_id": org_id,
        "actor_id": str(owner.id),
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "entity_name": entity_name,
        "description": description,
        "metadata": {"request": request, **metadata},
    }


async def test_team_update_archive_unarchive_delete_audit_rows(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await signup(client)
    org_id = (await make_org(client, owner))["id"]
    base = f"/api/orgs/{org_id}/teams"
    team = (
        await client.post(base, headers=owner.headers, json={"name": "Ops", "description": "on call"})
    ).json()
    url, tid = f"{base}/{team['id']}", team["id"]

    changed = await client.patch(
        url, headers=owner.headers, json={"name": "Ops EU", "privacy_level": "private", "settings": None}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["privacy_level"]) == ("Ops EU", "private")
    # None clears the description; for the other fields None means "leave as is".
    cleared = await client.patch(url, headers=owner.headers, json={"description": None, "name": None})
    assert cleared.status_code == 200 and cleared.json()["description"] is None
    assert cleared.json()["name"] == "Ops EU"
    same = await client.patch(url, headers=owner.headers, json={"name": "Ops EU"})
    assert same.status_code == 200
    archived = await client.post(f"{url}/archive", headers=owner.headers)
    assert archived.status_code == 200 and archived.json()["archived_at"]
    again = await client.post(f"{url}/archive", headers=owner.headers)
    assert again.status_code == 200 and again.json()["archived_at"] == archived.json()["archived_at"]
    unarchived = await client.post(f"{url}/unarchive", headers=owner.headers)
    assert unarchived.status_code == 200 and unarchived.json()["archived_at"] is None
    assert (await client.post(f"{url}/unarchive", headers=owner.headers)).json()["archived_at"] is None
    assert (await client.delete(url, headers=owner.headers)).status_code == 204
    gone = await client.delete(url, headers=owner.headers)
    assert gone.status_code == 404 and error_of(gone) == {
        "code": "not_found",
        "message": "no such team",
        "field": "team_id",
    }
    assert (await client.get(url, headers=owner.headers)).status_code == 404

    def team_row(request: str, action: str, name: str, description: str, **metadata: Any) -> dict[str, Any]:
        return row(owner, org_id, action, "team", tid, name, description, request, metadata)

    assert await audit_rows(session, tid) == [
        team_row(f"POST {base}", "team.created", "Ops", "Created team Ops.", privacy_level="public"),
        team_row(
            f"PATCH {url}",
            "team.updated",
            "Ops EU",
            "Changed name, privacy_level of team Ops EU.",
            changes={
                "name": {"from": "Ops", "to": "Ops EU"},
                "privacy_level": {"from": "public", "to": "private"},
            },
        ),
        team_row(
            f"PATCH {url}",
            "team.updated",
            "Ops EU",
            "Changed description of team Ops EU.",
            changes={"description": {"from": "on call", "to": None}},
        ),
        team_row(f"POST {url}/archive", "team.archived", "Ops EU", "Archived team Ops EU."),
        team_row(f"POST {url}/unarchive", "team.unarchived", "Ops EU", "Unarchived team Ops EU."),
        team_row(f"DELETE {url}", "team.deleted", "Ops EU", "Deleted team Ops EU."),
    ]


async def test_workspace_update_archive_unarchive_delete_audit_rows(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await signup(client)
    org_id = (await make_org(client, owner))["id"]
    team = (
        await client.post(f"/api/orgs/{org_id}/teams", headers=owner.headers, json={"name": "Ops"})
    ).json()
    base = f"/api/orgs/{org_id}/workspaces"
    space = (await client.post(base, headers=owner.headers, json={"name": "Reports"})).json()
    url, wid = f"{base}/{space['id']}", space["id"]

    # Refused: nothing changes and nothing is written.
    refused = await client.patch(url, headers=owner.headers, json={"visibility": "team", "name": "X"})
    assert refused.status_code == 422 and error_of(refused) == {
        "code": "invalid",
        "message": "team_id: a team-visible workspace needs a team",
        "field": "team_id",
    }
    assert (await client.get(url, headers=owner.headers)).json()["name"] == "Reports"
    changed = await client.patch(
        url,
        headers=owner.headers,
        json={"name": "Reports EU", "slug": "reports-eu", "team_id": team["id"], "visibility": "team"},
    )
    assert changed.status_code == 200, changed.text
    # None clears the team; for the other fields None means "leave as is".
    cleared = await client.patch(
        url, headers=owner.headers, json={"team_id": None, "visibility": "organization", "slug": None}
    )
    assert cleared.status_code == 200 and cleared.json()["team_id"] is None
    assert cleared.json()["slug"] == "reports-eu"
    same = await client.patch(url, headers=owner.headers, json={"settings": {}})
    assert same.status_code == 200
    archived = await client.post(f"{url}/archive", headers=owner.headers)
    assert archived.status_code == 200 and archived.json()["archived_at"]
    again = await client.post(f"{url}/archive", headers=owner.headers)
    assert again.status_code == 200 and again.json()["archived_at"] == archived.json()["archived_at"]
    unarchived = await client.post(f"{url}/unarchive", headers=owner.headers)
    assert unarchived.status_code == 200 and unarchived.json()["archived_at"] is None
    assert (await client.post(f"{url}/unarchive", headers=owner.headers)).json()["archived_at"] is None
    assert (await client.delete(url, headers=owner.headers)).status_code == 204
    gone = await client.delete(url, headers=owner.headers)
    assert gone.status_code == 404 and error_of(gone) == {
        "code": "not_found",
        "message": "no such workspace",
        "field": "workspace_id",
    }

    def space_row(request: str, action: str, name: str, description: str, **metadata: Any) -> dict[str, Any]:
        return row(owner, org_id, action, "workspace", wid, name, description, request, metadata)

    assert await audit_rows(session, wid) == [
        space_row(
            f"POST {base}",
            "workspace.created",
            "Reports",
            "Created workspace Reports.",
            visibility="organization",
            slug="reports",
        ),
        space_row(
            f"PATCH {url}",
            "workspace.updated",
            "Reports EU",
            "Changed name, slug, team_id, visibility of workspace Reports EU.",
            changes={
                "name": {"from": "Reports", "to": "Reports EU"},
                "slug": {"from": "reports", "to": "reports-eu"},
                "team_id": {"from": None, "to": team["id"]},
                "visibility": {"from": "organization", "to": "team"},
            },
        ),
        space_row(
            f"PATCH {url}",
            "workspace.updated",
            "Reports EU",
            "Changed team_id, visibility of workspace Reports EU.",
            changes={
                "team_id": {"from": team["id"], "to": None},
                "visibility": {"from": "team", "to": "organization"},
            },
        ),
        space_row(
            f"POST {url}/archive", "workspace.archived", "Reports EU", "Archived workspace Reports EU."
        ),
        space_row(
            f"POST {url}/unarchive", "workspace.unarchived", "Reports EU", "Unarchived workspace Reports EU."
        ),
        space_row(f"DELETE {url}", "workspace.deleted", "Reports EU", "Deleted workspace Reports EU."),
    ]


def member_row(
    about: tuple[SignedUp, str, str, str, str], request: str, event: str, description: str, **metadata: Any
) -> dict[str, Any]:
    owner, org_id, kind, entity_id, name = about
    return row(owner, org_id, f"{kind}.{event}", kind, entity_id, name, description, request, metadata)


async def test_member_add_role_change_and_removal_audit_rows(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await signup(client)
    org_id = (await make_org(client, owner))["id"]
    member = await invite_and_join(client, owner, org_id)
    base = f"/api/orgs/{org_id}"
    team = (await client.post(f"{base}/teams", headers=owner.headers, json={"name": "Ops"})).json()
    space = (await client.post(f"{base}/workspaces", headers=owner.headers, json={"name": "Reports"})).json()
    cases = [
        ("team", f"{base}/teams/{team['id']}", team["id"], "Ops", "team_member", "team_lead"),
        (
            "workspace",
            f"{base}/workspaces/{space['id']}",
            space["id"],
            "Reports",
            "workspace_viewer",
            "workspace_editor",
        ),
    ]
    for kind, url, entity_id, name, first, second in cases:
        members = f"{url}/members"
        added = await client.post(
            members, headers=owner.headers, json={"user_id": str(member.id), "role": first}
        )
        assert added.status_code == 201 and added.json()["role"] == first, added.text
        one = f"{members}/{member.id}"
        changed = await client.patch(one, headers=owner.headers, json={"role": second})
        assert changed.status_code == 200 and changed.json()["role"] == second
        assert (await client.patch(one, headers=owner.headers, json={"role": second})).status_code == 200
        assert (await client.delete(one, headers=owner.headers)).status_code == 204
        gone = await client.delete(one, headers=owner.headers)
        assert gone.status_code == 404 and error_of(gone)["message"] == f"no such {kind} member"

        user = str(member.id)
        added_description = (
            f"Added {member.email} to team Ops as {first}."
            if kind == "team"
            else f"Gave a user {first} access to workspace Reports."
        )
        about = (owner, org_id, kind, entity_id, name)
        rows = await audit_rows(session, entity_id)
        assert rows[1:] == [
            member_row(about, f"POST {members}", "member_added", added_description, user_id=user, role=first),
            member_row(
                about,
                f"PATCH {one}",
                "member_role_changed",
                f"Changed a member's {kind} role from {first} to {second}.",
                user_id=user,
                changes={"role": {"from": first, "to": second}},
            ),
            member_row(
                about,
                f"DELETE {one}",
                "member_removed",
                f"Removed a member from {kind} {name}.",
                user_id=user,
            ),
        ]
