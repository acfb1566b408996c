"""Admin broadcasts: one notice to everyone, or to one organization's active members.

A broadcast is one ``notification_broadcasts`` row (what was sent, by whom, to how many) and
one ``notifications`` copy per recipient (so each reads it on their own). Users who switched
announcements off in the app get no copy.

- To an organization: the copies are written in the admin's transaction, by one
  ``INSERT ... SELECT`` (``audiences.fan_out``): members are tens or thousands.
- To everyone: the admin's transaction writes the broadcast row (``sending``) and defers the
  ``notifications.fan_out`` job; the job writes the copies in batches of ``BATCH_USERS``
  accounts (in ``users.id`` order), one ``INSERT ... SELECT`` and one short transaction each,
  recording its progress (``fanned_out_through``, ``recipient_count``) in the same transaction,
  so a job that dies resumes where the last batch committed and never writes a copy twice.
  Why not one statement: for 100,000 users it took 8-10 s on the shared 2-core development
  machine, and each copy's foreign-key check locks its user's row (``FOR KEY SHARE``) until
  the statement commits, which holds up a sign-in to that account (``SELECT ... FOR UPDATE``):
  up to 2.6 s measured, against 0.3 s with batches (docs/notifications.md,
  ``benchmarks/broadcast.py``). The request itself takes milliseconds either way.

The admin pages and the JSON admin endpoint call ``notifications.operator.broadcast``, which
adds the audit row.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts.models import User
from saaskit.jobs import defer
from saaskit.kit.db import SERVICE
from saaskit.kit.errors import NotFound, Unprocessable
from saaskit.kit.pagination import keyset_page
from saaskit.kit.state import Runtime
from saaskit.notifications import audiences
from saaskit.notifications.kinds import kind_of
from saaskit.notifications.models import Notification, NotificationBroadcast
from saaskit.notifications.service import check_notice

AUDIENCES = ("everyone", "organization")
BATCH_USERS = 2_000


def _copy(row: NotificationBroadcast) -> dict[str, Any]:
    """The notice every recipient's copy holds."""
    return {
        "kind": kind_of("broadcast"),
        "severity": row.severity,
        "title": row.title,
        "body": row.body,
        "link": row.link,
        "data": {},
        "audience": row.audience,
        "organization_id": row.organization_id,
        # Recipients are not told which admin sent it (sent_by on the broadcast says so).
        "actor_id": None,
        "broadcast_id": row.id,
    }


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
    its id or slug, for the audience ``organization``. To everyone, the copies are written by
    the ``notifications.fan_out`` job once this transaction commits."""
    if audience not in AUDIENCES:
        raise Unprocessable(f"audience: one of {', '.join(AUDIENCES)}", field="audience")
    notice = check_notice(kind_of("broadcast"), title, body, link, severity)
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
        status="sending",
    )
    session.add(row)
    await session.flush()
    if organization_id is not None:
        row.recipient_count = await audiences.fan_out(
            session, audiences.members(organization_id), **_copy(row)
        )
        row.status = "sent"
        row.completed_at = func.now()
    else:
        from saaskit.notifications.tasks import fan_out_broadcast

        await defer(session, fan_out_broadcast, broadcast_id=str(row.id))
    await session.flush()
    await session.refresh(row)
    return row


async def fan_out_batch(
    session: AsyncSession, broadcast_id: uuid.UUID, batch_size: int = BATCH_USERS
) -> bool:
    """Write the copies for the next ``batch_size`` accounts of a broadcast to everyone, and its
    progress, in the session's transaction; True when none is left (the broadcast is sent)."""
    row = await session.get(NotificationBroadcast, broadcast_id, with_for_update=True, populate_existing=True)
    if row is None or row.status == "sent":
        return True
    batch = audiences.everyone().where(User.created_at <= row.created_at).order_by(User.id).limit(batch_size)
    if row.fanned_out_through is not None:
        batch = batch.where(User.id > row.fanned_out_through)
    user_ids = list(await session.scalars(batch))
    if user_ids:
        ids = bindparam("user_ids", user_ids, type_=ARRAY(UUID(as_uuid=True)))
        recipients = select(func.unnest(ids).label("user_id"))
        row.recipient_count += await audiences.fan_out(session, recipients, **_copy(row))
        row.fanned_out_through = user_ids[-1]
    if len(user_ids) < batch_size:
        row.status = "sent"
        row.completed_at = func.now()
    await session.flush()
    return row.status == "sent"


async def fan_out(runtime: Runtime, broadcast_id: uuid.UUID, batch_size: int = BATCH_USERS) -> int:
    """Every remaining batch of a broadcast to everyone, each in its own transaction (the
    ``notifications.fan_out`` job); returns how many recipients it has in all."""
    done = False
    while not done:
        async with runtime.db.session(SERVICE) as session:
            done = await fan_out_batch(session, broadcast_id, batch_size)
    async with runtime.db.session(SERVICE) as session:
        row = await session.get(NotificationBroadcast, broadcast_id)
        return row.recipient_count if row else 0


async def unfinished(session: AsyncSession, older_than: timedelta = timedelta(minutes=10)) -> list[uuid.UUID]:
    """Broadcasts still sending some time after they were sent (the periodic job resumes them)."""
    return list(
        await session.scalars(
            select(NotificationBroadcast.id).where(
                NotificationBroadcast.status == "sending",
                NotificationBroadcast.created_at < func.now() - older_than,
            )
        )
    )


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
