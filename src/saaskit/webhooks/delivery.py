"""Delivering one message to one endpoint: one attempt per job, each recorded, retried with
exponential backoff, and the endpoint disabled after sustained failure.

``deliver`` (the ``webhooks.deliver`` job, deferred by ``emit``, a replay, a test or a retry):

1. reads the endpoint and the message in a short transaction (service context); nothing is sent
   to an endpoint that is gone or disabled (except a test), and an unreadable secret (the
   instance secret changed) is a failed attempt saying so;
2. outside any transaction, POSTs the signed body (``sender.post``: address checks, no
   redirects, short timeouts);
3. in a second transaction, writes the ``webhook_deliveries`` row and, for a failure with
   attempts left, defers the next attempt at ``now + retry_delay(attempt)`` in that same
   transaction (a test is tried once). The endpoint's failure count grows, or is reset by a
   success; when ``disable_after_failures`` attempts in a row have failed and the first of them
   is ``disable_after_hours`` old, the endpoint is disabled and the organization's owners and
   admins get an in-app notice (``webhook_disabled``).

The schedule with the defaults (base 60 s, x4 each time, at most 24 h, 9 attempts): 1 min,
4 min, 16 min, 64 min, 4 h 16 min, 17 h 4 min, 24 h, 24 h after each failed attempt: the last
attempt comes 70 h 45 min (about three days) after the first.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

import orjson
from procrastinate.manager import JobManager
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit import notifications
from saaskit.config import WebhookSettings
from saaskit.kit.crypto import CannotOpen
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from saaskit.webhooks import sender, signing
from saaskit.webhooks.addresses import Resolver, system_resolver
from saaskit.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookMessage
from saaskit.webhooks.service import defer_attempt, disable

logger = logging.getLogger(__name__)

RETRY_FACTOR = 4
# A worker beats every few seconds (procrastinate's default: 10 s); silent this long, it is dead.
STALLED_AFTER_SECONDS = 300
NOTICE_ROLES = ("owner", "admin")


def retry_delay(settings: WebhookSettings, attempt: int) -> timedelta:
    """The wait after failed attempt number ``attempt`` (1-based)."""
    seconds = settings.retry_base_seconds * RETRY_FACTOR ** max(attempt - 1, 0)
    return timedelta(seconds=min(seconds, settings.retry_max_delay_seconds))


def body_of(message: WebhookMessage) -> bytes:
    """The body every attempt sends (the same bytes each time): the Standard Webhooks shape."""
    timestamp = message.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return orjson.dumps({"type": message.event_type, "timestamp": timestamp, "data": message.data})


def _secrets(runtime: Runtime, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    found = [signing.unseal(runtime.secret, endpoint.id, endpoint.sealed_secret)]
    previous = endpoint.previous_sealed_secret
    if (
        previous is not None
        and endpoint.previous_secret_expires_at
        and endpoint.previous_secret_expires_at > now
    ):
        found.append(signing.unseal(runtime.secret, endpoint.id, previous))
    return found


async def deliver(
    runtime: Runtime,
    message_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    attempt: int,
    trigger: str,
    *,
    resolver: Resolver = system_resolver,
) -> str:
    """One attempt; returns what happened ("succeeded", "failed", "skipped: ...")."""
    now = datetime.now(UTC)
    async with runtime.db.session(SERVICE) as session:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        message = await session.get(WebhookMessage, message_id)
        if endpoint is None or message is None:
            return "skipped: the endpoint or the message is gone"
        if not endpoint.is_enabled and trigger != "test":
            return "skipped: the endpoint is disabled"
        url = endpoint.url
        body = body_of(message)
        try:
            secrets_ = _secrets(runtime, endpoint, now)
        except CannotOpen:
            secrets_ = []
    if secrets_:
        headers = signing.headers(message_id, datetime.now(UTC), body, secrets_)
        outcome = await sender.post(runtime.settings.webhooks, url, body, headers, resolver=resolver)
    else:
        outcome = sender.Outcome(
            False, error="the signing secret cannot be unsealed (was SAASKIT_SECRET_KEY changed?): rotate it"
        )
    return await _record(runtime, message_id, endpoint_id, attempt, trigger, outcome)


async def _record(
    runtime: Runtime,
    message_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    attempt: int,
    trigger: str,
    outcome: sender.Outcome,
) -> str:
    settings = runtime.settings.webhooks
    now = datetime.now(UTC)
    async with runtime.db.session(SERVICE) as session:
        endpoint = await session.get(WebhookEndpoint, endpoint_id, with_for_update=True)
        if endpoint is None:
            return "skipped: the endpoint was deleted during the attempt"
        retries = trigger != "test" and attempt < settings.max_attempts and not outcome.is_success
        next_at = now + retry_delay(settings, attempt) if retries else None
        session.add(
            WebhookDelivery(
                organization_id=endpoint.organization_id,
                endpoint_id=endpoint_id,
                message_id=message_id,
                attempt=attempt,
                trigger=trigger,
                is_success=outcome.is_success,
                status_code=outcome.status_code,
                latency_ms=outcome.latency_ms,
                response_excerpt=outcome.response_excerpt,
                error=outcome.error,
                next_attempt_at=next_at,
            )
        )
        if outcome.is_success:
            endpoint.consecutive_failures = 0
            endpoint.failing_since = None
            endpoint.last_success_at = now
            return "succeeded"
        endpoint.consecutive_failures += 1
        endpoint.failing_since = endpoint.failing_since or now
        if next_at is not None:
            await session.flush()
            await defer_attempt(
                session, message_id, endpoint_id, attempt=attempt + 1, trigger="retry", at=next_at
            )
        logger.warning(
            "webhook %s to endpoint %s failed (attempt %d%s): %s",
            signing.webhook_id(message_id),
            endpoint_id,
            attempt,
            f", next at {next_at.isoformat(timespec='seconds')}" if next_at else ", no more attempts",
            outcome.error,
        )
        await _disable_if_failing(session, settings, endpoint, now)
        return "failed"


async def _disable_if_failing(
    session: AsyncSession, settings: WebhookSettings, endpoint: WebhookEndpoint, now: datetime
) -> None:
    if not endpoint.is_enabled or endpoint.consecutive_failures < settings.disable_after_failures:
        return
    if endpoint.failing_since is None or endpoint.failing_since > now - timedelta(
        hours=settings.disable_after_hours
    ):
        return
    reason = (
        f"disabled automatically: {endpoint.consecutive_failures} attempts in a row failed since "
        f"{endpoint.failing_since.isoformat(timespec='minutes')}"
    )
    disable(endpoint, reason, now)
    await session.flush()
    told = await notifications.notify_organization(
        session,
        organization_id=endpoint.organization_id,
        kind="webhook_disabled",
        title="A webhook endpoint was disabled",
        body=f"Every delivery to {endpoint.url[:300]} failed for too long, so saaskit stopped sending to it. "
        "Fix the endpoint, send a test, then enable it again.",
        severity="warning",
        data={"endpoint_id": str(endpoint.id), "url": endpoint.url},
        roles=NOTICE_ROLES,
    )
    logger.warning("webhook endpoint %s disabled after sustained failure; %d people told", endpoint.id, told)


async def purge(session: AsyncSession, runtime: Runtime, now: datetime) -> int:
    """Delete messages (and, by cascade, their delivery log) past the retention period."""
    cutoff = now - timedelta(days=runtime.settings.webhooks.retention_days)
    ids = (await session.scalars(select(WebhookMessage.id).where(WebhookMessage.created_at < cutoff))).all()
    for chunk_start in range(0, len(ids), 1000):
        chunk = ids[chunk_start : chunk_start + 1000]
        await session.execute(delete(WebhookMessage).where(WebhookMessage.id.in_(chunk)))
    return len(ids)


async def recover_stalled(
    manager: JobManager, *, seconds_since_heartbeat: float = STALLED_AFTER_SECONDS
) -> int:
    """Attempts left ``doing`` by a worker that stopped sending heartbeats (killed mid-attempt)
    are queued again: the receiver may then get that message twice, with the same webhook-id,
    which is what the id is for. Returns how many."""
    stalled = await manager.get_stalled_jobs(
        task_name="webhooks.deliver", seconds_since_heartbeat=seconds_since_heartbeat
    )
    count = 0
    for job in stalled:
        await manager.retry_job(job)
        count += 1
    if count:
        logger.warning("%d webhook attempt(s) of dead workers queued again", count)
    return count
