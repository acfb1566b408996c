"""Who gets which variant: a member through the API, a PostHog SDK's distinct id through
``/flags`` (the running experiments answered as multivariate flags), recorded once per person in
``experiment_assignments``, whichever surface asks first.

A person is their user and every distinct id linked to them (``flags.persons.identity_of``):
the recorded assignment is found by any of them, so an anonymous visitor assigned by distinct id
keeps the variant after signing up, and the row then gains the user (``_claim``).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.access.service import Access
from saaskit.experiments import bucketing
from saaskit.experiments.models import Experiment, ExperimentAssignment
from saaskit.experiments.schemas import AssignmentOut
from saaskit.experiments.service import HASH_ATTRIBUTE, get, growthbook_rule
from saaskit.flags import persons
from saaskit.flags.evaluation import Result
from saaskit.flags.models import FeatureFlag
from saaskit.flags.service import Evaluated
from saaskit.kit.errors import Conflict, Forbidden, Unprocessable
from saaskit.kit.pagination import keyset_page
from saaskit.tenancy import members


async def list_assignments(
    session: AsyncSession,
    organization_id: uuid.UUID,
    experiment_id: uuid.UUID,
    *,
    variant: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[ExperimentAssignment], str | None]:
    """Who got which variant, newest first."""
    experiment = await get(session, organization_id, experiment_id)
    query = select(ExperimentAssignment).where(ExperimentAssignment.experiment_id == experiment.id)
    if variant is not None:
        query = query.where(ExperimentAssignment.variant_name == variant)
    return await keyset_page(
        session,
        query,
        created_at=ExperimentAssignment.assigned_at,
        row_id=ExperimentAssignment.id,
        limit=limit,
        cursor=cursor,
    )


def assignment_out(row: ExperimentAssignment) -> AssignmentOut:
    return AssignmentOut(
        experiment_id=row.experiment_id,
        user_id=row.user_id,
        distinct_id=row.distinct_id,
        in_experiment=True,
        variant=row.variant_name,
        variant_index=row.variant_index,
        assigned_at=row.assigned_at,
    )


async def _recorded(
    session: AsyncSession, experiment_id: uuid.UUID, user_id: uuid.UUID | None, distinct_ids: list[str]
) -> ExperimentAssignment | None:
    """The person's recorded assignment: by their user, else by any of their distinct ids (an
    anonymous visitor assigned through /flags who has since been identified)."""
    mine = ExperimentAssignment.distinct_id.in_(distinct_ids)
    query = select(ExperimentAssignment).where(ExperimentAssignment.experiment_id == experiment_id)
    if user_id is None:  # never ``user_id IS NULL``: that is every anonymous visitor
        query = query.where(mine).order_by(ExperimentAssignment.assigned_at)
    else:
        by_user = ExperimentAssignment.user_id == user_id
        query = query.where(by_user | mine).order_by(by_user.desc(), ExperimentAssignment.assigned_at)
    row: ExperimentAssignment | None = await session.scalar(query.limit(1))
    return row


async def _claim(session: AsyncSession, row: ExperimentAssignment, user_id: uuid.UUID) -> None:
    """Give an anonymous assignment its now-known user, unless the user already holds one."""
    try:
        async with session.begin_nested():
            row.user_id = user_id
            await session.flush()
    except IntegrityError:
        await session.refresh(row)


async def assign_subject(
    session: AsyncSession,
    experiment: Experiment,
    *,
    user_id: uuid.UUID | None,
    distinct_ids: list[str],
    asked_as: str | None,
    attributes: dict[str, Any],
) -> AssignmentOut:
    """A person's variant: the recorded one if any (by user or any linked distinct id); else,
    while running, GrowthBook's decision on the hash attribute ``id`` (the user's uuid, or for an
    anonymous visitor the distinct id ``asked_as``), recorded once: two concurrent first calls
    insert one row (ON CONFLICT DO NOTHING on either unique key, then read the winner)."""
    recorded = await _recorded(session, experiment.id, user_id, distinct_ids)
    if recorded is not None:
        if recorded.user_id is None and user_id is not None:
            await _claim(session, recorded, user_id)
        return assignment_out(recorded)
    left_out = AssignmentOut(
        experiment_id=experiment.id,
        user_id=user_id,
        distinct_id=asked_as,
        in_experiment=False,
        variant=None,
        variant_index=None,
        assigned_at=None,
    )
    subject = str(user_id) if user_id is not None else asked_as
    if experiment.status != "running" or subject is None:
        return left_out
    result = bucketing.run(growthbook_rule(experiment), {**attributes, HASH_ATTRIBUTE: subject})
    if not result.in_experiment or result.bucket is None:
        return left_out
    await session.execute(
        insert(ExperimentAssignment)
        .values(
            organization_id=experiment.organization_id,
            experiment_id=experiment.id,
            user_id=user_id,
            distinct_id=asked_as,
            variant_name=experiment.variants[result.variation]["key"],
            variant_index=result.variation,
            bucket=result.bucket,
        )
        .on_conflict_do_nothing()
    )
    recorded = await _recorded(session, experiment.id, user_id, [asked_as] if asked_as else [])
    assert recorded is not None  # inserted now, or by the concurrent call that won
    return assignment_out(recorded)


async def assign(
    session: AsyncSession,
    access: Access,
    experiment_id: uuid.UUID,
    user_id: uuid.UUID | None,
    attributes: dict[str, Any],
) -> AssignmentOut:
    """A member's variant through the API (``id`` = the member's uuid)."""
    target = user_id or access.user_id
    if target != access.user_id and not access.can("experiments:write"):
        raise Forbidden("assigning another member needs experiments:write", field="user_id")
    member = await members.get_member(session, access.organization_id, target)
    if not member.is_active:
        raise Unprocessable("the member is not active", field="user_id")
    experiment = await get(session, access.organization_id, experiment_id)
    if experiment.status == "draft":
        raise Conflict("the experiment has not started", field="status")
    _, distinct_ids = await persons.identity_of(session, access.organization_id, user_id=target)
    return await assign_subject(
        session, experiment, user_id=target, distinct_ids=distinct_ids, asked_as=None, attributes=attributes
    )


async def as_flags(
    session: AsyncSession,
    organization_id: uuid.UUID,
    distinct_id: str,
    person_properties: dict[str, Any],
    *,
    only_keys: list[str] | None,
) -> list[Evaluated]:
    """Running experiments as PostHog multivariate flags for ``/flags`` (key = the experiment's
    key, value = the variant's key, ``false`` outside the experiment), so a PostHog SDK shows the
    variant saaskit's API and a GrowthBook SDK show. Asking assigns: the person is recorded
    (by their user if the id is linked to one, else by the distinct id). A feature flag with the
    same key wins (active or not). The person's stored properties, under those the SDK sent, are the
    targeting's attributes."""
    running = [
        e
        for e in await session.scalars(
            select(Experiment)
            .where(Experiment.organization_id == organization_id, Experiment.status == "running")
            .order_by(Experiment.key)
        )
        if only_keys is None or e.key in only_keys
    ]
    if running:
        taken = set(
            await session.scalars(
                select(FeatureFlag.key).where(
                    FeatureFlag.organization_id == organization_id,
                    FeatureFlag.key.in_([e.key for e in running]),
                )
            )
        )
        running = [e for e in running if e.key not in taken]
    if not running:
        return []
    user_id, distinct_ids = await persons.identity_of(session, organization_id, distinct_id=distinct_id)
    stored = await persons.properties_of(session, organization_id, distinct_id)
    properties = {**stored, **person_properties}
    answers = []
    for experiment in running:
        assigned = await assign_subject(
            session,
            experiment,
            user_id=user_id,
            distinct_ids=distinct_ids,
            asked_as=distinct_id,
            attributes=properties,
        )
        flag = FeatureFlag(
            organization_id=organization_id,
            key=experiment.key,
            name=experiment.name,
            number=0,  # experiments have no PostHog flag id; SDKs only report it
            version=1,
            active=True,
            filters={
                "groups": [{"properties": [], "rollout_percentage": experiment.traffic_percentage}],
                "multivariate": {
                    "variants": [
                        {"key": v["key"], "name": v["name"], "rollout_percentage": float(v["weight"]) * 100}
                        for v in experiment.variants
                    ]
                },
            },
        )
        result = (
            Result(assigned.variant, "condition_match", 0)
            if assigned.variant is not None
            else Result(False, "out_of_rollout_bound", 0)
        )
        answers.append(Evaluated(flag, result))
    return answers
