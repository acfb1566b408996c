"""Organization quotas through the real app on committed data: counted quotas (API calls) and
seats under concurrent requests never pass the plan's limit; 429 ``quota_exceeded`` names the
limit; the organization's admins read the figures; counters reset with the billing period."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from tests.billing.conftest import service_rows
from tests.factories import insert_plan, insert_subscription, invitation_token, make_owned_org
from tests.helpers import SignedUp, error_of, signup, with_limits

pytestmark = pytest.mark.live  # committed data in a fresh database


async def _subscribed_org(
    client: httpx.AsyncClient, runtime: Runtime, limits: dict[str, object]
) -> tuple[str, SignedUp, uuid.UUID, datetime]:
    owned = await make_owned_org(client, "Quota Org")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    async with runtime.db.session(SERVICE) as session:
        plan = await insert_plan(session, "Team " + uuid.uuid4().hex[:6], "team", 9900, limits=limits)
        sub = await insert_subscription(
            session,
            organization_id=uuid.UUID(owned.org["id"]),
            plan_id=plan,
            plan_name="Team",
            tier="team",
            current_period_start=start,
            current_period_end=start + timedelta(days=30),
        )
    return owned.org["id"], owned.owner, sub, start


def _quota_refusal(response: httpx.Response, name: str, limit: int) -> None:
    assert response.status_code == 429, response.text
    error = error_of(response)
    assert error["code"] == "quota_exceeded" and error["quota"] == name and error["limit"] == limit
    assert name in error["message"]


async def test_counted_quota_holds_under_concurrency_and_resets_with_the_period(
    app_client: httpx.AsyncClient, fresh_runtime: Runtime
) -> None:
    org_id, owner, sub, start = await _subscribed_org(
        app_client, fresh_runtime, {"seats": 5, "quotas": {"api_calls": 50}}
    )
    path = f"/api/orgs/{org_id}/billing/usage"

    async def use(n: int) -> httpx.Response:
        body = {"metric_name": "api_calls", "quantity": 3, "idempotency_key": f"call-{n}"}
        return await app_client.post(path, json=body, headers=owner.headers)

    answers = await asyncio.gather(*(use(n) for n in range(30)))
    codes = [a.status_code for a in answers]
    assert codes.count(201) == 16 and codes.count(429) == 14  # 16 x 3 = 48 <= 50 < 17 x 3
    for refused in (a for a in answers if a.status_code == 429):
        _quota_refusal(refused, "api_calls", 50)
    # Nothing of a refused use was recorded; the counter is the records' sum.
    recorded = await service_rows(
        fresh_runtime,
        "SELECT count(*), sum(quantity) FROM usage_records WHERE organization_id = :o",
        o=org_id,
    )
    assert recorded == [(16, 48)]
    counter = await service_rows(fresh_runtime, "SELECT used, period_start FROM organization_quota_usage")
    assert counter == [(48, start)]

    seen = await app_client.get(f"/api/orgs/{org_id}/billing/quotas", headers=owner.headers)
    assert seen.status_code == 200, seen.text
    quotas = {q["name"]: q for q in seen.json()["quotas"]}
    assert quotas["api_calls"]["used"] == 48 and quotas["api_calls"]["remaining"] == 2
    assert quotas["api_calls"]["kind"] == "counted" and quotas["api_calls"]["limit"] == 50
    assert quotas["seats"] == {**quotas["seats"], "kind": "seats", "limit": 5, "used": 1}
    # One more unit fits exactly; a replayed key is answered without counting again.
    one = await app_client.post(
        path,
        json={"metric_name": "api_calls", "quantity": 2, "idempotency_key": "last"},
        headers=owner.headers,
    )
    assert one.status_code == 201, one.text
    again = await app_client.post(
        path,
        json={"metric_name": "api_calls", "quantity": 2, "idempotency_key": "last"},
        headers=owner.headers,
    )
    assert again.status_code == 200, again.text
    _quota_refusal(await use(99), "api_calls", 50)
    # A metric without a quota is not limited.
    free = await app_client.post(
        path, json={"metric_name": "exports", "quantity": 500, "idempotency_key": "e"}, headers=owner.headers
    )
    assert free.status_code == 201, free.text

    # The next billing period: the counter starts again at zero.
    await service_rows(
        fresh_runtime,
        "UPDATE subscriptions SET current_period_start = :s, current_period_end = :e WHERE id = :id",
        s=start + timedelta(days=2),
        e=start + timedelta(days=32),
        id=sub,
    )
    renewed = await app_client.get(f"/api/orgs/{org_id}/billing/quotas", headers=owner.headers)
    assert {q["name"]: q["used"] for q in renewed.json()["quotas"]}["api_calls"] == 0
    assert (await use(100)).status_code == 201


async def test_quotas_are_for_the_organizations_billing_readers(
    app_client: httpx.AsyncClient, fresh_runtime: Runtime
) -> None:
    org_id, owner, _, _ = await _subscribed_org(app_client, fresh_runtime, {"quotas": {"events": 10}})
    stranger = await signup(app_client)
    refused = await app_client.get(f"/api/orgs/{org_id}/billing/quotas", headers=stranger.headers)
    assert refused.status_code in (403, 404), refused.text
    mine = await app_client.get(f"/api/orgs/{org_id}/billing/quotas", headers=owner.headers)
    assert [q["name"] for q in mine.json()["quotas"]] == ["events"]


async def test_seats_hold_under_concurrent_acceptances(
    app_client: httpx.AsyncClient, fresh_runtime: Runtime
) -> None:
    with_limits(
        fresh_runtime,
        invitations_per_user="100/hour",
        invitations_per_ip="100/hour",
        invitation_answers_per_user="100/hour",
    )
    org_id, owner, _, _ = await _subscribed_org(app_client, fresh_runtime, {"seats": 3})
    invitees = [await signup(app_client) for _ in range(5)]
    tokens = []
    for invitee in invitees:
        invited = await app_client.post(
            f"/api/orgs/{org_id}/invitations", headers=owner.headers, json={"email": invitee.email}
        )
        assert invited.status_code == 201, invited.text
        tokens.append(await invitation_token(app_client, invited.json()["mail_id"]))

    answers = await asyncio.gather(
        *(
            app_client.post("/api/invitations/accept", headers=invitee.headers, json={"token": token})
            for invitee, token in zip(invitees, tokens, strict=True)
        )
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 200, 429, 429, 429], [a.text for a in answers]
    for refused in (a for a in answers if a.status_code == 429):
        _quota_refusal(refused, "seats", 3)
    members = await service_rows(
        fresh_runtime,
        "SELECT count(*) FROM organization_members WHERE organization_id = :o AND is_active",
        o=org_id,
    )
    assert members == [(3,)]

    # A deactivated member frees a seat; reactivating one needs a free seat too.
    accepted = [i for i, a in zip(invitees, answers, strict=True) if a.status_code == 200]
    refused = [(i, t) for i, t, a in zip(invitees, tokens, answers, strict=True) if a.status_code == 429]
    members_path = f"/api/orgs/{org_id}/members"
    off = await app_client.patch(
        f"{members_path}/{accepted[0].id}", headers=owner.headers, json={"is_active": False}
    )
    assert off.status_code == 200, off.text
    invitee, token = refused[0]  # the refused acceptance changed nothing: its invitation still works
    late = await app_client.post("/api/invitations/accept", headers=invitee.headers, json={"token": token})
    assert late.status_code == 200, late.text
    back = await app_client.patch(
        f"{members_path}/{accepted[0].id}", headers=owner.headers, json={"is_active": True}
    )
    _quota_refusal(back, "seats", 3)
