"""Feature flags: the list across organizations, one flag (its conditions, rollout, variants and
payloads read as sentences, and the share each value actually got), changes through the flags
service (validated and audited as the API's), and "who sees what" for a distinct id."""

from __future__ import annotations

import copy
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Form, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from saaskit.admin.pages.common import PAGE_SIZE, Cursor, ShortText, choice, page_or_fragment, parse_id
from saaskit.admin.queries import flags as queries
from saaskit.admin.queries.common import newest
from saaskit.admin.security import AdminDep
from saaskit.admin.web import redirect, render
from saaskit.audit.models import Activity
from saaskit.flags import service
from saaskit.flags.models import FeatureFlag
from saaskit.flags.schemas import Filters, FlagPatch
from saaskit.kit.deps import DbSession
from saaskit.kit.errors import BadRequest

router = APIRouter(prefix="/admin/flags", include_in_schema=False)

OPERATORS = {
    "exact": "is",
    "is_not": "is not",
    "icontains": "contains",
    "not_icontains": "does not contain",
    "starts_with": "starts with",
    "not_starts_with": "does not start with",
    "ends_with": "ends with",
    "not_ends_with": "does not end with",
    "regex": "matches",
    "not_regex": "does not match",
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
    "is_set": "is set",
    "is_not_set": "is not set",
    "is_date_before": "is before",
    "is_date_after": "is after",
}
PROPERTIES_MAX_CHARS = 5000


def describe_property(prop: dict[str, Any]) -> str:
    """A release condition's property filter as a sentence: ``plan is pro or team``."""
    operator = str(prop.get("operator") or "exact")
    words = OPERATORS.get(operator, operator)
    subject = f"{prop.get('key')}" + (" (group)" if prop.get("type") == "group" else "")
    if operator in ("is_set", "is_not_set"):
        return f"{subject} {words}"
    value = prop.get("value")
    shown = " or ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return f"{subject} {words} {shown}"


def _validation_message(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "__root__")
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


@router.get("")
async def list_flags(
    request: Request,
    admin: AdminDep,
    session: DbSession,
    organization: Annotated[str | None, Query(max_length=100)] = None,
    q: ShortText = None,
    active: Annotated[str | None, Query(max_length=5)] = None,
    cursor: Cursor = None,
) -> Response:
    org = await queries.organization(session, organization)
    active = choice(active, queries.ACTIVE, "active")
    rows, next_cursor = await queries.list_flags(
        session,
        organization_id=org.id if org else None,
        q=(q or "").strip() or None,
        active=active,
        limit=PAGE_SIZE,
        cursor=cursor,
    )
    context = {
        "rows": rows,
        "next_cursor": next_cursor,
        "paged": cursor is not None,
        "q": q or "",
        "active": active,
        "organization": str(org.id) if org else "",
        "organizations": await queries.organizations_with(session, FeatureFlag),
    }
    return page_or_fragment(request, "flags/list.html", "flags/_table.html", context, section="flags")


def parse_properties(raw: str) -> dict[str, Any]:
    """``key=value`` lines (a value that reads as JSON is taken as such: 42, true, ["a"]), or one
    JSON object."""
    raw = raw.strip()
    if not raw:
        return {}
    if raw.startswith("{"):
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BadRequest("properties: not a JSON object", field="properties") from None
        if not isinstance(value, dict):
            raise BadRequest("properties: not a JSON object", field="properties")
        return value
    found: dict[str, Any] = {}
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, text = line.partition("=")
        if not sep or not key.strip():
            raise BadRequest(f"properties: line {number} is not key=value", field="properties")
        try:
            found[key.strip()] = orjson.loads(text.strip())
        except orjson.JSONDecodeError:
            found[key.strip()] = text.strip()
    return found


@router.get("/who")
async def who_sees_what(
    request: Request,
    admin: AdminDep,
    session: DbSession,
    organization: Annotated[str | None, Query(max_length=100)] = None,
    distinct_id: Annotated[str | None, Query(max_length=400)] = None,
    properties: Annotated[str | None, Query(max_length=PROPERTIES_MAX_CHARS)] = None,
) -> Response:
    """Every active flag's value for the id, and why: the flags service's own evaluation (the
    person's stored properties, those typed here winning, as /flags does)."""
    org = await queries.organization(session, organization)
    given = parse_properties(properties or "")
    answers = None
    wanted = (distinct_id or "").strip()
    if org is not None and wanted:
        answers = await service.evaluate_flags(session, org.id, wanted, person_properties=given or None)
    context = {
        "answers": answers,
        "organization": str(org.id) if org else "",
        "org": org,
        "distinct_id": distinct_id or "",
        "properties": properties or "",
        "organizations": await queries.organizations_with(session, FeatureFlag),
    }
    return page_or_fragment(request, "flags/who.html", "flags/_who.html", context, section="flags")


