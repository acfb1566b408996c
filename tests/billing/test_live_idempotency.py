"""``POST .../subscriptions`` with an ``Idempotency-Key``: a retry replays the first answer (it
used to be 409 ``already_subscribed``), over real HTTP with localstripe as Stripe."""

from __future__ import annotations

import pytest

from tests.billing.conftest import Billing, org_of

pytestmark = pytest.mark.live


async def test_a_retried_subscribe_replays_the_first_answer(billing_server: Billing) -> None:
    b = billing_server
    pro = await b.create_plan("Pro", "pro", 1500, limits={"max_dashboards": 5})
    business = await b.create_plan("Business", "business", 4900)
    await b.sync()
    user = await b.signup()
    url = "/api/billing/subscriptions"

    # Without a card: 402, and that answer is what this key answers from now on (as at Stripe).
    refused = await b.http.post(
        url, json={"plan_id": pro["id"]}, headers={**user.headers, "Idempotency-Key": "k-402"}
    )
    assert refused.status_code == 402
    await b.save_card(user)
    again = await b.http.post(
        url, json={"plan_id": pro["id"]}, headers={**user.headers, "Idempotency-Key": "k-402"}
    )
    assert (again.status_code, again.content, again.headers["Idempotent-Replayed"]) == (
        402,
        refused.content,
        "true",
    )

    headers = {**user.headers, "Idempotency-Key": "subscribe-7f3c"}
    first = await b.http.post(url, json={"plan_id": pro["id"]}, headers=headers)
    assert first.status_code == 201, first.text
    retried = await b.http.post(url, json={"plan_id": pro["id"]}, headers=headers)
    assert retried.status_code == 201, retried.text
    assert retried.content == first.content and retried.headers["Idempotent-Replayed"] == "true"
    # One subscription here and at Stripe.
    assert await b.scalar("SELECT count(*) FROM subscriptions WHERE user_id = :u", u=user.id) == 1
    customer = await b.scalar("SELECT stripe_customer_id FROM users WHERE id = :u", u=user.id)
    assert len(b.stripe.v1.subscriptions.list({"customer": customer}).data) == 1

    # The same key with another body: 422, nothing done.
    other = await b.http.post(url, json={"plan_id": business["id"]}, headers=headers)
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    # Another key still meets the rule: one live subscription.
    second = await b.http.post(
        url, json={"plan_id": pro["id"]}, headers={**user.headers, "Idempotency-Key": "k-2"}
    )
    assert second.status_code == 409 and second.json()["error"]["code"] == "already_subscribed"
    # Keys are one user's: another user's same key is theirs alone.
    stranger = await b.signup()
    theirs = await b.http.post(
        url, json={"plan_id": pro["id"]}, headers={**stranger.headers, "Idempotency-Key": "subscribe-7f3c"}
    )
    assert theirs.status_code == 402 and "Idempotent-Replayed" not in theirs.headers


async def test_an_organization_subscribe_replays_too(billing_server: Billing) -> None:
    b = billing_server
    team = await b.create_plan("Team", "team", 9900)
    await b.sync()
    owner = await b.signup()
    org_id = await org_of(b, owner)
    prefix = f"/api/orgs/{org_id}/billing"
    await b.save_card(owner, prefix=prefix)
    headers = {**owner.headers, "Idempotency-Key": "org-subscribe-1"}
    first = await b.http.post(f"{prefix}/subscriptions", json={"plan_id": team["id"]}, headers=headers)
    assert first.status_code == 201, first.text
    retried = await b.http.post(f"{prefix}/subscriptions", json={"plan_id": team["id"]}, headers=headers)
    assert (retried.status_code, retried.content) == (201, first.content)
    assert await b.scalar("SELECT count(*) FROM subscriptions WHERE organization_id = :o", o=org_id) == 1
    audit = await b.scalar(
        "SELECT count(*) FROM activities WHERE organization_id = :o AND action = 'subscription.created'",
        o=org_id,
    )
    assert audit == 1
    # The key belongs to this request: on the personal endpoint it is another request.
    personal = await b.http.post("/api/billing/subscriptions", json={"plan_id": team["id"]}, headers=headers)
    assert personal.status_code == 422 and personal.json()["error"]["code"] == "idempotency_key_reused"
