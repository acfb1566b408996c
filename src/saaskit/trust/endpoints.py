"""Platform admins' trust API (``/api/admin/trust/...``): the review queue's clusters and
patterns with filters, actions on them, the rules' figures and firings. Thin: validate, call
the service or the audited actions (trust/actions.py)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from saaskit.accounts.dependencies import AdminUser
from saaskit.audit.dependencies import AdminActor
from saaskit.kit.deps import DbSession, RuntimeDep
from saaskit.kit.pagination import CursorParam, LimitParam, Page
from saaskit.trust import actions, rules, service, tasks
from saaskit.trust.schemas import (
    ActionOut,
    ClusterActionIn,
    ClusterDetailOut,
    ClusterOut,
    ClusterType,
    MemberOut,
    PatternActionIn,
    PatternOut,
    PatternType,
    RiskLevel,
    RuleOut,
    RulesIn,
    RulesOut,
    SweepOut,
)

router = APIRouter(prefix="/api/admin/trust", tags=["admin: trust and safety"])


@router.get("/clusters", response_model=Page[ClusterOut], summary="Clusters of related accounts (admins)")
async def list_clusters(
    admin: AdminUser,
    session: DbSession,
    risk_level: Annotated[RiskLevel | None, Query(description="Only this level.")] = None,
    cluster_type: Annotated[ClusterType | None, Query(description="Only this kind of identifier.")] = None,
    reviewed: Annotated[
        bool | None, Query(description="false (default): the open ones; absent with all=true: any.")
    ] = False,
    include_low: Annotated[bool, Query(description="Also low risk (shared networks, lone IPs).")] = False,
    user_id: Annotated[uuid.UUID | None, Query(description="Only clusters this account is in.")] = None,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[ClusterOut]:
    where = service.ClusterFilter(risk_level, cluster_type, reviewed, user_id, include_low)
    rows, next_cursor = await service.list_clusters(session, where, limit=limit, cursor=cursor)
    return Page[ClusterOut](items=[ClusterOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/clusters/{cluster_id}",
    response_model=ClusterDetailOut,
    summary="One cluster, its accounts and patterns",
)
async def get_cluster(cluster_id: uuid.UUID, admin: AdminUser, session: DbSession) -> ClusterDetailOut:
    cluster = await service.get_cluster(session, cluster_id)
    members = await service.members(session, cluster)
    patterns, _ = await service.list_patterns(
        session, service.PatternFilter(cluster_id=cluster.id, open_only=False), limit=200, cursor=None
    )
    return ClusterDetailOut(
        cluster=ClusterOut.model_validate(cluster),
        members=[MemberOut.model_validate(m) for m in members],
        patterns=[PatternOut.model_validate(p) for p in patterns],
    )


@router.post(
    "/clusters/{cluster_id}/actions", response_model=ActionOut, summary="Review, note, clear a cluster"
)
async def act_on_cluster(
    cluster_id: uuid.UUID, body: ClusterActionIn, actor: AdminActor, session: DbSession
) -> ActionOut:
    outcome = await actions.act_on_cluster(session, actor, cluster_id, body.action, body.note)
    return ActionOut(message=outcome.message, data=outcome.data)


@router.get("/patterns", response_model=Page[PatternOut], summary="Abuse patterns (admins)")
async def list_patterns(
    admin: AdminUser,
    session: DbSession,
    pattern_type: Annotated[PatternType | None, Query(description="Only this type.")] = None,
    rule: Annotated[str | None, Query(max_length=100, description="Only this rule.")] = None,
    min_confidence: Annotated[
        float | None, Query(ge=0, le=1, description="At least this confidence.")
    ] = None,
    open_only: Annotated[bool, Query(description="Only those no person reviewed yet.")] = True,
    user_id: Annotated[uuid.UUID | None, Query(description="Only this account's.")] = None,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[PatternOut]:
    where = service.PatternFilter(pattern_type, rule, min_confidence, open_only, user_id)
    rows, next_cursor = await service.list_patterns(session, where, limit=limit, cursor=cursor)
    return Page[PatternOut](items=[PatternOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.post(
    "/patterns/{pattern_id}/actions", response_model=ActionOut, summary="Warn, suspend, ban, clear, note"
)
async def act_on_pattern(
    pattern_id: uuid.UUID, body: PatternActionIn, actor: AdminActor, session: DbSession, runtime: RuntimeDep
) -> ActionOut:
    outcome = await actions.act_on_pattern(
        session, actor, pattern_id, body.action, body.note, runtime=runtime
    )
    return ActionOut(message=outcome.message, data=outcome.data)


async def _rules_out(session: DbSession) -> RulesOut:
    overview = await service.rules_overview(session)
    return RulesOut(
        rules=[RuleOut.model_validate(r) for r in overview], clusters=await rules.cluster_figures(session)
    )


@router.get("/rules", response_model=RulesOut, summary="The rules' figures and how often each fired")
async def get_rules(admin: AdminUser, session: DbSession) -> RulesOut:
    return await _rules_out(session)


@router.put("/rules", response_model=RulesOut, summary="Change rules' thresholds (stored in system settings)")
async def put_rules(body: RulesIn, actor: AdminActor, session: DbSession) -> RulesOut:
    await rules.save(session, body.rules, body.clusters)
    await actions.record_rules_change(session, actor, body.rules, body.clusters)
    return await _rules_out(session)


@router.post("/sweep", response_model=SweepOut, summary="Run the detection now (the minute job's work)")
async def sweep(
    admin: AdminUser,
    session: DbSession,
    full: Annotated[
        bool, Query(description="Also regroup everything and run every rule over all data.")
    ] = False,
) -> SweepOut:
    return SweepOut.model_validate(await tasks.sweep_in(session, full=full))