@router.get("/{flag_id}")
async def flag_page(request: Request, flag_id: str, admin: AdminDep, session: DbSession) -> Response:
    flag, org = await queries.flag_with_org(session, parse_id(flag_id, "feature flag"))
    audit = await newest(
        session, Activity, Activity.entity_type == "feature_flag", Activity.entity_id == flag.id, limit=20
    )
    context = {
        "flag": flag,
        "org": org,
        "filters": flag.filters,
        "conditions": list(enumerate(flag.filters.get("groups") or [])),
        "variants_indexed": list(enumerate((flag.filters.get("multivariate") or {}).get("variants") or [])),
        "describe": describe_property,
        "observed": await queries.observed(session, flag),
        "observed_days": queries.OBSERVED_DAYS,
        "audit": audit,
    }
    return render(request, "flags/detail.html", context, section="flags")


async def _change(
    request: Request, admin: AdminDep, session: DbSession, flag: FeatureFlag, patch: dict[str, Any]
) -> Response:
    back = f"/admin/flags/{flag.id}"
    try:
        body = FlagPatch.model_validate(patch)
    except ValidationError as error:
        return redirect(request, back, flash=("error", _validation_message(error)))
    changed = await service.update_flag(session, admin.actor, flag.organization_id, flag.id, body)
    return redirect(request, back, flash=("success", f"Saved {changed.key} (version {changed.version})."))


@router.post("/{flag_id}/active")
async def set_active(
    request: Request,
    flag_id: str,
    admin: AdminDep,
    session: DbSession,
    active: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    flag, _ = await queries.flag_with_org(session, parse_id(flag_id, "feature flag"))
    if active not in ("on", "off"):
        return redirect(request, f"/admin/flags/{flag.id}", flash=("error", "active: on or off"))
    return await _change(request, admin, session, flag, {"active": active == "on"})


def _percentage(value: str, field: str) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        raise BadRequest(f"{field}: a number from 0 to 100 (got {value[:20]!r})", field=field) from None
    if not 0 <= number <= 100:
        raise BadRequest(f"{field}: a number from 0 to 100 (got {value[:20]!r})", field=field)
    return number


@router.post("/{flag_id}/rollout")
async def set_rollout(
    request: Request,
    flag_id: str,
    admin: AdminDep,
    session: DbSession,
    condition: Annotated[str, Form(max_length=5)] = "",
    rollout_percentage: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """One condition's rollout percentage (empty: everyone it matches)."""
    flag, _ = await queries.flag_with_org(session, parse_id(flag_id, "feature flag"))
    back = f"/admin/flags/{flag.id}"
    groups = flag.filters.get("groups") or []
    if not (condition.isdigit() and int(condition) < len(groups)):
        return redirect(request, back, flash=("error", f"condition: no condition set {condition[:5]!r}"))
    try:
        rollout = (
            None if not rollout_percentage.strip() else _percentage(rollout_percentage, "rollout_percentage")
        )
    except BadRequest as refused:
        return redirect(request, back, flash=("error", refused.message))
    filters = copy.deepcopy(flag.filters)
    filters["groups"][int(condition)]["rollout_percentage"] = rollout
    return await _change(request, admin, session, flag, {"filters": filters})


@router.post("/{flag_id}/variants")
async def set_variants(request: Request, flag_id: str, admin: AdminDep, session: DbSession) -> Response:
    """The variants' weights (``weight_0``, ``weight_1`` ... in percent, adding up to 100)."""
    flag, _ = await queries.flag_with_org(session, parse_id(flag_id, "feature flag"))
    back = f"/admin/flags/{flag.id}"
    variants = (flag.filters.get("multivariate") or {}).get("variants") or []
    if not variants:
        return redirect(request, back, flash=("error", "This flag has no variants."))
    form = await request.form()
    filters = copy.deepcopy(flag.filters)
    try:
        for index, variant in enumerate(filters["multivariate"]["variants"]):
            raw = form.get(f"weight_{index}")
            if not isinstance(raw, str):
                raise BadRequest(f"weight_{index}: missing", field=f"weight_{index}")
            variant["rollout_percentage"] = _percentage(raw[:20], f"weight of {variant['key']}")
    except BadRequest as refused:
        return redirect(request, back, flash=("error", refused.message))
    try:
        Filters.model_validate(filters)
    except ValidationError as error:
        return redirect(request, back, flash=("error", _validation_message(error)))
    return await _change(request, admin, session, flag, {"filters": filters})
