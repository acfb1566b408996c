"""Platform admins' actions on the outbox: send a message again, or discard it, each with its
audit row in the same transaction (see ``audit.operator``)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.audit import service as audit
from saaskit.audit.operator import Outcome
from saaskit.audit.service import Actor
from saaskit.mail import service
from saaskit.mail.models import EmailOutbox


async def _record(
    session: AsyncSession, actor: Actor, row: EmailOutbox, action: str, description: str, before: str
) -> None:
    await audit.record(
        session,
        actor,
        organization_id=row.organization_id,
        action=action,
        entity_type="email_outbox",
        entity_id=row.id,
        entity_name=f"{row.template} to {row.recipient}",
        description=description,
        metadata={"before": {"status": before}, "after": {"status": row.status}, "template": row.template},
    )


async def resend_message(session: AsyncSession, actor: Actor, message_id: uuid.UUID) -> Outcome:
    before = (await service.get_message(session, message_id)).status
    row = await service.resend(session, message_id)
    await _record(
        session,
        actor,
        row,
        "email.resend_requested",
        f"{row.template} to {row.recipient} queued again ({before}).",
        before,
    )
    return Outcome(f"The message to {row.recipient} is queued again.", {"status": row.status})


async def discard_message(session: AsyncSession, actor: Actor, message_id: uuid.UUID) -> Outcome:
    before = (await service.get_message(session, message_id)).status
    row = await service.discard(session, message_id, "discarded by an operator")
    await _record(
        session,
        actor,
        row,
        "email.discarded",
        f"{row.template} to {row.recipient} discarded ({before}).",
        before,
    )
    return Outcome(
        f"The message to {row.recipient} was discarded; it will not be sent.", {"status": row.status}
    )
