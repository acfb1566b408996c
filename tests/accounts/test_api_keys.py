"""API keys (docs/integrations.md): shown once and stored hashed, scoped to the permission
catalog and never beyond their creator, narrowed on every request to what the person behind them
may do now, one organization for an organization key, rotation with an overlap, revocation and
expiry, per-key rate limits, hourly use rows in the activity log, and the paths keys may call."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.state import Runtime
from tests.factories import grant_admin, invite_and_join, make_org, make_owned_org, set_rls, sql
from tests.helpers import error_of, with_limits


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _made(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_personal_key_is_shown_once_hashed_and_scoped(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner, org = await make_owned_org(client)
    created = await _made(
        await client.post(
            "/api/me/api-keys",
            headers=owner.headers,
            json={"name": "CI server", "scopes": ["org:read", "members:read"]},
        )
    )
    key = created["key"]
    assert key.startswith("sak_") and len(key) > 40 and created["key_prefix"] == key[:12]
    stored = await sql(
        session, "SELECT key_hash, to_jsonb(k)::text FROM api_keys k WHERE id = :id", id=created["id"]
    )
    assert stored[0][0] == hashlib.sha256(key.encode()).hexdigest()
    assert key not in stored[0][1], "the key itself is stored nowhere in its row"
    listed = (await client.get("/api/me/api-keys", headers=owner.headers)).json()["items"]
    assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]

    # Within its scopes it works; beyond them it is the owner narrowed: 403.
    assert (await client.get(f"/api/orgs/{org['id']}", headers=_bearer(key))).status_code == 200
    assert (await client.get(f"/api/orgs/{org['id']}/members", headers=_bearer(key))).status_code == 200
    invite = await client.post(
        f"/api/orgs/{org['id']}/invitations",
        headers=_bearer(key),
        json={"email": "x@example.com", "role": "member"},
    )
    assert invite.status_code == 403 and error_of(invite)["code"] == "permission_denied"
    # Who am I: yes; anything else outside organizations, or minting keys: no.
    me = await client.get("/api/me", headers=_bearer(key))
    assert me.status_code == 200 and me.json()["id"] == str(owner.id)
    for method, path in [
        ("PATCH", "/api/me"),
        ("POST", "/api/me/api-keys"),
        ("GET", "/api/me/sessions"),
        ("POST", "/api/orgs"),
    ]:
        refused = await client.request(method, path, headers=_bearer(key), json={})
        assert refused.status_code == 403, (method, path, refused.text)
        assert error_of(refused)["code"] == "api_key_not_allowed"
    minted = await client.post(
        f"/api/orgs/{org['id']}/api-keys", headers=_bearer(key), json={"name": "x", "scopes": ["org:read"]}
    )
    assert minted.status_code == 403

    # Bad input names the field; a key unknown, or with a mangled tail, is 401.
    unknown = await client.post(
        "/api/me/api-keys", headers=owner.headers, json={"name": "x", "scopes": ["root"]}
    )
    assert unknown.status_code == 422 and error_of(unknown)["field"] == "scopes"
    empty = await client.post(
        "/api/me/api-keys", headers=owner.headers, json={"name": "", "scopes": ["org:read"]}
    )
    assert empty.status_code == 422 and error_of(empty)["field"] == "name"
    forged = await client.get(f"/api/orgs/{org['id']}", headers=_bearer(key[:-2] + "xx"))
    assert forged.status_code == 401 and error_of(forged)["code"] == "invalid_api_key"


async def test_platform_admins_keys_are_not_platform_admins(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, org = await make_owned_org(client)
    admin_owner, own = await make_owned_org(client, "Admin's own")
    await grant_admin(session, admin_owner.id)
    key = (
        await _made(
            await client.post(
                "/api/me/api-keys", headers=admin_owner.headers, json={"name": "k", "scopes": ["org:read"]}
            )
        )
    )["key"]
    assert (await client.get(f"/api/orgs/{own['id']}", headers=_bearer(key))).status_code == 200
    # A platform admin reads any organization when signed in; with a key, only their own.
    assert (await client.get(f"/api/orgs/{org['id']}", headers=admin_owner.headers)).status_code == 200
    assert (await client.get(f"/api/orgs/{org['id']}", headers=_bearer(key))).status_code == 404
    assert (await client.get("/api/admin/users", headers=_bearer(key))).status_code == 403


async def test_organization_keys_stay_in_their_organization_and_below_their_creator(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner, org = await make_owned_org(client)
    other = await make_org(client, owner, "Other")
    admin = await invite_and_join(client, owner, org["id"], role="admin")
    member = await invite_and_join(client, owner, org["id"], role="member")
    url = f"/api/orgs/{org['id']}/api-keys"
    # A member cannot manage keys; the second-highest role cannot mint what only owners hold.
    refused = await client.post(url, headers=member.headers, json={"name": "k", "scopes": ["org:read"]})
    assert refused.status_code == 403
    beyond = await client.post(
        url, headers=admin.headers, json={"name": "k", "scopes": ["org:read", "org:delete"]}
    )
    assert beyond.status_code == 403 and error_of(beyond)["code"] == "scope_not_held"
    created = await _made(
        await client.post(
            url, headers=admin.headers, json={"name": "Billing sync", "scopes": ["org:read", "members:read"]}
        )
    )
    key = created["key"]
    assert created["organization_id"] == org["id"]
    assert (await client.get(f"/api/orgs/{org['id']}/members", headers=_bearer(key))).status_code == 200
    # Another organization of the same people: the key does not work there.
    assert (await client.get(f"/api/orgs/{other['id']}", headers=_bearer(key))).status_code == 404
    # Listed for the organization's key managers, not among anyone's personal keys.
    assert [k["id"] for k in (await client.get(url, headers=owner.headers)).json()["items"]] == [
        created["id"]
    ]
    assert (await client.get("/api/me/api-keys", headers=admin.headers)).json()["items"] == []
    # The creator leaves: the key can do nothing more than they can (nothing here now).
    removed = await client.delete(f"/api/orgs/{org['id']}/members/{admin.id}", headers=owner.headers)
    assert removed.status_code in (200, 204), removed.text
    assert (await client.get(f"/api/orgs/{org['id']}", headers=_bearer(key))).status_code == 404
    # Another key manager can still revoke it.
    revoked = await client.delete(f"{url}/{created['id']}", headers=owner.headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert (await client.get(f"/api/orgs/{org['id']}", headers=_bearer(key))).status_code == 401
    # RLS: as the member (their own user, no organization), no key row is visible; as the
    # owner, only their personal keys; in the organization's context, its keys.
    personal = await _made(
        await client.post(
            "/api/me/api-keys", headers=owner.headers, json={"name": "p", "scopes": ["org:read"]}
        )
    )
    for user, organization, expected in [
        (member.id, None, []),
        (owner.id, None, [personal["id"]]),
        (member.id, org["id"], [created["id"]]),
    ]:
        await set_rls(session, user_id=user, organization_id=organization)
        rows = await session.execute(text("SELECT id FROM api_keys ORDER BY created_at"))
        visible = [str(i) for (i,) in rows.all()]
        assert visible == expected, (user, organization)


async def test_rotation_overlap_revocation_expiry_and_use(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner, org = await make_owned_org(client)
    first = await _made(
        await client.post(
            "/api/me/api-keys", headers=owner.headers, json={"name": "deploy", "scopes": ["org:read"]}
        )
    )
    org_url = f"/api/orgs/{org['id']}"
    for _ in range(5):
        assert (await client.get(org_url, headers=_bearer(first["key"]))).status_code == 200
    used = await sql(
        session,
        "SELECT count(*) FROM activities WHERE action = 'api_key.used' AND entity_id = :id",
        id=first["id"],
    )
    assert used == [(1,)], "five requests, one activity row (hourly)"
    listed = (await client.get("/api/me/api-keys", headers=owner.headers)).json()["items"]
    assert listed[0]["last_used_at"] is not None

    rotated = await _made(
        await client.post(
            f"/api/me/api-keys/{first['id']}/rotate", headers=owner.headers, json={"overlap_hours": 1}
        )
    )
    assert rotated["scopes"] == ["org:read"] and rotated["key"] != first["key"]
    # Both work during the overlap; the old one ends within the hour.
    for key in (first["key"], rotated["key"]):
        assert (await client.get(org_url, headers=_bearer(key))).status_code == 200
    ends = await sql(
        session,
        "SELECT expires_at - now() < interval '61 minutes', replaced_by FROM api_keys WHERE id = :id",
        id=first["id"],
    )
    assert ends[0][0] is True and str(ends[0][1]) == rotated["id"]
    again = await client.post(f"/api/me/api-keys/{first['id']}/rotate", headers=owner.headers, json={})
    assert again.status_code == 409
    # Past its expiry a key is refused (time moved by editing the row).
    await sql(
        session, "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = :id", id=first["id"]
    )
    expired = await client.get(org_url, headers=_bearer(first["key"]))
    assert expired.status_code == 401 and error_of(expired)["code"] == "invalid_api_key"
    assert (await client.get("/api/me/api-keys", headers=owner.headers)).json()["items"][0]["id"] == rotated[
        "id"
    ]
    everything = await client.get("/api/me/api-keys?include_inactive=true", headers=owner.headers)
    assert len(everything.json()["items"]) == 2
    # Revoked: refused at once; audited.
    await client.delete(f"/api/me/api-keys/{rotated['id']}", headers=owner.headers)
    assert (await client.get(org_url, headers=_bearer(rotated["key"]))).status_code == 401
    actions = await sql(
        session,
        "SELECT action FROM activities WHERE entity_type = 'api_key' ORDER BY created_at, action",
    )
    assert {"api_key.created", "api_key.rotated", "api_key.revoked", "api_key.used"} <= {
        a for (a,) in actions
    }


async def test_each_key_has_its_rate_limit(client: httpx.AsyncClient, runtime: Runtime) -> None:
    with_limits(runtime, api_key="50/minute")
    owner, org = await make_owned_org(client)
    slow = await _made(
        await client.post(
            "/api/me/api-keys",
            headers=owner.headers,
            json={"name": "slow", "scopes": ["org:read"], "rate_limit_per_minute": 3},
        )
    )
    for _ in range(3):
        assert (await client.get(f"/api/orgs/{org['id']}", headers=_bearer(slow["key"]))).status_code == 200
    refused = await client.get(f"/api/orgs/{org['id']}", headers=_bearer(slow["key"]))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert error_of(refused)["code"] == "rate_limited"
    # Another key of the same person has its own count.
    other = await _made(
        await client.post(
            "/api/me/api-keys", headers=owner.headers, json={"name": "other", "scopes": ["org:read"]}
        )
    )
    assert (await client.get(f"/api/orgs/{org['id']}", headers=_bearer(other["key"]))).status_code == 200


async def test_flag_definitions_take_a_key_with_flags_read(client: httpx.AsyncClient) -> None:
    owner, org = await make_owned_org(client)
    ingestion = (await client.post(f"/api/orgs/{org['id']}/ingestion-keys", headers=owner.headers)).json()[
        "key"
    ]
    reader = await _made(
        await client.post(
            "/api/me/api-keys", headers=owner.headers, json={"name": "sdk", "scopes": ["flags:read"]}
        )
    )
    blind = await _made(
        await client.post(
            "/api/me/api-keys", headers=owner.headers, json={"name": "no", "scopes": ["org:read"]}
        )
    )
    url = f"/api/feature_flag/local_evaluation?token={ingestion}"
    assert (await client.get(url, headers=_bearer(reader["key"]))).status_code == 200
    assert (await client.get(url, headers=_bearer(blind["key"]))).status_code == 403
