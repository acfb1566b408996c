"""The billing hooks: subscription created / changed / canceled, invoice paid and payment failed
are emitted once per fact, for organizations only, from billing's own code paths (the ones
Stripe's events and saaskit's own calls go through)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.billing import invoices, sync
from saaskit.billing.handlers import Event
from saaskit.billing.handlers.invoices import invoice_changed
from saaskit.billing.owners import Owner
from saaskit.kit.state import Runtime
from tests.factories import insert_org, insert_user

NOW = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp())


def subscription(sub_id: str, quantity: int = 1, **changes: Any) -> dict[str, Any]:
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": "cus_hooks",
        "status": "active",
        "quantity": quantity,
        "start_date": NOW,
        "current_period_start": NOW,
        "current_period_end": NOW + 30 * 86400,
        "cancel_at_period_end": False,
        "items": {
            "data": [
                {
                    "id": "si_1",
                    "price": {"id": "price_pro", "recurring": {"interval": "month"}},
                    "quantity": quantity,
                }
            ]
        },
        **changes,
    }


def invoice(invoice_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "id": invoice_id,
        "object": "invoice",
        "customer": "cus_hooks",
        "status": "open",
        "number": "HOOK-0001",
        "currency": "usd",
        "total": 4900,
        "amount_due": 4900,
        "amount_paid": 0,
        "attempt_count": 1,
        "created": NOW,
        "lines": {"data": []},
        **changes,
    }


async def messages(session: AsyncSession, org_id: uuid.UUID) -> list[Any]:
    result = await session.execute(
        text(
            "SELECT event_type, data FROM webhook_messages WHERE organization_id = :o ORDER BY created_at, (data->>'attempt_count')::int NULLS LAST, event_type"
        ),
        {"o": org_id},
    )
    return list(result.all())


async def test_subscription_events_once_per_change(session: AsyncSession) -> None:
    org_id = await insert_org(session, "Billed")
    owner = Owner(organization_id=org_id)
    at = datetime.fromtimestamp(NOW, tz=UTC)
    await sync.apply_subscription(session, subscription("sub_h1"), at, owner, first_snapshot=True)
    # The same snapshot again (a re-delivery under another id): nothing new.
    await sync.apply_subscription(session, subscription("sub_h1"), at, owner)
    await sync.apply_subscription(
        session, subscription("sub_h1", quantity=3), at + timedelta(seconds=5), owner
    )
    await sync.apply_subscription(
        session,
        subscription("sub_h1", status="canceled", ended_at=NOW + 60),
        at + timedelta(seconds=60),
        owner,
    )
    found = await messages(session, org_id)
    by_type = {m.event_type: m.data for m in found}
    assert len(found) == 3, found
    created, changed, canceled = (by_type[f"subscription.{t}"] for t in ("created", "changed", "canceled"))
    assert (
        created["stripe_subscription_id"] == "sub_h1"
        and created["status"] == "active"
        and created["changed"] == []
    )
    assert changed["changed"] == ["quantity"] and changed["quantity"] == 3
    assert canceled["status"] == "cancelled" and "status" in canceled["changed"]
    # A user's own subscription emits nothing (webhooks belong to organizations).
    user_id = await insert_user(session)
    await sync.apply_subscription(
        session, subscription("sub_h2"), at, Owner(user_id=user_id), first_snapshot=True
    )
    assert (await session.execute(text("SELECT count(*) FROM webhook_messages"))).scalar() == 3


async def test_invoice_paid_once_and_payment_failed_once_per_attempt(
    session: AsyncSession, runtime: Runtime
) -> None:
    org_id = await insert_org(session, "Invoiced", stripe_customer_id="cus_hooks")
    owner = Owner(organization_id=org_id)
    at = datetime.fromtimestamp(NOW, tz=UTC)
    failed = invoice("in_h1", next_payment_attempt=NOW + 86400)
    event = Event(type="invoice.payment_failed", object=failed, created=at, raw={})
    await invoice_changed(session, runtime, event)
    await invoice_changed(session, runtime, event)  # processed twice: told once
    second = Event(
        type="invoice.payment_failed",
        object={**failed, "attempt_count": 2},
        created=at + timedelta(seconds=1),
        raw={},
    )
    await invoice_changed(session, runtime, second)
    paid = invoice(
        "in_h1",
        status="paid",
        amount_paid=4900,
        amount_due=0,
        attempt_count=3,
        status_transitions={"paid_at": NOW + 90},
    )
    await invoices.apply_invoice(session, paid, at + timedelta(seconds=90), owner)
    await invoices.apply_invoice(session, paid, at + timedelta(seconds=90), owner)
    found = await messages(session, org_id)
    assert sorted(m.event_type for m in found) == ["invoice.paid", "payment.failed", "payment.failed"]
    found = sorted(found, key=lambda m: (m.event_type != "payment.failed", m.data.get("attempt_count", 0)))
    assert [m.data["attempt_count"] for m in found[:2]] == [1, 2]
    assert found[0].data["amount_due_cents"] == 4900 and found[0].data["next_payment_attempt"] is not None
    assert found[2].data["amount_paid_cents"] == 4900 and found[2].data["stripe_invoice_id"] == "in_h1"
