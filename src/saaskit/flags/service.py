"""Feature flags: create, change, delete (audited), and evaluate an organization's flags for one
distinct id. Flush, never commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.audit import service as audit
from saaskit.audit.service import Actor
from saaskit.flags import cached, persons
from saaskit.flags.evaluation import Result, evaluate, payload_for
from saaskit.flags.models import FeatureFlag
from saaskit.flags.schemas import FlagIn, FlagPatch
from saaskit.kit.errors import Conflict, NotFound, Unprocessable
from saaskit.kit.pagination import keyset_page
from saaskit.kit.state import Runtime


def _subject(flag: FeatureFlag) -> audit.Subject:
    return audit.Subject(flag.organization_id, "feature_flag", flag.id, flag.key)


async def _check_group_types(
    session: AsyncSession, organization_id: uuid.UUID, filters: dict[str, Any], flag_id: uuid.UUID | None
) -> None:
    """One name per group type index in an organization: SDKs get one group_type_mapping."""
    index = filters.get("aggregation_group_type_index")
    if index is None:
        return
    mapping = group_type_mapping([f for f in await all_flags(session, organization_id) if f.id != flag_id])
    names = {name: i for i, name in mapping.items()}
    if mapping.get(str(index), filters["group_type"]) != filters["group_type"] or names.get(
        filters["group_type"], str(index)
    ) != str(index):
        raise Unprocessable(
            f"group type index {index} is {mapping.get(str(index))!r} in this organization's other flags "
            f"(and {filters['group_type']!r} is index {names.get(filters['group_type'])})",
            field="filters.group_type",
        )


async def create_flag(
    session: AsyncSession, actor: Actor, organization_id: uuid.UUID, data: FlagIn
) -> FeatureFlag:
    filters = data.filters.model_dump(exclude_none=True)
    await _check_group_types(session, organization_id, filters, None)
    flag = FeatureFlag(
        organization_id=organization_id,
        key=data.key,
        name=data.name,
        active=data.active,
        filters=filters,
        created_by=actor.user_id,
    )
    session.add(flag)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(f"a flag with key {data.key!r} exists", field="key", code="flag_key_taken") from None
    await session.refresh(flag)
    await cached.changed(session, organization_id)
    await audit.record_about(session, actor, _subject(flag), "created", f"Created feature flag {flag.key}.")
    return flag


async def get_flag(session: AsyncSession, organization_id: uuid.UUID, flag_id: uuid.UUID) -> FeatureFlag:
    flag = await session.scalar(
        select(FeatureFlag).where(FeatureFlag.organization_id == organization_id, FeatureFlag.id == flag_id)
    )
    if flag is None:
        raise NotFound("no such flag", field="flag_id")
    return flag


async def list_flags(
    session: AsyncSession, organization_id: uuid.UUID, *, limit: int, cursor: str | None
) -> tuple[list[FeatureFlag], str | None]:
    rows, next_cursor = await keyset_page(
        session,
        select(FeatureFlag).where(FeatureFlag.organization_id == organization_id),
        created_at=FeatureFlag.created_at,
        row_id=FeatureFlag.id,
        limit=limit,
        cursor=cursor,
    )
    return list(rows), next_cursor


async def update_flag(
    session: AsyncSession, actor: Actor, organization_id: uuid.UUID, flag_id: uuid.UUID, data: FlagPatch
) -> FeatureFlag:
    flag = await get_flag(session, organization_id, flag_id)
    changed: list[str] = []
    if data.name is not None and data.name != flag.name:
        flag.name, changed = data.name, [*changed, "name"]
    if data.active is not None and data.active != flag.active:
        flag.active, changed = data.active, [*changed, "active"]
    if data.filters is not None:
        filters = data.filters.model_dump(exclude_none=True)
        if filters != flag.filters:
            await _check_group_types(session, organization_id, filters, flag.id)
            flag.filters, changed = filters, [*changed, "filters"]
    if changed:
        flag.version = FeatureFlag.version + 1
        await session.flush()
        await session.refresh(flag)
        await cached.changed(session, organization_id)
        description = f"Changed feature flag {flag.key}: {', '.join(changed)}."
        await audit.record_about(session, actor, _subject(flag), "updated", description, {"changed": changed})
    return flag


async def delete_flag(
    session: AsyncSession, actor: Actor, organization_id: uuid.UUID, flag_id: uuid.UUID
) -> None:
    flag = await get_flag(session, organization_id, flag_id)
    await session.delete(flag)
    await session.flush()
    await cached.changed(session, organization_id)
    await audit.record_about(session, actor, _subject(flag), "deleted", f"Deleted feature flag {flag.key}.")


async def all_flags(session: AsyncSession, organization_id: uuid.UUID) -> list[FeatureFlag]:
    """Every flag of the organization, active or not, oldest first (PostHog's order)."""
    rows = await session.scalars(
        select(FeatureFlag).where(FeatureFlag.organization_id == organization_id).order_by(FeatureFlag.number)
    )
    return list(rows)


async def definitions_version(session: AsyncSession, organization_id: uuid.UUID) -> str:
    """Changes whenever a flag is created, changed or deleted: the definitions' ETag."""
    row = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(FeatureFlag.version), 0),
                func.max(FeatureFlag.updated_at),
            ).where(FeatureFlag.organization_id == organization_id)
        )
    ).one()
    return f"{row[0]}-{row[1]}-{row[2].timestamp() if row[2] else 0}"


