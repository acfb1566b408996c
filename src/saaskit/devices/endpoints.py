"""HTTP endpoints of the devices domain: thin, validate, check permission, call the service."""

from __future__ import annotations

import uuid
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from saaskit.accounts.dependencies import AdminUser, CurrentUser, MaybeUser, check_csrf, request_token
from saaskit.audit.dependencies import AdminActor
from saaskit.devices import operator, presence, service, versions, visitors
from saaskit.devices import sessions as usage
from saaskit.devices.heartbeat import Heartbeat, record_heartbeat
from saaskit.devices.models import Dashboard
from saaskit.devices.schemas import (
    VERSION_PATTERN,
    AdminDashboardOut,
    CrashIn,
    CrashOut,
    DashboardIn,
    DashboardOut,
    DashboardUpdateIn,
    DeviceType,
    HeartbeatIn,
    HeartbeatOut,
    MaxDashboardsIn,
    MaxDashboardsOut,
    PresenceOut,
    ReloadIn,
    ReloadOut,
    RequireUpdateIn,
    RequireUpdateOut,
    SessionEndIn,
    SessionStartIn,
    TrackVisitIn,
    TrackVisitOut,
    UsageSessionOut,
    VersionCheckOut,
)
from saaskit.kit.deps import Client, ClientDep, DbSession, RuntimeDep, runtime_of
from saaskit.kit.errors import NotFound, Unauthorized
from saaskit.kit.hashing import token_hash
from saaskit.kit.hotroutes import json_body, validated
from saaskit.kit.pagination import CursorParam, LimitParam, Page, keyset_page
from saaskit.kit.ratelimit import limiter_of, rate_limit
from saaskit.tracking import identity

router = APIRouter(prefix="/api", tags=["devices"])
hot_router = APIRouter(prefix="/api", tags=["devices"])  # mounted first: matched first
admin_router = APIRouter(prefix="/api/admin", tags=["admin: devices"])


# -- presence ----------------------------------------------------------------------------------
@hot_router.post(
    "/track-visit",
    status_code=202,
    response_model=TrackVisitOut,
    summary="Count an anonymous visit (no sign-in); bots get 202 too but are not counted",
    dependencies=[rate_limit("track_visit_per_ip")],
)
async def track_visit(
    body: TrackVisitIn, session: DbSession, runtime: RuntimeDep, client: ClientDep
) -> TrackVisitOut:
    organization_id = None
    if body.token is not None:
        organization_id = await identity.organization_for_key(session, body.token)
        if organization_id is None:
            raise Unauthorized("unknown or rotated ingestion key", code="invalid_ingestion_key")
        await limiter_of(runtime).hit("track_visit_per_key", str(organization_id))
    await visitors.track_visit(
        session,
        secret=runtime.secret,
        session_id=body.session_id,
        ip=client.ip,
        user_agent=client.user_agent,
        organization_id=organization_id,
    )
    return TrackVisitOut()


@hot_router.post(
    "/heartbeat",
    response_model=HeartbeatOut,
    summary="I am here: presence, uptime and version of this device; says whether to reload or update",
    responses={401: {"description": "Not signed in, or the token is invalid"}},
)
async def heartbeat(body: HeartbeatIn, request: Request) -> Response:
    return await _heartbeat(body, request)


async def heartbeat_hot(request: Request) -> Response:
    """``POST /api/heartbeat`` as a raw route of ``kit.hotroutes`` (body checked first, as the
    declared route does): no routing or FastAPI request handling on the hottest path."""
    return await _heartbeat(validated(HeartbeatIn, await json_body(request)), request)


HOT_ROUTES = (("POST", "/api/heartbeat", heartbeat_hot),)


async def _heartbeat(body: HeartbeatIn, request: Request) -> Response:
    # Authentication happens inside the one statement (app_heartbeat), not in a dependency
    # query of its own: see saaskit/devices/heartbeat.py for why. No dependencies either (the
    # hottest path): FastAPI's dependency machinery costs more than the work here.
    runtime = runtime_of(request)
    token, via_cookie = request_token(request, runtime)
    if token is None:
        raise Unauthorized("sign in first: send Authorization: Bearer <token>", code="not_authenticated")
    if via_cookie:
        check_csrf(request)
    client = Client(request, runtime)
    async with runtime.db.autocommit() as connection:
        result = await record_heartbeat(
            connection,
            Heartbeat(
                token_hash=token_hash(token),
                dashboard_id=body.dashboard_id,
                app_version=body.app_version,
                widgets_interacted=tuple(body.widgets_interacted),
                error_count=body.error_count,
                ip_hash=client.ip_hash,
                user_agent=client.user_agent,
                country_code=client.country_code,
            ),
            max_gap_seconds=runtime.settings.presence.uptime_max_gap_seconds,
        )
    if result is None:
        raise Unauthorized("the session token is invalid, expired or revoked", code="invalid_token")
    # Serialized here rather than validated again against the response model (the hot path).
    return Response(
        orjson.dumps(
            {
                "needs_reload": result.needs_reload,
                "needs_update": result.needs_update,
                "dashboard_id": result.dashboard_id,
                "usage_session_id": result.usage_session_id,
            }
        ),
        media_type="application/json",
    )


