"""Platform admins' actions on notifications: a broadcast, with its audit row in the same
transaction (see ``audit.operator``)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.audit import service as audit
from saaskit.audit.operator import Outcome
from saaskit.audit.service import Actor
from saaskit.notifications import broadcasts


async def broadcast(
    session: AsyncSession,
    actor: Actor,
    *,
    audience: str,
    organization: str | None,
    title: str,
    body: str | None = None,
    link: str | None = None,
    severity: str | None = None,
) -> Outcome:
    row = await broadcasts.send(
        session,
        audience=audience,
        organization=organization,
        title=title,
        body=body,
        link=link,
        severity=severity,
        sent_by=actor.user_id,
    )
    if row.organization_id is None:
        description = (
            f"Notice {row.title!r} sent to everyone (copies written by the notifications.fan_out job)."
        )
        message = (
            f"Sending {row.title!r} to everyone: the list below shows the recipients as they are reached."
        )
        recipients = None
    else:
        description = f"Notice {row.title!r} sent to the organization's members ({row.recipient_count})."
        message = f"Sent {row.title!r} to {row.recipient_count} member(s)."
        recipients = row.recipient_count
    await audit.record(
        session,
        actor,
        organization_id=row.organization_id,
        action="notification.broadcast",
        entity_type="notification_broadcast",
        entity_id=row.id,
        entity_name=row.title,
        description=description,
        metadata={
            "audience": row.audience,
            "recipients": recipients,
            "severity": row.severity,
            "link": row.link,
        },
    )
    return Outcome(
        message, {"broadcast_id": str(row.id), "status": row.status, "recipient_count": row.recipient_count}
    )
