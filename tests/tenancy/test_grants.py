"""Nobody gives a right they do not hold; only owners delete the organization (issue 14).

An admin holds every permission but ``org:delete``. Each way of handing out permissions is tried
by an admin on themselves (403 ``permission_not_held``, nothing changed), then by the owner.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import invite_and_join, make_owned_org, make_team, make_workspace, sql
from tests.helpers import error_of, signup


def _refused(response: httpx.Response, field: str | None, code: str = "permission_not_held") -> None:
    assert response.status_code == 403, response.text
    error = error_of(response)
    assert error["code"] == code and error["field"] == field, error
    assert error["message"], "a clear message"


async def _state(session: AsyncSession, org_id: str) -> list[Any]:
    """Everything the refused attempts could have changed."""
    return [
        await sql(
            session,
            "SELECT user_id, role, permissions, is_active FROM organization_members "
            "WHERE organization_id = :o ORDER BY user_id",
            o=org_id,
        ),
        await sql(
            session, "SELECT name, permissions FROM roles WHERE organization_id = :o ORDER BY name", o=org_id
        ),
        await sql(session, "SELECT user_id, role_id FROM user_roles WHERE organization_id = :o", o=org_id),
        await sql(session, "SELECT invitee_email FROM invitations WHERE organization_id = :o", o=org_id),
        await sql(session, "SELECT deleted_at FROM organizations WHERE id = :o", o=org_id),
    ]


async def test_an_admin_cannot_grant_itself_what_it_lacks_nor_delete_the_organization(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner, org = await make_owned_org(client)
    base = f"/api/orgs/{org['id']}"
    admin = await invite_and_join(client, owner, org["id"], "admin")
    a, o = admin.headers, owner.headers
    deleter = (
        await client.post(f"{base}/roles", headers=o, json={"name": "deleter", "permissions": ["org:delete"]})
    ).json()
    helper = (
        await client.post(f"{base}/roles", headers=a, json={"name": "helper", "permissions": ["audit:read"]})
    ).json()
    owner_role = next(
        r for r in (await client.get(f"{base}/roles", headers=o)).json() if r["name"] == "owner"
    )
    before = await _state(session, org["id"])

    # Member extra permissions.
    for extras in (["*"], ["org:delete"], ["audit:read", "org:delete"]):
        _refused(
            await client.patch(f"{base}/members/{admin.id}", headers=a, json={"permissions": extras}),
            "permissions",
        )
    # Custom role: create, update (adding, or touching a role holding what the admin lacks), delete.
    for permissions in (["*"], ["org:delete"]):
        created = await client.post(
            f"{base}/roles", headers=a, json={"name": "god", "permissions": permissions}
        )
        _refused(created, "permissions")
    _refused(
        await client.patch(
            f"{base}/roles/{helper['id']}", headers=a, json={"permissions": ["audit:read", "*"]}
        ),
        "permissions",
    )
    _refused(
        await client.patch(f"{base}/roles/{deleter['id']}", headers=a, json={"name": "renamed"}), "role_id"
    )
    _refused(
        await client.patch(f"{base}/roles/{deleter['id']}", headers=a, json={"permissions": []}), "role_id"
    )
    _refused(await client.delete(f"{base}/roles/{deleter['id']}", headers=a), "role_id")
    # Role assignment: a custom role, or the system owner role (it holds '*').
    for role in (deleter, owner_role):
        assign = {"user_id": str(admin.id), "role_id": role["id"]}
        assigned = await client.post(f"{base}/role-assignments", headers=a, json=assign)
        _refused(assigned, "role_id")
    # Invitations carrying a role; membership role changes.
    _refused(
        await client.post(f"{base}/invitations", headers=a, json={"email": "x@example.com", "role": "owner"}),
        "role",
        "role_too_high",
    )
    _refused(
        await client.patch(f"{base}/members/{admin.id}", headers=a, json={"role": "owner"}),
        "role",
        "role_too_high",
    )
    # Deleting (and restoring) the organization, deactivating the owner.
    _refused(await client.delete(base, headers=a), None, "permission_denied")
    assert (
        await client.patch(f"{base}/members/{owner.id}", headers=a, json={"is_active": False})
    ).status_code == 403
    assert await _state(session, org["id"]) == before, "nothing changed"

    # Even given org:delete by the owner, an admin does not delete: owners only.
    given = await client.patch(f"{base}/members/{admin.id}", headers=o, json={"permissions": ["org:delete"]})
    assert given.status_code == 200 and given.json()["permissions"] == ["org:delete"]
    _refused(await client.delete(base, headers=a), None, "owner_only")
    # The owner can do every one of these.
    assert (
        await client.post(f"{base}/roles", headers=o, json={"name": "god", "permissions": ["*"]})
    ).status_code == 201
    patched = await client.patch(
        f"{base}/roles/{deleter['id']}", headers=o, json={"permissions": ["org:delete", "*"]}
    )
    assert patched.status_code == 200
    assign = {"user_id": str(admin.id), "role_id": deleter["id"]}
    assert (await client.post(f"{base}/role-assignments", headers=o, json=assign)).status_code == 201
    invited = await client.post(
        f"{base}/invitations", headers=o, json={"email": "y@example.com", "role": "owner"}
    )
    assert invited.status_code == 201
    # With '*' through a role an admin still holds no ownership: deleting stays the owners'.
    _refused(await client.delete(base, headers=a), None, "owner_only")
    assert (await client.delete(base, headers=o)).status_code == 200


async def test_an_admin_still_hands_out_what_it_holds(client: httpx.AsyncClient) -> None:
    owner, org = await make_owned_org(client)
    base = f"/api/orgs/{org['id']}"
    admin = await invite_and_join(client, owner, org["id"], "admin")
    member = await invite_and_join(client, owner, org["id"], "member")
    a = admin.headers
    extras = await client.patch(
        f"{base}/members/{member.id}", headers=a, json={"permissions": ["audit:read"]}
    )
    assert extras.status_code == 200
    role = await client.post(
        f"{base}/roles", headers=a, json={"name": "billing", "permissions": ["billing:read"]}
    )
    assert role.status_code == 201
    assign = {"user_id": str(member.id), "role_id": role.json()["id"]}
    assert (await client.post(f"{base}/role-assignments", headers=a, json=assign)).status_code == 201
    assert (
        await client.patch(f"{base}/members/{member.id}", headers=a, json={"role": "admin"})
    ).status_code == 200


async def test_invitations_into_a_team_or_workspace_need_rights_there(client: httpx.AsyncClient) -> None:
    owner, org = await make_owned_org(client)
    base = f"/api/orgs/{org['id']}"
    inviter = await invite_and_join(client, owner, org["id"], "member")
    # members:invite alone: may invite to the organization, not make team leads or workspace admins.
    extra = await client.patch(
        f"{base}/members/{inviter.id}", headers=owner.headers, json={"permissions": ["members:invite"]}
    )
    assert extra.status_code == 200
    team = await make_team(client, owner, org["id"], "Ops")
    secret = await make_team(client, owner, org["id"], "Hidden", privacy_level="secret")
    space = await make_workspace(client, owner, org["id"], "Plans")
    i = inviter.headers
    invite = f"{base}/invitations"
    assert (await client.post(invite, headers=i, json={"email": "a@example.com"})).status_code == 201
    _refused(
        await client.post(
            invite, headers=i, json={"email": "b@example.com", "team_id": team["id"], "role": "team_lead"}
        ),
        "team_id",
    )
    _refused(
        await client.post(
            invite,
            headers=i,
            json={"email": "c@example.com", "workspace_id": space["id"], "role": "workspace_admin"},
        ),
        "workspace_id",
    )
    hidden = await client.post(invite, headers=i, json={"email": "d@example.com", "team_id": secret["id"]})
    assert hidden.status_code == 404 and error_of(hidden)["field"] == "team_id"
    # The team's lead may invite into it.
    lead = {"user_id": str(inviter.id), "role": "team_lead"}
    assert (
        await client.post(f"{base}/teams/{team['id']}/members", headers=owner.headers, json=lead)
    ).status_code == 201
    assert (
        await client.post(invite, headers=i, json={"email": "e@example.com", "team_id": team["id"]})
    ).status_code == 201


async def test_ids_in_request_bodies_are_checked_against_the_callers_rights(
    client: httpx.AsyncClient,
) -> None:
    """Another organization's (or an unseen) team, role or user named in a body: 404."""
    owner, org = await make_owned_org(client)
    other_owner, other = await make_owned_org(client, "Other")
    base, o = f"/api/orgs/{org['id']}", owner.headers
    team = await make_team(client, owner, org["id"], "Ops")
    their_team = await make_team(client, other_owner, other["id"], "Theirs")
    their_role = (
        await client.post(
            f"/api/orgs/{other['id']}/roles",
            headers=other_owner.headers,
            json={"name": "theirs", "permissions": []},
        )
    ).json()
    stranger = await signup(client)
    attempts = [
        ("POST", f"{base}/teams/{team['id']}/members", {"user_id": str(other_owner.id)}, "user_id"),
        (
            "POST",
            f"{base}/role-assignments",
            {"user_id": str(stranger.id), "role_id": their_role["id"]},
            "role_id",
        ),
        (
            "POST",
            f"{base}/role-assignments",
            {
                "user_id": str(other_owner.id),
                "role_id": (await client.get(f"{base}/roles", headers=o)).json()[0]["id"],
            },
            "user_id",
        ),
        (
            "POST",
            f"{base}/workspaces",
            {"name": "w", "visibility": "team", "team_id": their_team["id"]},
            "team_id",
        ),
        ("POST", f"{base}/invitations", {"email": "z@example.com", "team_id": their_team["id"]}, "team_id"),
    ]
    space = await make_workspace(client, owner, org["id"], "Space")
    attempts += [
        ("POST", f"{base}/workspaces/{space['id']}/members", {"user_id": str(stranger.id)}, "user_id"),
        ("PATCH", f"{base}/workspaces/{space['id']}", {"team_id": their_team["id"]}, "team_id"),
    ]
    for method, url, body, field in attempts:
        response = await client.request(method, url, headers=o, json=body)
        assert response.status_code == 404, (url, body, response.text)
        assert error_of(response)["field"] == field, (url, error_of(response))
