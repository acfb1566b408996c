"""Outbox: messages by status (the cards above the list)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

COUNTS_SQL = text("SELECT status, count(*) AS n FROM email_outbox GROUP BY status")


async def status_counts(session: AsyncSession) -> dict[str, int]:
    return {row.status: int(row.n) for row in await session.execute(COUNTS_SQL)}
