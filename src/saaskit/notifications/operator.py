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
    to = "everyone" if row.organization_id is None else "the organization's members"
    await audit.record(
        session,
        actor,
        organization_id=row.organization_id,
        action="notification.broadcast",
        entity_type="notification_broadcast",
        entity_id=row.id,
        entity_name=row.title,
        description=f"Notice {row.title!r} sent to {to} ({row.recipient_count} recipient(s)).",
        metadata={
            "audience": row.audience,
            "recipients": row.recipient_count,
            "severity": row.severity,
            "link": row.link,
        },
    )
    return Outcome(
        f"Sent {row.title!r} to {row.recipient_count} recipient(s).",
        {"broadcast_id": str(row.id), "recipient_count": row.recipient_count},
    )
