"""Platform admins' action on the Stripe webhook log: queue a stored event again, with its audit
row in the same transaction (see ``audit.operator``)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.audit import service as audit
from saaskit.audit.service import Actor
from saaskit.billing import webhooks
from saaskit.billing.models import StripeWebhookEvent


async def reprocess_webhook(session: AsyncSession, actor: Actor, event_id: uuid.UUID) -> StripeWebhookEvent:
    row = await webhooks.reprocess(session, event_id)
    subject = audit.Subject(None, "stripe_webhook_event", row.id, f"{row.event_type} {row.stripe_event_id}")
    description = f"Stripe event {row.stripe_event_id} ({row.event_type}) queued again."
    metadata = {"retry_count": row.retry_count, "error_message": row.error_message}
    await audit.record_about(session, actor, subject, "reprocess_requested", description, metadata)
    return row
