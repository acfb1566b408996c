"""Dunning and auto top-up with Stripe for real (localstripe) and signed events in today's shapes:
a failed subscription invoice followed through Stripe's retries (in any order), an
authentication request with the hosted invoice page, recovery, the grace period's warning and
the downgrade or suspension by the job; a SetupIntent asked for auto top-up switching it on."""

from __future__ import annotations

import dataclasses
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from saaskit.billing import dunning, ledger
from saaskit.billing.models import DunningCase
from saaskit.billing.owners import Owner
from saaskit.config import DunningSettings
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from tests.billing.conftest import Billing, event_of, eventually, sample
from tests.factories import insert_org
from tests.helpers import SignedUp

pytestmark = pytest.mark.live


async def _processed(b: Billing, event_id: str) -> Any:
    rows = await b.sql(
        "SELECT processing_status, error_message FROM stripe_webhook_events WHERE stripe_event_id = :e",
        e=event_id,
    )
    return rows[0] if rows and rows[0].processing_status in ("processed", "failed", "ignored") else None


async def _deliver(b: Billing, event: dict[str, Any]) -> None:
    assert b.post_event(event).status_code == 200
    outcome = await eventually(lambda: _processed(b, event["id"]), what=event["type"])
    assert outcome.processing_status == "processed", outcome.error_message


async def _subscribed(b: Billing) -> tuple[SignedUp, str, str]:
    if not await b.scalar("SELECT count(*) FROM subscription_plans WHERE name = 'Pro'"):
        await b.create_plan("Pro", "pro", 1500)
        await b.sync()
    plan_id = await b.scalar("SELECT id FROM subscription_plans WHERE name = 'Pro'")
    user = await b.signup()
    await b.save_card(user)
    answer = await b.http.post(
        "/api/billing/subscriptions", json={"plan_id": str(plan_id)}, headers=user.headers
    )
    assert answer.status_code == 201, answer.text
    customer = await b.scalar("SELECT stripe_customer_id FROM users WHERE id = :u", u=user.id)
    return user, customer, answer.json()["stripe_subscription_id"]


def _invoice(customer: str, subscription: str, invoice_id: str, **changes: Any) -> dict[str, Any]:
    invoice = sample("invoice")
    invoice.update(
        {
            "id": invoice_id,
            "customer": customer,
            "subscription": subscription,
            "parent": {
                "type": "subscription_details",
                "subscription_details": {"subscription": subscription},
            },
            "status": "open",
            "currency": "usd",
            "amount_due": 1500,
            "number": "PRO-0007",
            "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_test/{invoice_id}",
            "lines": {"object": "list", "data": [], "has_more": False},
            **changes,
        }
    )
    return invoice


async def _case(b: Billing, invoice_id: str) -> Any:
    rows = await b.sql(
        "SELECT status, attempt_count, next_payment_attempt, grace_ends_at, first_failed_at, hosted_invoice_url "
        "FROM dunning_cases WHERE stripe_invoice_id = :i",
        i=invoice_id,
    )
    return rows[0] if rows else None


