"""The admins' trust API over real HTTP: the queue's filters, a cluster's accounts, actions
(audited), the rules' figures and firings, and refusals (403 for users, 4xx naming the field)."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import make_admin, sql
from tests.helpers import error_of, signup
from tests.trust.conftest import account, trial


async def test_the_queue_and_its_actions(client: httpx.AsyncClient, session: AsyncSession) -> None:
    admin = await make_admin(client, session)
    auth = {"Authorization": f"Bearer {admin.token}"}
    device = "api-farm-" + uuid.uuid4().hex
    farm = [await account(session, device=device) for _ in range(3)]
    for days_ago, user_id in zip((3, 2, 1), farm, strict=True):
        await trial(session, user_id, days_ago)
    office = "api-office-" + uuid.uuid4().hex
    for _ in range(3):
        await account(session, ip=office)
    swept = await client.post("/api/admin/trust/sweep", headers=auth)
    assert swept.status_code == 200, swept.text
    assert swept.json()["fired"]["trial_from_cluster"] == 2

    # The queue: the farm's device cluster (medium: 3 accounts, 3 trials is high), not the office.
    queue = (await client.get("/api/admin/trust/clusters", headers=auth)).json()["items"]
    mine = [c for c in queue if c["identifier_hash"] in (device, office)]
    assert [(c["cluster_type"], c["risk_level"]) for c in mine] == [("device_fingerprint", "high")]
    assert mine[0]["user_ids"] == [str(u) for u in farm]
    with_low = (await client.get("/api/admin/trust/clusters?include_low=true", headers=auth)).json()["items"]
    assert {c["identifier_hash"] for c in with_low} >= {device, office}
    by_user = (await client.get(f"/api/admin/trust/clusters?user_id={farm[1]}", headers=auth)).json()["items"]
    assert [c["identifier_hash"] for c in by_user] == [device]

    cluster_id = mine[0]["id"]
    detail = (await client.get(f"/api/admin/trust/clusters/{cluster_id}", headers=auth)).json()
    assert [m["id"] for m in detail["members"]] == [str(u) for u in farm]
    assert [m["trials"] for m in detail["members"]] == [1, 1, 1]
    assert sorted(p["user_id"] for p in detail["patterns"]) == sorted(str(u) for u in farm[1:])

    patterns = (
        await client.get(
            "/api/admin/trust/patterns?pattern_type=trial_abuse&min_confidence=0.65", headers=auth
        )
    ).json()["items"]
    assert [(p["user_id"], p["confidence_score"]) for p in patterns if p["cluster_id"] == cluster_id] == [
        (str(farm[2]), "0.700")
    ]
    banned = await client.post(
        f"/api/admin/trust/patterns/{patterns[0]['id']}/actions",
        json={"action": "ban", "note": "third trial from one laptop"},
        headers=auth,
    )
    assert banned.status_code == 200, banned.text
    assert banned.json()["data"] == {"action_taken": "banned"}
    status = await sql(session, "SELECT status FROM users WHERE id = :u", u=farm[2])
    assert status[0][0] == "banned"
    reviewed = await client.post(
        f"/api/admin/trust/clusters/{cluster_id}/actions", json={"action": "review"}, headers=auth
    )
    assert reviewed.status_code == 200
    queue = (await client.get("/api/admin/trust/clusters", headers=auth)).json()["items"]
    assert cluster_id not in [c["id"] for c in queue]
    audited = await sql(
        session,
        "SELECT action FROM activities WHERE actor_id = :a AND action LIKE 'trust.%' ORDER BY created_at, action",
        a=admin.id,
    )
    assert sorted(r[0] for r in audited) == ["trust.banned", "trust.cluster_review"]

    # Refusals: bad action, unknown ids, an IP-only action on a device cluster, a user.
    bad = await client.post(
        f"/api/admin/trust/clusters/{cluster_id}/actions", json={"action": "nuke"}, headers=auth
    )
    assert bad.status_code == 422 and error_of(bad)["field"] == "action"
    wrong = await client.post(
        f"/api/admin/trust/clusters/{cluster_id}/actions", json={"action": "shared_network"}, headers=auth
    )
    assert wrong.status_code == 422 and error_of(wrong)["field"] == "action"
    missing = await client.post(
        f"/api/admin/trust/patterns/{uuid.uuid4()}/actions", json={"action": "warn"}, headers=auth
    )
    assert missing.status_code == 404 and error_of(missing)["field"] == "pattern_id"
    note = await client.post(
        f"/api/admin/trust/patterns/{patterns[0]['id']}/actions", json={"action": "note"}, headers=auth
    )
    assert note.status_code == 422 and error_of(note)["field"] == "note"
    user = await signup(client)
    refused = await client.get("/api/admin/trust/clusters", headers={"Authorization": f"Bearer {user.token}"})
    assert refused.status_code == 403


async def test_rules_are_read_and_changed_over_http(client: httpx.AsyncClient, session: AsyncSession) -> None:
    admin = await make_admin(client, session)
    auth = {"Authorization": f"Bearer {admin.token}"}
    before = (await client.get("/api/admin/trust/rules", headers=auth)).json()
    testing = next(r for r in before["rules"] if r["rule"] == "card_testing")
    assert testing["figures"]["min_failures"] == 5
    changed = await client.put(
        "/api/admin/trust/rules",
        json={"rules": {"card_testing": {"min_failures": 8}}, "clusters": {"shared_network_members": 40}},
        headers=auth,
    )
    assert changed.status_code == 200, changed.text
    after = changed.json()
    assert next(r for r in after["rules"] if r["rule"] == "card_testing")["figures"]["min_failures"] == 8
    assert after["clusters"]["shared_network_members"] == 40
    bad = await client.put(
        "/api/admin/trust/rules", json={"rules": {"card_testing": {"min_failures": True}}}, headers=auth
    )
    assert bad.status_code == 422 and error_of(bad)["field"] == "rules.card_testing.min_failures"
    audited = await sql(
        session,
        "SELECT count(*) FROM activities WHERE action = 'trust.rules_changed' AND actor_id = :a",
        a=admin.id,
    )
    assert audited[0][0] == 1
