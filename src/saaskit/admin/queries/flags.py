"""Feature flags, experiments and persons: the lists across organizations, and the figures the
flag page adds (the rollout's observed share). Changes and evaluation are the flags and
experiments services' own; these are the read models of the pages."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import exists, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.admin.queries.common import contains_pattern
from saaskit.experiments.models import Experiment
from saaskit.flags.evaluation import evaluate
from saaskit.flags.models import FeatureFlag, Person, PersonDistinctId
from saaskit.kit.errors import BadRequest, NotFound
from saaskit.kit.pagination import keyset_page
from saaskit.tenancy.models import Organization

ACTIVE = ("yes", "no")
# The observed share reads `$feature_flag_called` events of the last 30 days (indexed by name and
# time) and evaluates at most this many of the organization's persons: a page never scans more.
OBSERVED_DAYS = 30
PERSONS_SAMPLE = 2000


async def organization(session: AsyncSession, reference: str | None) -> Organization | None:
    """The organization a filter names, by id or slug; None when the filter is empty."""
    reference = (reference or "").strip()
    if not reference:
        return None
    try:
        condition = Organization.id == uuid.UUID(reference)
    except ValueError:
        condition = Organization.slug == reference.lower()
    org = await session.scalar(select(Organization).where(condition))
    if org is None:
        raise BadRequest(f"organization: no organization {reference[:64]!r}", field="organization")
    return org


async def organizations_with(session: AsyncSession, model: Any) -> list[Organization]:
    """The organizations that have rows of ``model`` (for a filter's choices), by name."""
    has = exists().where(model.organization_id == Organization.id)
    return list(await session.scalars(select(Organization).where(has).order_by(Organization.name).limit(500)))


async def list_flags(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID | None,
    q: str | None,
    active: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[tuple[FeatureFlag, Organization]], str | None]:
    query: Any = select(FeatureFlag, Organization).join(
        Organization, Organization.id == FeatureFlag.organization_id
    )
    if organization_id is not None:
        query = query.where(FeatureFlag.organization_id == organization_id)
    if q:
        pattern = contains_pattern(q)
        query = query.where(
            or_(
                func.lower(FeatureFlag.key).like(pattern, escape="\\"),
                func.lower(FeatureFlag.name).like(pattern, escape="\\"),
            )
        )
    if active is not None:
        query = query.where(FeatureFlag.active.is_(active == "yes"))
    rows, next_cursor = await keyset_page(
        session, query, created_at=FeatureFlag.created_at, row_id=FeatureFlag.id, limit=limit, cursor=cursor
    )
    return [(flag, org) for flag, org in rows], next_cursor


# Rows of a tenant table the admin shows with their organization (one query for each kind).
Owned = TypeVar("Owned", FeatureFlag, Experiment, Person)


async def with_organization(
    session: AsyncSession, model: type[Owned], row_id: uuid.UUID, what: str, field: str
) -> tuple[Owned, Organization]:
    row = (
        await session.execute(
            select(model, Organization)
            .join(Organization, Organization.id == model.organization_id)
            .where(model.id == row_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"There is no {what} with this id.", field=field)
    return row[0], row[1]


async def flag_with_org(session: AsyncSession, flag_id: uuid.UUID) -> tuple[FeatureFlag, Organization]:
    return await with_organization(session, FeatureFlag, flag_id, "feature flag", "flag_id")


OBSERVED_SQL = text("""
SELECT coalesce(e.properties ->> '$feature_flag_response', 'null') AS response,
       count(DISTINCT e.distinct_id) AS ids, count(*) AS calls
FROM events e
WHERE e.event_name = '$feature_flag_called' AND e.timestamp >= :since
  AND e.organization_id = :org AND e.properties ->> '$feature_flag' = :key
GROUP BY 1 ORDER BY 2 DESC, 1
""")


@dataclass(frozen=True)
class Share:
    value: str
    ids: int
    share: float


@dataclass(frozen=True)
class Observed:
    """What the flag gave: per value, the distinct ids (from events) or persons (evaluated)."""

    events: list[Share]
    calls: int
    persons: list[Share]
    persons_counted: int
    persons_total: int


def _shares(counts: dict[str, int]) -> list[Share]:
    total = sum(counts.values())
    return [Share(v, n, n / total if total else 0.0) for v, n in sorted(counts.items(), key=lambda x: -x[1])]


async def observed(session: AsyncSession, flag: FeatureFlag) -> Observed:
    since = datetime.now(UTC) - timedelta(days=OBSERVED_DAYS)
    rows = (
        await session.execute(OBSERVED_SQL, {"since": since, "org": flag.organization_id, "key": flag.key})
    ).all()
    calls = sum(int(r.calls) for r in rows)
    events = _shares({str(r.response): int(r.ids) for r in rows})
    # Each person under their first distinct id, with their stored properties: what /flags answers
    # them now (a capped sample, oldest persons first).
    first_id = (
        select(PersonDistinctId.distinct_id)
        .where(PersonDistinctId.person_id == Person.id)
        .order_by(PersonDistinctId.created_at, PersonDistinctId.distinct_id)
        .limit(1)
        .scalar_subquery()
    )
    people = (
        await session.execute(
            select(first_id, Person.properties)
            .where(Person.organization_id == flag.organization_id)
            .order_by(Person.created_at, Person.id)
            .limit(PERSONS_SAMPLE)
        )
    ).all()
    total = await session.scalar(
        select(func.count()).select_from(Person).where(Person.organization_id == flag.organization_id)
    )
    definition = {"key": flag.key, "active": flag.active, "filters": flag.filters}
    counts: dict[str, int] = {}
    counted = 0
    if flag.filters.get("aggregation_group_type_index") is None:  # group flags: per group, not person
        for distinct_id, properties in people:
            if distinct_id is None:
                continue
            value = evaluate(definition, distinct_id, properties).value
            label = "true" if value is True else "false" if value is False else str(value)
            counts[label] = counts.get(label, 0) + 1
            counted += 1
    return Observed(events, calls, _shares(counts), counted, int(total or 0))


async def list_experiments(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[tuple[Experiment, Organization]], str | None]:
    query: Any = select(Experiment, Organization).join(
        Organization, Organization.id == Experiment.organization_id
    )
    if organization_id is not None:
        query = query.where(Experiment.organization_id == organization_id)
    if status is not None:
        query = query.where(Experiment.status == status)
    rows, next_cursor = await keyset_page(
        session, query, created_at=Experiment.created_at, row_id=Experiment.id, limit=limit, cursor=cursor
    )
    return [(e, org) for e, org in rows], next_cursor


async def experiment_with_org(
    session: AsyncSession, experiment_id: uuid.UUID
) -> tuple[Experiment, Organization]:
    return await with_organization(session, Experiment, experiment_id, "experiment", "experiment_id")


async def experiment_key_taken(session: AsyncSession, organization_id: uuid.UUID, key: str) -> bool:
    found = await session.scalar(
        select(Experiment.id).where(Experiment.organization_id == organization_id, Experiment.key == key)
    )
    return found is not None
