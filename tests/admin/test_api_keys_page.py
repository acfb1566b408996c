"""The admin's API keys page: every key with its holder, organization, scopes, use and state,
filtered by kind, state and text; never more of a key than its prefix; bad filters are 400."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.admin.conftest import AdminClient
from tests.factories import make_owned_org, sql


async def test_api_keys_page_lists_filters_and_never_shows_a_key(
    admin_client: AdminClient, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner, org = await make_owned_org(client, "Keyed Co")
    personal = await client.post(
        "/api/me/api-keys", headers=owner.headers, json={"name": "deploy bot", "scopes": ["org:read"]}
    )
    organization = await client.post(
        f"/api/orgs/{org['id']}/api-keys",
        headers=owner.headers,
        json={"name": "billing sync", "scopes": ["billing:read"], "rate_limit_per_minute": 30},
    )
    revoked = await client.post(
        "/api/me/api-keys", headers=owner.headers, json={"name": "old laptop", "scopes": ["org:read"]}
    )
    await client.delete(f"/api/me/api-keys/{revoked.json()['id']}", headers=owner.headers)
    await client.get(f"/api/orgs/{org['id']}", headers={"Authorization": f"Bearer {personal.json()['key']}"})
    await sql(
        session,
        "UPDATE api_keys SET expires_at = now() - interval '1 day' WHERE id = :i",
        i=organization.json()["id"],
    )

    http = admin_client.http
    page = await http.get("/admin/api-keys", params={"q": owner.email})
    assert page.status_code == 200, page.text
    for created in (personal, organization, revoked):
        body = created.json()
        assert body["key_prefix"] in page.text and body["key"] not in page.text
        assert body["key"][len(body["key_prefix"]) :] not in page.text
    assert "Keyed Co" in page.text and "billing:read" in page.text and "30/min" in page.text

    def states(text: str) -> dict[str, str]:
        found = {}
        for created in (personal, organization, revoked):
            prefix = created.json()["key_prefix"]
            if f'data-key="{prefix}"' in text:
                row = text.split(f'data-key="{prefix}"', 1)[1].split("</tr>", 1)[0]
                found[created.json()["name"]] = next(
                    s for s in ("active", "expired", "revoked") if f">{s}<" in row
                )
        return found

    assert states(page.text) == {"deploy bot": "active", "billing sync": "expired", "old laptop": "revoked"}
    for params, expected in [
        ({"state": "active"}, {"deploy bot": "active"}),
        ({"state": "revoked"}, {"old laptop": "revoked"}),
        ({"kind": "organization"}, {"billing sync": "expired"}),
        ({"kind": "personal", "state": "expired"}, {}),
    ]:
        filtered = await http.get("/admin/api-keys", params={"q": owner.email, **params})
        assert states(filtered.text) == expected, params
    for bad in ({"state": "paused"}, {"kind": "robot"}):
        assert (await http.get("/admin/api-keys", params=bad)).status_code == 400
    # Only platform admins: a signed-in customer is sent to the admin sign-in.
    admin_client.http.cookies.clear()
    stranger = await client.get("/admin/api-keys", headers=owner.headers)
    assert stranger.status_code == 303 and stranger.headers["location"].startswith("/admin/login")
