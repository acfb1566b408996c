"""Platform admins' triage: mark a system event or an error log resolved, with the audit row in
the same transaction (see ``audit.operator``)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.audit import service as audit
from saaskit.audit.service import Actor
from saaskit.tracking import triage
from saaskit.tracking.models import ErrorLog, SystemEvent


async def resolve_system_event(session: AsyncSession, actor: Actor, event_id: uuid.UUID) -> SystemEvent:
    assert actor.user_id is not None
    row = await triage.resolve_system_event(session, event_id, actor.user_id)
    subject = audit.Subject(None, "system_event", row.id, row.event_type)
    await audit.record_about(
        session, actor, subject, "resolved", f"{row.severity} {row.event_type} marked resolved."
    )
    return row


async def resolve_error(session: AsyncSession, actor: Actor, error_id: uuid.UUID) -> ErrorLog:
    assert actor.user_id is not None
    row = await triage.resolve_error(session, error_id, actor.user_id)
    subject = audit.Subject(None, "error_log", row.id, row.error_code or row.error_type)
    description = f"{row.error_type} {row.error_code or ''} marked resolved.".replace("  ", " ")
    await audit.record_about(session, actor, subject, "resolved", description)
    return row