@router.get(
    "/version-check",
    response_model=VersionCheckOut,
    summary="Latest and minimum supported app version; signed in, also reports the running version",
)
async def version_check(
    session: DbSession,
    principal: MaybeUser,
    current: Annotated[str, Query(max_length=60, pattern=VERSION_PATTERN, description="Running version.")],
    device_type: Annotated[DeviceType | None, Query(description="Platform; default: general.")] = None,
) -> VersionCheckOut:
    answer = await versions.check(
        session,
        current=current,
        device_type=device_type,
        user_id=principal.user_id if principal else None,
        dashboard_id=principal.dashboard_id if principal else None,
    )
    return VersionCheckOut(**answer)


# -- dashboards --------------------------------------------------------------------------------
@router.post(
    "/dashboards",
    status_code=201,
    response_model=DashboardOut,
    summary="Register this device (201), or find it again by fingerprint (200)",
    responses={403: {"description": "dashboard_limit_reached: the account has users.max_dashboards"}},
)
async def register_dashboard(
    body: DashboardIn, principal: CurrentUser, session: DbSession, runtime: RuntimeDep
) -> Response:
    registered = await service.register(
        session, runtime, user_id=principal.user_id, auth_session_id=principal.session_id, body=body
    )
    out = DashboardOut.model_validate(registered.dashboard)
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if registered.created else 200)


@router.get("/dashboards", response_model=Page[DashboardOut], summary="My dashboards (devices)")
async def list_dashboards(
    principal: CurrentUser, session: DbSession, limit: LimitParam = 50, cursor: CursorParam = None
) -> Page[DashboardOut]:
    rows, next_cursor = await keyset_page(
        session,
        service.live_dashboards(principal.user_id),
        created_at=Dashboard.created_at,
        row_id=Dashboard.id,
        limit=limit,
        cursor=cursor,
    )
    return Page[DashboardOut](items=[DashboardOut.model_validate(d) for d in rows], next_cursor=next_cursor)


@router.get("/dashboards/{dashboard_id}", response_model=DashboardOut, summary="One of my dashboards")
async def get_dashboard(dashboard_id: uuid.UUID, principal: CurrentUser, session: DbSession) -> DashboardOut:
    return DashboardOut.model_validate(await service.get_dashboard(session, dashboard_id))


@router.patch(
    "/dashboards/{dashboard_id}",
    response_model=DashboardOut,
    summary="Rename, change theme or widgets (marks settings_changed on the open usage session)",
)
async def update_dashboard(
    dashboard_id: uuid.UUID, body: DashboardUpdateIn, principal: CurrentUser, session: DbSession
) -> DashboardOut:
    return DashboardOut.model_validate(await service.change(session, dashboard_id, body))


@router.delete("/dashboards/{dashboard_id}", status_code=204, summary="Delete a dashboard (soft)")
async def delete_dashboard(dashboard_id: uuid.UUID, principal: CurrentUser, session: DbSession) -> Response:
    await service.soft_delete(session, dashboard_id)
    return Response(status_code=204)


@router.post(
    "/dashboards/{dashboard_id}/crash",
    response_model=CrashOut,
    summary="Report a crash of this device: counted, an error in its open usage session, a system event",
)
async def report_crash(
    dashboard_id: uuid.UUID, body: CrashIn, principal: CurrentUser, session: DbSession, client: ClientDep
) -> CrashOut:
    crash_count, last_crash_at = await service.record_crash(
        session, dashboard_id, body, user_id=principal.user_id, user_agent=client.user_agent
    )
    return CrashOut(dashboard_id=dashboard_id, crash_count=crash_count, last_crash_at=last_crash_at)


