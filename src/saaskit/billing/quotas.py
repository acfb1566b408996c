"""Organization quotas: what an organization's plan allows, enforced atomically.

A plan's ``limits`` name them (``subscription_plans.limits``)::

    {"seats": 10, "quotas": {"api_calls": 100000, "events": 1000000, "dashboards": 20}}

- **Counted quotas** (``limits.quotas.<name>``: API calls, events, any metric or feature) are
  consumed per billing period in ``organization_quota_usage``: one conditional upsert adds the
  amount only if the sum stays within the limit, so concurrent requests queue on the row and
  never pass it together. Refused, the request fails with 429 ``quota_exceeded`` naming the
  limit, and its transaction (the usage record too) rolls back. The period is the
  organization's subscription period, or the calendar month (``usage.current_period``); a new
  period is a new row, so counters reset with the period.
- **Seats** (``limits.seats``) are a count, not a consumption: the active members. Adding or
  reactivating a member locks the organization's row, counts the active members and refuses
  a member past the limit (concurrent additions queue on the lock and count again).

No limit named: unlimited. The organization's admins read the figures at
``GET /api/orgs/{org_id}/billing/quotas`` (``billing:read``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.billing import tiers
from saaskit.billing.models import OrganizationQuotaUsage
from saaskit.billing.owners import Owner
from saaskit.kit.errors import TooManyRequests
from saaskit.tenancy.models import Organization, OrganizationMember

SEATS = "seats"


@dataclass(frozen=True)
class QuotaFigure:
    name: str
    kind: str  # "counted" (per billing period) or "seats" (active members now)
    limit: int
    used: int
    period_start: datetime | None
    period_end: datetime | None


async def limits(session: AsyncSession, organization_id: uuid.UUID) -> tuple[int | None, dict[str, int]]:
    """(seats, counted quotas) of the organization's plan in force."""
    _, found = await tiers.limits_of(session, Owner(organization_id=organization_id))
    seats = found.get(SEATS)
    counted = found.get("quotas", {})
    counted = {k: v for k, v in counted.items() if isinstance(v, int)} if isinstance(counted, dict) else {}
    return (seats if isinstance(seats, int) else None), counted


def exceeded(
    name: str, limit: int, used: int, field: str, per: str = "per billing period"
) -> TooManyRequests:
    return TooManyRequests(
        f"quota exceeded: {name} allows {limit} {per} ({used} used)",
        field=field,
        code="quota_exceeded",
        extra={"quota": name, "limit": limit, "used": used},
    )


async def consume(
    session: AsyncSession,
    organization_id: uuid.UUID,
    name: str,
    amount: int,
    period_start: datetime,
    period_end: datetime,
    *,
    field: str = "metric_name",
) -> int | None:
    """Count ``amount`` against the counted quota ``name``; the period's total, or None when the
    plan sets no such quota (nothing counted). Raises 429 ``quota_exceeded`` past the limit."""
    limit = (await limits(session, organization_id))[1].get(name)
    if limit is None:
        return None
    if amount > limit:
        raise exceeded(name, limit, await used_in(session, organization_id, name, period_start), field)
    statement = insert(OrganizationQuotaUsage).values(
        organization_id=organization_id,
        quota_name=name,
        period_start=period_start,
        period_end=period_end,
        used=amount,
    )
    statement = statement.on_conflict_do_update(
        index_elements=["organization_id", "quota_name", "period_start"],
        set_={"used": OrganizationQuotaUsage.used + statement.excluded.used, "updated_at": func.now()},
        where=OrganizationQuotaUsage.used + statement.excluded.used <= limit,
    )
    total = await session.scalar(statement.returning(OrganizationQuotaUsage.used))
    if total is None:
        raise exceeded(name, limit, await used_in(session, organization_id, name, period_start), field)
    return int(total)


async def used_in(
    session: AsyncSession, organization_id: uuid.UUID, name: str, period_start: datetime
) -> int:
    used = await session.scalar(
        select(OrganizationQuotaUsage.used).where(
            OrganizationQuotaUsage.organization_id == organization_id,
            OrganizationQuotaUsage.quota_name == name,
            OrganizationQuotaUsage.period_start == period_start,
        )
    )
    return int(used or 0)


async def active_members(session: AsyncSession, organization_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(OrganizationMember)
        .where(OrganizationMember.organization_id == organization_id, OrganizationMember.is_active.is_(True))
    )
    return int(count or 0)


async def claim_seat(session: AsyncSession, organization_id: uuid.UUID) -> None:
    """Before a member is added or reactivated: refuse past ``limits.seats`` (429)."""
    seats, _ = await limits(session, organization_id)
    if seats is None:
        return
    # The lock queues concurrent additions; each counts after the one before it committed.
    await session.execute(select(Organization.id).where(Organization.id == organization_id).with_for_update())
    used = await active_members(session, organization_id)
    if used + 1 > seats:
        raise exceeded(SEATS, seats, used, "user_id", per="active members")


async def figures(
    session: AsyncSession, organization_id: uuid.UUID, period_start: datetime, period_end: datetime
) -> list[QuotaFigure]:
    """Every limit of the organization's plan with what is used of it now."""
    seats, counted = await limits(session, organization_id)
    out: list[QuotaFigure] = []
    if seats is not None:
        out.append(
            QuotaFigure(SEATS, "seats", seats, await active_members(session, organization_id), None, None)
        )
    rows = await session.execute(
        select(OrganizationQuotaUsage.quota_name, OrganizationQuotaUsage.used).where(
            OrganizationQuotaUsage.organization_id == organization_id,
            OrganizationQuotaUsage.period_start == period_start,
        )
    )
    used = {name: int(value) for name, value in rows.all()}
    for name in sorted(counted):
        out.append(QuotaFigure(name, "counted", counted[name], used.get(name, 0), period_start, period_end))
    return out
