"""The nightly funnel job: every active funnel's progress over the last 30 closed UTC days, the
range the admin Analytics page opens on, so its figures are there without a button press."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from saaskit.insights.funnels import storage
from saaskit.insights.models import ConversionFunnel
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime

NIGHTLY_DAYS = 30


def nightly_range(today: date) -> tuple[date, date]:
    """[first, end): the 30 UTC days before today (end exclusive)."""
    return today - timedelta(days=NIGHTLY_DAYS), today


async def compute_active(runtime: Runtime, today: date) -> int:
    """Each active funnel in its own transaction (one slow funnel does not hold the others back,
    a failing one does not undo them). Returns how many were computed."""
    async with runtime.db.session(SERVICE) as session:
        ids = list(await session.scalars(select(ConversionFunnel.id).where(ConversionFunnel.is_active)))
    start, end = nightly_range(today)
    for funnel_id in ids:
        async with runtime.db.session(SERVICE) as session:
            funnel = await session.get(ConversionFunnel, funnel_id)
            if funnel is not None and funnel.is_active:
                await storage.compute_and_store(session, funnel, start, end, "UTC")
    return len(ids)
