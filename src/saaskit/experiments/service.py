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
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.access.service import Access
from saaskit.audit import service as audit
from saaskit.audit.service import Actor, Subject
from saaskit.experiments import results
from saaskit.experiments.models import Experiment
from saaskit.experiments.schemas import (
    ExperimentIn,
    ExperimentOut,
    ExperimentUpdate,
    Metric,
    Namespace,
)
from saaskit.kit.errors import Conflict, NotFound, Unprocessable
from saaskit.kit.pagination import keyset_page

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


async def experiment_results(
    session: AsyncSession,
    organization_id: uuid.UUID,
    experiment_id: uuid.UUID,
    event: str | None,
    *,
    secondary: int | None = None,
) -> results.ResultsOut:
    """The primary metric's results (or an event's conversion, ``event``, or a secondary
    metric's, ``secondary``); a stopped experiment's primary results are the ones kept when it
    stopped."""
    experiment = await get(session, organization_id, experiment_id)
    if event is not None and secondary is not None:
        raise Unprocessable("ask for an event or a secondary metric, not both", field="secondary")
    if event is None and secondary is None and experiment.final_results is not None:
        return results.ResultsOut.model_validate({**experiment.final_results, "final": True})
    if event is not None:
        metric = Metric(kind="event", event=event)
    elif secondary is not None:
        if secondary >= len(experiment.secondary_metrics):
            raise NotFound(
                f"the experiment has {len(experiment.secondary_metrics)} secondary metrics", field="secondary"
            )
        metric = Metric.model_validate(experiment.secondary_metrics[secondary])
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