def group_type_mapping(flags: Sequence[FeatureFlag | cached.FlagDefinition]) -> dict[str, str]:
    """PostHog's ``{"0": "company"}``: group type index -> name, from the group flags."""
    mapping: dict[str, str] = {}
    for flag in flags:
        index = flag.filters.get("aggregation_group_type_index")
        if index is not None and flag.filters.get("group_type"):
            mapping.setdefault(str(index), str(flag.filters["group_type"]))
    return mapping


def as_definition(flag: FeatureFlag | cached.FlagDefinition) -> dict[str, Any]:
    """The flag as PostHog's local-evaluation endpoint describes it."""
    return {
        "id": flag.number,
        "team_id": 1,
        "name": flag.name,
        "key": flag.key,
        "filters": flag.filters,
        "deleted": False,
        "active": flag.active,
        "ensure_experience_continuity": False,
        "version": flag.version,
    }


@dataclass(frozen=True)
class Evaluated:
    flag: FeatureFlag | cached.FlagDefinition
    result: Result

    @property
    def payload(self) -> Any:
        return payload_for(self.flag.filters, self.result.value)


async def evaluate_flags(
    session: AsyncSession,
    organization_id: uuid.UUID,
    distinct_id: str,
    *,
    person_properties: dict[str, Any] | None = None,
    groups: dict[str, str] | None = None,
    group_properties: dict[str, dict[str, Any]] | None = None,
    only_keys: list[str] | None = None,
    runtime: Runtime | None = None,
) -> list[Evaluated]:
    """Every active flag for the id: the person's stored properties, overridden by those the
    SDK sent (PostHog's rule), and the groups the SDK named, with their stored properties
    ($groupidentify) under those sent. With a runtime, the definitions come through its cache."""
    flags = await cached.definitions(session, organization_id, runtime)
    mapping = group_type_mapping(flags)
    stored = await persons.properties_of(session, organization_id, distinct_id)
    properties = {**stored, **(person_properties or {})}
    stored_groups = await persons.group_properties_of(session, organization_id, groups or {})
    given_groups = group_properties or {}
    group_properties = {
        t: {**stored_groups.get(t, {}), **given_groups.get(t, {})} for t in {*stored_groups, *given_groups}
    }
    answers: list[Evaluated] = []
    for flag in flags:
        if not flag.active or (only_keys is not None and flag.key not in only_keys):
            continue
        definition = {"key": flag.key, "active": flag.active, "filters": flag.filters}
        result = evaluate(
            definition,
            distinct_id,
            properties,
            groups=groups,
            group_properties=group_properties,
            group_type_mapping=mapping,
        )
        answers.append(Evaluated(flag, result))
    return answers