async def test_failed_invoice_retries_action_required_then_downgrade(billing_server: Billing) -> None:
    b = billing_server
    user, customer, sub = await _subscribed(b)
    invoice_id = "in_dun_" + secrets.token_hex(6)
    now = int(time.time())
    first = event_of(
        "invoice.payment_failed",
        _invoice(customer, sub, invoice_id, attempt_count=1, next_payment_attempt=now + 3 * 86400),
        created=now - 60,
    )
    second = event_of(
        "invoice.payment_failed",
        _invoice(customer, sub, invoice_id, attempt_count=2, next_payment_attempt=now + 5 * 86400),
        created=now,
    )
    # Stripe's retry reported before the first failure: the case follows the newest attempt and
    # its grace counts from the first failure.
    await _deliver(b, second)
    await _deliver(b, first)
    case = await _case(b, invoice_id)
    assert case.status == "open" and case.attempt_count == 2
    assert int(case.next_payment_attempt.timestamp()) == now + 5 * 86400
    assert int(case.first_failed_at.timestamp()) == now - 60
    assert case.grace_ends_at - case.first_failed_at == timedelta(days=14)

    action = event_of(
        "invoice.payment_action_required",
        _invoice(customer, sub, invoice_id, attempt_count=2, next_payment_attempt=now + 5 * 86400),
        created=now + 1,
    )
    await _deliver(b, action)
    await _deliver(b, dict(action, id=action["id"] + "x"))  # re-sent: told once
    assert (await _case(b, invoice_id)).status == "action_required"
    told = await b.sql(
        "SELECT kind, link FROM notifications WHERE user_id = :u AND data->>'notice' LIKE 'payment_action_required:%'",
        u=user.id,
    )
    assert [(t.kind, t.link) for t in told] == [
        ("payment_failed", f"https://invoice.stripe.com/i/acct_test/{invoice_id}")
    ]
    mailed = await b.sql(
        "SELECT template, subject FROM email_outbox WHERE user_id = :u ORDER BY created_at", u=user.id
    )
    assert ("payment_action_required", "Your bank asks you to confirm a saaskit payment") in [
        (m.template, m.subject) for m in mailed
    ]
    listed = await b.http.get("/api/billing/dunning", headers=user.headers)
    assert [(c["stripe_invoice_id"], c["status"]) for c in listed.json()] == [(invoice_id, "action_required")]

    # The job: nothing before the warning window, a warning inside it, the action after it.
    grace_end = case.grace_ends_at
    async with b.runtime.db.session(SERVICE) as session:
        assert (await dunning.run(session, b.runtime, grace_end - timedelta(days=5)))["warned"] == 0
    async with b.runtime.db.session(SERVICE) as session:
        assert (await dunning.run(session, b.runtime, grace_end - timedelta(days=2)))["warned"] == 1
    async with b.runtime.db.session(SERVICE) as session:
        assert (await dunning.run(session, b.runtime, grace_end - timedelta(days=1)))["warned"] == 0  # once
    async with b.runtime.db.session(SERVICE) as session:
        counts = await dunning.run(session, b.runtime, grace_end + timedelta(seconds=1))
    assert counts["downgraded"] == 1
    assert (await _case(b, invoice_id)).status == "downgraded"
    assert b.stripe.v1.subscriptions.retrieve(sub).status == "canceled"  # cancelled at Stripe for real
    assert await b.scalar("SELECT tier FROM users WHERE id = :u", u=user.id) == "free"
    assert (
        await b.scalar("SELECT status FROM subscriptions WHERE stripe_subscription_id = :s", s=sub)
        == "cancelled"
    )
    audit = await b.sql("SELECT action, entity_id FROM activities WHERE action LIKE 'billing.dunning_%'")
    assert [(a.action, a.entity_id) for a in audit] == [("billing.dunning_downgraded", user.id)]
    templates = [
        m.template for m in await b.sql("SELECT template FROM email_outbox WHERE user_id = :u", u=user.id)
    ]
    assert templates.count("payment_overdue") == 2  # the warning and the final notice
    # A late event about the same invoice leaves the decided case alone.
    await _deliver(
        b, event_of("invoice.payment_failed", _invoice(customer, sub, invoice_id, attempt_count=3))
    )
    assert (await _case(b, invoice_id)).status == "downgraded"


async def test_paid_invoice_recovers_and_suspend_is_configurable(billing_server: Billing) -> None:
    b = billing_server
    user, customer, sub = await _subscribed(b)
    paid_id, unpaid_id = "in_rec_" + secrets.token_hex(6), "in_sus_" + secrets.token_hex(6)
    await _deliver(b, event_of("invoice.payment_failed", _invoice(customer, sub, paid_id, attempt_count=1)))
    paid = _invoice(
        customer, sub, paid_id, attempt_count=2, status="paid", amount_paid=1500, amount_remaining=0
    )
    await _deliver(b, event_of("invoice.paid", paid))
    assert (await _case(b, paid_id)).status == "recovered"
    # A failure delivered after the payment opens nothing.
    late_id = "in_late_" + secrets.token_hex(6)
    await _deliver(
        b, event_of("invoice.paid", _invoice(customer, sub, late_id, status="paid", amount_paid=1500))
    )
    await _deliver(
        b, event_of("invoice.payment_failed", _invoice(customer, sub, late_id, attempt_count=1), created=1)
    )
    assert await _case(b, late_id) is None

    await _deliver(
        b,
        event_of(
            "invoice.payment_failed",
            _invoice(customer, sub, unpaid_id, attempt_count=4, next_payment_attempt=None),
        ),
    )
    suspending = dataclasses.replace(
        b.runtime,
        settings=b.runtime.settings.model_copy(update={"dunning": DunningSettings(action="suspend")}),
    )
    later = datetime.now(UTC) + timedelta(days=15)
    async with b.runtime.db.session(SERVICE) as session:
        counts = await dunning.run(session, suspending, later)
    assert counts["suspended"] == 1 and (await _case(b, unpaid_id)).status == "suspended"
    assert await b.scalar("SELECT status FROM users WHERE id = :u", u=user.id) == "suspended"


