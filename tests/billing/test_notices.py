"""Billing notices, each from what causes it: signed Stripe events (built from Stripe's published
samples, as Stripe signs them) posted to the webhook endpoint, a credit spend, and the daily
reminder job; processed and mailed by the real worker, the mails read from the test SMTP server,
the in-app notices through the API. Then the same events again (re-delivered, and re-sent under
new ids) and the job again: nobody is told twice."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.billing.tasks import remind
from saaskit.config import BillingNoticeSettings, Settings, StripeSettings
from saaskit.jobs import defer
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from tests.billing.conftest import event_of, sample, sign
from tests.billing.test_live_webhooks import new_shape_subscription
from tests.conftest import DbUnderTest
from tests.factories import insert_member, insert_plan, insert_subscription, make_org
from tests.helpers import SignedUp, signup
from tests.mail.conftest import drain, sql
from tests.mail.live_app import live_app
from tests.mail.smtp import Received, SmtpServer

pytestmark = pytest.mark.live  # committed data in a fresh database, a real worker and SMTP server

SECRET = "whsec_" + uuid.uuid4().hex


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    try:
        yield server
    finally:
        server.stop()


async def post_event(http: httpx.AsyncClient, event: dict[str, Any]) -> None:
    payload = json.dumps(event)
    answer = await http.post(
        "/api/billing/stripe/webhook",
        content=payload,
        headers={"Stripe-Signature": sign(payload, SECRET), "Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text


def renamed(event: dict[str, Any]) -> dict[str, Any]:
    """The same event under a new id (Stripe's retries keep the id; a replayed export does not)."""
    return {**event, "id": "evt_" + uuid.uuid4().hex[:24]}


async def all_processed(runtime: Runtime) -> bool:
    rows = await sql(
        runtime, "SELECT count(*) FROM stripe_webhook_events WHERE processing_status <> 'processed'"
    )
    return rows[0][0] == 0


def mails(smtp: SmtpServer) -> dict[tuple[str, str], Received]:
    """What arrived, by (recipient, template's subject)."""
    found: dict[tuple[str, str], Received] = {}
    for received in smtp.received_after_sign_up:
        key = (received.rcpt_tos[0], str(received.message["Subject"]))
        assert key not in found, f"told twice: {key}"
        found[key] = received
    return found


async def inbox(http: httpx.AsyncClient, user: SignedUp) -> list[tuple[str, str]]:
    items = (await http.get("/api/me/notifications", headers=user.headers)).json()["items"]
    return sorted((n["kind"], n["title"]) for n in items)


async def test_billing_notices_from_events_spends_and_the_daily_job(
    fresh_database: DbUnderTest, settings: Settings, smtp: SmtpServer
) -> None:
    now = int(time.time())
    # One failed automatic top-up turns them off (and the mail says so).
    stripe_settings = StripeSettings(webhook_secret=SECRET, topup_max_failures=1)
    notices = BillingNoticeSettings(credits_low_threshold_cents=500, manage_path="/settings/billing")
    async with live_app(
        fresh_database, settings, smtp, stripe=stripe_settings, billing_notices=notices
    ) as live:
        http, runtime = live.http, live.runtime
        # An organization billed as cus_org: its owner and an admin manage billing, a member not.
        owner = await signup(http, "owner@example.com", name="Olga")
        admin = await signup(http, "admin@example.com", name="Adam")
        member = await signup(http, "member@example.com")
        org = await make_org(http, owner, "Acme Team")
        # A person billed as cus_pat, with 6.00 of credits and two cards, one expiring this month.
        pat = await signup(http, "pat@example.com", name="Pat")
        today = datetime.now(UTC).date()
        async with runtime.db.session(SERVICE) as session:
            org_id = uuid.UUID(org["id"])
            await insert_member(session, org_id, admin.id, "admin")
            await insert_member(session, org_id, member.id, "member")
            await insert_plan(session, "Team", "team", 4900, stripe_price_id="price_team")
            await sql_in(
                session, "UPDATE organizations SET stripe_customer_id = 'cus_org' WHERE id = :o", o=org_id
            )
            await sql_in(
                session,
                # Auto top-up on, but no card of Pat's is the default: "credits low" still applies.
                "UPDATE users SET stripe_customer_id = 'cus_pat', credits_cents = 600, "
                "auto_topup_enabled = true WHERE id = :u",
                u=pat.id,
            )
            for pm, month, year in (("pm_soon", today.month, today.year), ("pm_later", 12, today.year + 5)):
                await sql_in(
                    session,
                    "INSERT INTO payment_methods (user_id, provider_payment_method_id, card_brand, card_last4, "
                    "card_exp_month, card_exp_year) VALUES (:u, :pm, 'visa', '4242', :m, :y)",
                    u=pat.id,
                    pm=pm,
                    m=month,
                    y=year,
                )
            topup = await sql_in(
                session,
                "INSERT INTO payment_transactions (user_id, kind, status, amount_cents, credits_cents) "
                "VALUES (:u, 'auto_topup', 'pending', 2400, 2400) RETURNING id",
                u=pat.id,
            )
            # A trial of the organization's that Stripe never announced (localstripe does not).
            await insert_subscription(
                session,
                organization_id=org_id,
                plan_name="Team",
                tier="team",
                status="trialing",
                stripe_subscription_id="sub_quiet_trial",
                trial_end=datetime.now(UTC) + timedelta(days=2),
            )
        # The admin wants payment failures in the app only.
        switched = await http.put(
            "/api/me/notification-settings",
            headers=admin.headers,
            json={"kinds": {"payment_failed": {"email": False}}},
        )
        assert switched.status_code == 200, switched.text

        invoice = sample("invoice")
        invoice.update(
            {
                "id": "in_failed",
                "customer": "cus_org",
                "status": "open",
                "number": "ACME-0042",
                "amount_due": 4900,
                "attempt_count": 1,
                "next_payment_attempt": now + 3 * 86_400,
            }
        )
        intent = sample("payment_intent")
        intent.update(
            {
                "customer": "cus_pat",
                "status": "requires_payment_method",
                "metadata": {"saaskit_transaction_id": str(topup)},
                "last_payment_error": {
                    "type": "card_error",
                    "code": "card_declined",
                    "message": "Your card was declined.",
                },
            }
        )
        trial = new_shape_subscription(
            "sub_trial",
            "cus_pat",
            "price_team",
            "trialing",
            trial_start=now - 11 * 86_400,
            trial_end=now + 3 * 86_400,
        )
        cancelled = new_shape_subscription(
            "sub_org", "cus_org", "price_team", "canceled", canceled_at=now - 5, ended_at=now - 5
        )
        events = [
            event_of("invoice.payment_failed", invoice),
            event_of("customer.subscription.trial_will_end", trial),
            event_of("customer.subscription.deleted", cancelled),
            event_of("payment_intent.payment_failed", intent),
        ]
        for event in events:
            await post_event(http, event)
        # A spend crossing the threshold (6.00 -> 4.00), then one below it: one notice.
        for amount in (200, 100):
            spent = await http.post(
                "/api/billing/credits/spend", headers=pat.headers, json={"amount_cents": amount}
            )
            assert spent.status_code == 200, spent.text
        async with runtime.db.session(SERVICE) as session:
            await defer(session, remind, timestamp=now)
        await drain(runtime, until=lambda: arrived(smtp, 9, runtime))

        got = mails(smtp)
        day = (datetime.now(UTC) + timedelta(days=3)).date()
        expected = {
            ("owner@example.com", "Your payment for Acme Boards did not go through"),
            ("owner@example.com", "Your Acme Boards subscription was cancelled"),
            ("admin@example.com", "Your Acme Boards subscription was cancelled"),
            ("owner@example.com", f"Your Acme Boards trial ends on {_day(today + timedelta(days=2))}"),
            ("admin@example.com", f"Your Acme Boards trial ends on {_day(today + timedelta(days=2))}"),
            ("pat@example.com", f"Your Acme Boards trial ends on {_day(day)}"),
            ("pat@example.com", "Your Acme Boards credit top-up failed"),
            ("pat@example.com", "Your Acme Boards credit balance is low"),
            ("pat@example.com", "Your card ending in 4242 expires soon"),
        }
        assert set(got) == expected
        failed = got[("owner@example.com", "Your payment for Acme Boards did not go through")].part(
            "text/plain"
        )
        assert "$49.00 for invoice ACME-0042" in failed and f"try again on {_day(day)}" in failed
        assert "https://app.acme.example/settings/billing" in failed and "Hi Olga," in failed
        low = got[("pat@example.com", "Your Acme Boards credit balance is low")].part("text/plain")
        assert "down to $4.00, below the $5.00" in low
        topup_mail = got[("pat@example.com", "Your Acme Boards credit top-up failed")].part("text/plain")
        assert "$24.00" in topup_mail and "(Your card was declined.)" in topup_mail
        assert "we turned automatic top-ups off" in topup_mail
        card_mail = got[("pat@example.com", "Your card ending in 4242 expires soon")]
        assert f"{today.month:02d}/{today.year}" in card_mail.part("text/html")
        assert card_mail.message["List-Unsubscribe"], "reminders can be unsubscribed from"
        assert "nothing to do" in got[
            ("pat@example.com", f"Your Acme Boards trial ends on {_day(day)}")
        ].part("text/plain"), "Pat has a card"

        # In the app: the admin still gets the payment failure; the member gets nothing.
        org_notices = [
            ("payment_failed", "Your payment for Acme Boards did not go through"),
            ("subscription_cancelled", "Your Acme Boards subscription was cancelled"),
            ("trial_ending", f"Your Acme Boards trial ends on {_day(today + timedelta(days=2))}"),
        ]
        assert await inbox(http, owner) == await inbox(http, admin) == sorted(org_notices)
        assert await inbox(http, member) == []
        assert [kind for kind, _ in await inbox(http, pat)] == sorted(
            ["card_expiring", "credits_low", "topup_failed", "trial_ending"]
        )
        assert await sql(runtime, "SELECT auto_topup_enabled FROM users WHERE id = :u", u=pat.id) == [
            (False,)
        ]

        # Again: re-deliveries, the same events under new ids, the job: nobody is told twice.
        for event in [*events, *map(renamed, events)]:
            await post_event(http, event)
        async with runtime.db.session(SERVICE) as session:
            await defer(session, remind, timestamp=now + 60)
        await drain(runtime, until=lambda: all_processed(runtime))
        await drain(runtime)
        assert len(smtp.received_after_sign_up) == 9
        assert await inbox(http, owner) == sorted(org_notices)
        assert len(await inbox(http, pat)) == 4
        keys = await sql(
            runtime, "SELECT notice_key, recipient_count FROM billing_notices ORDER BY notice_key"
        )
        assert sorted((k.split(":")[0], n) for k, n in keys) == [
            ("card_expiring", 1),
            ("payment_failed", 2),
            ("subscription_cancelled", 2),
            ("topup_failed", 1),
            ("trial_ending", 1),
            ("trial_ending", 2),
        ]


def _day(value: Any) -> str:
    return f"{value.day} {value:%B %Y}"


async def arrived(smtp: SmtpServer, count: int, runtime: Runtime) -> bool:
    return len(smtp.received_after_sign_up) >= count and await all_processed(runtime)


async def sql_in(session: AsyncSession, statement: str, **params: Any) -> Any:
    """One statement in ``session``; the first column of its row, if it returns one."""
    result = await session.execute(text(statement), params)
    return result.scalar() if result.returns_rows else None
