"""Stripe webhooks: verify, store, queue; then process in a job.

Receiving (``POST /api/billing/stripe/webhook``): the signature is checked with the SDK against
``SAASKIT_STRIPE_WEBHOOK_SECRET`` (bad or missing: 400, nothing stored). The event is redacted
(``billing.redaction``: only what processing and audit need; no personal data) and inserted
with ``ON CONFLICT (stripe_event_id) DO NOTHING``: a re-delivery inserts nothing and queues
nothing, and is answered 200 like the first. A new event of a handled type gets its processing
job deferred in the same transaction (so the job exists only once the event is committed);
types saaskit does not handle are stored as ``ignored``.

Processing (``billing.process_webhook_event``): the event row is locked, its handler runs in
the same transaction, and the row becomes ``processed`` with the owner and any tier change. On
an exception the transaction rolls back, ``retry_count`` and ``error_message`` are written in a
transaction of their own, and procrastinate retries with exponential backoff; after the last
attempt the row is ``failed``, and ``reprocess`` (platform admins) queues it again.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import stripe
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import Select, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.billing import handlers, redaction, shapes
from saaskit.billing.handlers import Event, Outcome
from saaskit.billing.models import StripeWebhookEvent
from saaskit.billing.stripe_client import gateway
from saaskit.jobs import defer
from saaskit.kit import logsafe
from saaskit.kit.db import SERVICE, set_context
from saaskit.kit.errors import BadRequest, Conflict, NotFound
from saaskit.kit.pagination import keyset_page
from saaskit.kit.state import Runtime

logger = logging.getLogger(__name__)


def lock_name(event_id: uuid.UUID | str) -> str:
    return f"stripe-event:{event_id}"


async def receive(
    session: AsyncSession, runtime: Runtime, payload: bytes, signature: str | None
) -> tuple[uuid.UUID | None, bool]:
    """Store a signed event; returns (row id if new, whether it was new)."""
    if not signature:
        raise BadRequest("missing Stripe-Signature header", field="Stripe-Signature", code="bad_signature")
    try:
        gateway(runtime).verify_event(payload, signature)
        event: dict[str, Any] = orjson.loads(payload)
    except (stripe.SignatureVerificationError, ValueError, orjson.JSONDecodeError) as exc:
        raise BadRequest(
            "the Stripe signature does not match the payload", field="Stripe-Signature", code="bad_signature"
        ) from exc
    if not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise BadRequest("not a Stripe event", code="not_an_event")
    # The signature is Stripe's: this transaction acts as the service from here on.
    await set_context(session, SERVICE)
    handled = event["type"] in handlers.load()
    row_id = await session.scalar(
        insert(StripeWebhookEvent)
        .values(
            stripe_event_id=event["id"],
            event_type=event["type"],
            # Personal data Stripe sent is dropped here, before the INSERT (billing.redaction).
            event_data=redaction.redact_event(event, runtime.secret),
            stripe_created_at=shapes.ts(event.get("created")) or datetime.now(UTC),
            api_version=event.get("api_version"),
            livemode=event.get("livemode"),
            processing_status="pending" if handled else "ignored",
            processed_at=None if handled else datetime.now(UTC),
        )
        .on_conflict_do_nothing(index_elements=["stripe_event_id"])
        .returning(StripeWebhookEvent.id)
    )
    if row_id is not None and handled:
        await queue(session, row_id)
    return row_id, row_id is not None


async def queue(session: AsyncSession, row_id: uuid.UUID) -> None:
    from saaskit.billing.tasks import process_webhook_event

    await defer(session, process_webhook_event, queueing_lock=lock_name(row_id), event_id=str(row_id))


async def process(runtime: Runtime, event_id: uuid.UUID, *, attempt: int) -> str:
    """Run the event's handler once; returns the resulting processing status."""
    max_attempts = runtime.settings.stripe.webhook_max_attempts
    try:
        async with runtime.db.session(SERVICE) as session:
            row = await session.get(StripeWebhookEvent, event_id)
            if row is None or row.processing_status in ("processed", "ignored"):
                return row.processing_status if row else "missing"
            registration = handlers.load().get(row.event_type)
            obj = row.event_data.get("data", {}).get("object", {})
            event = Event(type=row.event_type, object=obj, created=row.stripe_created_at, raw=row.event_data)
        if registration is None:
            return await _finish(runtime, event_id, Outcome(note="no handler"), status="ignored")
        if registration.prefetch is not None:
            event.prefetched = await registration.prefetch(runtime, event)  # Stripe, outside transactions
        async with runtime.db.session(SERVICE) as session:
            locked = await session.scalar(
                select(StripeWebhookEvent).where(StripeWebhookEvent.id == event_id).with_for_update()
            )
            if locked is None or locked.processing_status in ("processed", "ignored"):
                return locked.processing_status if locked else "missing"
            outcome = await registration.handler(session, runtime, event)
            _record(locked, outcome, "processed")
        return "processed"
    except Exception as exc:
        last = attempt + 1 >= max_attempts
        status = "failed" if last else "pending"
        message = logsafe.scrub(f"{type(exc).__name__}: {exc}")[:2000]  # shown to admins, logged
        async with runtime.db.session(SERVICE) as session:
            await session.execute(
                update(StripeWebhookEvent)
                .where(StripeWebhookEvent.id == event_id)
                .values(
                    retry_count=StripeWebhookEvent.retry_count + 1,
                    error_message=message,
                    processing_status=status,
                )
            )
        logger.warning(
            "stripe event %s failed (attempt %d of %d): %s", event_id, attempt + 1, max_attempts, message
        )
        if last:
            return "failed"
        raise


def _record(row: StripeWebhookEvent, outcome: Outcome, status: str) -> None:
    row.processing_status = status
    row.processed_at = datetime.now(UTC)
    row.error_message = outcome.note if status == "ignored" else None
    if outcome.owner is not None:
        row.user_id = outcome.owner.user_id
        row.organization_id = outcome.owner.organization_id
    row.old_tier = outcome.old_tier
    row.new_tier = outcome.new_tier


async def _finish(runtime: Runtime, event_id: uuid.UUID, outcome: Outcome, *, status: str) -> str:
    async with runtime.db.session(SERVICE) as session:
        row = await session.get(StripeWebhookEvent, event_id, with_for_update=True)
        if row is not None:
            _record(row, outcome, status)
    return status


async def reprocess(session: AsyncSession, event_id: uuid.UUID) -> StripeWebhookEvent:
    row = await session.get(StripeWebhookEvent, event_id, with_for_update=True)
    if row is None:
        raise NotFound("no such webhook event", field="event_id")
    if row.processing_status == "processed":
        raise Conflict("this event was processed already", code="already_processed")
    if row.event_type not in handlers.load():
        raise Conflict("saaskit has no handler for this event type", code="not_handled")
    row.processing_status = "pending"
    row.processed_at = None
    await session.flush()
    try:
        await queue(session, row.id)
    except AlreadyEnqueued as exc:
        raise Conflict("this event is already queued for processing", code="already_queued") from exc
    return row


async def list_events(
    session: AsyncSession,
    *,
    status: str | None,
    event_type: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[StripeWebhookEvent], str | None]:
    query: Select[Any] = select(StripeWebhookEvent)
    if status:
        query = query.where(StripeWebhookEvent.processing_status == status)
    if event_type:
        query = query.where(StripeWebhookEvent.event_type == event_type)
    return await keyset_page(
        session,
        query,
        created_at=StripeWebhookEvent.created_at,
        row_id=StripeWebhookEvent.id,
        limit=limit,
        cursor=cursor,
    )