async def test_auto_topup_switches_on_when_the_saved_card_is_confirmed(billing_server: Billing) -> None:
    b = billing_server
    user = await b.signup()
    setup = await b.http.post(
        "/api/billing/credits/auto-topup/setup",
        json={"threshold_cents": 700, "amount_cents": 3000},
        headers=user.headers,
    )
    assert setup.status_code == 200, setup.text
    intent_id = setup.json()["setup_intent_id"]
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}
    method = b.stripe.v1.payment_methods.create({"type": "card", "card": card})
    confirmed = b.stripe.v1.setup_intents.confirm(intent_id, {"payment_method": method.id})
    assert confirmed.metadata["saaskit_auto_topup"] == "true"
    # localstripe sends no setup_intent.succeeded: the event is Stripe's, built from the real intent.
    obj = sample("setup_intent")
    obj.update(
        {
            "id": intent_id,
            "customer": confirmed.customer,
            "payment_method": method.id,
            "status": "succeeded",
            "metadata": confirmed.metadata.to_dict(),
        }
    )
    await _deliver(b, event_of("setup_intent.succeeded", obj))
    row = (
        await b.sql(
            "SELECT auto_topup_enabled, auto_topup_threshold_cents, auto_topup_amount_cents, stripe_payment_method_id "
            "FROM users WHERE id = :u",
            u=user.id,
        )
    )[0]
    assert tuple(row) == (True, 700, 3000, method.id)

    # Seed 003's loop: credits run low, the saved card is charged, the webhook credits the ledger.
    async with b.runtime.db.session(SERVICE) as session:
        await ledger.post(session, Owner(user_id=user.id), "grant", 1000, reason="welcome")
    spent = await b.http.post("/api/billing/credits/spend", json={"amount_cents": 400}, headers=user.headers)
    assert spent.status_code == 200 and spent.json()["topup_transaction_id"]
    await eventually(
        lambda: b.scalar("SELECT credits_cents = 3600 FROM users WHERE id = :u", u=user.id),
        what="auto top-up",
    )
    async with b.runtime.db.session(SERVICE) as session:
        assert await ledger.check(session, Owner(user_id=user.id)) == (3600, 3600)
    kinds = await b.sql(
        "SELECT kind, amount_cents FROM credit_ledger WHERE user_id = :u ORDER BY created_at", u=user.id
    )
    assert [(k.kind, k.amount_cents) for k in kinds] == [("grant", 1000), ("spend", -400), ("topup", 3000)]

    # A SetupIntent not asked for auto top-up leaves it as it is.
    other = await b.signup()
    await b.save_card(other)
    assert await b.scalar("SELECT auto_topup_enabled FROM users WHERE id = :u", u=other.id) is False


async def test_an_organization_is_archived_when_suspended_and_none_only_tells(fresh_runtime: Runtime) -> None:
    """The job's other actions, on cases as webhook processing leaves them (no Stripe call)."""
    runtime = fresh_runtime
    now = datetime.now(UTC)
    async with runtime.db.session(SERVICE) as session:
        suspended_org, told_org = await insert_org(session), await insert_org(session)
        for org, invoice in ((suspended_org, "in_org_s"), (told_org, "in_org_n")):
            session.add(
                DunningCase(
                    organization_id=org,
                    stripe_invoice_id=invoice,
                    status="open",
                    attempt_count=4,
                    first_failed_at=now - timedelta(days=20),
                    grace_ends_at=now - timedelta(days=6),
                )
            )
    suspend = DunningSettings(action="suspend")
    only_tell = DunningSettings(action="none")
    for org, settings in ((suspended_org, suspend), (told_org, only_tell)):
        configured = dataclasses.replace(
            runtime, settings=runtime.settings.model_copy(update={"dunning": settings})
        )
        async with runtime.db.session(SERVICE) as session:
            await session.execute(
                text(
                    "UPDATE dunning_cases SET grace_ends_at = grace_ends_at + interval '100 days' "
                    "WHERE organization_id <> :o"
                ),
                {"o": org},
            )
            counts = await dunning.run(session, configured, now)
            await session.execute(
                text(
                    "UPDATE dunning_cases SET grace_ends_at = grace_ends_at - interval '100 days' "
                    "WHERE organization_id <> :o"
                ),
                {"o": org},
            )
        assert counts["suspended" if settings is suspend else "closed"] == 1
    async with runtime.db.session(SERVICE) as session:
        archived = dict(
            (await session.execute(text("SELECT id, archived_at IS NOT NULL FROM organizations"))).all()
        )
        statuses = dict(
            (await session.execute(text("SELECT organization_id, status FROM dunning_cases"))).all()
        )
        audit = list((await session.execute(text("SELECT action FROM activities ORDER BY action"))).scalars())
    assert archived == {suspended_org: True, told_org: False}
    assert statuses == {suspended_org: "suspended", told_org: "closed"}
    assert audit == ["billing.dunning_closed", "billing.dunning_suspended"]
