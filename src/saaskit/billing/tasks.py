"""Billing jobs: webhook processing, credit top-up charges, daily upkeep."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import stripe
from procrastinate import BaseRetryStrategy, JobContext, RetryDecision
from procrastinate.jobs import Job

from saaskit.accounts.models import User
from saaskit.billing import credits, dunning, ledger, maintenance, notices, webhooks
from saaskit.billing.models import PaymentTransaction
from saaskit.billing.stripe_client import gateway
from saaskit.jobs import jobs, runtime_of, worker_runtime
from saaskit.kit import logsafe
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime

logger = logging.getLogger(__name__)


class ExponentialRetry(BaseRetryStrategy):
    """Retry after base, 4 x base, 16 x base ... seconds, up to the configured attempts
    (``SAASKIT_STRIPE_WEBHOOK_RETRY_BASE_SECONDS`` / ``_MAX_ATTEMPTS``, the worker's runtime
    settings, read when deciding)."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        settings = worker_runtime().settings.stripe
        if job.attempts + 1 >= settings.webhook_max_attempts:
            return None
        return RetryDecision(retry_in={"seconds": settings.webhook_retry_base_seconds * 4**job.attempts})


@jobs.task(name="billing.process_webhook_event", queue="billing", pass_context=True, retry=ExponentialRetry())
async def process_webhook_event(context: JobContext, event_id: str) -> str:
    """Process one stored Stripe event (idempotent: a processed event is left alone)."""
    return await webhooks.process(runtime_of(context), uuid.UUID(event_id), attempt=context.job.attempts)


@jobs.task(name="billing.charge_topup", queue="billing", pass_context=True, retry=ExponentialRetry())
async def charge_topup(context: JobContext, transaction_id: str) -> str:
    runtime = runtime_of(context)
    last = context.job.attempts + 1 >= runtime.settings.stripe.webhook_max_attempts
    return await charge_topup_now(runtime, uuid.UUID(transaction_id), last_attempt=last)


async def charge_topup_now(runtime: Runtime, transaction_id: uuid.UUID, *, last_attempt: bool = True) -> str:
    """Create the top-up's off-session PaymentIntent (after commit, outside transactions)."""
    async with runtime.db.session(SERVICE) as session:
        row = await session.get(PaymentTransaction, transaction_id)
        if row is None or row.status != "pending" or row.user_id is None:
            return row.status if row else "missing"
        user = await session.get_one(User, row.user_id)
        customer, method = user.stripe_customer_id, user.stripe_payment_method_id
        if not customer or not method:
            await credits.record_failure(
                session, runtime, row.id, "no_payment_method", "no saved payment method"
            )
            return "failed"
        request: dict[str, Any] = {
            "customer": customer,
            "payment_method": method,
            "amount_cents": row.amount_cents,
            "currency": row.currency,
            "metadata": {
                "saaskit_user_id": str(row.user_id),
                "saaskit_transaction_id": str(row.id),
                "credits_cents": str(row.credits_cents),
                "type": row.kind,
            },
            "idempotency_key": f"saaskit-topup-{row.id}",
        }
    try:
        intent = await gateway(runtime).charge_off_session(**request)
    except stripe.CardError as exc:
        error = exc.error
        code = getattr(error, "decline_code", None) or getattr(error, "code", None) or "card_declined"
        async with runtime.db.session(SERVICE) as session:
            await credits.record_failure(session, runtime, transaction_id, str(code), exc.user_message)
        return "failed"
    except Exception as exc:
        if last_attempt:
            async with runtime.db.session(SERVICE) as session:
                message = logsafe.scrub(str(exc))[:500]
                await credits.record_failure(session, runtime, transaction_id, "stripe_error", message)
        raise
    async with runtime.db.session(SERVICE) as session:
        applied = await credits.apply_payment_intent(session, runtime, intent)
        return applied.status if applied else "missing"


@jobs.periodic(cron="23 3 * * *", periodic_id="daily")
@jobs.task(name="billing.daily", queue="maintenance", pass_context=True)
async def daily(context: JobContext, timestamp: int) -> dict[str, int]:
    """Expire subscriptions past ends_at (ended trials included) and reset usage counters."""
    runtime = runtime_of(context)
    async with runtime.db.session(SERVICE) as session:
        return await maintenance.run_daily(session, datetime.fromtimestamp(timestamp, tz=UTC))


@jobs.periodic(cron="17 9 * * *", periodic_id="daily")
@jobs.task(name="billing.remind", queue="maintenance", pass_context=True)
async def remind(context: JobContext, timestamp: int) -> dict[str, int]:
    """Remind billing owners of cards about to expire and trials about to end (each once)."""
    runtime = runtime_of(context)
    async with runtime.db.session(SERVICE) as session:
        return await notices.run_daily(session, runtime, datetime.fromtimestamp(timestamp, tz=UTC))


@jobs.periodic(cron="41 * * * *", periodic_id="hourly")
@jobs.task(name="billing.dunning", queue="maintenance", pass_context=True)
async def dunning_pass(context: JobContext, timestamp: int) -> dict[str, int]:
    """Dunning (billing.dunning): warn before the grace period ends, act after it; and take back
    granted credits past their expiry (billing.ledger)."""
    runtime = runtime_of(context)
    now = datetime.fromtimestamp(timestamp, tz=UTC)
    async with runtime.db.session(SERVICE) as session:
        counts = await dunning.run(session, runtime, now)
        counts["credits_expired"] = await ledger.expire_grants(session, now)
        return counts
