"""The booking revenue's definition (docs/bookings.md), in plain Python over the bookings' rows
(each with ``name``, its main service's name): the reference the figures are checked against."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

ROWS_SQL = (
    "SELECT b.*, s.name FROM bookings b JOIN services s ON s.id = b.service_id "
    "WHERE CAST(:o AS uuid) IS NULL OR b.organization_id = CAST(:o AS uuid)"
)


async def booking_rows(session: AsyncSession, organization_id: uuid.UUID | None = None) -> list[Any]:
    return list((await session.execute(text(ROWS_SQL), {"o": organization_id})).all())


def reference(
    rows: list[Any], start: datetime | None, end: datetime, stop: datetime | None = None
) -> dict[str, Any]:
    """The definition, in plain Python over the bookings' rows: from ``start`` to ``end`` (both
    included), before ``stop`` if given (a month's end)."""

    def within(t: datetime | None) -> bool:
        return t is not None and (start is None or t >= start) and t <= end and (t < stop if stop else True)

    live = [r for r in rows if r.deleted_at is None and r.paid_at is not None]
    paid = [r for r in live if within(r.paid_at)]
    refunded = [r for r in live if r.status == "refunded" and within(r.status_changed_at)]
    services: dict[Any, dict[str, Any]] = {}
    for r, key in [(r, "grossCents") for r in paid] + [(r, "refundedCents") for r in refunded]:
        entry = services.setdefault(
            r.service_id,
            {"serviceId": str(r.service_id), "service": r.name, "grossCents": 0, "refundedCents": 0},
        )
        entry[key] += r.total_amount
    for entry in services.values():
        entry["netCents"] = entry["grossCents"] - entry["refundedCents"]
    gross, back = sum(r.total_amount for r in paid), sum(r.total_amount for r in refunded)
    return {
        "grossCents": gross,
        "refundedCents": back,
        "netCents": gross - back,
        "paidBookings": len(paid),
        "refundedBookings": len(refunded),
        "byService": sorted(services.values(), key=lambda e: (-e["netCents"], e["service"])),
    }
