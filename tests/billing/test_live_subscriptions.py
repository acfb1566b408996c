"""Subscriptions end to end: saaskit served over HTTP, localstripe as Stripe, its signed webhooks
arriving for real."""

from __future__ import annotations

import pytest

from tests.billing.conftest import Billing, event_of, eventually, org_of
from tests.factories import invitation_token

pytestmark = pytest.mark.live


async def test_subscribe_pay_change_cancel_resume(billing_server: Billing) -> None:
    b = billing_server
    pro = await b.create_plan("Pro", "pro", 1500, limits={"max_dashboards": 5})
    business = await b.create_plan("Business", "business", 4900, limits={"max_dashboards": 20})
    await b.sync()
    user = await b.signup()

    # No card yet: 402 naming what is missing.
    refused = await b.http.post(
        "/api/billing/subscriptions", json={"plan_id": pro["id"]}, headers=user.headers
    )
    assert refused.status_code == 402 and refused.json()["error"]["code"] == "payment_method_required", (
        refused.text
    )

    card = await b.save_card(user)
    assert await b.scalar("SELECT stripe_payment_method_id FROM users WHERE id = :u", u=user.id) == card
    fingerprint = await b.scalar(
        "SELECT card_fingerprint_hash FROM payment_methods WHERE user_id = :u", u=user.id
    )
    assert fingerprint is None or len(fingerprint) == 64  # a keyed hash, never Stripe's raw fingerprint

    created = await b.http.post(
        "/api/billing/subscriptions", json={"plan_id": pro["id"]}, headers=user.headers
    )
    assert created.status_code == 201, created.text
    sub = created.json()
    assert sub["status"] == "active" and sub["plan_name"] == "Pro" and sub["tier"] == "pro"
    assert sub["current_period_end"] and sub["ends_at"] == sub["current_period_end"]
    tier = await b.sql("SELECT tier, max_dashboards, total_spent_cents FROM users WHERE id = :u", u=user.id)
    assert tuple(tier[0]) == ("pro", 5, 1500)

    # The first invoice, paid, with its line; counted once in total_spent_cents.
    invoices = (await b.http.get("/api/billing/invoices", headers=user.headers)).json()["items"]
    assert [(i["status"], i["total_cents"]) for i in invoices] == [("paid", 1500)]
    detail = (await b.http.get(f"/api/billing/invoices/{invoices[0]['id']}", headers=user.headers)).json()
    assert [(line["amount_cents"], line["proration"]) for line in detail["lines"]] == [(1500, False)]

    # A second subscription while one is live: 409.
    again = await b.http.post("/api/billing/subscriptions", json={"plan_id": pro["id"]}, headers=user.headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_subscribed"

    # localstripe's webhooks arrive and are processed; the payment is not counted twice.
    await eventually(
        lambda: b.scalar(
            "SELECT count(*) = 3 FROM stripe_webhook_events WHERE processing_status = 'processed' AND event_type IN "
            "('customer.subscription.created', 'invoice.payment_succeeded', 'invoice.created')"
        ),
        what="subscription and invoice webhooks",
    )
    created_event = (await b.events("customer.subscription.created"))[0]
    assert (created_event.old_tier, created_event.new_tier) == ("pro", "pro")
    assert await b.scalar("SELECT total_spent_cents FROM users WHERE id = :u", u=user.id) == 1500
    assert await b.scalar("SELECT count(*) FROM payment_transactions WHERE user_id = :u", u=user.id) == 1

    # Upgrade: Stripe replaces the item; the tier and limits follow at once.
    changed = await b.http.patch(
        f"/api/billing/subscriptions/{sub['id']}", json={"plan_id": business["id"]}, headers=user.headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["tier"] == "business" and changed.json()["plan_name"] == "Business"
    assert await b.scalar("SELECT max_dashboards FROM users WHERE id = :u", u=user.id) == 20

    # Cancel at period end, resume, then cancel at once.
    ending = await b.http.post(
        f"/api/billing/subscriptions/{sub['id']}/cancel", json={}, headers=user.headers
    )
    assert ending.json()["cancel_at_period_end"] is True and ending.json()["status"] == "active"
    resumed = await b.http.post(f"/api/billing/subscriptions/{sub['id']}/resume", headers=user.headers)
    assert resumed.json()["cancel_at_period_end"] is False
    ended = await b.http.post(
        f"/api/billing/subscriptions/{sub['id']}/cancel", json={"at_period_end": False}, headers=user.headers
    )
    assert ended.status_code == 200, ended.text
    assert ended.json()["status"] == "cancelled" and ended.json()["ended_at"]
    assert await b.scalar("SELECT tier FROM users WHERE id = :u", u=user.id) == "free"
    deleted = await eventually(
        lambda: b.sql(
            "SELECT processing_status, old_tier, new_tier FROM stripe_webhook_events "
            "WHERE event_type = 'customer.subscription.deleted' AND processing_status = 'processed'"
        ),
        what="customer.subscription.deleted",
    )
    assert tuple(deleted[0]) == ("processed", "free", "free")
    assert await b.scalar("SELECT status FROM subscriptions WHERE id = :s", s=sub["id"]) == "cancelled"
    resume_ended = await b.http.post(f"/api/billing/subscriptions/{sub['id']}/resume", headers=user.headers)
    assert resume_ended.status_code == 409


async def test_organization_subscription_needs_billing_manage(billing_server: Billing) -> None:
    b = billing_server
    team = await b.create_plan("Team", "team", 9900)
    await b.sync()
    owner = await b.signup()
    org_id = await org_of(b, owner)
    prefix = f"/api/orgs/{org_id}/billing"
    member = await b.signup()
    invited = await b.http.post(
        f"/api/orgs/{org_id}/invitations",
        json={"email": member.email, "role": "member"},
        headers=owner.headers,
    )
    assert invited.status_code == 201, invited.text
    # A member without billing:manage cannot subscribe (403).
    token = await invitation_token(b.http, invited.json()["mail_id"], b.runtime)
    accepted = await b.http.post("/api/invitations/accept", json={"token": token}, headers=member.headers)
    assert accepted.status_code == 200, accepted.text
    forbidden = await b.http.post(
        f"{prefix}/subscriptions", json={"plan_id": team["id"]}, headers=member.headers
    )
    assert forbidden.status_code == 403
    # A stranger gets 404: other tenants' ids do not leak.
    stranger = await b.signup()
    assert (await b.http.get(f"{prefix}/subscriptions", headers=stranger.headers)).status_code == 404

    await b.save_card(owner, prefix=prefix)
    created = await b.http.post(
        f"{prefix}/subscriptions", json={"plan_id": team["id"]}, headers=owner.headers
    )
    assert created.status_code == 201, created.text
    sub = created.json()
    assert sub["organization_id"] == org_id and sub["user_id"] is None and sub["status"] == "active"
    assert (
        str(await b.scalar("SELECT subscription_id FROM organizations WHERE id = :o", o=org_id)) == sub["id"]
    )
    # The owner's personal tier is untouched; the organization's invoice is the organization's.
    assert await b.scalar("SELECT tier FROM users WHERE id = :u", u=owner.id) == "free"
    listed = (await b.http.get(f"{prefix}/invoices", headers=owner.headers)).json()["items"]
    assert (
        len(listed) == 1
        and (await b.http.get("/api/billing/invoices", headers=owner.headers)).json()["items"] == []
    )
    audit = await b.scalar(
        "SELECT count(*) FROM activities WHERE organization_id = :o AND action = 'subscription.created'",
        o=org_id,
    )
    assert audit == 1
    linked = await eventually(
        lambda: b.scalar(
            "SELECT organization_id::text FROM stripe_webhook_events "
            "WHERE event_type = 'customer.subscription.created' AND processing_status = 'processed'"
        ),
        what="the organization's subscription webhook",
    )
    assert linked == org_id


async def test_an_event_of_the_second_of_saaskits_own_call_is_applied(billing_server: Billing) -> None:
    """Stripe's ``created`` is whole seconds: an event of the same second as saaskit's own call is
    not older than what that call stored, and is applied (it used to be dropped as stale)."""
    b = billing_server
    pro = await b.create_plan("Pro", "pro", 1500, limits={"max_dashboards": 5})
    await b.sync()
    user = await b.signup()
    await b.save_card(user)
    created = await b.http.post(
        "/api/billing/subscriptions", json={"plan_id": pro["id"]}, headers=user.headers
    )
    assert created.status_code == 201, created.text
    stored = (
        await b.sql(
            "SELECT stripe_subscription_id, stripe_updated_at FROM subscriptions WHERE id = :s",
            s=created.json()["id"],
        )
    )[0]
    second = int(stored.stripe_updated_at.timestamp())
    invoice_id = await b.scalar(
        "SELECT stripe_invoice_id FROM invoices WHERE subscription_id = :s", s=created.json()["id"]
    )
    # localstripe's own deliveries for the invoice, made during that call, are in first (of two
    # different snapshots of one second, the one applied last wins: docs in billing/sync.py).
    await eventually(
        lambda: b.scalar(
            "SELECT count(*) = 2 FROM stripe_webhook_events WHERE processing_status = 'processed' "
            "AND event_type IN ('invoice.created', 'invoice.payment_succeeded')"
        ),
        what="localstripe's invoice events",
    )

    # In that same second the customer asks Stripe (its portal) to cancel at the period's end.
    at_stripe = b.stripe.v1.subscriptions.update(
        stored.stripe_subscription_id, {"cancel_at_period_end": True}
    )
    updated = event_of("customer.subscription.updated", at_stripe.to_dict(), created=second)
    invoice = b.stripe.v1.invoices.retrieve(invoice_id).to_dict()
    invoice["hosted_invoice_url"] = "https://invoice.stripe.com/i/acct_1/in_same_second"
    invoice_updated = event_of("invoice.updated", invoice, created=second)
    for event in (updated, invoice_updated):
        assert b.post_event(event).status_code == 200
    await eventually(
        lambda: b.scalar(
            "SELECT count(*) = 2 FROM stripe_webhook_events WHERE stripe_event_id IN (:a, :b) "
            "AND processing_status = 'processed'",
            a=updated["id"],
            b=invoice_updated["id"],
        ),
        what="the same-second events",
    )
    row = (
        await b.sql(
            "SELECT status, cancel_at_period_end, stripe_updated_at FROM subscriptions WHERE id = :s",
            s=created.json()["id"],
        )
    )[0]
    assert (row.status, row.cancel_at_period_end) == ("active", True)
    assert int(row.stripe_updated_at.timestamp()) == second and row.stripe_updated_at.microsecond == 0
    got = (
        await b.http.get(f"/api/billing/subscriptions/{created.json()['id']}", headers=user.headers)
    ).json()
    assert got["cancel_at_period_end"] is True
    assert (
        await b.scalar("SELECT hosted_invoice_url FROM invoices WHERE stripe_invoice_id = :i", i=invoice_id)
        == invoice["hosted_invoice_url"]
    )

    # A creation snapshot of that same second (the subscription's first state) arriving late
    # does not replace it; nor does a snapshot of an earlier second.
    first_state = {**at_stripe.to_dict(), "cancel_at_period_end": False, "status": "incomplete"}
    late = [
        event_of("customer.subscription.created", first_state, created=second),
        event_of("customer.subscription.updated", first_state, created=second - 1),
    ]
    for event in late:
        assert b.post_event(event).status_code == 200
        await eventually(
            lambda e=event: b.sql(  # type: ignore[misc]
                "SELECT 1 FROM stripe_webhook_events WHERE stripe_event_id = :e AND processing_status = 'processed'",
                e=e["id"],
            ),
            what=event["type"],
        )
    row = (
        await b.sql(
            "SELECT status, cancel_at_period_end FROM subscriptions WHERE id = :s", s=created.json()["id"]
        )
    )[0]
    assert (row.status, row.cancel_at_period_end) == ("active", True)
    assert await b.scalar("SELECT tier FROM users WHERE id = :u", u=user.id) == "pro"
