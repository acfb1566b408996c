"""Experiments: create, change (design only while a draft), start, stop, delete; assign a user
once; describe running experiments in GrowthBook's feature format.

One description of an experiment, ``growthbook_rule``, serves both surfaces: saaskit's own
assignment runs GrowthBook's algorithm (``bucketing.run``) on it, and ``/api/features/{key}``
serves it to GrowthBook SDKs, so an SDK and saaskit put a user in the same variant.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.access.service import Access
from saaskit.audit import service as audit
from saaskit.audit.service import Actor, Subject
from saaskit.experiments import bucketing, results
from saaskit.experiments.models import Experiment, ExperimentAssignment
from saaskit.experiments.schemas import (
    AssignmentOut,
    ExperimentIn,
    ExperimentOut,
    ExperimentUpdate,
    Metric,
    Namespace,
)
from saaskit.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from saaskit.kit.pagination import keyset_page
from saaskit.tenancy import members

HASH_VERSION = 2
HASH_ATTRIBUTE = "id"
# Fields that decide who gets which variant: fixed once anyone may have been assigned.
DESIGN_FIELDS = ("variants", "seed", "traffic_percentage", "targeting", "namespace")


def to_out(experiment: Experiment) -> ExperimentOut:
    namespace = None
    if experiment.namespace is not None:
        namespace = Namespace(
            id=experiment.namespace,
            start=experiment.namespace_start or 0.0,
            end=experiment.namespace_end or 1.0,
        )
    return ExperimentOut.model_validate(
        {
            **{c: getattr(experiment, c) for c in ExperimentOut.model_fields if c != "namespace"},
            "namespace": namespace,
        }
    )


def _subject(experiment: Experiment) -> Subject:
    return Subject(experiment.organization_id, "experiment", experiment.id, experiment.name)


def _apply(experiment: Experiment, values: dict[str, Any]) -> None:
    for field, value in values.items():
        if field == "namespace":
            experiment.namespace = value["id"] if value else None
            experiment.namespace_start = value["start"] if value else None
            experiment.namespace_end = value["end"] if value else None
        else:
            setattr(experiment, field, value)


async def create(session: AsyncSession, access: Access, actor: Actor, body: ExperimentIn) -> Experiment:
    values = body.model_dump(exclude_unset=True, mode="json")
    values.setdefault("seed", body.key)
    experiment = Experiment(organization_id=access.organization_id, created_by=actor.user_id)
    _apply(experiment, values)
    session.add(experiment)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as error:
        raise Conflict("an experiment with this key exists", field="key") from error
    await session.refresh(experiment)  # the server defaults
    await audit.record_about(
        session, actor, _subject(experiment), "created", f"Created experiment {body.name}."
    )
    return experiment


async def list_experiments(
    session: AsyncSession, organization_id: uuid.UUID, *, status: str | None, limit: int, cursor: str | None
) -> tuple[list[Experiment], str | None]:
    query = select(Experiment).where(Experiment.organization_id == organization_id)
    if status is not None:
        query = query.where(Experiment.status == status)
    return await keyset_page(
        session, query, created_at=Experiment.created_at, row_id=Experiment.id, limit=limit, cursor=cursor
    )


async def get(session: AsyncSession, organization_id: uuid.UUID, experiment_id: uuid.UUID) -> Experiment:
    experiment = await session.scalar(
        select(Experiment).where(
            Experiment.organization_id == organization_id, Experiment.id == experiment_id
        )
    )
    if experiment is None:
        raise NotFound("no such experiment", field="experiment_id")
    return experiment


async def _locked(session: AsyncSession, organization_id: uuid.UUID, experiment_id: uuid.UUID) -> Experiment:
    """The row, locked: a start racing an edit or another start sees the other's result."""
    experiment = await session.scalar(
        select(Experiment)
        .where(Experiment.organization_id == organization_id, Experiment.id == experiment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if experiment is None:
        raise NotFound("no such experiment", field="experiment_id")
    return experiment


async def update(
    session: AsyncSession, access: Access, actor: Actor, experiment_id: uuid.UUID, body: ExperimentUpdate
) -> Experiment:
    experiment = await _locked(session, access.organization_id, experiment_id)
    values = body.model_dump(exclude_unset=True, mode="json")
    if experiment.status != "draft":
        for field in DESIGN_FIELDS:
            if field in values:
                raise Conflict(f"{field} cannot change once the experiment has started", field=field)
    for field in ("name", "variants", "seed", "traffic_percentage", "targeting", "secondary_metrics"):
        if field in values and values[field] is None:
            raise Unprocessable(f"{field} cannot be null", field=field)
    _apply(experiment, values)
    await session.flush()
    await session.refresh(experiment)  # updated_at, set by the database
    await audit.record_about(
        session,
        actor,
        _subject(experiment),
        "updated",
        f"Changed experiment {experiment.name}.",
        {"fields": sorted(values)},
    )
    return experiment


async def start(session: AsyncSession, access: Access, actor: Actor, experiment_id: uuid.UUID) -> Experiment:
    experiment = await _locked(session, access.organization_id, experiment_id)
    if experiment.status != "draft":
        raise Conflict(f"the experiment is {experiment.status}; only a draft starts", field="status")
    experiment.status = "running"
    experiment.start_date = func.now()
    await session.flush()
    await session.refresh(experiment)
    await audit.record_about(
        session, actor, _subject(experiment), "started", f"Started experiment {experiment.name}."
    )
    return experiment


async def stop(session: AsyncSession, access: Access, actor: Actor, experiment_id: uuid.UUID) -> Experiment:
    experiment = await _locked(session, access.organization_id, experiment_id)
    if experiment.status != "running":
        raise Conflict(f"the experiment is {experiment.status}; only a running one stops", field="status")
    experiment.status = "stopped"
    experiment.end_date = func.now()
    await session.flush()
    await session.refresh(experiment)
    if experiment.primary_metric is not None:
        # Kept as they are now: later events or a changed metric do not rewrite the outcome.
        final = await results.compute(
            session, experiment, Metric.model_validate(experiment.primary_metric), end=experiment.end_date
        )
        experiment.final_results = results.as_json(final)
        await session.flush()
        await session.refresh(experiment)
    await audit.record_about(
        session, actor, _subject(experiment), "stopped", f"Stopped experiment {experiment.name}."
    )
    return experiment


async def delete(session: AsyncSession, access: Access, actor: Actor, experiment_id: uuid.UUID) -> None:
    experiment = await _locked(session, access.organization_id, experiment_id)
    if experiment.status == "running":
        raise Conflict("stop the experiment before deleting it", field="status")
    await audit.record_about(
        session, actor, _subject(experiment), "deleted", f"Deleted experiment {experiment.name}."
    )
    await session.delete(experiment)
    await session.flush()


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


async def experiment_results(
    session: AsyncSession, organization_id: uuid.UUID, experiment_id: uuid.UUID, event: str | None
) -> results.ResultsOut:
    """The primary metric's results (or an event's, ``event``); a stopped experiment's primary
    results are the ones kept when it stopped."""
    experiment = await get(session, organization_id, experiment_id)
    if event is None and experiment.final_results is not None:
        return results.ResultsOut.model_validate({**experiment.final_results, "final": True})
    if event is not None:
        metric = Metric(kind="event", event=event)
    elif experiment.primary_metric is not None:
        metric = Metric.model_validate(experiment.primary_metric)
    else:
        raise Unprocessable("the experiment has no primary metric: name an event", field="event")
    return await results.compute(session, experiment, metric, end=experiment.end_date)


def growthbook_rule(experiment: Experiment) -> dict[str, Any]:
    """The experiment as a GrowthBook experiment rule (the SDKs' ``Experiment`` shape)."""
    rule: dict[str, Any] = {
        "key": experiment.key,
        "name": experiment.name,
        "seed": experiment.seed,
        "hashVersion": HASH_VERSION,
        "hashAttribute": HASH_ATTRIBUTE,
        "variations": [v["key"] for v in experiment.variants],
        "weights": [float(v["weight"]) for v in experiment.variants],
        "coverage": experiment.traffic_percentage / 100,
        "meta": [{"key": v["key"], "name": v["name"]} for v in experiment.variants],
        "phase": "0",
    }
    if experiment.targeting:
        rule["condition"] = experiment.targeting
    if experiment.namespace is not None:
        rule["namespace"] = [experiment.namespace, experiment.namespace_start, experiment.namespace_end]
    return rule


async def features(session: AsyncSession, organization_id: uuid.UUID) -> dict[str, Any]:
    """GrowthBook's features payload: one feature per running experiment, keyed by its key, whose
    value is the variant key (the control's outside the experiment)."""
    rows = await session.scalars(
        select(Experiment)
        .where(Experiment.organization_id == organization_id, Experiment.status == "running")
        .order_by(Experiment.key)
    )
    return {e.key: {"defaultValue": e.variants[0]["key"], "rules": [growthbook_rule(e)]} for e in rows}


def assignment_out(row: ExperimentAssignment) -> AssignmentOut:
    return AssignmentOut(
        experiment_id=row.experiment_id,
        user_id=row.user_id,
        in_experiment=True,
        variant=row.variant_name,
        variant_index=row.variant_index,
        assigned_at=row.assigned_at,
    )


async def _recorded(
    session: AsyncSession, experiment_id: uuid.UUID, user_id: uuid.UUID
) -> ExperimentAssignment | None:
    row: ExperimentAssignment | None = await session.scalar(
        select(ExperimentAssignment).where(
            ExperimentAssignment.experiment_id == experiment_id, ExperimentAssignment.user_id == user_id
        )
    )
    return row


async def assign(
    session: AsyncSession,
    access: Access,
    experiment_id: uuid.UUID,
    user_id: uuid.UUID | None,
    attributes: dict[str, Any],
) -> AssignmentOut:
    """The user's variant: the recorded one if any; else GrowthBook's decision, recorded once
    (two concurrent first calls insert one row: ON CONFLICT DO NOTHING, then read the winner)."""
    target = user_id or access.user_id
    if target != access.user_id and not access.can("experiments:write"):
        raise Forbidden("assigning another member needs experiments:write", field="user_id")
    member = await members.get_member(session, access.organization_id, target)
    if not member.is_active:
        raise Unprocessable("the member is not active", field="user_id")
    experiment = await get(session, access.organization_id, experiment_id)
    if experiment.status == "draft":
        raise Conflict("the experiment has not started", field="status")
    recorded = await _recorded(session, experiment.id, target)
    if recorded is not None:
        return assignment_out(recorded)
    left_out = AssignmentOut(
        experiment_id=experiment.id,
        user_id=target,
        in_experiment=False,
        variant=None,
        variant_index=None,
        assigned_at=None,
    )
    if experiment.status != "running":
        return left_out
    result = bucketing.run(growthbook_rule(experiment), {**attributes, HASH_ATTRIBUTE: str(target)})
    if not result.in_experiment or result.bucket is None:
        return left_out
    await session.execute(
        insert(ExperimentAssignment)
        .values(
            organization_id=experiment.organization_id,
            experiment_id=experiment.id,
            user_id=target,
            variant_name=experiment.variants[result.variation]["key"],
            variant_index=result.variation,
            bucket=result.bucket,
        )
        .on_conflict_do_nothing(index_elements=["experiment_id", "user_id"])
    )
    recorded = await _recorded(session, experiment.id, target)
    assert recorded is not None  # inserted now, or by the concurrent call that won
    return assignment_out(recorded)
