"""Metered usage to Stripe: every ``usage_records`` row is sent once, acknowledged or refused.

- **What is sent**: a record whose subscription's plan meters its metric
  (``limits.meters = {metric_name: stripe_meter_event_name}``) and whose owner has a Stripe
  customer. Others are ``skipped`` with the reason in ``stripe_error``.
- **How**: the ``billing.report_usage`` job (every minute) claims due ``pending`` rows (a lease:
  ``stripe_next_attempt_at`` moves 5 minutes ahead, attempts + 1, committed), calls Stripe
  outside any transaction (4 calls at a time), writes each outcome, and claims the next batch
  until none is due or 50 seconds have passed. The identifier ``saaskit-usage-<record id>``
  goes with the event (and as the ``Idempotency-Key``): Stripe counts an identifier once, so a
  retry after a lost answer cannot bill twice.
- **Current API**: ``POST /v1/billing/meter_events`` with ``event_name``, ``payload``
  (``stripe_customer_id``, ``value``), ``identifier``, ``timestamp`` (the record's time).
  **Legacy** (``SAASKIT_STRIPE_LEGACY_PLANS``, servers without meters): a usage record
  ``POST /v1/subscription_items/<si>/usage_records`` (``quantity``, ``timestamp``,
  ``action=increment``) on the subscription's item.
- **Reconciled**: acknowledged -> ``sent`` (``stripe_reported_at``); Stripe's 4xx refusal ->
  ``refused`` with its code and message in ``stripe_error`` (a duplicate identifier counts as
  acknowledged: the earlier send arrived); network errors, 5xx, 429 -> retried after base x 4^n
  seconds (``SAASKIT_STRIPE_WEBHOOK_RETRY_BASE_SECONDS``), ``failed`` after
  ``SAASKIT_STRIPE_WEBHOOK_MAX_ATTEMPTS`` sends.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.billing import owners
from saaskit.billing.models import Subscription, SubscriptionPlan, UsageRecord
from saaskit.billing.stripe_client import gateway
from saaskit.kit import logsafe
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime

LEASE = timedelta(minutes=5)
BATCH = 200
SENDERS = 4  # calls to Stripe at a time
BUDGET_SECONDS = 50.0  # a run stops claiming after this (the job runs every minute)
# Stripe's code when an identifier was already used: the event arrived before.
DUPLICATE_CODES = ("resource_already_exists", "meter_event_duplicate_identifier")


def identifier_of(record_id: uuid.UUID) -> str:
    return f"saaskit-usage-{record_id}"


@dataclass(frozen=True)
class Outbound:
    """One claimed record, ready to send (or to skip, with ``skip``)."""

    record_id: uuid.UUID
    attempt: int
    identifier: str
    quantity: int
    timestamp: int
    event_name: str | None = None
    customer: str | None = None
    subscription_item: str | None = None
    skip: str | None = None


@dataclass(frozen=True)
class Outcome:
    status: str  # sent, refused, retry
    error: str | None = None


async def _destination(session: AsyncSession, record: UsageRecord, legacy: bool) -> dict[str, Any]:
    """Where the record goes at Stripe, or ``skip``: why it goes nowhere."""
    if record.subscription_id is None:
        return {"skip": "no subscription in the usage's period"}
    sub = await session.get(Subscription, record.subscription_id)
    plan = await session.get(SubscriptionPlan, sub.plan_id) if sub and sub.plan_id else None
    meters = plan.limits.get("meters") if plan is not None else None
    event_name = meters.get(record.metric_name) if isinstance(meters, dict) else None
    if sub is None or not isinstance(event_name, str):
        return {"skip": f"the plan does not meter {record.metric_name}"}
    owner = owners.Owner(user_id=record.user_id, organization_id=record.organization_id)
    customer = sub.stripe_customer_id or await owners.customer_of(session, owner)
    if not customer:
        return {"skip": "no Stripe customer"}
    if legacy and not sub.stripe_subscription_item_id:
        return {"skip": "no Stripe subscription item (legacy usage records)"}
    item = sub.stripe_subscription_item_id
    return {"event_name": event_name, "customer": customer, "subscription_item": item}


async def claim(
    session: AsyncSession, now: datetime, legacy: bool, limit: int = BATCH
) -> tuple[list[Outbound], int]:
    """Take due pending records (skipping those another job holds) and lease them; also answers
    how many were marked skipped."""
    rows = await session.scalars(
        select(UsageRecord)
        .where(UsageRecord.stripe_status == "pending", UsageRecord.stripe_next_attempt_at <= now)
        .order_by(UsageRecord.stripe_next_attempt_at, UsageRecord.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed: list[Outbound] = []
    skipped = 0
    for record in rows.all():
        where = await _destination(session, record, legacy)
        record.stripe_identifier = identifier_of(record.id)
        if where.get("skip"):
            record.stripe_status, record.stripe_error = "skipped", where["skip"]
            skipped += 1
            continue
        record.stripe_attempts += 1
        record.stripe_next_attempt_at = now + LEASE
        claimed.append(
            Outbound(
                record_id=record.id,
                attempt=record.stripe_attempts,
                identifier=record.stripe_identifier,
                quantity=record.quantity,
                timestamp=int(record.recorded_at.timestamp()),
                **where,
            )
        )
    await session.flush()
    return claimed, skipped


async def send(client: stripe.StripeClient, out: Outbound, legacy: bool) -> Outcome:
    """One call to Stripe, classified: acknowledged, refused (4xx) or to retry."""
    options: Any = {"idempotency_key": out.identifier}
    try:
        if legacy:
            await client.raw_request_async(
                "post",
                f"/v1/subscription_items/{out.subscription_item}/usage_records",
                quantity=out.quantity,
                timestamp=out.timestamp,
                action="increment",
                idempotency_key=out.identifier,
            )
        else:
            params: Any = {
                "event_name": out.event_name,
                "payload": {"stripe_customer_id": out.customer, "value": str(out.quantity)},
                "identifier": out.identifier,
                "timestamp": out.timestamp,
            }
            await client.v1.billing.meter_events.create_async(params, options)
    except (stripe.InvalidRequestError, stripe.IdempotencyError, stripe.PermissionError) as exc:
        code = getattr(exc, "code", None) or "invalid_request"
        if code in DUPLICATE_CODES:
            return Outcome("sent")
        return Outcome("refused", f"{code}: {logsafe.scrub(exc.user_message or str(exc))}"[:500])
    except stripe.StripeError as exc:
        status = exc.http_status or "network"
        return Outcome("retry", f"{status}: {logsafe.scrub(exc.user_message or str(exc))}"[:500])
    return Outcome("sent")


async def settle(
    session: AsyncSession, out: Outbound, outcome: Outcome, now: datetime, max_attempts: int, base: float
) -> str:
    """Write the outcome on the record (only if the lease is still ours)."""
    values: dict[str, Any]
    if outcome.status == "sent":
        values = {"stripe_status": "sent", "stripe_reported_at": now, "stripe_error": None}
    elif outcome.status == "refused":
        values = {"stripe_status": "refused", "stripe_error": outcome.error}
    elif out.attempt >= max_attempts:
        values = {"stripe_status": "failed", "stripe_error": outcome.error}
    else:
        delay = timedelta(seconds=base * 4 ** (out.attempt - 1))
        values = {"stripe_next_attempt_at": now + delay, "stripe_error": outcome.error}
    await session.execute(
        update(UsageRecord)
        .where(
            UsageRecord.id == out.record_id,
            UsageRecord.stripe_status == "pending",
            UsageRecord.stripe_attempts == out.attempt,
        )
        .values(**values)
    )
    return str(values.get("stripe_status", "pending"))


async def report_pending(
    runtime: Runtime, now: datetime | None = None, limit: int = BATCH, budget_seconds: float = BUDGET_SECONDS
) -> dict[str, int]:
    """Send the due records, batch after batch (``SENDERS`` calls at a time) until none is due or
    the time budget is spent; counts per outcome (sent, refused, failed, pending, skipped)."""
    stripe_gateway = gateway(runtime)
    legacy = stripe_gateway.legacy_plans
    settings = runtime.settings.stripe
    counts = {"sent": 0, "refused": 0, "failed": 0, "pending": 0, "skipped": 0}
    if not settings.api_key:
        return counts  # Stripe is not configured: the records wait
    deadline = time.monotonic() + budget_seconds
    senders = asyncio.Semaphore(SENDERS)

    async def one(out: Outbound) -> None:
        async with senders:
            outcome = await send(stripe_gateway.client, out, legacy)
            async with runtime.db.session(SERVICE) as session:
                status = await settle(
                    session,
                    out,
                    outcome,
                    datetime.now(UTC),
                    settings.webhook_max_attempts,
                    settings.webhook_retry_base_seconds,
                )
        counts[status] += 1

    while time.monotonic() < deadline:
        async with runtime.db.session(SERVICE) as session:
            claimed, skipped = await claim(session, now or datetime.now(UTC), legacy, limit)
        counts["skipped"] += skipped
        if not claimed and not skipped:
            break
        await asyncio.gather(*(one(out) for out in claimed))
    return counts
