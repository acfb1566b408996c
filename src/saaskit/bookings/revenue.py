"""Booking revenue for the platform's figures (``GET /api/admin/stats``, ``GET /api/insights/kpis``,
the admin's Overview, Analytics and Billing pages): money taken for laundry bookings, refunds
subtracted. docs/bookings.md ("Revenue in the platform's figures") defines it; beside the
subscription figures, never inside them (their seeds define them).

For a window from ``start`` to ``end``, both included (``end`` is now, or a month's end
excluded for the monthly line):

- **gross**: the ``total_amount`` of the bookings paid in the window (``paid_at``);
- **refunded**: the ``total_amount`` of the bookings refunded in the window (status
  ``refunded``, which is final: ``status_changed_at`` is the moment of the refund);
- **net** = gross - refunded.

Soft-deleted bookings count nothing. Amounts are in the bookings' currency (one currency per
installation is assumed, as for MRR). Per service, a booking counts whole on its main service.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# The bookings paid (the refunded ones were paid too: a refund needs a payment), of one
# organization or all. Windows: coalesce(:start, -infinity) <= t <= :end (up to and including now).
_PAID = """
SELECT b.service_id, b.total_amount, b.paid_at,
       CASE WHEN b.status = 'refunded' THEN b.status_changed_at END AS refunded_at
FROM bookings b
WHERE b.deleted_at IS NULL AND b.paid_at IS NOT NULL
  AND (CAST(:organization_id AS uuid) IS NULL OR b.organization_id = CAST(:organization_id AS uuid))
"""
_IN = "{t} >= coalesce(CAST(:start AS timestamptz), '-infinity') AND {t} <= CAST(:end AS timestamptz)"

TOTALS_SQL = text(
    f"""
WITH paid AS ({_PAID})
SELECT s.id AS service_id, s.name,
       coalesce(sum(p.total_amount) FILTER (WHERE {_IN.format(t="p.paid_at")}), 0)::bigint AS gross,
       count(*) FILTER (WHERE {_IN.format(t="p.paid_at")}) AS paid,
       coalesce(sum(p.total_amount) FILTER (WHERE {_IN.format(t="p.refunded_at")}), 0)::bigint AS refunded,
       count(*) FILTER (WHERE {_IN.format(t="p.refunded_at")}) AS refunds
FROM paid p JOIN services s ON s.id = p.service_id
GROUP BY s.id, s.name
"""
)

MONTHLY_SQL = text(
    f"""
WITH months AS (
    SELECT m AS month_start, m + interval '1 month' AS month_end
    FROM generate_series(date_trunc('month', CAST(:end AS timestamptz), 'UTC')
                             - make_interval(months => :months - 1),
                         date_trunc('month', CAST(:end AS timestamptz), 'UTC'), interval '1 month') AS m
), paid AS ({_PAID})
SELECT to_char(m.month_start AT TIME ZONE 'UTC', 'YYYY-MM') AS month,
       coalesce((SELECT sum(p.total_amount) FROM paid p
                 WHERE p.paid_at >= m.month_start AND p.paid_at < m.month_end
                   AND p.paid_at <= CAST(:end AS timestamptz)), 0)::bigint
           AS gross,
       coalesce((SELECT sum(p.total_amount) FROM paid p
                 WHERE p.refunded_at >= m.month_start AND p.refunded_at < m.month_end
                   AND p.refunded_at <= CAST(:end AS timestamptz)), 0)::bigint
           AS refunded
FROM months m ORDER BY m.month_start
"""
)


@dataclass(frozen=True)
class ServiceRevenue:
    service_id: uuid.UUID
    name: str
    gross_cents: int
    refunded_cents: int

    @property
    def net_cents(self) -> int:
        return self.gross_cents - self.refunded_cents


@dataclass(frozen=True)
class Revenue:
    gross_cents: int
    refunded_cents: int
    paid_bookings: int
    refunded_bookings: int
    by_service: list[ServiceRevenue]

    @property
    def net_cents(self) -> int:
        return self.gross_cents - self.refunded_cents

    def as_json(self) -> dict[str, object]:
        """The API's shape (camelCase, as the statistics around it)."""
        return {
            "grossCents": self.gross_cents,
            "refundedCents": self.refunded_cents,
            "netCents": self.net_cents,
            "paidBookings": self.paid_bookings,
            "refundedBookings": self.refunded_bookings,
            "byService": [
                {
                    "serviceId": str(s.service_id),
                    "service": s.name,
                    "grossCents": s.gross_cents,
                    "refundedCents": s.refunded_cents,
                    "netCents": s.net_cents,
                }
                for s in self.by_service
            ],
        }


async def totals(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID | None,
    start: datetime | None,
    end: datetime,
) -> Revenue:
    """Booking revenue in [start, end] (``start`` None: since the beginning); services by net
    revenue, highest first, those with nothing in the window left out."""
    rows = (
        await session.execute(TOTALS_SQL, {"organization_id": organization_id, "start": start, "end": end})
    ).all()
    services = sorted(
        (
            ServiceRevenue(r.service_id, r.name, int(r.gross), int(r.refunded))
            for r in rows
            if r.paid or r.refunds
        ),
        key=lambda s: (-s.net_cents, s.name),
    )
    return Revenue(
        gross_cents=sum(s.gross_cents for s in services),
        refunded_cents=sum(s.refunded_cents for s in services),
        paid_bookings=sum(int(r.paid) for r in rows),
        refunded_bookings=sum(int(r.refunds) for r in rows),
        by_service=services,
    )


async def monthly(
    session: AsyncSession, months: int, now: datetime | None = None, organization_id: uuid.UUID | None = None
) -> dict[str, tuple[int, int]]:
    """YYYY-MM -> (gross, refunded) in cents for the last ``months`` UTC months: each
    [month start, next month start), the current one up to and including now."""
    rows = await session.execute(
        MONTHLY_SQL,
        {"months": months, "end": now or datetime.now(UTC), "organization_id": organization_id},
    )
    return {r.month: (int(r.gross), int(r.refunded)) for r in rows}
