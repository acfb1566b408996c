"""The organization's admin page lists its integrations (seed 004), never their tokens."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tests.admin.conftest import AdminClient
from tests.factories import insert_org, sql


async def test_org_page_lists_integrations_without_tokens(
    admin_client: AdminClient, session: AsyncSession
) -> None:
    org = await insert_org(session, name="Wired")
    before = (await admin_client.http.get(f"/admin/orgs/{org}")).text
    assert "No provider connected." in before
    await sql(
        session,
        "INSERT INTO integrations (organization_id, provider, external_account_id, external_account_email, "
        "scopes, access_token_sealed, token_expires_at) VALUES "
        "(:org, 'github', '583231', 'octo@wired.example', ARRAY['read:user', 'repo'], "
        "'\\x01deadbeef'::bytea, '2030-01-02 03:04+00'), "
        "(:org, 'google', 'g-1', NULL, ARRAY['openid'], NULL, NULL)",
        org=org,
    )
    await sql(
        session,
        "UPDATE integrations SET status = 'disconnected', disconnected_at = '2026-12-01' WHERE provider = 'google'",
    )
    html = (await admin_client.http.get(f"/admin/orgs/{org}")).text
    assert "No provider connected." not in html
    assert "octo@wired.example" in html and "read:user repo" in html and "2030-01-02 03:04" in html
    assert "g-1" in html and "disconnected" in html and "2026-12-01" in html
    assert "deadbeef" not in html
