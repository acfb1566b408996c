"""Invitations: tokens work once, expire, die on resend or revoke, and only for the invited e-mail."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import invitation_token, make_owned_org, make_team, make_workspace
from tests.helpers import error_of, signup


async def _invite(
    client: httpx.AsyncClient, headers: dict[str, str], org_id: str, email: str, **extra: object
) -> httpx.Response:
    return await client.post(
        f"/api/orgs/{org_id}/invitations", headers=headers, json={"email": email, **extra}
    )


async def test_accept_once_with_the_matching_email(client: httpx.AsyncClient, session: AsyncSession) -> None:
    owner, org = await make_owned_org(client)
    created = await _invite(client, owner.headers, org["id"], "New.Hire@example.com", role="admin")
    assert created.status_code == 201
    assert "token" not in created.json()
    token = await invitation_token(client, created.json()["mail_id"])
    assert token.startswith("inv_")
    stored = (
        await session.execute(
            text("SELECT token_hash FROM invitations WHERE id = :i"), {"i": created.json()["id"]}
        )
    ).scalar_one()
    assert stored != token and len(stored) == 64
    listed = (await client.get(f"/api/orgs/{org['id']}/invitations", headers=owner.headers)).json()["items"]
    assert "token" not in listed[0] and listed[0]["status"] == "pending"
    wrong_person = await signup(client)
    mismatch = await client.post(
        "/api/invitations/accept", headers=wrong_person.headers, json={"token": token}
    )
    assert mismatch.status_code == 403 and error_of(mismatch)["code"] == "email_mismatch"
    hire = await signup(client, "new.hire@example.com")
    accepted = await client.post("/api/invitations/accept", headers=hire.headers, json={"token": token})
    assert accepted.status_code == 200 and accepted.json()["role"] == "admin"
    reused = await client.post("/api/invitations/accept", headers=hire.headers, json={"token": token})
    assert reused.status_code == 410 and error_of(reused)["code"] == "invitation_used"
    members = (await client.get(f"/api/orgs/{org['id']}/members", headers=hire.headers)).json()["items"]
    assert {m["email"]: m["role"] for m in members}["new.hire@example.com"] == "admin"
    already = await _invite(client, owner.headers, org["id"], "new.hire@example.com")
    assert already.status_code == 409 and error_of(already)["code"] == "already_member"


async def test_expired_revoked_and_resent_tokens(client: httpx.AsyncClient, session: AsyncSession) -> None:
    owner, org = await make_owned_org(client)
    invitee = await signup(client, "later@example.com")
    first = (await _invite(client, owner.headers, org["id"], "later@example.com")).json()
    duplicate = await _invite(client, owner.headers, org["id"], "later@example.com")
    assert duplicate.status_code == 409 and error_of(duplicate)["code"] == "already_invited"
    await session.execute(
        text("UPDATE invitations SET expires_at = now() - interval '1 minute' WHERE id = :i"),
        {"i": first["id"]},
    )
    await session.flush()
    first_token = await invitation_token(client, first["mail_id"])
    expired = await client.post(
        "/api/invitations/accept", headers=invitee.headers, json={"token": first_token}
    )
    assert expired.status_code == 410 and error_of(expired)["code"] == "invitation_expired"
    shown = (
        await client.get(f"/api/orgs/{org['id']}/invitations?status=expired", headers=owner.headers)
    ).json()
    assert [i["id"] for i in shown["items"]] == [first["id"]]
    resent = await client.post(
        f"/api/orgs/{org['id']}/invitations/{first['id']}/resend", headers=owner.headers
    )
    assert resent.status_code == 200 and resent.json()["sent_count"] == 2
    old = await client.post("/api/invitations/accept", headers=invitee.headers, json={"token": first_token})
    assert old.status_code == 404 and error_of(old)["code"] == "invitation_not_found"
    revoked = await client.post(
        f"/api/orgs/{org['id']}/invitations/{first['id']}/revoke", headers=owner.headers
    )
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    resent_token = await invitation_token(client, resent.json()["mail_id"])
    dead = await client.post("/api/invitations/accept", headers=invitee.headers, json={"token": resent_token})
    assert dead.status_code == 410 and error_of(dead)["code"] == "invitation_revoked"
    garbage = await client.post(
        "/api/invitations/accept", headers=invitee.headers, json={"token": "inv_nothing_here"}
    )
    assert garbage.status_code == 404


async def test_decline(client: httpx.AsyncClient) -> None:
    owner, org = await make_owned_org(client)
    invitee = await signup(client, "no.thanks@example.com")
    invited = await _invite(client, owner.headers, org["id"], "no.thanks@example.com")
    token = await invitation_token(client, invited.json()["mail_id"])
    declined = await client.post("/api/invitations/decline", headers=invitee.headers, json={"token": token})
    assert declined.status_code == 200 and declined.json()["status"] == "declined"
    assert (await client.get(f"/api/orgs/{org['id']}", headers=invitee.headers)).status_code == 404
    late = await client.post("/api/invitations/accept", headers=invitee.headers, json={"token": token})
    assert late.status_code == 410


async def test_team_and_workspace_invitations(client: httpx.AsyncClient) -> None:
    owner, org = await make_owned_org(client)
    team = await make_team(client, owner, org["id"], "QA")
    ws = await make_workspace(client, owner, org["id"], "Lab", visibility="private")
    bad_role = await _invite(
        client, owner.headers, org["id"], "t@example.com", team_id=team["id"], role="admin"
    )
    assert bad_role.status_code == 422 and error_of(bad_role)["field"] == "role"
    both = await _invite(
        client, owner.headers, org["id"], "t@example.com", team_id=team["id"], workspace_id=ws["id"]
    )
    assert both.status_code == 422
    t_invited = await _invite(
        client, owner.headers, org["id"], "t@example.com", team_id=team["id"], role="team_lead"
    )
    t_token = await invitation_token(client, t_invited.json()["mail_id"])
    w_invited = await _invite(client, owner.headers, org["id"], "t@example.com", workspace_id=ws["id"])
    w_token = await invitation_token(client, w_invited.json()["mail_id"])
    joiner = await signup(client, "t@example.com", invitation_token=t_token)
    assert (
        await client.post("/api/invitations/accept", headers=joiner.headers, json={"token": w_token})
    ).status_code == 200
    team_members = (
        await client.get(f"/api/orgs/{org['id']}/teams/{team['id']}/members", headers=owner.headers)
    ).json()
    assert [(m["email"], m["role"]) for m in team_members] == [("t@example.com", "team_lead")]
    seen = (await client.get(f"/api/orgs/{org['id']}/workspaces", headers=joiner.headers)).json()["items"]
    assert [w["name"] for w in seen] == ["Lab"]
    members = (await client.get(f"/api/orgs/{org['id']}/members", headers=owner.headers)).json()["items"]
    assert {m["email"]: m["role"] for m in members}["t@example.com"] == "member"


async def test_an_invitation_opens_the_beta(client: httpx.AsyncClient, session: AsyncSession) -> None:
    owner, org = await make_owned_org(client)
    await session.execute(text("UPDATE system_settings SET value = 'true' WHERE key = 'access.beta_mode'"))
    await session.flush()
    invited = await _invite(client, owner.headers, org["id"], "vip@example.com")
    token = await invitation_token(client, invited.json()["mail_id"])
    closed = await client.post(
        "/api/auth/signup",
        json={"email": "random@example.com", "password": "quartz meadow lantern", "invitation_token": token},
    )
    assert closed.status_code == 403, "a token for another address does not open the beta"
    joined = await signup(client, "vip@example.com", invitation_token=token)
    assert (await client.get(f"/api/orgs/{org['id']}", headers=joined.headers)).status_code == 200


async def test_the_expiry_job_marks_overdue_invitations(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    from saaskit.tenancy.invitations import expire_overdue

    owner, org = await make_owned_org(client)
    overdue = (await _invite(client, owner.headers, org["id"], "old@example.com")).json()
    fresh = (await _invite(client, owner.headers, org["id"], "new@example.com")).json()
    await session.execute(
        text("UPDATE invitations SET expires_at = now() - interval '1 hour' WHERE id = :i"),
        {"i": overdue["id"]},
    )
    assert await expire_overdue(session) == 1
    statuses = dict(
        (
            await session.execute(
                text("SELECT id::text, status FROM invitations WHERE id IN (:a, :b)"),
                {"a": overdue["id"], "b": fresh["id"]},
            )
        ).all()
    )
    assert statuses == {overdue["id"]: "expired", fresh["id"]: "pending"}
