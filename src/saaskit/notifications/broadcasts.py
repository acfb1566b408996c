"""Admin broadcasts: one notice to everyone, or to one organization's active members.

The broadcast is one ``notification_broadcasts`` row (what was sent, by whom, to how many) and
one ``notifications`` copy per recipient, written by a single ``INSERT ... SELECT``
(``audiences.fan_out``) in the admin's transaction: 100,000 users take about a second or two
(docs/notifications.md). Users who switched announcements off in the app get no copy. The
admin pages and the JSON admin endpoint call ``notifications.operator.broadcast``, which adds
the audit row.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.errors import NotFound, Unprocessable
from saaskit.kit.pagination import keyset_page
from saaskit.notifications import audiences
from saaskit.notifications.kinds import kind_of
from saaskit.notifications.models import Notification, NotificationBroadcast
from saaskit.notifications.service import check_notice

AUDIENCES = ("everyone", "organization")


async def send(
    session: AsyncSession,
    *,
    audience: str,
    organization: str | None,
    title: str,
    body: str | None,
    link: str | None,
    severity: str | None,
    sent_by: uuid.UUID | None,
) -> NotificationBroadcast:
    """Send a broadcast (the session must be the service's: admins act as it). ``organization``:
    its id or slug, for the audience ``organization``."""
    if audience not in AUDIENCES:
        raise Unprocessable(f"audience: one of {', '.join(AUDIENCES)}", field="audience")
    kind = kind_of("broadcast")
    notice = check_notice(kind, title, body, link, severity)
    organization_id = None
    if audience == "organization":
        if not (organization or "").strip():
            raise Unprocessable("organization: the organization's id or slug", field="organization")
        organization_id = (await audiences.find_organization(session, organization or "")).id
    row = NotificationBroadcast(
        id=uuid.uuid4(),
        audience=audience,
        organization_id=organization_id,
        severity=notice.severity,
        title=notice.title,
        body=notice.body,
        link=notice.link,
        sent_by=sent_by,
    )
    session.add(row)
    await session.flush()
    recipients = audiences.everyone() if organization_id is None else audiences.members(organization_id)
    row.recipient_count = await audiences.fan_out(
        session,
        recipients,
        kind=kind,
        severity=notice.severity,
        title=notice.title,
        body=notice.body,
        link=notice.link,
        data={},
        audience="everyone" if organization_id is None else "organization",
        organization_id=organization_id,
        actor_id=sent_by,
        broadcast_id=row.id,
    )
    await session.flush()
    return row


async def list_broadcasts(
    session: AsyncSession, *, limit: int = 50, cursor: str | None = None
) -> tuple[list[NotificationBroadcast], str | None]:
    query: Select[Any] = select(NotificationBroadcast)
    return await keyset_page(
        session,
        query,
        created_at=NotificationBroadcast.created_at,
        row_id=NotificationBroadcast.id,
        limit=limit,
        cursor=cursor,
    )


async def read_counts(session: AsyncSession, broadcast_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many recipients of each broadcast have read their copy."""
    if not broadcast_ids:
        return {}
    rows = await session.execute(
        select(Notification.broadcast_id, func.count())
        .where(Notification.broadcast_id.in_(broadcast_ids), Notification.read_at.is_not(None))
        .group_by(Notification.broadcast_id)
    )
    return {broadcast_id: int(count) for broadcast_id, count in rows.all() if broadcast_id is not None}


async def get(session: AsyncSession, broadcast_id: uuid.UUID) -> NotificationBroadcast:
    row = await session.get(NotificationBroadcast, broadcast_id)
    if row is None:
        raise NotFound("There is no broadcast with this id.", field="broadcast_id")
    return row
