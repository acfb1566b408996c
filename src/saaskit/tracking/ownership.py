"""Ids taken from a request body name something of the sender's, or the request is refused.

A body may name a dashboard (``dashboard_id``: widget and system events) or a usage session
(``session_id``: widget events). Each is checked against the sender's rights before anything is
written: a dashboard must be a live one of the signed-in user's (an ingestion key is public and
vouches for no device, so it may name none), a session one of the user's ``user_sessions``.
Otherwise the answer is 404 naming the field (``events.3.dashboard_id``), and nothing is stored.
The checks read through row-level security, in the sender's context: what another user owns
is simply not found.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts.models import UserSession
from saaskit.devices.service import live_dashboard_ids
from saaskit.kit.errors import NotFound
from saaskit.tracking.ingest import Attribution

FieldOf = Callable[[int, str], str]  # (item index, field) -> the field's name in the request


def _ids(items: Sequence[dict[str, Any]], key: str) -> set[uuid.UUID]:
    return {item[key] for item in items if item.get(key)}


def _refuse_unknown(
    items: Sequence[dict[str, Any]], key: str, known: set[uuid.UUID], field_of: FieldOf, what: str
) -> None:
    for index, item in enumerate(items):
        if item.get(key) and item[key] not in known:
            field = field_of(index, key)
            raise NotFound(
                f"{field}: no such {what} of yours", field=field, code=f"{what.replace(' ', '_')}_not_found"
            )


async def check_dashboards(
    session: AsyncSession, sender: Attribution, items: Sequence[dict[str, Any]], field_of: FieldOf
) -> None:
    wanted = _ids(items, "dashboard_id")
    if not wanted:
        return
    known = await live_dashboard_ids(session, wanted) if sender.user_id is not None else set()
    _refuse_unknown(items, "dashboard_id", known, field_of, "dashboard")


async def check_sessions(
    session: AsyncSession, sender: Attribution, items: Sequence[dict[str, Any]], field_of: FieldOf
) -> None:
    wanted = _ids(items, "session_id")
    if not wanted:
        return
    known: set[uuid.UUID] = set()
    if sender.user_id is not None:
        known = set(await session.scalars(select(UserSession.id).where(UserSession.id.in_(wanted))))
    _refuse_unknown(items, "session_id", known, field_of, "session")
