"""Disputes arrive as Stripe sends them (signed charge.dispute.* events built from Stripe's
published shapes, through the webhook pipeline and the real worker) and count for the
refund-after-credits rule; a platform admin's "warn" tells the account in the app and by e-mail
(a real SMTP server), audited."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from saaskit.config import Settings, StripeSettings
from saaskit.kit.db import SERVICE
from saaskit.trust import detect
from tests.billing.conftest import event_of, sample, sign
from tests.conftest import DbUnderTest
from tests.factories import grant_admin
from tests.helpers import signup
from tests.mail.conftest import drain, sql
from tests.mail.live_app import live_app
from tests.mail.smtp import SmtpServer

pytestmark = pytest.mark.live  # committed data in a fresh database, a real worker and SMTP server

SECRET = "whsec_" + uuid.uuid4().hex


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    try:
        yield server
    finally:
        server.stop()


def dispute(status: str, charge: str) -> dict[str, Any]:
    shape = sample("dispute")
    shape.update({"id": "dp_" + uuid.uuid4().hex[:20], "charge": charge, "amount": 2400, "status": status})
    return shape


async def test_a_dispute_after_spending_credits_then_a_warning(
    fresh_database: DbUnderTest, settings: Settings, smtp: SmtpServer
) -> None:
    async with live_app(fresh_database, settings, smtp, stripe=StripeSettings(webhook_secret=SECRET)) as live:
        http, runtime = live.http, live.runtime
        mallory = await signup(http, "mallory@example.com", name="Mallory")
        admin = await signup(http, "admin@example.com")
        charge = "ch_" + uuid.uuid4().hex[:20]
        async with runtime.db.session(SERVICE) as session:
            await grant_admin(session, admin.id)
        # A top-up of 24.00 whose credits were spent down to 2.00, then disputed at the bank.
        topup = await sql(
            runtime,
            "INSERT INTO payment_transactions (user_id, kind, status, amount_cents, credits_cents, "
            "credited_at, stripe_charge_id) VALUES (:u, 'topup', 'succeeded', 2400, 2400, now(), :c) "
            "RETURNING id",
            u=mallory.id,
            c=charge,
        )
        await sql(runtime, "UPDATE users SET credits_cents = 200 WHERE id = :u", u=mallory.id)
        # A charge of someone else's nobody knows about: recorded, nothing matched.
        now = int(time.time())
        events = [
            event_of("charge.dispute.created", dispute("needs_response", charge), created=now - 60),
            event_of("charge.dispute.closed", dispute("lost", charge), created=now),
            # Delivered late, older than the close: the closed status stays.
            event_of("charge.dispute.updated", dispute("under_review", charge), created=now - 30),
            event_of("charge.dispute.created", dispute("needs_response", "ch_unknown"), created=now),
        ]
        for event in events:
            payload = json.dumps(event)
            answer = await http.post(
                "/api/billing/stripe/webhook",
                content=payload,
                headers={"Stripe-Signature": sign(payload, SECRET), "Content-Type": "application/json"},
            )
            assert answer.status_code == 200, answer.text
        # A forged one (wrong secret) is refused and stored nowhere.
        forged = json.dumps(event_of("charge.dispute.created", dispute("lost", charge)))
        refused = await http.post(
            "/api/billing/stripe/webhook",
            content=forged,
            headers={"Stripe-Signature": sign(forged, "whsec_wrong"), "Content-Type": "application/json"},
        )
        assert refused.status_code == 400

        async def processed() -> bool:
            rows = await sql(
                runtime,
                "SELECT count(*) FROM stripe_webhook_events WHERE event_type LIKE 'charge.dispute.%' "
                "AND processing_status = 'processed'",
            )
            return bool(rows[0][0] == 4)

        await drain(runtime, processed)
        row = (
            await sql(
                runtime,
                "SELECT disputed_cents, dispute_status, refunded_cents, status FROM payment_transactions "
                "WHERE id = :t",
                t=topup[0][0],
            )
        )[0]
        assert tuple(row) == (2400, "lost", 0, "succeeded")
        owners = await sql(
            runtime,
            "SELECT count(*) FILTER (WHERE user_id = :u), count(*) FILTER (WHERE user_id IS NULL) "
            "FROM stripe_webhook_events WHERE event_type LIKE 'charge.dispute.%'",
            u=mallory.id,
        )
        assert tuple(owners[0]) == (3, 1)  # the unknown charge's dispute matched nobody

        # The rule sees the dispute as it sees a refund (the worker's every-minute sweep may have
        # recorded it already while draining: running it again records nothing twice).
        async with runtime.db.session(SERVICE) as session:
            await detect.run(session)
        pattern = (
            await sql(
                runtime,
                "SELECT id, evidence, action_taken FROM abuse_patterns WHERE user_id = :u "
                "AND rule = 'refund_after_credits'",
                u=mallory.id,
            )
        )[0]
        assert pattern.evidence["disputed_cents"] == 2400 and pattern.evidence["dispute_status"] == "lost"
        assert pattern.evidence["refunded_cents"] == 0 and pattern.evidence["credits_spent_cents"] == 2200

        # The admin warns the account: an in-app notice and an e-mail, audited.
        warned = await http.post(
            f"/api/admin/trust/patterns/{pattern.id}/actions",
            json={"action": "warn", "note": "first dispute; told them"},
            headers=admin.headers,
        )
        assert warned.status_code == 200, warned.text
        assert warned.json()["data"]["action_taken"] == "warned"
        inbox = (await http.get("/api/me/notifications", headers=mallory.headers)).json()["items"]
        assert [(n["kind"], n["title"]) for n in inbox] == [
            ("account_warning", "A warning about your Acme Boards account")
        ]
        assert "refunded or disputed after its credits were used" in inbox[0]["body"]

        async def mailed() -> bool:
            return any(r.rcpt_tos == ["mallory@example.com"] for r in smtp.received_after_sign_up)

        await drain(runtime, mailed)
        mail = next(r for r in smtp.received_after_sign_up if r.rcpt_tos == ["mallory@example.com"])
        assert str(mail.message["Subject"]) == "A warning about your Acme Boards account"
        text = mail.part("text/plain")
        assert "refunded or disputed after its credits were used" in text and "help@acme.example" in text
        assert "Mallory" in text
        # Nothing of the evidence (hashes, other accounts, the admin's note) reaches the person.
        assert "first dispute" not in text and charge not in text
        audited = await sql(
            runtime,
            "SELECT actor_id, metadata FROM activities WHERE action = 'trust.warned' AND entity_id = :u",
            u=mallory.id,
        )
        assert len(audited) == 1 and audited[0].actor_id == admin.id
        assert audited[0].metadata["notification_id"] == inbox[0]["id"]
        assert audited[0].metadata["mail_id"] is not None
