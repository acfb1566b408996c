"""Notifications: the past broadcasts with their organization, sender and read counts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts.models import User
from saaskit.kit.pagination import keyset_page
from saaskit.notifications import broadcasts
from saaskit.notifications.models import NotificationBroadcast
from saaskit.tenancy.models import Organization


@dataclass(frozen=True)
class BroadcastRow:
    broadcast: NotificationBroadcast
    organization_name: str | None
    sent_by_email: str | None
    read_count: int

    @property
    def read_percent(self) -> float | None:
        recipients = self.broadcast.recipient_count
        return round(100 * self.read_count / recipients, 1) if recipients else None


async def broadcast_rows(
    session: AsyncSession, *, limit: int, cursor: str | None
) -> tuple[list[BroadcastRow], str | None]:
    query = (
        select(NotificationBroadcast, Organization.name, User.email)
        .outerjoin(Organization, Organization.id == NotificationBroadcast.organization_id)
        .outerjoin(User, User.id == NotificationBroadcast.sent_by)
    )
    rows, next_cursor = await keyset_page(
        session,
        query,
        created_at=NotificationBroadcast.created_at,
        row_id=NotificationBroadcast.id,
        limit=limit,
        cursor=cursor,
    )
    ids: list[uuid.UUID] = [row[0].id for row in rows]
    read = await broadcasts.read_counts(session, ids)
    return [BroadcastRow(b, org_name, email, read.get(b.id, 0)) for b, org_name, email in rows], next_cursor