# -- usage sessions ----------------------------------------------------------------------------
@router.post(
    "/sessions/start",
    status_code=201,
    response_model=UsageSessionOut,
    summary="The app opened: start a usage session (ends the device's previous one)",
)
async def start_session(
    body: SessionStartIn, principal: CurrentUser, session: DbSession, client: ClientDep
) -> UsageSessionOut:
    dashboard_id = body.dashboard_id
    if dashboard_id is not None:
        await service.get_dashboard(session, dashboard_id)
    elif principal.dashboard_id is not None:
        try:
            dashboard_id = (await service.get_dashboard(session, principal.dashboard_id)).id
        except NotFound:
            dashboard_id = None
    row = await usage.start(
        session,
        user_id=principal.user_id,
        auth_session_id=principal.session_id,
        dashboard_id=dashboard_id,
        ip_hash=client.ip_hash,
        user_agent=client.user_agent,
        country_code=client.country_code,
    )
    return UsageSessionOut(**row)


@router.post(
    "/sessions/{session_id}/end",
    response_model=UsageSessionOut,
    summary="The app closed: end a usage session (idempotent)",
)
async def end_session(
    session_id: uuid.UUID, body: SessionEndIn, principal: CurrentUser, session: DbSession
) -> UsageSessionOut:
    row = await usage.end(session, session_id, widgets=list(body.widgets_interacted), errors=body.error_count)
    return UsageSessionOut(**row)


# -- administration ----------------------------------------------------------------------------
@admin_router.get("/dashboards", response_model=Page[AdminDashboardOut], summary="All dashboards (admins)")
async def admin_list_dashboards(
    admin: AdminUser,
    session: DbSession,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
    user_id: uuid.UUID | None = None,
    device_type: DeviceType | None = None,
    is_online: bool | None = None,
    needs_update: bool | None = None,
    include_deleted: bool = False,
) -> Page[AdminDashboardOut]:
    query = service.all_dashboards() if include_deleted else service.live_dashboards()
    if user_id is not None:
        query = query.where(Dashboard.user_id == user_id)
    if device_type is not None:
        query = query.where(Dashboard.device_type == device_type)
    if is_online is not None:
        query = query.where(Dashboard.is_online.is_(is_online))
    if needs_update is not None:
        query = query.where(Dashboard.needs_update.is_(needs_update))
    rows, next_cursor = await keyset_page(
        session, query, created_at=Dashboard.created_at, row_id=Dashboard.id, limit=limit, cursor=cursor
    )
    return Page[AdminDashboardOut](
        items=[AdminDashboardOut.model_validate(d) for d in rows], next_cursor=next_cursor
    )


@admin_router.post(
    "/devices/require-update",
    response_model=RequireUpdateOut,
    summary="Set the minimum version (all platforms or one): devices below it get needs_update (admins)",
)
async def admin_require_update(
    body: RequireUpdateIn, actor: AdminActor, session: DbSession
) -> RequireUpdateOut:
    outcome = await operator.require_update(session, actor, body.minimum_version, body.device_type)
    return RequireUpdateOut(**outcome.data)


@admin_router.post(
    "/devices/force-reload",
    response_model=ReloadOut,
    summary="Force a reload for one user or everyone until they run the latest version (admins)",
)
async def admin_force_reload(body: ReloadIn, actor: AdminActor, session: DbSession) -> ReloadOut:
    outcome = await operator.set_reload(
        session, actor, body.user_id, flag=True, latest_version=body.latest_version
    )
    return ReloadOut(**outcome.data)


@admin_router.post(
    "/devices/cancel-reload",
    response_model=ReloadOut,
    summary="Withdraw a forced reload for one user or everyone (admins)",
)
async def admin_cancel_reload(body: ReloadIn, actor: AdminActor, session: DbSession) -> ReloadOut:
    outcome = await operator.set_reload(session, actor, body.user_id, flag=False)
    return ReloadOut(**outcome.data)


@admin_router.put(
    "/users/{user_id}/max-dashboards",
    response_model=MaxDashboardsOut,
    summary="Override a user's dashboard limit, or (null) return to the tier's (admins)",
)
async def admin_set_max_dashboards(
    user_id: uuid.UUID, body: MaxDashboardsIn, actor: AdminActor, session: DbSession
) -> MaxDashboardsOut:
    outcome = await operator.set_max_dashboards(session, actor, user_id, body.max_dashboards)
    return MaxDashboardsOut(**outcome.data)


@admin_router.get("/presence", response_model=PresenceOut, summary="Who is here now (admins)")
async def admin_presence(admin: AdminUser, session: DbSession, runtime: RuntimeDep) -> PresenceOut:
    snapshot = await presence.snapshot(session, runtime.settings.presence.offline_after_seconds)
    return PresenceOut(**snapshot.as_dict())
