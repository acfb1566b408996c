"""Experiments under ``/api/orgs/{org_id}/experiments``, and GrowthBook's features endpoint
``/api/features/{client_key}`` (the client key is the organization's public ingestion key)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from saaskit.access.dependencies import OrgRequest, org_access
from saaskit.experiments import assignments, service
from saaskit.experiments.results import ResultsOut
from saaskit.experiments.schemas import AssignIn, AssignmentOut, ExperimentIn, ExperimentOut, ExperimentUpdate
from saaskit.kit.db import Context, set_context
from saaskit.kit.deps import DbSession
from saaskit.kit.errors import NotFound
from saaskit.kit.pagination import CursorParam, LimitParam, Page
from saaskit.tracking import identity

router = APIRouter(prefix="/api/orgs/{org_id}/experiments", tags=["experiments"])
features_router = APIRouter(tags=["experiments"])

Read = Annotated[OrgRequest, Depends(org_access("experiments:read"))]
Write = Annotated[OrgRequest, Depends(org_access("experiments:write"))]
# Any member may ask for their own variant; assigning someone else needs experiments:write.
Member = Annotated[OrgRequest, Depends(org_access("org:read"))]


@router.get("", response_model=Page[ExperimentOut], summary="The organization's experiments, newest first")
async def list_experiments(
    session: DbSession,
    org: Read,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
    status: Literal["draft", "running", "stopped"] | None = None,
) -> Page[ExperimentOut]:
    rows, next_cursor = await service.list_experiments(
        session, org.organization_id, status=status, limit=limit, cursor=cursor
    )
    return Page[ExperimentOut](items=[service.to_out(e) for e in rows], next_cursor=next_cursor)


@router.post("", status_code=201, response_model=ExperimentOut, summary="Create an experiment (a draft)")
async def create_experiment(body: ExperimentIn, session: DbSession, org: Write) -> ExperimentOut:
    return service.to_out(await service.create(session, org.access, org.actor, body))


@router.get("/{experiment_id}", response_model=ExperimentOut, summary="One experiment")
async def get_experiment(experiment_id: uuid.UUID, session: DbSession, org: Read) -> ExperimentOut:
    return service.to_out(await service.get(session, org.organization_id, experiment_id))


@router.patch("/{experiment_id}", response_model=ExperimentOut, summary="Change an experiment")
async def update_experiment(
    experiment_id: uuid.UUID, body: ExperimentUpdate, session: DbSession, org: Write
) -> ExperimentOut:
    return service.to_out(await service.update(session, org.access, org.actor, experiment_id, body))


@router.post(
    "/{experiment_id}/start", response_model=ExperimentOut, summary="Start a draft: it assigns users"
)
async def start_experiment(experiment_id: uuid.UUID, session: DbSession, org: Write) -> ExperimentOut:
    return service.to_out(await service.start(session, org.access, org.actor, experiment_id))


@router.post("/{experiment_id}/stop", response_model=ExperimentOut, summary="Stop: no new assignments")
async def stop_experiment(experiment_id: uuid.UUID, session: DbSession, org: Write) -> ExperimentOut:
    return service.to_out(await service.stop(session, org.access, org.actor, experiment_id))


@router.delete("/{experiment_id}", status_code=204, summary="Delete a draft or stopped experiment")
async def delete_experiment(experiment_id: uuid.UUID, session: DbSession, org: Write) -> Response:
    await service.delete(session, org.access, org.actor, experiment_id)
    return Response(status_code=204)


@router.post(
    "/{experiment_id}/assign",
    response_model=AssignmentOut,
    summary="A member's variant: decided once with GrowthBook's algorithm, then always the same",
)
async def assign(experiment_id: uuid.UUID, body: AssignIn, session: DbSession, org: Member) -> AssignmentOut:
    return await assignments.assign(session, org.access, experiment_id, body.user_id, body.attributes)


@router.get(
    "/{experiment_id}/assignments",
    response_model=Page[AssignmentOut],
    summary="Who got which variant, newest first",
)
async def list_assignments(
    experiment_id: uuid.UUID,
    session: DbSession,
    org: Read,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
    variant: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[AssignmentOut]:
    rows, next_cursor = await assignments.list_assignments(
        session, org.organization_id, experiment_id, variant=variant, limit=limit, cursor=cursor
    )
    return Page[AssignmentOut](items=[assignments.assignment_out(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/{experiment_id}/results",
    response_model=ResultsOut,
    summary="Per variant: exposures, conversions or means, uplift and its interval, p-value, chance to win",
)
async def experiment_results(
    experiment_id: uuid.UUID,
    session: DbSession,
    org: Read,
    event: Annotated[
        str | None, Query(min_length=1, max_length=200, description="An event's conversion instead.")
    ] = None,
    secondary: Annotated[
        int | None, Query(ge=0, le=19, description="The secondary metric at this index instead.")
    ] = None,
) -> ResultsOut:
    return await service.experiment_results(
        session, org.organization_id, experiment_id, event, secondary=secondary
    )


class VariationMeta(BaseModel):
    key: str = Field(description="The variant's key.")
    name: str = Field(description="The variant's display name.")


class ExperimentRule(BaseModel):
    """A GrowthBook experiment rule (field names as GrowthBook's SDKs read them)."""

    key: str = Field(description="Experiment (tracking) key.")
    name: str
    seed: str = Field(description="Hash seed.")
    hashVersion: int = Field(description="GrowthBook hash version: always 2.")
    hashAttribute: str = Field(description="The attribute hashed: id, the user's uuid.")
    variations: list[str] = Field(description="The variants' keys: the feature's value in each.")
    weights: list[float] = Field(description="Each variant's share, summing to 1.")
    coverage: float = Field(description="Share of eligible users in the experiment, 0-1.")
    meta: list[VariationMeta]
    phase: str = Field(description="Experiment phase (always 0: saaskit experiments have one phase).")
    condition: dict[str, Any] | None = Field(default=None, description="Targeting condition on attributes.")
    namespace: list[str | float] | None = Field(default=None, description="[namespace id, start, end].")


class Feature(BaseModel):
    defaultValue: str = Field(description="The control's key: the value outside the experiment.")
    rules: list[ExperimentRule]


class FeaturesOut(BaseModel):
    features: dict[str, Feature] = Field(
        description="GrowthBook features: one per running experiment, keyed by the experiment's key."
    )


@features_router.get(
    "/api/features/{client_key}",
    response_model=FeaturesOut,
    response_model_exclude_none=True,
    summary="GrowthBook SDK endpoint: the organization's running experiments as features",
)
async def growthbook_features(client_key: str, session: DbSession, response: Response) -> FeaturesOut:
    organization_id = await identity.organization_for_key(session, client_key)
    if organization_id is None:
        raise NotFound("unknown client key", field="client_key")
    await set_context(session, Context(organization_id=organization_id))
    # Browser SDKs fetch this from the product's pages: any origin may read it (it is public,
    # like the key), and SDKs cache it for a short while.
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = "public, max-age=30"
    return FeaturesOut.model_validate({"features": await service.features(session, organization_id)})
