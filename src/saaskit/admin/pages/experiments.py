"""Experiments: the list, setting one up (a draft), start and stop, and the results page (per
variant exposures and conversions, the uplift's 95% interval drawn, p-value, chance to beat the
control, risk, the sample-ratio check). Every change goes through ``experiments.service`` with
the admin's access to the organization (a platform admin acts as one, audited as such); results
are ``experiments.service.experiment_results`` (gbstats)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from saaskit.access import service as access_service
from saaskit.access.service import Access
from saaskit.admin.charts import interval_chart
from saaskit.admin.pages.common import PAGE_SIZE, Cursor, choice, page_or_fragment, parse_id
from saaskit.admin.queries import flags as queries
from saaskit.admin.queries.common import newest
from saaskit.admin.security import Admin, AdminDep
from saaskit.admin.web import redirect, render
from saaskit.audit.models import Activity
from saaskit.experiments import service
from saaskit.experiments.models import STATUSES, Experiment
from saaskit.experiments.schemas import ExperimentIn
from saaskit.kit.deps import DbSession
from saaskit.kit.errors import AppError, BadRequest, Conflict, Forbidden

router = APIRouter(prefix="/admin/experiments", include_in_schema=False)

DEFAULT_VARIANTS = "control 0.5 Control\ntest 0.5 Test"


@router.get("")
async def list_experiments(
    request: Request,
    admin: AdminDep,
    session: DbSession,
    organization: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    cursor: Cursor = None,
) -> Response:
    org = await queries.organization(session, organization)
    status = choice(status, STATUSES, "status")
    rows, next_cursor = await queries.list_experiments(
        session, organization_id=org.id if org else None, status=status, limit=PAGE_SIZE, cursor=cursor
    )
    context = {
        "rows": rows,
        "next_cursor": next_cursor,
        "paged": cursor is not None,
        "status": status,
        "statuses": STATUSES,
        "organization": str(org.id) if org else "",
        "organizations": await queries.organizations_with(session, Experiment),
    }
    return page_or_fragment(
        request, "experiments/list.html", "experiments/_table.html", context, section="experiments"
    )


def _form_page(request: Request, form: dict[str, str], error: str | None, status_code: int = 200) -> Response:
    return render(
        request,
        "experiments/new.html",
        {"form": form, "error": error},
        status_code=status_code,
        section="experiments",
    )


@router.get("/new")
async def new_experiment(
    request: Request,
    admin: AdminDep,
    organization: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    form = {"organization": organization or "", "variants": DEFAULT_VARIANTS, "traffic_percentage": "100"}
    return _form_page(request, form, None)


def parse_variants(raw: str) -> list[dict[str, Any]]:
    """One variant per line: ``key weight [name]`` (the first is the control)."""
    variants = []
    for number, line in enumerate(raw.strip().splitlines(), 1):
        parts = line.split(maxsplit=2)
        if not parts:
            continue
        if len(parts) < 2:
            raise BadRequest(f"variants: line {number} needs a key and a weight", field="variants")
        try:
            weight = float(parts[1])
        except ValueError:
            raise BadRequest(
                f"variants: line {number}: the weight {parts[1][:20]!r} is not a number", field="variants"
            ) from None
        variants.append({"key": parts[0], "name": parts[2] if len(parts) > 2 else parts[0], "weight": weight})
    return variants


def _validation_message(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


async def _access(session: DbSession, admin: Admin, organization_id: Any) -> Access:
    """The admin's access to the organization: a platform admin's (every permission; the
    service's audit rows say so)."""
    access = await access_service.resolve(
        session, user_id=admin.user_id, organization_id=organization_id, is_platform_admin=True
    )
    if access is None:  # the organization vanished between the read and now
        raise Forbidden("no access to this organization", field="organization")
    return access


@router.post("")
async def create_experiment(
    request: Request,
    admin: AdminDep,
    session: DbSession,
    organization: Annotated[str, Form(max_length=100)] = "",
    key: Annotated[str, Form(max_length=200)] = "",
    name: Annotated[str, Form(max_length=300)] = "",
    hypothesis: Annotated[str, Form(max_length=5000)] = "",
    variants: Annotated[str, Form(max_length=5000)] = "",
    traffic_percentage: Annotated[str, Form(max_length=20)] = "100",
    metric_event: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    form = {
        "organization": organization,
        "key": key,
        "name": name,
        "hypothesis": hypothesis,
        "variants": variants,
        "traffic_percentage": traffic_percentage,
        "metric_event": metric_event,
    }
    try:
        if not organization.strip():
            raise BadRequest("organization: the organization's slug or id", field="organization")
        org = await queries.organization(session, organization)
        assert org is not None
        try:
            traffic = float(traffic_percentage.strip() or "100")
        except ValueError:
            raise BadRequest(
                "traffic_percentage: a number from 0 to 100", field="traffic_percentage"
            ) from None
        body: dict[str, Any] = {
            "key": key.strip(),
            "name": name.strip(),
            "variants": parse_variants(variants),
            "traffic_percentage": traffic,
        }
        if hypothesis.strip():
            body["hypothesis"] = hypothesis.strip()
        if metric_event.strip():
            body["primary_metric"] = {"kind": "event", "event": metric_event.strip()}
        data = ExperimentIn.model_validate(body)
    except BadRequest as refused:
        return _form_page(request, form, refused.message, status_code=422)
    except ValidationError as error:
        return _form_page(request, form, _validation_message(error), status_code=422)
    # Checked here rather than caught from the service: its refusal comes after a failed insert,
    # which must roll the request back (a race between two admins still gets the 409 page).
    if await queries.experiment_key_taken(session, org.id, data.key):
        return _form_page(
            request, form, f"key: an experiment with the key {data.key!r} exists", status_code=409
        )
    access = await _access(session, admin, org.id)
    experiment = await service.create(session, access, admin.actor, data)
    return redirect(
        request,
        f"/admin/experiments/{experiment.id}",
        flash=("success", f"Created the draft {experiment.key}."),
    )


@router.get("/{experiment_id}")
async def experiment_page(
    request: Request,
    experiment_id: str,
    admin: AdminDep,
    session: DbSession,
    event: Annotated[str | None, Query(max_length=200)] = None,
    secondary: Annotated[int | None, Query(ge=0, le=19)] = None,
) -> Response:
    experiment, org = await queries.experiment_with_org(session, parse_id(experiment_id, "experiment"))
    results, problem = None, None
    event = (event or "").strip() or None
    try:
        results = await service.experiment_results(
            session, org.id, experiment.id, event, secondary=None if event else secondary
        )
    except AppError as refused:  # no primary metric and no event asked: say so on the page
        problem = refused.message
    chart = None
    if results is not None:
        chart = interval_chart([(v.name, v.ci_low, v.uplift, v.ci_high) for v in results.variants[1:]])
    audit = await newest(
        session, Activity, Activity.entity_type == "experiment", Activity.entity_id == experiment.id, limit=20
    )
    context = {
        "e": experiment,
        "org": org,
        "results": results,
        "problem": problem,
        "chart": chart,
        "event": event or "",
        "secondary": secondary,
        "audit": audit,
    }
    return render(request, "experiments/detail.html", context, section="experiments")


async def _transition(
    request: Request, experiment_id: str, admin: Admin, session: DbSession, verb: str
) -> Response:
    experiment, org = await queries.experiment_with_org(session, parse_id(experiment_id, "experiment"))
    back = f"/admin/experiments/{experiment.id}"
    access = await _access(session, admin, org.id)
    action = service.start if verb == "start" else service.stop
    try:
        changed = await action(session, access, admin.actor, experiment.id)
    except Conflict as refused:
        return redirect(request, back, flash=("error", refused.message))
    return redirect(request, back, flash=("success", f"{changed.name} is {changed.status}."))


@router.post("/{experiment_id}/start")
async def start(request: Request, experiment_id: str, admin: AdminDep, session: DbSession) -> Response:
    return await _transition(request, experiment_id, admin, session, "start")


@router.post("/{experiment_id}/stop")
async def stop(request: Request, experiment_id: str, admin: AdminDep, session: DbSession) -> Response:
    return await _transition(request, experiment_id, admin, session, "stop")
