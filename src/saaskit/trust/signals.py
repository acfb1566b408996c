"""The incremental hook other domains call when a signal arrives (sign-up, sign-in, dashboard
registration, a saved card): one statement, ``app_trust_observe`` (trust/sql/clusters.sql), in
the caller's transaction. It only groups; the risk level and the rules run in the every-minute
job (trust/tasks.py), so a sign-up pays one indexed upsert per identifier and nothing else, and a
burst of sign-ups from one office queues no work per sign-up (docs/trust.md).

This module imports nothing of the other domains, so any of them may call it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.db import current_context

IP = "ip_hash"
DEVICE = "device_fingerprint"
CARD = "payment_method"

OBSERVE_SQL = text(
    "SELECT cluster_id, cluster_type, member_count FROM "
    "app_trust_observe(CAST(:user_id AS uuid), CAST(:types AS text[]), CAST(:hashes AS text[]))"
)


@dataclass(frozen=True)
class Joined:
    """An identifier row the user joined (or started: member_count 1)."""

    cluster_id: uuid.UUID
    cluster_type: str
    member_count: int


async def observe(
    session: AsyncSession, user_id: uuid.UUID, signals: Iterable[tuple[str, str | None]]
) -> list[Joined]:
    """Record that ``user_id`` was seen with these (cluster type, identifier hash) pairs; hashes
    that are None are skipped. Runs only in the user's own context or the service's (the SQL
    function refuses anything else), so it is skipped elsewhere (an organization's card)."""
    given = [(kind, value) for kind, value in signals if value]
    context = current_context(session)
    if not given or not (context.service or context.user_id == user_id):
        return []
    rows = await session.execute(
        OBSERVE_SQL,
        {"user_id": str(user_id), "types": [k for k, _ in given], "hashes": [v for _, v in given]},
    )
    return [Joined(r.cluster_id, r.cluster_type, r.member_count) for r in rows]


async def restrictions(session: AsyncSession, user_id: uuid.UUID) -> set[str]:
    """What trust actions forbid this account: ``trial_blocked`` (no free trial) and
    ``card_required`` (a payment method before subscribing). Readable in the user's own context."""
    found = await session.scalar(text("SELECT app_trust_restrictions(CAST(:u AS uuid))"), {"u": str(user_id)})
    return set(found or [])
