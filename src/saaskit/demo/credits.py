"""Credit ledgers and dunning cases in the demo, so credit histories and unpaid invoices have
something to show. Credits go through the ledger service (``billing.ledger.post``: balance ==
sum, as in production); dunning cases are derived set-based from the demo's unpaid invoices
(renewals failing: open; given up: downgraded; a few awaiting the bank's authentication:
action_required) and, as recovered, paid invoices that needed retries and one in eight others
(paid after a first failure). Runs after the load,
like ``demo.privacy``, so the load's byte-for-byte determinism is untouched."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from saaskit.billing import ledger
from saaskit.billing.owners import Owner
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime

USERS = text("SELECT id FROM users WHERE role = 'user' AND status = 'active' ORDER BY email LIMIT 60")
ORGS = text("SELECT id FROM organizations WHERE deleted_at IS NULL ORDER BY slug LIMIT 6")
DUNNING = text(
    """
INSERT INTO dunning_cases (user_id, organization_id, subscription_id, stripe_invoice_id,
                           stripe_subscription_id, status, attempt_count, next_payment_attempt,
                           amount_due_cents, currency, hosted_invoice_url, first_failed_at, grace_ends_at,
                           resolved_at)
SELECT i.user_id, i.organization_id, i.subscription_id, i.stripe_invoice_id, i.stripe_subscription_id,
       CASE WHEN i.status = 'uncollectible' THEN 'downgraded'
            WHEN i.status = 'paid' THEN 'recovered'
            WHEN row_number() OVER (ORDER BY i.stripe_invoice_id) % 4 = 0 THEN 'action_required'
            ELSE 'open' END,
       greatest(i.attempt_count, 1),
       CASE WHEN i.status = 'open' THEN :now + interval '2 days' END,
       i.amount_due_cents, i.currency, i.hosted_invoice_url,
       coalesce(i.finalized_at, i.created_at),
       coalesce(i.finalized_at, i.created_at) + make_interval(days => :grace),
       CASE WHEN i.status <> 'open' THEN coalesce(i.paid_at, coalesce(i.finalized_at, i.created_at)
            + make_interval(days => :grace)) END
FROM invoices i
WHERE i.stripe_subscription_id IS NOT NULL
  AND (i.status IN ('open', 'uncollectible')
       OR (i.status = 'paid' AND (i.attempt_count > 1
                                  OR ('x' || substr(md5(i.stripe_invoice_id), 1, 2))::bit(8)::int % 8 = 0)))
ORDER BY i.stripe_invoice_id
LIMIT 400
ON CONFLICT (stripe_invoice_id) DO NOTHING
"""
)


async def _history(runtime: Runtime, owner: Owner, n: int, now: datetime) -> None:
    async with runtime.db.session(SERVICE) as session:
        tag = str(owner.user_id or owner.organization_id)
        await ledger.post(session, owner, "grant", 500, reason="Welcome credits", key=f"demo:welcome:{tag}")
        if n % 3 == 0:
            await ledger.post(
                session,
                owner,
                "purchase",
                2400,
                reason="Credit pack bought with Checkout",
                key=f"demo:pack:{tag}",
            )
        if n % 5 == 0:
            await ledger.post(
                session,
                owner,
                "grant",
                300,
                reason="Launch promotion",
                key=f"demo:promo:{tag}",
                expires_at=now - timedelta(days=1),
            )
        for i in range(3 + n % 7):
            posted = await ledger.post(
                session, owner, "spend", -(20 + (n * 37 + i * 11) % 180), reason="API usage", allow_short=True
            )
            if posted is None:
                break
        if n % 11 == 0:
            await ledger.post(session, owner, "adjustment", 150, reason="Goodwill credit after an outage")


async def add_credits(runtime: Runtime, now: datetime | None = None) -> tuple[int, int]:
    """Ledger histories for some users and organizations, and dunning cases; returns (owners, cases)."""
    now = now or datetime.now(UTC)
    async with runtime.db.session(SERVICE) as session:
        users = [uuid.UUID(str(u)) for u in (await session.scalars(USERS)).all()]
        orgs = [uuid.UUID(str(o)) for o in (await session.scalars(ORGS)).all()]
    owners = [Owner(user_id=u) for u in users] + [Owner(organization_id=o) for o in orgs]
    for n, owner in enumerate(owners):
        await _history(runtime, owner, n, now)
    async with runtime.db.session(SERVICE) as session:
        await ledger.expire_grants(session, now)
        cases = await session.execute(DUNNING, {"now": now, "grace": runtime.settings.dunning.grace_days})
        return len(owners), int(cases.rowcount or 0)  # type: ignore[attr-defined]
