"""An organization connects a provider through the real OAuth flow (oidc-provider on loopback),
its tokens are stored sealed, refreshed at the provider once expired, listed, and disconnected
(tokens forgotten and revoked at the provider); other organizations see none of it (RLS)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from saaskit.config import ProductSettings
from saaskit.integrations import service
from saaskit.integrations.models import Integration
from saaskit.kit.bootstrap import build_runtime
from saaskit.kit.db import Context, Database
from saaskit.kit.errors import Conflict
from saaskit.kit.state import Runtime
from tests.accounts.oidc_support import SECRET, account, authorize, oidc_issuer, oidc_settings
from tests.conftest import TEST_SECRET, make_settings
from tests.factories import make_member, make_owned_org, one, set_rls
from tests.helpers import error_of

__all__ = ["oidc_issuer"]


@pytest.fixture
def runtime(oidc_issuer: str, app_engine: AsyncEngine) -> Runtime:
    settings = make_settings(
        oidc=oidc_settings(oidc_issuer),
        product=ProductSettings(url="http://product.test", api_url="http://testserver"),
    )
    return build_runtime(settings, Database(app_engine), TEST_SECRET)


async def userinfo(issuer: str, access_token: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(f"{issuer}/me", headers={"Authorization": f"Bearer {access_token}"})


async def test_connect_refresh_list_and_disconnect(
    client: httpx.AsyncClient, session: AsyncSession, runtime: Runtime, oidc_issuer: str
) -> None:
    owner, org = await make_owned_org(client)
    org_id = uuid.UUID(org["id"])
    base = f"/api/orgs/{org_id}/integrations"
    member = await make_member(client, session, org_id)
    refused = await client.post(f"{base}/corp/connect", json={}, headers=member.headers)
    assert refused.status_code == 403 and error_of(refused)["code"] == "permission_denied"

    started = await client.post(f"{base}/corp/connect", json={}, headers=owner.headers)
    assert started.status_code == 200, started.text
    url = started.json()["authorization_url"]
    assert "offline_access" in url and "code_challenge_method=S256" in url
    callback = await client.get(await authorize(url, account("ops@acme.example", sub="acme-ops")))
    assert callback.status_code == 200, callback.text
    connected = callback.json()
    assert connected["external_account_id"] == "acme-ops" and connected["status"] == "active"
    assert connected["has_refresh_token"] is True and "offline_access" in connected["scopes"]
    assert connected["connected_by_user_id"] == str(owner.id)

    listed = await client.get(base, headers=member.headers)  # org:read is enough to list
    assert [i["id"] for i in listed.json()] == [connected["id"]]
    integration_id = uuid.UUID(connected["id"])

    # Stored sealed: the raw token is not in the row; it opens only for this row.
    await set_rls(session, service=True)
    row = await session.get_one(Integration, integration_id, populate_existing=True)
    first = service._open(runtime, row.id, "access", row.access_token_sealed)
    refresh_token = service._open(runtime, row.id, "refresh", row.refresh_token_sealed)
    assert first and refresh_token and first.encode() not in (row.access_token_sealed or b"")
    assert (await userinfo(oidc_issuer, first)).json()["sub"] == "acme-ops"

    async with runtime.db.session(Context(organization_id=org_id)) as work:
        same = await service.access_token(
            work, runtime, organization_id=org_id, integration_id=integration_id
        )
    assert (same.token, same.refreshed) == (first, False)

    # Expired: the next use refreshes at the provider, stores the new token, and it works there.
    await session.execute(
        text("UPDATE integrations SET token_expires_at = now() - interval '1 minute' WHERE id = :id"),
        {"id": integration_id},
    )
    async with runtime.db.session(Context(organization_id=org_id)) as work:
        fresh = await service.access_token(
            work, runtime, organization_id=org_id, integration_id=integration_id
        )
    assert fresh.refreshed and fresh.token != first
    assert (await userinfo(oidc_issuer, fresh.token)).json()["sub"] == "acme-ops"
    stored = await one(
        session,
        "SELECT token_expires_at > now(), last_refreshed_at IS NOT NULL FROM integrations WHERE id = :id",
        id=integration_id,
    )
    assert tuple(stored) == (True, True)

    # Another organization's context sees nothing of it.
    other_owner, other = await make_owned_org(client, "Other")
    await set_rls(session, user_id=other_owner.id, organization_id=other["id"])
    assert (await session.execute(text("SELECT count(*) FROM integrations"))).scalar_one() == 0
    listed_elsewhere = await client.get(f"/api/orgs/{other['id']}/integrations", headers=other_owner.headers)
    assert listed_elsewhere.json() == []

    gone = await client.delete(f"{base}/{integration_id}", headers=owner.headers)
    assert gone.status_code == 200, gone.text
    assert gone.json()["status"] == "disconnected" and gone.json()["has_refresh_token"] is False
    row = await one(
        session,
        "SELECT access_token_sealed, refresh_token_sealed, disconnected_by_user_id FROM integrations "
        "WHERE id = :id",
        id=integration_id,
    )
    assert tuple(row) == (None, None, owner.id)
    assert (await client.get(base, headers=owner.headers)).json() == []
    # Revoked at the provider once committed: the refresh token no longer works there.
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"{oidc_issuer}/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=("saaskit", SECRET),
        )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    again = await client.delete(f"{base}/{integration_id}", headers=owner.headers)
    assert again.status_code == 409 and error_of(again)["code"] == "already_disconnected"


async def test_a_refused_refresh_marks_the_integration(
    client: httpx.AsyncClient, session: AsyncSession, runtime: Runtime
) -> None:
    owner, org = await make_owned_org(client)
    org_id = uuid.UUID(org["id"])
    started = await client.post(
        f"/api/orgs/{org_id}/integrations/corp/connect", json={}, headers=owner.headers
    )
    connected = (
        await client.get(await authorize(started.json()["authorization_url"], account("x@acme.example")))
    ).json()
    integration_id = uuid.UUID(connected["id"])
    # A refresh token the provider does not know (revoked there, say), sealed for this row.
    await set_rls(session, service=True)
    await session.execute(
        text(
            "UPDATE integrations SET token_expires_at = now() - interval '1 hour', "
            "refresh_token_sealed = :sealed WHERE id = :id"
        ),
        {
            "id": integration_id,
            "sealed": service._seal(runtime, integration_id, "refresh", "not-a-real-token"),
        },
    )
    async with runtime.db.session(Context(organization_id=org_id)) as work:
        with pytest.raises(Conflict) as refused:
            await service.access_token(work, runtime, organization_id=org_id, integration_id=integration_id)
        await work.commit()  # what a job does: the status is recorded
    assert refused.value.code == "integration_refresh_failed"
    row = await one(session, "SELECT status, last_error FROM integrations WHERE id = :id", id=integration_id)
    assert tuple(row) == ("refresh_failed", "invalid_grant")
