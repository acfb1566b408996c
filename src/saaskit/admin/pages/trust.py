"""Trust and safety: the review queue (clusters by risk, open abuse patterns, htmx filters), one
cluster with its accounts, shared identifier (as a hash), evidence and actions. The actions are
trust/actions.py's, audited there; an account's clusters show on its user page (users.py)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from saaskit.admin.pages.common import choice, parse_id
from saaskit.admin.security import AdminDep
from saaskit.admin.web import is_htmx, redirect, render
from saaskit.kit.deps import DbSession, runtime_of
from saaskit.kit.errors import NotFound, Unprocessable
from saaskit.trust import actions, service
from saaskit.trust.models import CLUSTER_TYPES, PATTERN_TYPES, RISK_LEVELS

router = APIRouter(prefix="/admin/trust", include_in_schema=False)

REVIEW_STATES = ("open", "reviewed", "any")
CONFIDENCES = ("0.5", "0.7", "0.9")


def _reviewed(value: str | None) -> bool | None:
    return {"reviewed": True, "any": None}.get(value or "open", False)


@router.get("")
async def queue_page(
    request: Request,
    admin: AdminDep,
    session: DbSession,
    risk: Annotated[str | None, Query(max_length=10)] = None,
    cluster_type: Annotated[str | None, Query(max_length=30)] = None,
    state: Annotated[str | None, Query(max_length=10)] = None,
    include_low: Annotated[str | None, Query(max_length=5)] = None,
    pattern_type: Annotated[str | None, Query(max_length=30)] = None,
    min_confidence: Annotated[str | None, Query(max_length=5)] = None,
) -> Response:
    where = service.ClusterFilter(
        risk_level=choice(risk, RISK_LEVELS, "risk"),
        cluster_type=choice(cluster_type, CLUSTER_TYPES, "cluster_type"),
        reviewed=_reviewed(choice(state, REVIEW_STATES, "state")),
        include_low=include_low in ("1", "on", "true"),
    )
    confidence = choice(min_confidence, CONFIDENCES, "min_confidence")
    pattern_where = service.PatternFilter(
        pattern_type=choice(pattern_type, PATTERN_TYPES, "pattern_type"),
        min_confidence=float(confidence) if confidence else None,
    )
    clusters = await service.queue(session, where)
    patterns, _ = await service.list_patterns(session, pattern_where, limit=100, cursor=None)
    context: dict[str, Any] = {
        "clusters": clusters,
        "patterns": patterns,
        "emails": await service.emails(session, [p.user_id for p in patterns]),
        "counts": await service.open_counts(session),
        "rules": await service.rules_overview(session),
        "risk_levels": RISK_LEVELS,
        "cluster_types": CLUSTER_TYPES,
        "pattern_types": PATTERN_TYPES,
        "confidences": CONFIDENCES,
        "states": REVIEW_STATES,
    }
    target = request.headers.get("hx-target") if is_htmx(request) else None
    if target == "results":
        return render(request, "trust/_clusters.html", context, section="trust")
    if target == "patterns":
        return render(request, "trust/_patterns.html", context, section="trust")
    return render(request, "trust/page.html", context, section="trust")


@router.get("/clusters/{cluster_id}")
async def cluster_page(request: Request, cluster_id: str, admin: AdminDep, session: DbSession) -> Response:
    try:
        cluster = await service.get_cluster(session, parse_id(cluster_id, "cluster"))
    except NotFound:
        raise NotFound(f"There is no cluster with the id {cluster_id[:64]!r}.", field="id") from None
    patterns, _ = await service.list_patterns(
        session, service.PatternFilter(cluster_id=cluster.id, open_only=False), limit=200, cursor=None
    )
    context = {
        "c": cluster,
        "members": await service.members(session, cluster),
        "patterns": patterns,
        "emails": await service.emails(session, [p.user_id for p in patterns]),
    }
    return render(request, "trust/cluster.html", context, section="trust")


def _back(back: str, fallback: str) -> str:
    # Only our own pages: never an open redirect.
    return back if back.startswith("/admin/") and "//" not in back else fallback


@router.post("/clusters/{cluster_id}/action")
async def act_on_cluster(
    request: Request,
    cluster_id: str,
    admin: AdminDep,
    session: DbSession,
    action: Annotated[str, Form(max_length=30)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    cid = parse_id(cluster_id, "cluster")
    back = f"/admin/trust/clusters/{cid}"
    try:
        outcome = await actions.act_on_cluster(session, admin.actor, cid, action, note.strip() or None)
    except Unprocessable as exc:
        return redirect(request, back, flash=("error", exc.message))
    return redirect(request, back, flash=("success", outcome.message))


@router.post("/patterns/{pattern_id}/action")
async def act_on_pattern(
    request: Request,
    pattern_id: str,
    admin: AdminDep,
    session: DbSession,
    action: Annotated[str, Form(max_length=30)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    back: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    pid: uuid.UUID = parse_id(pattern_id, "pattern")
    target = _back(back, "/admin/trust")
    try:
        outcome = await actions.act_on_pattern(
            session, admin.actor, pid, action, note.strip() or None, runtime=runtime_of(request)
        )
    except Unprocessable as exc:
        return redirect(request, target, flash=("error", exc.message))
    return redirect(request, target, flash=("success", outcome.message))
