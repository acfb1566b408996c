"""The funnels and retention part of the Analytics page. Loading the page never scans
``events``: a funnel shows its stored progress (computed by the "Compute" button, a POST), and
retention is computed only when the operator asks for it with the form."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from saaskit.admin.charts import chart, series
from saaskit.admin.pages.common import choice, parse_id
from saaskit.admin.security import AdminDep
from saaskit.admin.web import query_string, redirect
from saaskit.audit import service as audit
from saaskit.insights import retention
from saaskit.insights.funnels import service, storage
from saaskit.insights.funnels.compute import FunnelResult
from saaskit.insights.funnels.schemas import FunnelIn
from saaskit.insights.models import ConversionFunnel
from saaskit.kit.deps import DbSession
from saaskit.kit.schemas import Day

router = APIRouter(prefix="/admin/analytics", include_in_schema=False)

PERIODS = ("day", "week", "month")
MODES = ("first_time", "recurring")
RETENTION_PERIODS = 8
# Event names offered in the forms: the busiest of the monthly rollup (no scan of events).
EVENT_NAMES = text(
    "SELECT event_name FROM events_monthly WHERE month >= :since "
    "GROUP BY event_name ORDER BY sum(events) DESC LIMIT 200"
)


async def event_names(session: AsyncSession, today: date) -> list[str]:
    since = (today.replace(day=1) - timedelta(days=370)).replace(day=1)
    return [row.event_name for row in await session.execute(EVENT_NAMES, {"since": since})]


def parse_steps(raw: str) -> list[dict[str, Any]]:
    """One step per line: ``event [key=value ...]``; the step is named after its event."""
    steps = []
    for line in raw.splitlines():
        words = line.split()
        if not words:
            continue
        properties = dict(word.split("=", 1) for word in words[1:] if "=" in word)
        steps.append({"name": words[0], "event": words[0], "properties": properties or None})
    return steps


def validation_message(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}"


def funnel_chart(result: FunnelResult) -> dict[str, Any]:
    return chart(
        "bar",
        [f"{s.order}. {s.name}" for s in result.steps],
        series("People", [s.people for s in result.steps]),
        options={"indexAxis": "y", "scales": {"x": {"beginAtZero": True, "ticks": {"precision": 0}}}},
    )


async def funnel_context(
    session: AsyncSession, selected: str | None, first: date, last: date
) -> dict[str, Any]:
    funnels, _ = await service.list_funnels(session, None, limit=100, cursor=None)
    chosen: ConversionFunnel | None = None
    if selected:
        chosen = await service.get_funnel(session, None, parse_id(selected, "funnel"))
    elif funnels:
        chosen = funnels[0]
    result = None
    if chosen is not None:
        result = await storage.stored_result(session, chosen, first, last + timedelta(days=1), "UTC")
    return {
        "funnels": funnels,
        "funnel": chosen,
        "funnel_result": result,
        "funnel_chart": funnel_chart(result) if result else None,
    }


async def retention_context(session: AsyncSession, params: dict[str, str], first: date, last: date) -> Any:
    start_event, return_event = params.get("start_event", ""), params.get("return_event", "")
    if not start_event:
        return None
    period = choice(params.get("period"), PERIODS, "period") or "week"
    mode = choice(params.get("mode"), MODES, "mode") or "first_time"
    return await retention.compute_retention(
        session,
        start_event=start_event[:200],
        return_event=(return_event or start_event)[:200],
        period=period,  # type: ignore[arg-type]  # one of PERIODS
        mode=mode,  # type: ignore[arg-type]  # one of MODES
        start=first,
        end=last + timedelta(days=1),
        periods=RETENTION_PERIODS,
    )


def _back(request: Request, funnel_id: uuid.UUID | None = None) -> str:
    """The Analytics page the form was posted from: same range, the funnel just saved."""
    kept = {k: v for k, v in request.query_params.items() if k in ("from", "to", "funnel")}
    encoded = query_string(kept, funnel=funnel_id)
    return "/admin/analytics" + (f"?{encoded}" if encoded else "") + "#funnels"


@router.post("/funnels")
async def create_funnel(
    request: Request,
    admin: AdminDep,
    session: DbSession,
    name: Annotated[str, Form(max_length=200)] = "",
    steps: Annotated[str, Form(max_length=5000)] = "",
    conversion_window_days: Annotated[str, Form(max_length=4)] = "14",
    order_mode: Annotated[str, Form(max_length=10)] = "ordered",
) -> Response:
    try:
        body = FunnelIn.model_validate(
            {
                "name": name.strip(),
                "steps": parse_steps(steps),
                "conversion_window_days": conversion_window_days.strip() or "14",
                "order_mode": order_mode,
            },
            strict=False,
        )
    except ValidationError as error:
        return redirect(request, _back(request), flash=("error", validation_message(error)))
    funnel = await service.create_funnel(session, None, admin.user_id, body)
    await audit.record(
        session,
        admin.actor,
        organization_id=None,
        action="funnel.created",
        entity_type="conversion_funnel",
        entity_id=funnel.id,
        entity_name=funnel.name,
        description=f"Funnel {funnel.name!r} defined ({len(funnel.steps)} steps).",
        metadata={"steps": funnel.steps, "order_mode": funnel.order_mode},
    )
    message = f"Funnel {funnel.name!r} saved; compute it for a range to see its figures."
    return redirect(request, _back(request, funnel.id), flash=("success", message))


@router.post("/funnels/{funnel_id}/compute")
async def compute_funnel(
    request: Request,
    funnel_id: str,
    admin: AdminDep,
    session: DbSession,
    start: Annotated[Day, Form(alias="from")],
    end: Annotated[Day, Form(alias="to")],
) -> Response:
    funnel = await service.get_funnel(session, None, parse_id(funnel_id, "funnel"))
    result = await storage.compute_and_store(session, funnel, start, end + timedelta(days=1), "UTC")
    entered = result.steps[0].people if result.steps else 0
    message = f"{funnel.name}: {entered:,} people entered between {start} and {end}; progress stored."
    return redirect(request, _back(request, funnel.id), flash=("success", message))
